import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import { checkLru, type Deferred, deferred, flush } from "./_helpers.ts";

const identity = async (n: number) => await Promise.resolve(n);

Deno.test("ttl with an unbounded cache", async () => {
  const clock = new ManualClock();
  const cached = alruCache(identity, { maxSize: null, ttl: 100, clock });
  assert.equal(await cached(1), 1);
  checkLru(cached, {
    hits: 0,
    misses: 1,
    currSize: 1,
    tasks: 0,
    maxSize: Infinity,
  });
  clock.advance(0);
  assert.equal(await cached(1), 1);
  checkLru(cached, {
    hits: 1,
    misses: 1,
    currSize: 1,
    tasks: 0,
    maxSize: Infinity,
  });

  clock.advance(200);
  checkLru(cached, {
    hits: 1,
    misses: 1,
    currSize: 0,
    tasks: 0,
    maxSize: Infinity,
  });
  assert.equal(await cached(1), 1);
  checkLru(cached, {
    hits: 1,
    misses: 2,
    currSize: 1,
    tasks: 0,
    maxSize: Infinity,
  });
  cached.cacheClear();
});

Deno.test("an entry expires exactly ttl after it settled", async () => {
  const clock = new ManualClock(5_000);
  const cached = alruCache(identity, { ttl: 100, clock });
  await cached(1);
  clock.advance(99);
  assert.equal(cached.cacheContains(1), true);
  clock.advance(1);
  assert.equal(cached.cacheContains(1), false);
  assert.equal(clock.pending, 0, "no timer once nothing waits to expire");
});

Deno.test("ttl with a bounded cache", async () => {
  const clock = new ManualClock();
  const cached = alruCache(identity, { maxSize: 1, ttl: 100, clock });
  assert.equal(await cached(1), 1);
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 0, maxSize: 1 });
  assert.equal(await cached(2), 2);
  checkLru(cached, { hits: 0, misses: 2, currSize: 1, tasks: 0, maxSize: 1 });
  clock.advance(0);
  assert.equal(await cached(2), 2);
  checkLru(cached, { hits: 1, misses: 2, currSize: 1, tasks: 0, maxSize: 1 });
  assert.equal(await cached(1), 1);
  checkLru(cached, { hits: 1, misses: 3, currSize: 1, tasks: 0, maxSize: 1 });
  cached.cacheClear();
});

Deno.test("after cacheInvalidate the old expiry never touches the new entry", async () => {
  const clock = new ManualClock();
  const cached = alruCache(identity, { maxSize: null, ttl: 200, clock });
  assert.equal(await cached(1), 1); // would expire at 200
  assert.equal(cached.cacheInvalidate(1), true);
  checkLru(cached, {
    hits: 0,
    misses: 1,
    currSize: 0,
    tasks: 0,
    maxSize: Infinity,
  });

  clock.advance(100);
  assert.equal(await cached(1), 1); // expires at 300
  checkLru(cached, {
    hits: 0,
    misses: 2,
    currSize: 1,
    tasks: 0,
    maxSize: Infinity,
  });

  clock.advance(100);
  checkLru(cached, {
    hits: 0,
    misses: 2,
    currSize: 1,
    tasks: 0,
    maxSize: Infinity,
  });
  clock.advance(99);
  assert.equal(cached.cacheContains(1), true);
  clock.advance(1);
  assert.equal(cached.cacheContains(1), false);
});

Deno.test("concurrent calls on a bounded ttl cache all get their values", async () => {
  const clock = new ManualClock();
  const cached = alruCache(identity, { maxSize: 1, ttl: 1000, clock });
  assert.deepEqual(await Promise.all([0, 1].map((n) => cached(n))), [0, 1]);
  await flush();
  assert.equal(cached.cacheContains(0), false);
  assert.equal(cached.cacheContains(1), true);
  assert.equal(clock.pending, 1);
  clock.advance(1000);
  assert.equal(cached.cacheContains(1), false);
  assert.equal(clock.pending, 0);
});

