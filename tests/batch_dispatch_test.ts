/**
 * §15.2 and §15.5: when a batch is made and sent, joining, counting, and the
 * timers a batch uses.
 */
import assert from "node:assert/strict";
import { alruBatch, type CacheEvent, ManualClock } from "../mod.ts";
import { checkLru, flush, macrotask, withErrors } from "./_helpers.ts";
import { heldLoad, range, recordingLoad, turnEnd } from "./_batch.ts";

Deno.test("1,000 calls in one synchronous run make one call of load, with the keys in the order first asked, and none before the run ends", async () => {
  const { load, calls } = recordingLoad((key: number) => key * 2);
  const cached = alruBatch(load, { maxSize: null });
  const keys = range(0, 1000).reverse();
  const promises = keys.map((key) => cached(key));
  assert.equal(calls.length, 0, "load is never called synchronously");
  await flush(3);
  const values = await Promise.all(promises);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].keys, keys);
  assert.deepEqual(values, keys.map((key) => key * 2));
  checkLru(cached, {
    hits: 0,
    misses: 1000,
    currSize: 1000,
    tasks: 0,
    maxSize: Infinity,
  });
});

Deno.test("keys asked for after any chain of awaits on settled promises in the same macrotask share the batch; a later macrotask makes a new one", async () => {
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load);
  const resolver = async (key: number, depth: number) => {
    for (let i = 0; i < depth; i++) await Promise.resolve(i);
    return cached(key);
  };
  const values = await Promise.all([
    resolver(1, 0),
    resolver(2, 1),
    resolver(3, 7),
    resolver(4, 200),
    (async () => {
      await null;
      return await resolver(5, 30);
    })(),
  ]);
  assert.deepEqual(values, [1, 2, 3, 4, 5]);
  // In the order asked: the fifth's chain is shorter than the fourth's.
  assert.deepEqual(calls.map((c) => c.keys), [[1, 2, 3, 5, 4]]);
  const first = cached(6);
  await macrotask();
  const second = cached(7);
  await Promise.all([first, second]);
  assert.deepEqual(calls.map((c) => c.keys), [[1, 2, 3, 5, 4], [6], [7]]);
});

Deno.test("a batch opened in a timer's callback is sent before a timer due at the same time runs, after every microtask of that callback", async () => {
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load);
  const seen: number[] = [];
  await new Promise<void>((done) => {
    setTimeout(() => {
      void cached(1);
      (async () => {
        for (let i = 0; i < 100; i++) await null;
        void cached(2);
      })();
    }, 0);
    setTimeout(() => {
      seen.push(calls.length);
      done();
    }, 0);
  });
  assert.deepEqual(seen, [1]);
  assert.deepEqual(calls.map((c) => c.keys), [[1, 2]]);
});

Deno.test("a batch opened after I/O is sent before a timer of a later macrotask runs", async () => {
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load);
  await Deno.readTextFile(new URL(import.meta.url));
  const seen: number[] = [];
  const timer = new Promise<void>((done) =>
    setTimeout(() => {
      seen.push(calls.length);
      done();
    }, 0)
  );
  void cached(1);
  (async () => {
    for (let i = 0; i < 50; i++) await null;
    void cached(2);
  })();
  await timer;
  assert.deepEqual(seen, [1]);
  assert.deepEqual(calls.map((c) => c.keys), [[1, 2]]);
});

Deno.test("with batchDelay 0 and a ManualClock, a batch is sent without advancing, and no timer is set", async () => {
  const clock = new ManualClock();
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load, { clock, ttl: 1_000 });
  const call = cached(1);
  assert.equal(clock.pending, 0);
  assert.equal(await call, 1);
  assert.equal(calls.length, 1);
  assert.equal(clock.pending, 1, "the entry's expiry, and no batch timer");
  await cached.cacheClose();
  assert.equal(clock.pending, 0);
});

Deno.test("with batchDelay, the batch waits for advance(batchDelay) on the cache's clock, which counts its timer and sends it before returning", async () => {
  const clock = new ManualClock();
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load, { clock, batchDelay: 10 });
  const first = cached(1);
  assert.equal(clock.pending, 1);
  await macrotask();
  const second = cached(2);
  assert.equal(clock.pending, 1, "one timer per batch");
  clock.advance(9);
  await flush();
  assert.equal(calls.length, 0);
  clock.advance(1);
  assert.deepEqual(calls.map((c) => c.keys), [[1, 2]]);
  assert.equal(clock.pending, 0);
  assert.deepEqual(await Promise.all([first, second]), [1, 2]);
});

