/**
 * Runs `tests/node/core.test.mjs` on Node against the bundled module: the
 * core behaviours hold on Node as they do on Deno.
 */
import assert from "node:assert/strict";
import { bundleModule } from "./_bundle.ts";

const REPO = decodeURIComponent(new URL("..", import.meta.url).pathname);
const NODE_TESTS = "tests/node/core.test.mjs";
// The number of test() calls in NODE_TESTS: every one must run and pass.
const EXPECTED_TESTS = 11;
// A Node run that has not ended by then is killed and fails the test.
const KILL_AFTER_MS = 60_000;

/** The value of a `# name N` line of Node's TAP summary, or undefined. */
function summary(tap: string, name: string): number | undefined {
  const match = tap.match(new RegExp(`^# ${name} (\\d+)$`, "m"));
  return match === null ? undefined : Number(match[1]);
}

Deno.test({
  name: "the core behaviours hold on Node, against the bundled module",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "alru_node_" });
    try {
      const bundle = await bundleModule(dir);
      const controller = new AbortController();
      const killer = setTimeout(() => controller.abort(), KILL_AFTER_MS);
      const output = await new Deno.Command("node", {
        args: [
          "--test",
          // TAP whether or not stdout is a terminal, for its summary lines.
          "--test-reporter=tap",
          "--unhandled-rejections=strict",
          NODE_TESTS,
        ],
        cwd: REPO,
        env: { ALRU_BUNDLE: bundle },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: controller.signal,
      }).output().finally(() => clearTimeout(killer));
      const decoder = new TextDecoder();
      const stdout = decoder.decode(output.stdout);
      const detail = `code ${output.code}, signal ${output.signal}\nstdout:\n${
        stdout.slice(-8_000)
      }\nstderr:\n${decoder.decode(output.stderr).slice(-4_000)}`;

      assert.equal(output.signal, null, `killed: ${detail}`);
      assert.equal(output.code, 0, detail);
      assert.deepEqual(
        {
          tests: summary(stdout, "tests"),
          pass: summary(stdout, "pass"),
          fail: summary(stdout, "fail"),
          cancelled: summary(stdout, "cancelled"),
          skipped: summary(stdout, "skipped"),
          todo: summary(stdout, "todo"),
        },
        {
          tests: EXPECTED_TESTS,
          pass: EXPECTED_TESTS,
          fail: 0,
          cancelled: 0,
          skipped: 0,
          todo: 0,
        },
        detail,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
