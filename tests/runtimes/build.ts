/**
 * The package in the shape a JSR user gets it on npm, and a TypeScript
 * project that depends on it. JSR's npm tarballs hold one JavaScript file
 * and one `.d.ts` per module, not a bundle: a test of a bundle would load,
 * and type-check, something no npm user ever gets.
 *
 * The layout under a temporary root:
 *
 * - `node_modules/@async-lru/async-lru/`: the package, built by
 *   {@linkcode buildPackage};
 * - `node_modules/@types/node/`, `node_modules/undici-types/`: Node's types,
 *   for the Node consumer only, copied from Deno's npm cache;
 * - `src/`: the consumer, the files of `tests/runtimes/` with the package's
 *   own names in their imports; `out/`: what tsc makes of it.
 *
 * Not part of the published module.
 *
 * @module
 */

// Test-only packages are imported by full specifier, not through deno.json's
// import map: Deno installs every package of that map before any run, so the
// demo would download them (Bun's binary alone is some 100 MB).
import ts from "npm:typescript@^5.9";
import ts54 from "npm:typescript@~5.4";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import denoJson from "../../deno.json" with { type: "json" };

/** A TypeScript compiler's module. */
export type TypeScript = typeof ts;

/**
 * The compilers a consumer type-checks the package with: 5.4, the oldest
 * that reads its declarations (they use `NoInfer`), and the newest 5.x.
 */
export const TYPESCRIPTS: readonly TypeScript[] = [
  // 5.4's types lack what later versions added, none of which is used here.
  ts54 as unknown as TypeScript,
  ts,
];

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const RUNTIMES = fileURLToPath(new URL("./", import.meta.url));

/** The package's name, where the consumer finds it under `node_modules/`. */
export const PACKAGE_NAME: string = denoJson.name;
/** The package's directory, relative to the build's root. */
export const PACKAGE_DIR: string = `node_modules/${PACKAGE_NAME}`;

// Deno KV is Deno-only (Deno.openKv, --unstable-kv) and kv.ts's types name
// Deno's namespace, so the npm package is built without its "./kv" entry.
const LEFT_OUT = new Set(["./kv"]);

// The entry points built for npm: export name to source file.
const ENTRIES: ReadonlyMap<string, string> = new Map(
  Object.entries(denoJson.exports).filter(([name]) => !LEFT_OUT.has(name)),
);

// ES2022 output, which Node 20 and current browsers run as it is.
const PACKAGE_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  // The sources import with .ts; tsc writes .js into the code it emits, and
  // toJsSpecifiers into the declarations, where tsc leaves .ts.
  allowImportingTsExtensions: true,
  rewriteRelativeImportExtensions: true,
  strict: true,
  declaration: true,
  noEmitOnError: true,
  // The sources use ES2024 built-ins (String.prototype.isWellFormed) and
  // web APIs only (AbortSignal, DOMException, performance).
  lib: ["lib.es2024.d.ts", "lib.esnext.disposable.d.ts", "lib.dom.d.ts"],
  types: [],
  rootDir: REPO,
};

/** Where the consumer runs, which decides its tsconfig and its entry. */
export type ConsumerKind = "node" | "browser";

// Strict, and no skipLibCheck: the package's declarations are checked as
// strictly as the consumer's own code.
const STRICT = { strict: true, noEmitOnError: true };

// The consumer's tsconfig.json for each kind. Each `lib` is the least that
// the package's declarations and the consumer's own code need together
// (ES2015 would do for the declarations; the smoke needs ES2022):
//
// - node: a Node project's settings; `@types/node` declares AbortSignal,
//   DOMException, AsyncDisposable and Symbol.asyncDispose.
// - browser: a bundler's resolution and no `@types/node`, so that `dom`
//   (AbortSignal, DOMException) and `esnext.disposable` (AsyncDisposable,
//   Symbol.asyncDispose) are needed, and suffice.
const CONSUMER_TSCONFIGS: Record<ConsumerKind, object> = {
  node: {
    compilerOptions: {
      target: "es2022",
      module: "node16",
      moduleResolution: "node16",
      lib: ["es2022"],
      types: ["node"],
      ...STRICT,
      rootDir: "src",
      outDir: "out",
    },
    include: ["src"],
  },
  browser: {
    compilerOptions: {
      target: "es2022",
      module: "es2022",
      moduleResolution: "bundler",
      lib: ["es2022", "dom", "esnext.disposable"],
      types: [],
      ...STRICT,
      rootDir: "src",
      outDir: "out",
    },
    include: ["src"],
  },
};

// The consumer's files for each kind, from this directory.
const CONSUMER_FILES: Record<ConsumerKind, string[]> = {
  node: ["smoke.ts", "main.ts"],
  browser: ["smoke.ts", "browser_main.ts"],
};