Deno.test("maxBatchSize: many() of 1,000 uncached keys with maxBatchSize 100 makes exactly 10 calls of 100 distinct keys, in order", async () => {
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load, { maxSize: null, maxBatchSize: 100 });
  const keys = range(0, 1000);
  assert.deepEqual(await cached.many(keys), keys);
  assert.equal(calls.length, 10);
  for (const [i, call] of calls.entries()) {
    assert.deepEqual(call.keys, range(i * 100, i * 100 + 100));
  }
});

Deno.test("a full batch is sent by a microtask, without waiting for batchDelay, and its timer is cancelled; the next key opens a new batch", async () => {
  const clock = new ManualClock();
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load, { clock, batchDelay: 1_000, maxBatchSize: 2 });
  const calling = cached.many([1, 2, 3]);
  assert.equal(clock.pending, 1, "the third key's batch");
  assert.equal(calls.length, 0);
  await Promise.resolve();
  assert.deepEqual(calls.map((c) => c.keys), [[1, 2]]);
  clock.advance(1_000);
  assert.deepEqual(calls.map((c) => c.keys), [[1, 2], [3]]);
  assert.deepEqual(await calling, [1, 2, 3]);
  assert.equal(clock.pending, 0);
  const single = alruBatch(load, { clock, batchDelay: 50, maxBatchSize: 1 });
  const one = single(9);
  assert.equal(clock.pending, 0, "a batch full at once sets no timer");
  assert.equal(await one, 9);
});

Deno.test("batches are sent in the order they opened", async () => {
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load, { maxBatchSize: 3 });
  await cached.many(range(0, 8));
  assert.deepEqual(calls.map((c) => c.keys), [[0, 1, 2], [3, 4, 5], [6, 7]]);
});

Deno.test("a key in an open batch or in a sent one is joined and never loaded twice; a duplicate is a hit", async () => {
  const { load, batches } = heldLoad<number, number[]>();
  const events: CacheEvent[] = [];
  const cached = alruBatch(load, { onEvent: (event) => events.push(event) });
  const first = cached.many([1, 2, 1]);
  const joined = cached(2);
  await turnEnd();
  assert.deepEqual(batches.map((b) => b.keys), [[1, 2]]);
  const late = cached(1);
  await flush();
  assert.equal(batches.length, 1, "the sent batch is joined");
  batches[0].resolve([10, 20]);
  assert.deepEqual(await first, [10, 20, 10]);
  assert.equal(await joined, 20);
  assert.equal(await late, 10);
  assert.deepEqual(events.map((e) => `${e.type} ${e.key}`), [
    "miss 1",
    "miss 2",
    "hit 1",
    "hit 2",
    "hit 1",
  ]);
  checkLru(cached, { hits: 3, misses: 2, currSize: 2, tasks: 0 });
});

Deno.test("a key asked for again while it waits in an open batch, after its entry was invalidated, shares its place there", async () => {
  const { load, calls } = recordingLoad((key: number) => ({ key }));
  const cached = alruBatch(load);
  const first = cached(1);
  assert.equal(cached.cacheInvalidate(1), true);
  const second = cached(1);
  const [a, b] = await Promise.all([first, second]);
  assert.deepEqual(calls.map((c) => c.keys), [[1]]);
  assert.equal(a, b);
  checkLru(cached, { hits: 0, misses: 2, currSize: 1, tasks: 0 });
});

Deno.test("overlapping many() calls, in the same macrotask or the next, load each key exactly once", async () => {
  for (const gap of [false, true]) {
    const { load, calls } = recordingLoad((key: number) => key);
    const cached = alruBatch(load, { maxSize: null });
    const first = cached.many(range(0, 600));
    if (gap) await macrotask();
    const second = cached.many(range(400, 1000));
    assert.deepEqual(await first, range(0, 600));
    assert.deepEqual(await second, range(400, 1000));
    const loaded = calls.flatMap((c) => c.keys).sort((a, b) => a - b);
    assert.deepEqual(loaded, range(0, 1000), `gap ${gap}`);
    assert.equal(calls.length, gap ? 2 : 1);
  }
});

Deno.test("a second many() of the same keys calls load 0 times: all hits, the same objects", async () => {
  const { load, calls } = recordingLoad((key: number) => ({ key }));
  const cached = alruBatch(load, { maxSize: null, maxBatchSize: 100 });
  const keys = range(0, 1000);
  const first = await cached.many(keys);
  const second = await cached.many(keys);
  assert.equal(calls.length, 10);
  assert.ok(first.every((value, i) => value === second[i]));
  checkLru(cached, {
    hits: 1000,
    misses: 1000,
    currSize: 1000,
    tasks: 0,
    maxSize: Infinity,
  });
});

