/**
 * §15.6: many(keys).
 */
import assert from "node:assert/strict";
import { alruBatch, CacheClosedError } from "../mod.ts";
import {
  checkLru,
  flush,
  rejectionOf,
  withoutUnhandledRejections,
} from "./_helpers.ts";
import { recordingLoad, turnEnd } from "./_batch.ts";

Deno.test("many resolves with the values in the order of keys, duplicates included; load sees a duplicate once and counts it a hit", async () => {
  const { load, calls } = recordingLoad((key: string) => ({ key }));
  const cached = alruBatch(load);
  const values = await cached.many(new Set(["b", "a"]).values());
  assert.deepEqual(values, [{ key: "b" }, { key: "a" }]);
  const again = await cached.many(["c", "a", "c", "b"]);
  assert.deepEqual(calls.map((c) => c.keys), [["b", "a"], ["c"]]);
  assert.equal(again[0], again[2]);
  assert.equal(again[1], values[1]);
  checkLru(cached, { hits: 3, misses: 3, currSize: 3, tasks: 0 });
});

Deno.test("many batches exactly as that many calls in one synchronous run", async () => {
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load, { maxBatchSize: 3 });
  const single = cached(0);
  const many = cached.many([1, 2, 3, 4]);
  const after = cached(5);
  await Promise.all([single, many, after]);
  assert.deepEqual(calls.map((c) => c.keys), [[0, 1, 2], [3, 4, 5]]);
});

Deno.test("many rejects with the first key to reject; the others go on, are stored, and leave nothing unhandled", async () => {
  await withoutUnhandledRejections(async () => {
    const first = new Error("first");
    const { load } = recordingLoad((key: number) =>
      key === 2 ? first : key === 3 ? new Error("second") : key
    );
    const cached = alruBatch(load);
    assert.equal(await rejectionOf(cached.many([1, 2, 3, 4])), first);
    assert.equal(cached.cacheContains(1), true);
    assert.equal(cached.cacheContains(4), true);
    assert.equal(cached.cacheContains(2), false);
  });
});

Deno.test("many never throws: a closed cache rejects with CacheClosedError first, even for no keys; keys not iterable reject with a TypeError", async () => {
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load);
  for (const bad of [undefined, null, 5, { length: 1, 0: 1 }]) {
    const call = cached.many(bad as never);
    assert.ok(call instanceof Promise);
    const reason = await rejectionOf(call);
    assert.ok(reason instanceof TypeError, String(bad));
    assert.match((reason as Error).message, /many needs an iterable of keys/);
  }
  const broken = {
    *[Symbol.iterator]() {
      yield 1;
      throw new Error("iteration failed");
    },
  };
  assert.match(
    String(await rejectionOf(cached.many(broken))),
    /iteration failed/,
  );
  assert.deepEqual(await cached.many([]), []);
  await turnEnd();
  assert.equal(
    calls.length,
    0,
    "no keys call nothing; a failed iteration requests nothing",
  );
  checkLru(cached, { hits: 0, misses: 0, currSize: 0, tasks: 0 });
  await cached.cacheClose();
  assert.ok(await rejectionOf(cached.many([])) instanceof CacheClosedError);
  assert.ok(
    await rejectionOf(cached.many(5 as never)) instanceof CacheClosedError,
  );
});

Deno.test("a cancellable many is Promise.all over withSignal, and batches the same", async () => {
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load);
  const controller = new AbortController();
  const values = await Promise.all(
    [1, 2, 3].map((key) => cached.withSignal(controller.signal, key)),
  );
  assert.deepEqual(values, [1, 2, 3]);
  assert.deepEqual(calls.map((c) => c.keys), [[1, 2, 3]]);
  await flush();
});