Deno.test("a hit does not extend the lifetime", async () => {
  const clock = new ManualClock();
  const cached = alruCache(identity, { ttl: 100, clock });
  await cached(1);
  clock.advance(60);
  await cached(1);
  clock.advance(39);
  assert.equal(cached.cacheContains(1), true);
  clock.advance(1);
  assert.equal(cached.cacheContains(1), false);
  checkLru(cached, { hits: 1, misses: 1, currSize: 0, tasks: 0 });
});

Deno.test("in-flight entries never expire; the lifetime starts at settling", async () => {
  const clock = new ManualClock();
  const gate = deferred<number>();
  const cached = alruCache((_n: number) => gate.promise, { ttl: 100, clock });
  const pending = cached(1);
  assert.equal(clock.pending, 0, "nothing waits to expire yet");
  clock.advance(1000);
  assert.equal(cached.cacheContains(1), true);
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 1 });

  gate.resolve(1);
  assert.equal(await pending, 1);
  await flush();
  clock.advance(99);
  assert.equal(cached.cacheContains(1), true);
  clock.advance(1);
  assert.equal(cached.cacheContains(1), false);
});

Deno.test("ttl 0 only de-duplicates concurrent calls", async () => {
  const clock = new ManualClock();
  let calls = 0;
  const gates: Deferred<string>[] = [];
  const cached = alruCache((_n: number) => {
    calls++;
    const gate = deferred<string>();
    gates.push(gate);
    return gate.promise;
  }, { ttl: 0, clock });

  const callers = [cached(1), cached(1), cached(1)];
  assert.equal(calls, 1);
  checkLru(cached, { hits: 2, misses: 1, currSize: 1, tasks: 1 });
  gates[0].resolve("shared");
  assert.deepEqual(await Promise.all(callers), ["shared", "shared", "shared"]);
  await flush();
  clock.advance(0);
  assert.equal(cached.cacheContains(1), false);
  checkLru(cached, { hits: 2, misses: 1, currSize: 0, tasks: 0 });

  const later = cached(1);
  assert.equal(calls, 2);
  gates[1].resolve("fresh");
  assert.equal(await later, "fresh");
  await flush();
  clock.advance(0);
  assert.equal(clock.pending, 0);
});

Deno.test("jitter adds ttl + jitter * random() to the lifetime", async () => {
  const clock = new ManualClock();
  const cached = alruCache(identity, {
    maxSize: null,
    ttl: 100,
    jitter: 200,
    random: () => 0.25,
    clock,
  });
  assert.equal(await cached(1), 1);
  checkLru(cached, {
    hits: 0,
    misses: 1,
    currSize: 1,
    tasks: 0,
    maxSize: Infinity,
  });
  clock.advance(149);
  checkLru(cached, {
    hits: 0,
    misses: 1,
    currSize: 1,
    tasks: 0,
    maxSize: Infinity,
  });
  clock.advance(1);
  checkLru(cached, {
    hits: 0,
    misses: 1,
    currSize: 0,
    tasks: 0,
    maxSize: Infinity,
  });
});