Deno.test("a stale hit is a hit whose refresh goes into a batch; cacheRefresh counts a refresh, neither hit nor miss", async () => {
  const clock = new ManualClock();
  const events: CacheEvent[] = [];
  let generation = 0;
  const { load, calls } = recordingLoad((key: number) =>
    `${key}@${generation}`
  );
  const cached = alruBatch(load, {
    clock,
    ttl: 100,
    staleWhileRevalidate: 100,
    onEvent: (event) => events.push(event),
  });
  await cached.many([1, 2]);
  generation = 1;
  clock.advance(150);
  assert.deepEqual(await cached.many([1, 2]), ["1@0", "2@0"]);
  await turnEnd();
  await flush();
  assert.deepEqual(calls.map((c) => c.keys), [[1, 2], [1, 2]]);
  assert.equal(await cached(1), "1@1");
  generation = 2;
  const refreshed = await Promise.all([
    cached.cacheRefresh(1),
    cached.cacheRefresh(3),
  ]);
  assert.deepEqual(refreshed, ["1@2", "3@2"]);
  assert.deepEqual(calls.map((c) => c.keys), [[1, 2], [1, 2], [1, 3]]);
  assert.deepEqual(events.map((e) => `${e.type} ${e.key}`), [
    "miss 1",
    "miss 2",
    "hit 1",
    "stale 1",
    "refresh 1",
    "hit 2",
    "stale 2",
    "refresh 2",
    "hit 1",
    "refresh 1",
    "refresh 3",
  ]);
  const stats = cached.cacheStats();
  assert.equal(stats.hits, 3);
  assert.equal(stats.misses, 2);
  assert.equal(stats.refreshes, 4);
  await cached.cacheClose();
});

Deno.test("a batch timer is cancelled when its batch is left empty, and none is left after every batch was sent or the cache closed", async () => {
  const clock = new ManualClock();
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load, { clock, batchDelay: 10 });
  const controller = new AbortController();
  const call = cached.withSignal(controller.signal, 1);
  assert.equal(clock.pending, 1);
  controller.abort(new Error("gone"));
  await assert.rejects(call, /gone/);
  assert.equal(clock.pending, 0, "the empty batch's timer is cancelled");
  clock.advance(10);
  assert.equal(calls.length, 0, "an empty batch is never sent");
  const pending = cached(2);
  assert.equal(clock.pending, 1);
  void cached.cacheClose();
  assert.equal(clock.pending, 0);
  await assert.rejects(pending, { name: "AbortError" });
  assert.equal(calls.length, 0);
});

Deno.test("a clock whose setTimeout or clearTimeout throws: the batch still goes, at the end of the turn, and the failure is reported once", async () => {
  await withErrors(async (errors) => {
    const clock = new ManualClock();
    const failure = new Error("clock broke");
    const { load, calls } = recordingLoad((key: number) => key);
    const cached = alruBatch(load, {
      clock: {
        now: () => clock.now(),
        setTimeout: () => {
          throw failure;
        },
        clearTimeout: (handle) => clock.clearTimeout(handle),
      },
      batchDelay: 10,
    });
    assert.deepEqual(await Promise.all([cached(1), cached(2)]), [1, 2]);
    assert.deepEqual(await cached.many([3]), [3]);
    assert.deepEqual(calls.map((c) => c.keys), [[1, 2], [3]]);
    assert.equal(errors.length, 1);
    assert.match(String(errors[0][0]), /alruBatch's clock failed/);
    assert.equal(errors[0][1], failure);

    const { load: other, calls: otherCalls } = recordingLoad((key: number) =>
      key
    );
    const cancelling = alruBatch(other, {
      clock: {
        now: () => clock.now(),
        setTimeout: (callback, delay) => clock.setTimeout(callback, delay),
        clearTimeout: () => {
          throw failure;
        },
      },
      batchDelay: 10,
      maxBatchSize: 2,
    });
    assert.deepEqual(await cancelling.many([1, 2]), [1, 2]);
    assert.deepEqual(otherCalls.map((c) => c.keys), [[1, 2]]);
    clock.advance(10);
    assert.equal(
      otherCalls.length,
      1,
      "the timer left behind finds its batch gone",
    );
    assert.equal(errors.length, 2);
  });
});

Deno.test("with maxSize 0 every call is a miss and nothing is kept, but a key asked twice while its batch is open is loaded once", async () => {
  const { load, calls } = recordingLoad((key: number) => ({ key }));
  const cached = alruBatch(load, { maxSize: 0 });
  const [a, b, c] = await Promise.all([cached(1), cached(1), cached(2)]);
  assert.equal(a, b, "the place in the batch is shared");
  assert.deepEqual(c, { key: 2 });
  assert.deepEqual(calls.map((call) => call.keys), [[1, 2]]);
  checkLru(cached, { hits: 0, misses: 3, currSize: 0, tasks: 0, maxSize: 0 });
});
