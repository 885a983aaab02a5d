/**
 * The leak soak of `tools/soak.ts` at a tenth of its scale, for CI: 100,000
 * distinct keys against a baseline at 10,000, 10,000 rejecting keys and
 * 10,000 calls with one long-lived signal. The full run is
 * `deno task soak`. Needs `--v8-flags=--expose-gc`, as `deno task test` gives.
 */
import assert from "node:assert/strict";
import {
  checkDistinctKeys,
  checkLongLivedSignal,
  checkRejections,
  type CheckResult,
  formatResult,
  type HeapTolerance,
} from "../tools/soak.ts";

// The heap may grow from the baseline to the end by 10% of what the check
// itself holds at the baseline (its heap then, minus the heap before it
// began), or by 1 MB if that is more; in practice the 1 MB decides.
// - Not 10% of the whole heap, as `deno task soak` uses: under `deno test`
//   the process holds about 80 MB that is not the cache's (the Node
//   compatibility layer behind node:assert, the test runner), and 10% of it
//   would let a leak of 8 MB, about 90 bytes per key, pass.
// - 1 MB of slack, because what a check holds (a few hundred kilobytes) is
//   close to the noise of a run: compiled code, inline caches, a hash table
//   between two sizes. Runs here grow by under 0.1 MB.
// - 1 MB still catches a leak: 90,000 keys (9,000 calls with a signal) go by
//   after the baseline, so 1 MB is under 12 bytes per key (117 per call),
//   less than any object a leak would keep (a listener left on the signal
//   keeps a closure and a promise: about 600 bytes).
const tolerance: HeapTolerance = {
  ratio: 0.1,
  minimumBytes: 1024 * 1024,
  relativeTo: "check",
};

function test(name: string, fn: () => Promise<CheckResult>): void {
  Deno.test({
    name,
    sanitizeOps: true,
    sanitizeResources: true,
    async fn() {
      const result = await fn();
      const text = formatResult(result);
      console.log(text);
      assert.deepEqual(result.failures, [], text);
    },
  });
}

test("soak: 100,000 distinct keys through 1,000 entries with a ttl keep the heap flat", () =>
  checkDistinctKeys({ keys: 100_000, baselineAt: 10_000, tolerance }));

test("soak: 10,000 rejecting keys leave no entry and nothing retained", () =>
  checkRejections({ keys: 10_000 }));

test("soak: one long-lived signal over 10,000 withSignal calls keeps no listener", () =>
  checkLongLivedSignal({ calls: 10_000, baselineAt: 1_000, tolerance }));