// What the consumer's files import, as they are in this repository, and as
// a project that depends on the package writes it. Node16 resolution wants
// the extension of the file that will exist at run time.
const CONSUMER_IMPORTS: ReadonlyMap<string, string> = new Map([
  ["../../mod.ts", PACKAGE_NAME],
  ["../../redis.ts", `${PACKAGE_NAME}/redis`],
  ["../../memory.ts", `${PACKAGE_NAME}/memory`],
  ["./smoke.ts", "./smoke.js"],
]);

/** Rewrites relative `.ts` module specifiers to `.js`, in code and in `.d.ts`. */
function toJsSpecifiers(
  context: ts.TransformationContext,
): (file: ts.SourceFile | ts.Bundle) => ts.SourceFile {
  const { factory } = context;
  const rewrite = (specifier: ts.Expression): ts.Expression =>
    ts.isStringLiteral(specifier) && /^\.\.?\/.*\.ts$/.test(specifier.text)
      ? factory.createStringLiteral(specifier.text.replace(/\.ts$/, ".js"))
      : specifier;
  const visit = (node: ts.Node): ts.Node => {
    if (ts.isImportDeclaration(node)) {
      return factory.updateImportDeclaration(
        node,
        node.modifiers,
        node.importClause,
        rewrite(node.moduleSpecifier),
        node.attributes,
      );
    }
    if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined) {
      return factory.updateExportDeclaration(
        node,
        node.modifiers,
        node.isTypeOnly,
        node.exportClause,
        rewrite(node.moduleSpecifier),
        node.attributes,
      );
    }
    // import("./x.ts").T in declarations that name a type not imported.
    if (
      ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      return factory.updateImportTypeNode(
        node,
        factory.updateLiteralTypeNode(
          node.argument,
          rewrite(node.argument.literal) as ts.StringLiteral,
        ),
        node.attributes,
        node.qualifier,
        node.typeArguments,
        node.isTypeOf,
      );
    }
    return ts.visitEachChild(node, visit, context);
  };
  return (file) => {
    if (!ts.isSourceFile(file)) throw new Error("bundles are not emitted");
    return ts.visitEachChild(file, visit, context);
  };
}

// Paths in the text are relative to `cwd`: the repository for the
// package, the build's root for the consumer.
function report(
  compiler: TypeScript,
  diagnostics: readonly ts.Diagnostic[],
  cwd = REPO,
): string {
  return compiler.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (name) => name,
    getCurrentDirectory: () => cwd,
    getNewLine: () => "\n",
  });
}

/**
 * Builds the package into `root/node_modules/<name>/`: each module that the
 * entry points reach, as JavaScript and declarations, every relative import
 * ending in `.js`, and a package.json whose exports map mirrors deno.json's.
 * Throws with tsc's diagnostics if the sources do not compile.
 */
export async function buildPackage(root: string): Promise<void> {
  const outDir = join(root, PACKAGE_DIR);
  const program = ts.createProgram(
    [...ENTRIES.values()].map((file) => join(REPO, file)),
    { ...PACKAGE_OPTIONS, outDir },
  );
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length > 0) {
    throw new Error(
      `the package does not compile:\n${report(ts, diagnostics)}`,
    );
  }
  const emitted = program.emit(undefined, undefined, undefined, undefined, {
    before: [toJsSpecifiers],
    afterDeclarations: [toJsSpecifiers],
  });
  if (emitted.emitSkipped || emitted.diagnostics.length > 0) {
    throw new Error(`tsc did not emit:\n${report(ts, emitted.diagnostics)}`);
  }
  const exports: Record<string, { types: string; default: string }> = {};
  for (const [name, file] of ENTRIES) {
    const base = `./${file.replace(/^\.\//, "").replace(/\.ts$/, "")}`;
    exports[name] = { types: `${base}.d.ts`, default: `${base}.js` };
  }
  await Deno.writeTextFile(
    join(outDir, "package.json"),
    JSON.stringify(
      {
        name: denoJson.name,
        version: denoJson.version,
        license: denoJson.license,
        type: "module",
        exports,
      },
      null,
      2,
    ),
  );
}

/**
 * The relative module specifiers in the built package that do not end in
 * `.js`: none, or Node could not load the package.
 */
export async function specifiersNotEndingInJs(root: string): Promise<string[]> {
  const found: string[] = [];
  const dir = join(root, PACKAGE_DIR);
  for await (const entry of Deno.readDir(dir)) {
    if (!/\.(js|d\.ts)$/.test(entry.name)) continue;
    const source = await Deno.readTextFile(join(dir, entry.name));
    for (
      const { fileName } of ts.preProcessFile(source, true, true).importedFiles
    ) {
      if (fileName.startsWith(".") && !fileName.endsWith(".js")) {
        found.push(`${entry.name}: ${fileName}`);
      }
    }
  }
  return found;
}

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) {
      await copyTree(join(from, entry.name), join(to, entry.name));
    } else if (entry.isFile) {
      await Deno.copyFile(join(from, entry.name), join(to, entry.name));
    }
  }
}

/**
 * Writes the consumer of `kind` under `root/src/`, with its tsconfig.json
 * and package.json, and for Node, Node's types under `root/node_modules/`.
 */
