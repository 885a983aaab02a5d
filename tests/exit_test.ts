/**
 * docs/behaviour.md §5: the system clock unrefs its timers, so a process using a cache
 * with a long ttl exits as soon as its work is done. This is Deno's case;
 * node_test.ts and bun_test.ts check Node's and Bun's, with the smoke's
 * process (tests/runtimes/main.ts).
 */
import assert from "node:assert/strict";
import { type CommandRun, runCommand } from "./_helpers.ts";

const MOD_URL = new URL("../mod.ts", import.meta.url);
// A process that has not exited by then is taken to be kept alive by a timer.
const KILL_AFTER_MS = 10_000;
const PROMPT_MS = 5_000;

/** Runs a command to its end, killing it after KILL_AFTER_MS. */
function run(command: string, args: string[], cwd: string) {
  return runCommand(command, args, { cwd, killAfterMs: KILL_AFTER_MS });
}

function assertPromptExit(result: CommandRun, expectedLine: string): void {
  const detail = `code ${result.code}, signal ${result.signal}, ${
    Math.round(result.elapsedMs)
  } ms\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
  assert.equal(result.signal, null, `killed: ${detail}`);
  assert.equal(result.code, 0, detail);
  assert.ok(
    result.stdout.split("\n").includes(expectedLine),
    `expected the line ${JSON.stringify(expectedLine)}: ${detail}`,
  );
  assert.ok(result.elapsedMs < PROMPT_MS, `not prompt: ${detail}`);
}

// A few cached calls with a one-hour ttl (and jitter), leaving settled
// entries waiting to expire, then a line. The cache is not closed.
function program(importFrom: string): string {
  return `import { alruCache } from ${JSON.stringify(importFrom)};

const double = alruCache(async (n) => n * 2, { ttl: 3_600_000, jitter: 1_000 });
const plain = alruCache(async (n) => n + 1, { ttl: 3_600_000 });
const results = [];
results.push(await double(1));
results.push(await double(1));
results.push(...await Promise.all([double(2), double(2), double(3)]));
results.push(await plain(10));
const info = double.cacheInfo();
console.log(
  "done " + results.join(",") + " hits=" + info.hits + " misses=" +
    info.misses + " size=" + info.currSize,
);
`;
}

const EXPECTED_LINE = "done 2,2,4,4,6,11 hits=2 misses=3 size=3";

Deno.test("a Deno process with a cached ttl of one hour exits promptly when its work is done", async () => {
  const dir = await Deno.makeTempDir({ prefix: "alru_exit_deno_" });
  try {
    const script = `${dir}/main.js`;
    await Deno.writeTextFile(script, program(MOD_URL.href));
    const result = await run(
      Deno.execPath(),
      ["run", "-A", "--no-config", script],
      dir,
    );
    assertPromptExit(result, EXPECTED_LINE);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
