import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import { checkLru, deferred, flush, rejectionOf } from "./_helpers.ts";

Deno.test("cacheClear drops settled entries and resets the counters", async () => {
  let calls = 0;
  const cached = alruCache(async (n: number) => {
    calls++;
    return await Promise.resolve(n);
  });

  assert.deepEqual(await Promise.all([1, 2, 3].map((n) => cached(n))), [
    1,
    2,
    3,
  ]);
  assert.equal(await cached(2), 2);
  checkLru(cached, { hits: 1, misses: 3, currSize: 3, tasks: 0 });

  cached.cacheClear();
  checkLru(cached, { hits: 0, misses: 0, currSize: 0, tasks: 0 });
  for (const n of [1, 2, 3]) assert.equal(cached.cacheContains(n), false);

  assert.equal(await cached(2), 2);
  assert.equal(calls, 4);
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 0 });
});

Deno.test("cacheClear on an empty cache is harmless", () => {
  const cached = alruCache(async (n: number) => await Promise.resolve(n));
  cached.cacheClear();
  cached.cacheClear();
  checkLru(cached, { hits: 0, misses: 0, currSize: 0, tasks: 0 });
});

Deno.test("cacheClear during in-flight work: its callers still get the value and the next call is a miss", async () => {
  const gates = [deferred<string>(), deferred<string>()];
  let calls = 0;
  const cached = alruCache(() => gates[calls++].promise);

  const first = cached();
  const joined = cached();
  checkLru(cached, { hits: 1, misses: 1, currSize: 1, tasks: 1 });

  cached.cacheClear();
  checkLru(cached, { hits: 0, misses: 0, currSize: 0, tasks: 0 });
  assert.equal(cached.cacheContains(), false);

  const fresh = cached();
  assert.equal(calls, 2, "a call after the clear starts new work");
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 1 });

  gates[0].resolve("old");
  assert.equal(await first, "old");
  assert.equal(await joined, "old");
  await flush();
  // The old work settling must leave the newer entry alone.
  assert.equal(cached.cacheContains(), true);
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 1 });

  gates[1].resolve("new");
  assert.equal(await fresh, "new");
  assert.equal(await cached(), "new");
  assert.equal(calls, 2);
  checkLru(cached, { hits: 1, misses: 1, currSize: 1, tasks: 0 });
});

Deno.test("cacheClear during in-flight work that rejects: callers get the reason, nothing is stored", async () => {
  const gate = deferred<number>();
  let calls = 0;
  const cached = alruCache(() => {
    calls++;
    return gate.promise;
  });

  const first = rejectionOf(cached());
  const joined = rejectionOf(cached());
  cached.cacheClear();

  const reason = new Error("boom");
  gate.reject(reason);
  assert.equal(await first, reason);
  assert.equal(await joined, reason);
  await flush();
  checkLru(cached, { hits: 0, misses: 0, currSize: 0, tasks: 0 });
  assert.equal(cached.cacheContains(), false);
  assert.equal(calls, 1);
});

Deno.test("old work settling after cacheClear is not stored", async () => {
  const gate = deferred<number>();
  const cached = alruCache((_n: number) => gate.promise);
  const pending = cached(1);
  cached.cacheClear();
  gate.resolve(1);
  assert.equal(await pending, 1);
  await flush();
  assert.equal(cached.cacheContains(1), false);
  checkLru(cached, { hits: 0, misses: 0, currSize: 0, tasks: 0 });
});

Deno.test("cacheClear cancels the expiry timers", async () => {
  const clock = new ManualClock();
  let calls = 0;
  const cached = alruCache(async (n: number) => {
    calls++;
    return await Promise.resolve(n);
  }, { ttl: 500, clock });

  await cached(1);
  await cached(2);
  assert.ok(clock.pending > 0, "settled entries wait to expire");

  cached.cacheClear();
  assert.equal(clock.pending, 0);
  clock.advance(1000);
  checkLru(cached, { hits: 0, misses: 0, currSize: 0, tasks: 0 });

  assert.equal(await cached(1), 1);
  assert.equal(calls, 3);
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 0 });
});

Deno.test("work cleared while in flight schedules no expiry when it settles", async () => {
  const clock = new ManualClock();
  const gate = deferred<number>();
  const cached = alruCache((_n: number) => gate.promise, { ttl: 500, clock });
  const pending = cached(1);
  cached.cacheClear();
  gate.resolve(1);
  assert.equal(await pending, 1);
  await flush();
  assert.equal(clock.pending, 0);
  checkLru(cached, { hits: 0, misses: 0, currSize: 0, tasks: 0 });
});

Deno.test("an expiry timer from before cacheClear never removes a newer entry", async () => {
  const clock = new ManualClock();
  const cached = alruCache(async (n: number) => await Promise.resolve(n), {
    ttl: 100,
    clock,
  });

  await cached(1); // would expire at 100
  cached.cacheClear();
  clock.advance(50);
  await cached(1); // expires at 150
  clock.advance(50);
  assert.equal(cached.cacheContains(1), true);
  clock.advance(49);
  assert.equal(cached.cacheContains(1), true);
  clock.advance(1);
  assert.equal(cached.cacheContains(1), false);
  assert.equal(clock.pending, 0);
});