export async function writeConsumer(
  root: string,
  kind: ConsumerKind,
): Promise<void> {
  const src = join(root, "src");
  await Deno.mkdir(src, { recursive: true });
  for (const name of CONSUMER_FILES[kind]) {
    const source = await Deno.readTextFile(join(RUNTIMES, name));
    await Deno.writeTextFile(join(src, name), asConsumer(name, source));
  }
  await Deno.writeTextFile(
    join(root, "tsconfig.json"),
    JSON.stringify(CONSUMER_TSCONFIGS[kind], null, 2),
  );
  await Deno.writeTextFile(
    join(root, "package.json"),
    JSON.stringify({ type: "module", private: true }),
  );
  if (kind === "node") await copyNodeTypes(root);
}

// The module specifiers of `source` replaced by CONSUMER_IMPORTS; one it
// does not map is an error, or the consumer would import this repository.
function asConsumer(name: string, source: string): string {
  const file = ts.createSourceFile(name, source, ts.ScriptTarget.Latest);
  const specifiers = file.statements.flatMap((statement) =>
    (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
      statement.moduleSpecifier !== undefined &&
      ts.isStringLiteral(statement.moduleSpecifier)
      ? [statement.moduleSpecifier]
      : []
  );
  let rewritten = source;
  // Replaced from the end, so that earlier positions stay right.
  for (const specifier of specifiers.reverse()) {
    const target = CONSUMER_IMPORTS.get(specifier.text);
    if (target === undefined) {
      throw new Error(
        `${name} imports ${specifier.text}, which CONSUMER_IMPORTS in build.ts does not map to the package`,
      );
    }
    rewritten = rewritten.slice(0, specifier.getStart(file)) +
      JSON.stringify(target) + rewritten.slice(specifier.getEnd());
  }
  return rewritten;
}

/** An npm package that deno.json's imports name. */
export interface NpmPackage {
  /** Its directory in Deno's npm cache. */
  dir: string;
  version: string;
}

/**
 * Loads the package.json of the package `specifier` names (`npm:name@range`),
 * which makes Deno fetch the package if it has not yet, and finds where it
 * is: Deno keeps npm packages in its own cache, not in a node_modules
 * directory.
 */
export async function npmPackage(specifier: string): Promise<NpmPackage> {
  // In a variable, so that Deno resolves it only here, when it runs, and
  // so that tsc's refusal of imports from "@types/" does not apply.
  const packageJson = `${specifier}/package.json`;
  let json: { version: string };
  try {
    json = (await import(packageJson, { with: { type: "json" } })).default;
  } catch (error) {
    throw new Error(
      `${specifier} could not be loaded: is the npm registry reachable?`,
      { cause: error },
    );
  }
  return {
    dir: dirname(fileURLToPath(import.meta.resolve(packageJson))),
    version: json.version,
  };
}

async function copyNodeTypes(root: string): Promise<void> {
  const nodeTypes = await npmPackage("npm:@types/node@^20");
  // @types/node imports undici-types: found from @types/node's own place.
  const undiciTypesJson = createRequire(join(nodeTypes.dir, "package.json"))
    .resolve("undici-types/package.json");
  await copyTree(nodeTypes.dir, join(root, "node_modules/@types/node"));
  await copyTree(
    dirname(undiciTypesJson),
    join(root, "node_modules/undici-types"),
  );
}

/**
 * Type-checks the consumer in `root` with each of {@linkcode TYPESCRIPTS},
 * as `tsc -p root` would, and with the newest compiles it into `root/out/`
 * if it is clean. Returns tsc's diagnostics as text by TypeScript version,
 * empty when clean.
 */
export function checkConsumer(root: string): Record<string, string> {
  const diagnostics: Record<string, string> = {};
  for (const compiler of TYPESCRIPTS) {
    const parsed = parseConfig(compiler, root);
    if (typeof parsed === "string") {
      diagnostics[compiler.version] = parsed;
      continue;
    }
    const program = compiler.createProgram(parsed.fileNames, parsed.options);
    const found = [...compiler.getPreEmitDiagnostics(program)];
    // The newest compiles it; the older only checks, as tsc --noEmit would.
    if (compiler === ts && found.length === 0) {
      const emitted = program.emit();
      found.push(...emitted.diagnostics);
      if (emitted.emitSkipped && found.length === 0) {
        diagnostics[compiler.version] = "tsc emitted nothing";
        continue;
      }
    }
    diagnostics[compiler.version] = report(compiler, found, root);
  }
  return diagnostics;
}

function parseConfig(
  compiler: TypeScript,
  root: string,
): ts.ParsedCommandLine | string {
  const path = join(root, "tsconfig.json");
  const read = compiler.readConfigFile(path, compiler.sys.readFile);
  if (read.error !== undefined) return report(compiler, [read.error], root);
  const parsed = compiler.parseJsonConfigFileContent(
    read.config,
    compiler.sys,
    root,
    undefined,
    path,
  );
  return parsed.errors.length > 0
    ? report(compiler, parsed.errors, root)
    : parsed;
}
