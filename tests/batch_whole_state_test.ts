/**
 * The design rule, for batches: the cache and the batcher call user code
 * (load, its result, the clock, the batch's signal's listeners, the key
 * function, onEvent) only while both are whole, and any of it may call the
 * batched function back.
 */
import assert from "node:assert/strict";
import { alruBatch, type CacheEvent, ManualClock } from "../mod.ts";
import {
  flush,
  hookedClock,
  once,
  rejectionOf,
  track,
  withoutUnhandledRejections,
} from "./_helpers.ts";
import { assertBatchWhole, checkBatchEachEntry, turnEnd } from "./_batch.ts";

Deno.test("both the cache and the batcher are whole each time either calls user code, through a workload of batches, aborts and a close", async () => {
  await withoutUnhandledRejections(async () => {
    const clock = new ManualClock();
    const events: CacheEvent[] = [];
    const cached = alruBatch(
      (keys: number[]) =>
        keys.map((k) => k % 7 === 0 ? new Error(`no ${k}`) : k),
      {
        clock,
        ttl: 50,
        jitter: 10,
        staleWhileRevalidate: 20,
        batchDelay: 5,
        maxBatchSize: 4,
        maxSize: 8,
        signal: true,
        key: (k) => k,
        onEvent: (event) => events.push(event),
      },
    );
    checkBatchEachEntry(cached);
    for (let round = 0; round < 6; round++) {
      const controller = new AbortController();
      const calls = [
        cached.many([round, round + 1, round + 2, round + 7]).catch(() => {}),
        cached.withSignal(controller.signal, round + 20).catch(() => {}),
        cached.withSignal(controller.signal, round + 21).catch(() => {}),
      ];
      if (round % 2 === 0) controller.abort();
      await flush();
      clock.advance(5);
      await Promise.all(calls);
      assertBatchWhole(cached);
      clock.advance(30);
      if (round === 3) cached.cacheInvalidate(round);
      if (round === 4) cached.cacheClear();
    }
    const pending = cached.many([100, 101]);
    await cached.cacheClose();
    await rejectionOf(pending);
    assertBatchWhole(cached);
    assert.ok(events.length > 20);
  });
});

Deno.test("load may call the batched function back: keys it asks for go into a later batch", async () => {
  const loads: number[][] = [];
  const cached = alruBatch(async (keys: number[]): Promise<number[]> => {
    loads.push(keys);
    const parents = keys.filter((k) => k >= 10).map((k) => k - 10);
    const values = await cached.many(parents);
    assertBatchWhole(cached);
    return keys.map((k) => k >= 10 ? values[parents.indexOf(k - 10)] * 100 : k);
  });
  checkBatchEachEntry(cached);
  assert.deepEqual(await cached.many([11, 12]), [100, 200]);
  assert.deepEqual(loads, [[11, 12], [1, 2]]);
});

Deno.test("the clock's setTimeout for a batch's delay may call back, fill the batch, or close the cache", async () => {
  await withoutUnhandledRejections(async () => {
    const clock = new ManualClock();
    const hooks: { setTimeout?: () => void; clearTimeout?: () => void } = {};
    const loads: number[][] = [];
    const cached = alruBatch((keys: number[]) => {
      loads.push(keys);
      return keys;
    }, { clock: hookedClock(clock, hooks), batchDelay: 10, maxBatchSize: 2 });
    checkBatchEachEntry(cached);
    let inner: Promise<number> | undefined;
    hooks.setTimeout = once(() => inner = cached(2));
    const outer = cached(1);
    await flush();
    assert.deepEqual(
      loads,
      [[1, 2]],
      "the call from setTimeout filled the batch",
    );
    assert.deepEqual(await Promise.all([outer, inner!]), [1, 2]);
    assert.equal(
      clock.pending,
      0,
      "the timer set while the batch filled is cancelled",
    );
    assertBatchWhole(cached);

    hooks.setTimeout = once(() => void cached.cacheClose());
    const closed = track(cached(3));
    await flush();
    assert.equal(closed.outcome.state, "rejected");
    assert.equal(clock.pending, 0);
    assertBatchWhole(cached);
    assert.equal(loads.length, 1);
  });
});

Deno.test("a listener of the batch's signal may call the batched function back as the signal aborts", async () => {
  await withoutUnhandledRejections(async () => {
    const signals: AbortSignal[] = [];
    const cached = alruBatch((keys: number[], signal: AbortSignal) => {
      signals.push(signal);
      return signals.length === 1 ? new Promise<number[]>(() => {}) : keys;
    }, { signal: true });
    checkBatchEachEntry(cached);
    const controller = new AbortController();
    const first = cached.withSignal(controller.signal, 1);
    await turnEnd();
    let again: Promise<number> | undefined;
    signals[0].addEventListener("abort", () => {
      assertBatchWhole(cached);
      again = cached(1);
    });
    controller.abort();
    await rejectionOf(first);
    assert.ok(again);
    assert.equal(await again, 1);
    assertBatchWhole(cached);
  });
});

Deno.test("a key's abandonment from inside onEvent, while its batch is open, leaves both whole", async () => {
  await withoutUnhandledRejections(async () => {
    const controller = new AbortController();
    const loads: number[][] = [];
    const cached = alruBatch((keys: number[]) => {
      loads.push(keys);
      return keys;
    }, {
      onEvent: (event) => {
        if (event.type === "miss" && event.key === 2) controller.abort();
      },
    });
    checkBatchEachEntry(cached);
    const one = cached.withSignal(controller.signal, 1);
    const two = cached.withSignal(controller.signal, 2);
    await Promise.allSettled([one, two]);
    await turnEnd();
    assert.deepEqual(loads, []);
    assertBatchWhole(cached);
  });
});
