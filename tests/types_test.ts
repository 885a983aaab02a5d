import assert from "node:assert/strict";
import { alruCache } from "../mod.ts";

// These tests are mostly checked by the type checker: a regression makes
// `deno check` (and so the test task) fail before anything runs.

Deno.test("the parameters come from fn, not from the key option", async () => {
  const describe = alruCache(
    (id: number, label?: string) => Promise.resolve(`${id}:${label}`),
    { key: (id: number) => id },
  );
  assert.equal(await describe(1, "a"), "1:a");
  assert.equal(await describe(1), "1:a", "one key for both calls");
  const typed: (id: number, label?: string) => Promise<string> = describe;
  assert.equal(typeof typed, "function");
});

Deno.test("with signal: true the cached function drops the trailing signal", async () => {
  const load = alruCache(
    (id: number, signal: AbortSignal) =>
      Promise.resolve(signal.aborted ? -1 : id),
    { signal: true, key: (id) => id },
  );
  assert.equal(await load(3), 3);
  const misuse = () => {
    // @ts-expect-error: the signal is the cache's to pass, not the caller's
    load(3, new AbortController().signal);
  };
  assert.equal(typeof misuse, "function");
});