Deno.test("jitter is drawn per entry, when it settles", async () => {
  const clock = new ManualClock();
  const draws = [0, 0.5, 0.999];
  let drawn = 0;
  const gates = new Map<number, Deferred<number>>();
  const cached = alruCache((n: number) => {
    const gate = deferred<number>();
    gates.set(n, gate);
    return gate.promise;
  }, {
    ttl: 1000,
    jitter: 1000,
    random: () => draws[drawn++],
    clock,
  });

  const calls = [cached(1), cached(2), cached(3)];
  await flush();
  assert.equal(drawn, 0, "nothing drawn before settling");
  for (const [n, gate] of gates) gate.resolve(n);
  assert.deepEqual(await Promise.all(calls), [1, 2, 3]);
  await flush();
  assert.equal(drawn, 3);

  clock.advance(999);
  assert.deepEqual([1, 2, 3].map((n) => cached.cacheContains(n)), [
    true,
    true,
    true,
  ]);
  clock.advance(1); // 1000: lifetime 1000 + 0
  assert.deepEqual([1, 2, 3].map((n) => cached.cacheContains(n)), [
    false,
    true,
    true,
  ]);
  clock.advance(499);
  assert.equal(cached.cacheContains(2), true);
  clock.advance(1); // 1500: lifetime 1000 + 500
  assert.equal(cached.cacheContains(2), false);
  assert.equal(cached.cacheContains(3), true);
  clock.advance(498);
  assert.equal(cached.cacheContains(3), true); // 1998 < 1999
  clock.advance(1); // 1999: lifetime 1000 + 999
  assert.equal(cached.cacheContains(3), false);
  assert.equal(clock.pending, 0);
});

Deno.test("jitter 0 means exactly ttl", async () => {
  const clock = new ManualClock();
  let randomCalls = 0;
  const cached = alruCache(identity, {
    maxSize: null,
    ttl: 100,
    jitter: 0,
    random: () => {
      randomCalls++;
      return 0.9;
    },
    clock,
  });
  assert.equal(await cached(1), 1);
  clock.advance(99);
  assert.equal(cached.cacheContains(1), true);
  clock.advance(1);
  checkLru(cached, {
    hits: 0,
    misses: 1,
    currSize: 0,
    tasks: 0,
    maxSize: Infinity,
  });
  assert.ok(randomCalls <= 1);
});

Deno.test("ttl Infinity: entries never expire and no timer waits for them", async () => {
  const clock = new ManualClock();
  for (const jitter of [undefined, 0, 5]) {
    const cached = alruCache(identity, {
      ttl: Infinity,
      jitter,
      random: () => 0.5,
      clock,
    });
    await cached(1);
    assert.equal(clock.pending, 0, `jitter ${jitter}`);
    clock.advance(Number.MAX_SAFE_INTEGER);
    assert.equal(cached.cacheContains(1), true, `jitter ${jitter}`);
  }
});

Deno.test("one timer serves all the entries of a cache, each expiring at its own time", async () => {
  const clock = new ManualClock();
  const cached = alruCache(identity, { ttl: 100, clock });
  await cached(1); // expires at 100
  clock.advance(30);
  await cached(2); // expires at 130
  clock.advance(30);
  await cached(3); // expires at 160
  assert.equal(clock.pending, 1);

  clock.advance(40); // 100
  assert.deepEqual([1, 2, 3].map((n) => cached.cacheContains(n)), [
    false,
    true,
    true,
  ]);
  assert.equal(clock.pending, 1);
  clock.advance(30); // 130
  assert.deepEqual([2, 3].map((n) => cached.cacheContains(n)), [false, true]);
  clock.advance(29); // 159
  assert.equal(cached.cacheContains(3), true);
  clock.advance(1); // 160
  assert.equal(cached.cacheContains(3), false);
  assert.equal(clock.pending, 0);
  checkLru(cached, { hits: 0, misses: 3, currSize: 0, tasks: 0 });
});

Deno.test("no timer is left when the only waiting entry is evicted", async () => {
  const clock = new ManualClock();
  const gate = deferred<number>();
  const cached = alruCache(
    (n: number) => n === 1 ? Promise.resolve(1) : gate.promise,
    { maxSize: 1, ttl: 100, clock },
  );
  await cached(1);
  assert.equal(clock.pending, 1);
  const pending = cached(2); // evicts 1; 2 is still in flight
  assert.equal(cached.cacheContains(1), false);
  assert.equal(clock.pending, 0);
  gate.resolve(2);
  assert.equal(await pending, 2);
  await flush();
  assert.equal(clock.pending, 1);
  cached.cacheClear();
  assert.equal(clock.pending, 0);
});
