/**
 * Bundles `mod.ts` into one ES module for Node, as a package user would get
 * it: `deno bundle --platform browser`, no `jsr:` or `npm:` imports left. Not
 * part of the published module.
 */
import assert from "node:assert/strict";

const MOD_PATH = decodeURIComponent(
  new URL("../mod.ts", import.meta.url).pathname,
);

// Bundling takes well under a second; a hung bundler is killed after this.
const BUNDLE_TIMEOUT_MS = 60_000;

/**
 * Writes `dir/async_lru.js`, the bundled module, and a `dir/package.json`
 * that makes Node load `.js` files in `dir` as ES modules. Returns the path
 * of the bundle.
 */
export async function bundleModule(dir: string): Promise<string> {
  const bundle = `${dir}/async_lru.js`;
  const controller = new AbortController();
  const killer = setTimeout(() => controller.abort(), BUNDLE_TIMEOUT_MS);
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--platform",
      "browser",
      "--format",
      "esm",
      "-o",
      bundle,
      MOD_PATH,
    ],
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: controller.signal,
  }).output().finally(() => clearTimeout(killer));
  const decoder = new TextDecoder();
  assert.equal(
    output.code,
    0,
    `deno bundle failed:\n${decoder.decode(output.stdout)}\n${
      decoder.decode(output.stderr)
    }`,
  );
  const source = await Deno.readTextFile(bundle);
  assert.match(source, /\bexport\s*\{/, "the bundle is an ES module");
  assert.doesNotMatch(source, /\bjsr:|\bnpm:/, "the bundle is self-contained");
  await Deno.writeTextFile(
    `${dir}/package.json`,
    JSON.stringify({ type: "module", private: true }),
  );
  return bundle;
}
