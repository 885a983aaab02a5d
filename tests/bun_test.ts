/**
 * Bun, on the TypeScript sources as they are (standard decorators included),
 * with the binary Bun publishes to npm. `npm:bun` itself only picks one of
 * its platform packages in a postinstall script, which Deno does not run
 * (and warns about on every fresh install), so the test takes this
 * machine's platform package directly: one download instead of every
 * variant.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { npmPackage } from "./runtimes/build.ts";
import { assertChecks, CHANNELS_HEARD, runSmoke } from "./runtimes/report.ts";

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
  const os = OS[Deno.build.os];
  assert.ok(os !== undefined, `Bun has no binary for ${Deno.build.os}`);
  const platform = await npmPackage(
    `npm:@oven/bun-${os}-${ARCH[Deno.build.arch]}@^1`,
  );
  const path = join(platform.dir, "bin", os === "windows" ? "bun.exe" : "bun");
  return { path, version: platform.version };
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
    missing: `Bun ${bun.version}'s platform package ships it`,
  });
  assert.equal(
    report.versions.bun,
    bun.version,
    `not the Bun of the platform package\n${context}`,
  );
  assertChecks(`Bun ${report.versions.bun}`, report.checks, context);
  assert.deepEqual(
    report.channels,
    CHANNELS_HEARD,
    `the channels, subscribed on Bun\n${context}`,
  );
});
