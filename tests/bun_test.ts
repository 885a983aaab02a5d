/**
 * Bun, on the TypeScript sources as they are (standard decorators included),
 * with the binary that `npm:bun` ships: its platform package is one of
 * bun's optional dependencies, which Deno fetches with it. Bun's own
 * postinstall script, which would put the binary in bun's bin/, does not run
 * under Deno, so the binary is taken from the platform package.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { npmPackage } from "./runtimes/build.ts";
import { assertChecks, runSmoke } from "./runtimes/report.ts";

const REPO = decodeURIComponent(new URL("..", import.meta.url).pathname);

// Bun's names for the platforms it ships a binary for. On Linux this takes
// the glibc build, which Debian needs; a musl system needs "-musl" added.
const OS: Partial<Record<typeof Deno.build.os, string>> = {
  linux: "linux",
  darwin: "darwin",
  windows: "windows",
};
const ARCH: Record<typeof Deno.build.arch, string> = {
  x86_64: "x64",
  aarch64: "aarch64",
};

async function bunBinary(): Promise<{ path: string; version: string }> {
  const bun = await npmPackage("npm:bun@^1");
  const os = OS[Deno.build.os];
  assert.ok(os !== undefined, `npm:bun has no binary for ${Deno.build.os}`);
  const platform = `@oven/bun-${os}-${ARCH[Deno.build.arch]}`;
  let platformJson: string;
  try {
    platformJson = createRequire(join(bun.dir, "package.json")).resolve(
      `${platform}/package.json`,
    );
  } catch (error) {
    throw new Error(
      `${platform}, npm:bun@${bun.version}'s binary for this machine, is not in Deno's npm cache next to it`,
      { cause: error },
    );
  }
  const path = join(
    dirname(platformJson),
    "bin",
    os === "windows" ? "bun.exe" : "bun",
  );
  return { path, version: bun.version };
}

Deno.test("Bun: the smoke passes on the TypeScript sources", async () => {
  const bun = await bunBinary();
  const { report, context } = await runSmoke({
    runtime: "Bun",
    command: bun.path,
    // --no-install: a missing import fails instead of being fetched.
    args: ["--no-install", "run", "tests/runtimes/main.ts"],
    cwd: REPO,
    env: {
      // No crash reports or telemetry leave this machine.
      DO_NOT_TRACK: "1",
      // Bun caches transpiled files outside the repository: not wanted.
      BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0",
    },
    missing: `npm:bun@${bun.version} ships it in its platform package`,
  });
  assert.equal(
    report.versions.bun,
    bun.version,
    `not the Bun that npm:bun ships\n${context}`,
  );
  assertChecks(`Bun ${report.versions.bun}`, report.checks, context);
});
