/**
 * §15.7 and §15.8: cancellation per key, the batch's signal, and closing.
 */
import assert from "node:assert/strict";
import { alruBatch, CacheClosedError, ManualClock } from "../mod.ts";
import {
  assertAbortError,
  checkLru,
  flush,
  hookedClock,
  once,
  rejectionOf,
  track,
  withoutUnhandledRejections,
} from "./_helpers.ts";
import { heldLoad, recordingLoad, turnEnd } from "./_batch.ts";

Deno.test("withSignal: an abort rejects that caller with the signal's reason and nobody else; an already-aborted signal requests and counts nothing", async () => {
  const { load, batches } = heldLoad<number, number[]>();
  const cached = alruBatch(load);
  const controller = new AbortController();
  const leaving = track(cached.withSignal(controller.signal, 1));
  const staying = track(cached(1));
  const reason = new Error("left");
  controller.abort(reason);
  await flush();
  assert.equal(leaving.outcome.state, "rejected");
  assert.equal((leaving.outcome as { reason: unknown }).reason, reason);
  await turnEnd();
  batches[0].resolve([7]);
  await flush();
  assert.deepEqual(staying.outcome, { state: "fulfilled", value: 7 });
  const before = cached.cacheInfo();
  assert.equal(
    await rejectionOf(cached.withSignal(controller.signal, 2)),
    reason,
  );
  assert.deepEqual(cached.cacheInfo(), before);
  await turnEnd();
  assert.equal(batches.length, 1);
  assert.match(
    String(await rejectionOf(cached.withSignal({} as AbortSignal, 3))),
    /withSignal needs an AbortSignal/,
  );
});

Deno.test("a key whose callers all left before its batch was sent is left out of load; its entry goes and the next call is a miss", async () => {
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load, { signal: true });
  const first = new AbortController();
  const second = new AbortController();
  const calls1 = [
    cached.withSignal(first.signal, 1),
    cached.withSignal(second.signal, 1),
  ];
  const two = cached(2);
  first.abort();
  assert.equal(cached.cacheContains(1), true, "a caller still waits");
  second.abort();
  assert.equal(cached.cacheContains(1), false);
  await Promise.allSettled(calls1);
  assert.equal(await two, 2);
  assert.deepEqual(calls.map((c) => c.keys), [[2]]);
  assert.equal(calls[0].signal!.aborted, false);
  assert.equal(await cached(1), 1);
  checkLru(cached, { hits: 1, misses: 3, currSize: 2, tasks: 0 });
});

Deno.test("a batch that every key left before it was sent is never sent", async () => {
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load);
  const controller = new AbortController();
  const calling = Promise.allSettled(
    [1, 2].map((k) => cached.withSignal(controller.signal, k)),
  );
  controller.abort();
  await calling;
  await turnEnd();
  assert.equal(calls.length, 0);
  checkLru(cached, { hits: 0, misses: 2, currSize: 0, tasks: 0 });
});

Deno.test("a key abandoned after its batch was sent: its value is not stored; the batch's signal aborts only once every key is abandoned, with the last reason", async () => {
  const { load, batches } = heldLoad<number, number[]>();
  const cached = alruBatch(load, { signal: true });
  const a = new AbortController();
  const b = new AbortController();
  const one = track(cached.withSignal(a.signal, 1));
  const two = track(cached.withSignal(b.signal, 2));
  await turnEnd();
  const signal = batches[0].signal!;
  a.abort(new Error("a"));
  assert.equal(signal.aborted, false);
  assert.equal(cached.cacheContains(1), false);
  const last = new Error("b");
  b.abort(last);
  assert.equal(signal.aborted, true);
  assert.equal(signal.reason, last);
  batches[0].resolve([1, 2]);
  await flush();
  assert.equal(one.outcome.state, "rejected");
  assert.equal(two.outcome.state, "rejected");
  checkLru(cached, { hits: 0, misses: 2, currSize: 0, tasks: 0 });
});

Deno.test("eviction, invalidation and clearing never abort a batch's signal; a refreshing key is never abandoned", async () => {
  const { load, batches } = heldLoad<number, number[]>();
  const clock = new ManualClock();
  const cached = alruBatch(load, {
    signal: true,
    maxSize: 2,
    clock,
    ttl: 10,
    staleWhileRevalidate: 100,
  });
  const calling = cached.many([1, 2, 5]);
  assert.equal(cached.cacheContains(1), false, "evicted");
  await turnEnd();
  cached.cacheInvalidate(2);
  cached.cacheClear();
  assert.equal(batches[0].signal!.aborted, false);
  batches[0].resolve([1, 2, 5]);
  await calling;
  const three = cached(3);
  await turnEnd();
  batches[1].resolve([3]);
  await three;
  clock.advance(20);
  assert.equal(await cached(3), 3, "stale");
  const controller = new AbortController();
  const four = cached.withSignal(controller.signal, 4);
  await turnEnd();
  const refresh = batches.at(-1)!;
  assert.deepEqual(refresh.keys, [3, 4]);
  controller.abort();
  await rejectionOf(four);
  assert.equal(refresh.signal!.aborted, false, "a refresh is never abandoned");
  refresh.resolve([33, 4]);
  await flush();
  assert.equal(await cached(3), 33);
  await cached.cacheClose();
});

