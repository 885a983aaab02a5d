import assert from "node:assert/strict";
import { alruCache, type Clock, ManualClock } from "../mod.ts";
import {
  checkLru,
  type Deferred,
  deferred,
  flush,
  type Inspectable,
} from "./_helpers.ts";

function parametersOf(cached: Inspectable) {
  const params = cached.cacheParameters();
  return {
    maxSize: params.maxSize,
    ttl: params.ttl,
    jitter: params.jitter,
    tasks: params.tasks,
    closed: params.closed,
  };
}

const identity = async (n: number) => await Promise.resolve(n);

Deno.test("cacheInfo follows concurrent calls and clears", async () => {
  const cached = alruCache(identity, { maxSize: 4 });

  assert.deepEqual(await Promise.all([1, 2, 3].map((n) => cached(n))), [
    1,
    2,
    3,
  ]);
  checkLru(cached, { hits: 0, misses: 3, currSize: 3, tasks: 0, maxSize: 4 });
  cached.cacheClear();
  checkLru(cached, { hits: 0, misses: 0, currSize: 0, tasks: 0, maxSize: 4 });

  assert.deepEqual(await Promise.all([1, 1, 1].map((n) => cached(n))), [
    1,
    1,
    1,
  ]);
  checkLru(cached, { hits: 2, misses: 1, currSize: 1, tasks: 0, maxSize: 4 });
  cached.cacheClear();
  checkLru(cached, { hits: 0, misses: 0, currSize: 0, tasks: 0, maxSize: 4 });

  const inputs = [1, 2, 3, 4, 1, 2, 3, 4];
  assert.deepEqual(await Promise.all(inputs.map((n) => cached(n))), inputs);
  checkLru(cached, { hits: 4, misses: 4, currSize: 4, tasks: 0, maxSize: 4 });
});

Deno.test("each repeated call counts one hit", async () => {
  const cached = alruCache(identity);
  await cached(1);
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 0 });
  await cached(1);
  checkLru(cached, { hits: 1, misses: 1, currSize: 1, tasks: 0 });
  await cached(1);
  checkLru(cached, { hits: 2, misses: 1, currSize: 1, tasks: 0 });
});

Deno.test("each new key counts one miss", async () => {
  const cached = alruCache(identity);
  await cached(1);
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 0 });
  await cached(2);
  checkLru(cached, { hits: 0, misses: 2, currSize: 2, tasks: 0 });
  await cached(3);
  checkLru(cached, { hits: 0, misses: 3, currSize: 3, tasks: 0 });
});

Deno.test("counters are counted when the call is made, not when it settles", async () => {
  const gate = deferred<number>();
  const cached = alruCache((_n: number) => gate.promise);
  const calls = [cached(1), cached(1), cached(2)];
  checkLru(cached, { hits: 1, misses: 2, currSize: 2, tasks: 2 });
  gate.resolve(0);
  assert.deepEqual(await Promise.all(calls), [0, 0, 0]);
  checkLru(cached, { hits: 1, misses: 2, currSize: 2, tasks: 0 });
});

Deno.test("cacheParameters reports the configuration", async () => {
  const clock = new ManualClock();
  const cached = alruCache(identity, {
    maxSize: 10,
    ttl: 1000,
    jitter: 50,
    clock,
  });
  assert.deepEqual(parametersOf(cached), {
    maxSize: 10,
    ttl: 1000,
    jitter: 50,
    tasks: 0,
    closed: false,
  });
  await cached(1);
  assert.deepEqual(parametersOf(cached), {
    maxSize: 10,
    ttl: 1000,
    jitter: 50,
    tasks: 0,
    closed: false,
  });

  const ttlOnly = alruCache(identity, { ttl: 0, clock });
  assert.deepEqual(parametersOf(ttlOnly), {
    maxSize: 128,
    ttl: 0,
    jitter: undefined,
    tasks: 0,
    closed: false,
  });
  cached.cacheClear();
});

Deno.test("tasks counts only cached entries whose work is in flight", async () => {
  const gates = new Map<number, Deferred<number>>();
  const cached = alruCache((n: number) => {
    const gate = deferred<number>();
    gates.set(n, gate);
    return gate.promise;
  }, { maxSize: 2 });

  const calls = [cached(1), cached(2)];
  checkLru(cached, { hits: 0, misses: 2, currSize: 2, tasks: 2, maxSize: 2 });

  calls.push(cached(3)); // evicts 1, still running
  checkLru(cached, { hits: 0, misses: 3, currSize: 2, tasks: 2, maxSize: 2 });

  assert.equal(cached.cacheInvalidate(2), true);
  checkLru(cached, { hits: 0, misses: 3, currSize: 1, tasks: 1, maxSize: 2 });

  gates.get(3)!.resolve(3);
  await flush();
  checkLru(cached, { hits: 0, misses: 3, currSize: 1, tasks: 0, maxSize: 2 });

  gates.get(1)!.resolve(1);
  gates.get(2)!.resolve(2);
  assert.deepEqual(await Promise.all(calls), [1, 2, 3]);
  await flush();
  checkLru(cached, { hits: 0, misses: 3, currSize: 1, tasks: 0, maxSize: 2 });
});

Deno.test("cacheInfo and cacheParameters do not change the LRU order", async () => {
  const cached = alruCache(identity, { maxSize: 2 });
  await cached(1);
  await cached(2);
  cached.cacheInfo();
  cached.cacheParameters();
  await cached(3);
  assert.equal(cached.cacheContains(1), false);
  assert.equal(cached.cacheContains(2), true);
  assert.equal(cached.cacheContains(3), true);
});

Deno.test("a plain object works as a clock", async () => {
  const scheduled: { callback: () => void; delay: number }[] = [];
  let cancelled = 0;
  const clock: Clock = {
    now: () => 1_000,
    setTimeout(callback, delay) {
      scheduled.push({ callback, delay });
      return scheduled.length;
    },
    clearTimeout() {
      cancelled++;
    },
  };
  const cached = alruCache(identity, { ttl: 250, clock });
  await cached(1);
  assert.equal(scheduled.length, 1);
  assert.equal(scheduled[0].delay, 250);
  cached.cacheClear();
  assert.ok(cancelled >= 1, "cacheClear cancels the scheduled expiry");
});