Deno.test("closing without wait abandons keys in open and sent batches with an AbortError; open batches are never sent, their timers cancelled, sent batches' signals abort", async () => {
  await withoutUnhandledRejections(async () => {
    const clock = new ManualClock();
    const { load, batches } = heldLoad<number, number[]>();
    const cached = alruBatch(load, {
      signal: true,
      clock,
      batchDelay: 5,
      maxBatchSize: 2,
    });
    const sent = [track(cached(1)), track(cached(2))];
    await flush();
    assert.equal(batches.length, 1, "the full batch was sent");
    const open = track(cached(3));
    assert.equal(clock.pending, 1);
    await cached.cacheClose();
    assert.equal(clock.pending, 0);
    await flush();
    for (const call of [...sent, open]) assertAbortError(call);
    assert.equal(batches[0].signal!.aborted, true);
    assert.equal(
      (batches[0].signal!.reason as DOMException).name,
      "AbortError",
    );
    clock.advance(100);
    assert.equal(batches.length, 1, "the open batch is never sent");
    batches[0].resolve([1, 2]);
    await flush();
    checkLru(cached, {
      hits: 0,
      misses: 3,
      currSize: 0,
      tasks: 0,
      closed: true,
    });
  });
});

Deno.test("closing without wait, a full batch waiting for its microtask is never sent", async () => {
  await withoutUnhandledRejections(async () => {
    const { load, calls } = recordingLoad((key: number) => key);
    const cached = alruBatch(load, { maxBatchSize: 2 });
    const full = [track(cached(1)), track(cached(2))];
    await cached.cacheClose();
    await turnEnd();
    await flush();
    for (const call of full) assertAbortError(call);
    assert.equal(calls.length, 0);
  });
});

Deno.test("closing with wait sends open batches at once, resolves once every batch settled, and keeps their values", async () => {
  const clock = new ManualClock();
  const { load, batches } = heldLoad<number, number[]>();
  const cached = alruBatch(load, { clock, batchDelay: 1_000 });
  const calling = cached.many([1, 2]);
  let closed = false;
  const closing = cached.cacheClose({ wait: true }).then(() => closed = true);
  assert.deepEqual(batches.map((b) => b.keys), [[1, 2]]);
  assert.equal(clock.pending, 0);
  await flush();
  assert.equal(closed, false);
  batches[0].resolve([10, 20]);
  await closing;
  assert.deepEqual(await calling, [10, 20]);
  checkLru(cached, { hits: 0, misses: 2, currSize: 2, tasks: 0, closed: true });
});

Deno.test("after closing, every call rejects with CacheClosedError, many and cacheRefresh included, hits too", async () => {
  const { load } = recordingLoad((key: number) => key);
  const cached = alruBatch(load);
  await cached(1);
  await cached.cacheClose();
  for (
    const call of [
      cached(1),
      cached(2),
      cached.many([1]),
      cached.cacheRefresh(1),
      cached.withSignal(new AbortController().signal, 1),
    ]
  ) {
    assert.ok(await rejectionOf(call) instanceof CacheClosedError);
  }
  await cached.cacheClose();
  assert.match(
    String(await rejectionOf(cached.cacheClose({ wait: 1 } as never))),
    /"wait"/,
  );
});

Deno.test("a close with wait made from inside a close without wait sends no batch; closing twice is harmless", async () => {
  await withoutUnhandledRejections(async () => {
    const clock = new ManualClock();
    const hooks: { clearTimeout?: () => void } = {};
    const { load, calls } = recordingLoad((key: number) => key);
    const cached = alruBatch(load, {
      clock: hookedClock(clock, hooks),
      ttl: 1_000,
    });
    await cached(9); // its expiry timer, which the close cancels
    let inner: Promise<void> | undefined;
    hooks.clearTimeout = once(() => {
      inner = cached.cacheClose({ wait: true });
    });
    const controller = new AbortController();
    const plain = track(cached(1));
    const leaving = track(cached.withSignal(controller.signal, 2));
    await cached.cacheClose();
    assert.ok(inner, "the inner close ran");
    await inner;
    await cached.cacheClose({ wait: true });
    await turnEnd();
    await flush();
    assertAbortError(plain);
    assertAbortError(leaving);
    assert.deepEqual(calls.map((c) => c.keys), [[9]]);
  });
});
