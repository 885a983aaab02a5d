/**
 * docs/behaviour.md §5: a cache with no entries waiting to expire has no timer scheduled,
 * none after cacheClear() or cacheClose(), and one host timer at most however
 * many entries wait.
 */
import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import { ArmingLogClock, deferred, flush } from "./_helpers.ts";

const double = (n: number) => Promise.resolve(n * 2);

Deno.test("ManualClock: no ttl, no timer", async () => {
  const clock = new ManualClock();
  const f = alruCache(double, { clock });
  for (let i = 0; i < 20; i++) await f(i);
  await f(1);
  await flush();
  assert.equal(clock.pending, 0);
  assert.equal(f.cacheInfo().currSize, 20);
});

Deno.test("ManualClock: only in-flight entries, no timer", async () => {
  const clock = new ManualClock();
  const work = deferred<number>();
  const f = alruCache((_n: number) => work.promise, { clock, ttl: 100 });
  const calls = [f(1), f(2), f(3), f(1)];
  await flush();
  assert.equal(f.cacheParameters().tasks, 3);
  assert.equal(clock.pending, 0, "in-flight entries never expire");
  clock.advance(1_000);
  assert.equal(f.cacheInfo().currSize, 3);
  work.resolve(7);
  assert.deepEqual(await Promise.all(calls), [7, 7, 7, 7]);
  await flush();
  assert.equal(clock.pending, 1, "settled entries wait on one timer");
  f.cacheClear();
  assert.equal(clock.pending, 0);
});

Deno.test("ManualClock: rejected entries leave no timer", async () => {
  const clock = new ManualClock();
  const f = alruCache(
    (n: number) => Promise.reject(new Error(`no ${n}`)),
    { clock, ttl: 100 },
  );
  await assert.rejects(f(1));
  await assert.rejects(f(2));
  await flush();
  assert.equal(clock.pending, 0);
  assert.equal(f.cacheInfo().currSize, 0);
});

Deno.test("ManualClock: ttl 0 drops entries on settling and schedules nothing", async () => {
  const clock = new ManualClock();
  const f = alruCache(double, { clock, ttl: 0 });
  await f(1);
  await f(2);
  await flush();
  assert.equal(clock.pending, 0);
  assert.equal(f.cacheInfo().currSize, 0);
});

Deno.test("ManualClock: no timer after cacheClear()", async () => {
  const clock = new ManualClock();
  const f = alruCache(double, { clock, ttl: 100, jitter: 50 });
  for (let i = 0; i < 10; i++) await f(i);
  await flush();
  assert.equal(clock.pending, 1);
  f.cacheClear();
  assert.equal(clock.pending, 0);
  // Nothing fires later.
  clock.advance(1_000);
  assert.equal(f.cacheInfo().currSize, 0);
  // And the cache times new entries afresh.
  await f(1);
  await flush();
  assert.equal(clock.pending, 1);
  f.cacheClear();
  assert.equal(clock.pending, 0);
});

Deno.test("ManualClock: no timer after cacheClose()", async () => {
  const clock = new ManualClock();
  const f = alruCache(double, { clock, ttl: 100 });
  for (let i = 0; i < 10; i++) await f(i);
  await flush();
  assert.equal(clock.pending, 1);
  await f.cacheClose();
  assert.equal(clock.pending, 0);
});

Deno.test("ManualClock: no timer after cacheClose({ wait: false }) with work in flight", async () => {
  const clock = new ManualClock();
  const work = deferred<number>();
  let first = true;
  const f = alruCache((n: number) => {
    if (first) {
      first = false;
      return work.promise;
    }
    return Promise.resolve(n);
  }, { clock, ttl: 100 });
  const pending = f(0);
  pending.catch(() => {});
  await f(1);
  await f(2);
  await flush();
  assert.equal(clock.pending, 1);
  await f.cacheClose({ wait: false });
  await assert.rejects(
    pending,
    (error) => error instanceof DOMException && error.name === "AbortError",
  );
  assert.equal(clock.pending, 0);
  work.resolve(0);
  await flush();
  assert.equal(clock.pending, 0, "abandoned work settling schedules nothing");
});

Deno.test("ManualClock: no timer after cacheClose({ wait: true }), even for work that settles while closing", async () => {
  const clock = new ManualClock();
  const work = deferred<number>();
  let first = true;
  const f = alruCache((n: number) => {
    if (first) {
      first = false;
      return work.promise;
    }
    return Promise.resolve(n);
  }, { clock, ttl: 100 });
  const pending = f(0);
  await f(1);
  await flush();
  assert.equal(clock.pending, 1);
  const closing = f.cacheClose({ wait: true });
  assert.equal(clock.pending, 0, "close cancels expiry at once");
  work.resolve(5);
  await closing;
  assert.equal(await pending, 5);
  await flush();
  assert.equal(clock.pending, 0, "no timer after cacheClose()");
  assert.equal(f.cacheContains(0), true, "wait: true keeps the entry");
});

Deno.test("ManualClock: no timer once every entry has expired", async () => {
  const clock = new ManualClock();
  const f = alruCache(double, {
    clock,
    ttl: 100,
    jitter: 100,
    random: (() => {
      let i = 0;
      return () => (i++ % 10) / 10;
    })(),
  });
  for (let i = 0; i < 10; i++) {
    await f(i);
    clock.advance(5);
  }
  await flush();
  assert.equal(clock.pending, 1);
  // Entries expire one by one; one timer at most all along.
  for (let t = 0; t < 300; t += 7) {
    clock.advance(7);
    await flush();
    assert.ok(clock.pending <= 1, `pending ${clock.pending} at ${clock.now()}`);
    if (f.cacheInfo().currSize > 0) assert.equal(clock.pending, 1);
  }
  assert.equal(f.cacheInfo().currSize, 0);
  assert.equal(clock.pending, 0);
});

Deno.test("ManualClock: no timer after invalidating the last expiring entry", async () => {
  const clock = new ManualClock();
  const work = deferred<number>();
  const f = alruCache(
    (n: number) => n === 99 ? work.promise : Promise.resolve(n),
    { clock, ttl: 100 },
  );
  await f(1);
  await f(2);
  const inFlight = f(99);
  await flush();
  assert.equal(clock.pending, 1);
  assert.equal(f.cacheInvalidate(1), true);
  assert.equal(clock.pending, 1, "2 still waits to expire");
  assert.equal(f.cacheInvalidate(2), true);
  assert.equal(clock.pending, 0, "only an in-flight entry is left");
  assert.equal(f.cacheInfo().currSize, 1);
  work.resolve(99);
  assert.equal(await inFlight, 99);
  await flush();
  assert.equal(clock.pending, 1);
  assert.equal(f.cacheInvalidate(99), true);
  assert.equal(clock.pending, 0);
});

Deno.test("ManualClock: no timer after evicting the last expiring entry", async () => {
  const clock = new ManualClock();
  const work = deferred<number>();
  const f = alruCache(
    (n: number) => n === 99 ? work.promise : Promise.resolve(n),
    { clock, ttl: 100, maxSize: 1 },
  );
  await f(1);
  await flush();
  assert.equal(clock.pending, 1);
  const inFlight = f(99); // evicts 1
  await flush();
  assert.equal(f.cacheContains(1), false);
  assert.equal(clock.pending, 0);
  work.resolve(99);
  await inFlight;
  await flush();
  assert.equal(clock.pending, 1);
  f.cacheClear();
  assert.equal(clock.pending, 0);
});

Deno.test("ManualClock: no timer after a settled entry's key is replaced by a rejected call", async () => {
  const clock = new ManualClock();
  let fail = false;
  const f = alruCache(
    (n: number) =>
      fail ? Promise.reject(new Error("fail")) : Promise.resolve(n),
    { clock, ttl: 100 },
  );
  await f(1);
  await flush();
  assert.equal(clock.pending, 1);
  f.cacheInvalidate(1);
  assert.equal(clock.pending, 0);
  fail = true;
  await assert.rejects(f(1));
  await flush();
  assert.equal(clock.pending, 0);
});

Deno.test("ManualClock: the one timer follows the nearest deadline, and each entry expires exactly at its own", async () => {
  const clock = new ManualClock();
  const draws = [0.9, 0.5, 0.1, 0.0, 0.3];
  const f = alruCache(double, {
    clock,
    ttl: 100,
    jitter: 100,
    random: () => draws.shift()!,
  });
  // Settled at t = 0, later entries with earlier deadlines.
  await f(1); // 190
  await f(2); // 150
  await f(3); // 110
  await f(4); // 100
  clock.advance(20);
  await f(5); // 20 + 130 = 150
  await flush();
  assert.equal(clock.pending, 1);
  const expected: [number, number[]][] = [
    [100, [4]],
    [110, [3]],
    [150, [2, 5]],
    [190, [1]],
  ];
  const alive = new Set([1, 2, 3, 4, 5]);
  for (const [deadline, keys] of expected) {
    clock.advance(deadline - 1 - clock.now());
    await flush();
    for (const key of alive) {
      assert.equal(f.cacheContains(key), true, `${key} at ${clock.now()}`);
    }
    assert.equal(clock.pending, 1);
    clock.advance(1);
    await flush();
    for (const key of keys) {
      assert.equal(f.cacheContains(key), false, `${key} at ${deadline}`);
      alive.delete(key);
    }
    for (const key of alive) assert.equal(f.cacheContains(key), true);
  }
  assert.equal(clock.pending, 0);
});

Deno.test("ManualClock: 1,000 entries with ttl and jitter share one timer", async () => {
  const clock = new ManualClock();
  let seed = 1;
  const random = () => {
    seed = (seed * 16807) % 2147483647;
    return (seed - 1) / 2147483646;
  };
  const f = alruCache(double, {
    clock,
    ttl: 1_000,
    jitter: 500,
    random,
    maxSize: Infinity,
  });
  for (let i = 0; i < 1_000; i++) {
    await f(i);
    if (i % 100 === 99) clock.advance(1);
  }
  await flush();
  assert.equal(f.cacheInfo().currSize, 1_000);
  assert.equal(clock.pending, 1);
  // Half-way through expiry: still one timer.
  clock.advance(1_200);
  await flush();
  const left = f.cacheInfo().currSize;
  assert.ok(left > 0 && left < 1_000, `${left} left`);
  assert.equal(clock.pending, 1);
  clock.advance(400);
  await flush();
  assert.equal(f.cacheInfo().currSize, 0);
  assert.equal(clock.pending, 0);
});

Deno.test("ManualClock: 1,000 concurrent entries settling together share one timer", async () => {
  const clock = new ManualClock();
  const f = alruCache(double, {
    clock,
    ttl: 1_000,
    jitter: 1_000,
    maxSize: 2_000,
  });
  await Promise.all(Array.from({ length: 1_000 }, (_, i) => f(i)));
  await flush();
  assert.equal(clock.pending, 1);
  await f.cacheClose({ wait: true });
  assert.equal(clock.pending, 0);
});

Deno.test("ManualClock: a ttl past the host's longest delay arms one timer, and advancing far does not re-arm it", async () => {
  const clock = new ArmingLogClock();
  const f = alruCache(double, { ttl: Number.MAX_VALUE, clock });
  await f(1);
  await flush();
  assert.equal(clock.pending, 1);
  // Steps capped at the host's longest delay (2^31 - 1 ms) would take some
  // 5e290 timers to cover this.
  clock.advance(1e300);
  assert.equal(clock.now(), 1e300);
  assert.equal(f.cacheContains(1), true);
  assert.equal(clock.pending, 1);
  await clock.advanceAsync(1e300);
  assert.equal(f.cacheContains(1), true);
  assert.equal(clock.pending, 1);
  assert.deepEqual(
    clock.delays,
    [Number.MAX_VALUE],
    "one timer, never re-armed",
  );
  f.cacheClear();
  assert.equal(clock.pending, 0);
});

Deno.test("ManualClock: an entry whose ttl is past the host's longest delay expires at its deadline", async () => {
  for (const advance of ["advance", "advanceAsync"] as const) {
    const clock = new ArmingLogClock();
    const f = alruCache(double, { ttl: 1e300, clock });
    await f(1);
    await flush();
    // Halving and doubling are exact, so the second step lands on 1e300.
    await clock[advance](1e300 / 2);
    assert.equal(f.cacheContains(1), true, advance);
    assert.equal(clock.pending, 1, advance);
    await clock[advance](1e300 / 2);
    assert.equal(clock.now(), 1e300, advance);
    assert.equal(f.cacheContains(1), false, advance);
    assert.equal(f.cacheStats().expirations, 1, advance);
    assert.equal(clock.pending, 0, advance);
    assert.deepEqual(clock.delays, [1e300], advance);
  }
});

// The system clock (no clock option). The op sanitizer, on for these tests,
// fails a test that leaves a timer pending (unref'd ones included).

Deno.test("system clock: cacheClear() leaves no timer pending", async () => {
  const f = alruCache(double, { ttl: 3_600_000, jitter: 1_000 });
  await f(1);
  await f(2);
  await f(1);
  await flush();
  assert.equal(f.cacheInfo().currSize, 2);
  f.cacheClear();
});

Deno.test("system clock: cacheClose() leaves no timer pending", async () => {
  const f = alruCache(double, { ttl: 3_600_000 });
  await f(1);
  await f(2);
  await flush();
  await f.cacheClose();
});

Deno.test("system clock: cacheClose({ wait: true }) with work in flight leaves no timer pending", async () => {
  const work = deferred<number>();
  const f = alruCache(
    (n: number) => n === 0 ? work.promise : Promise.resolve(n),
    { ttl: 3_600_000 },
  );
  await f(1);
  const pending = f(0);
  const closing = f.cacheClose({ wait: true });
  work.resolve(0);
  await closing;
  assert.equal(await pending, 0);
  await flush();
});

Deno.test("system clock: invalidating the last expiring entry leaves no timer pending", async () => {
  const f = alruCache(double, { ttl: 3_600_000 });
  await f(1);
  await f(2);
  await flush();
  f.cacheInvalidate(1);
  f.cacheInvalidate(2);
});

/**
 * Counts the host timers that are scheduled and not yet run or cleared, by
 * wrapping globalThis.setTimeout / clearTimeout for the length of `body`,
 * and records the delay each was scheduled with. A cache first called inside
 * `body` binds to the wrappers.
 */
async function withTimerCount(
  body: (live: () => number, delays: readonly unknown[]) => Promise<void>,
): Promise<void> {
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  const live = new Set<unknown>();
  const delays: unknown[] = [];
  globalThis.setTimeout = ((callback: () => void, delay?: number) => {
    delays.push(delay);
    const id = realSetTimeout(() => {
      live.delete(id);
      callback();
    }, delay);
    live.add(id);
    return id;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((id?: number) => {
    live.delete(id);
    realClearTimeout(id);
  }) as typeof clearTimeout;
  try {
    await body(() => live.size, delays);
  } finally {
    for (const id of live) realClearTimeout(id as number);
    globalThis.setTimeout = realSetTimeout;
    globalThis.clearTimeout = realClearTimeout;
  }
}

Deno.test("system clock: one host timer per cache, none once cleared", async () => {
  await withTimerCount(async (live) => {
    const f = alruCache(double, {
      ttl: 3_600_000,
      jitter: 60_000,
      maxSize: Infinity,
    });
    await f(0);
    await flush();
    assert.equal(live(), 1);
    for (let i = 1; i < 1_000; i++) await f(i);
    await flush();
    assert.equal(live(), 1, "1,000 entries, one timer");
    f.cacheInvalidate(0);
    assert.equal(live(), 1);
    f.cacheClear();
    assert.equal(live(), 0);
  });
});

Deno.test("system clock: no host timer without ttl, and none left after cacheClose()", async () => {
  await withTimerCount(async (live) => {
    const plain = alruCache(double);
    for (let i = 0; i < 10; i++) await plain(i);
    await flush();
    assert.equal(live(), 0);

    const timed = alruCache(double, { ttl: 3_600_000 });
    await timed(1);
    await flush();
    assert.equal(live(), 1);
    timed.cacheInvalidate(1);
    assert.equal(live(), 0, "last expiring entry invalidated");
    await timed(1);
    await flush();
    assert.equal(live(), 1);
    await timed.cacheClose();
    assert.equal(live(), 0);
  });
});

Deno.test("system clock: a ttl past the host's longest delay arms one host timer, of the longest delay", async () => {
  await withTimerCount(async (live, delays) => {
    const f = alruCache(double, { ttl: Number.MAX_VALUE, maxSize: Infinity });
    for (let i = 0; i < 100; i++) await f(i);
    await flush();
    assert.equal(live(), 1);
    // A longer delay would be clamped by the host to about 1 ms.
    assert.deepEqual(delays, [2 ** 31 - 1]);
    f.cacheClear();
    assert.equal(live(), 0);
  });
});

Deno.test("100,000 entries with ttl and jitter keep one pending timer", async () => {
  const clock = new ManualClock();
  let draw = 0;
  const cached = alruCache((key: number) => Promise.resolve(key), {
    maxSize: null,
    ttl: 60_000,
    jitter: 30_000,
    // Deadlines spread in no particular order, as Math.random would.
    random: () => (draw++ * 0.618033988749895) % 1,
    clock,
  });
  for (let key = 0; key < 100_000; key++) await cached(key);
  assert.equal(cached.cacheInfo().currSize, 100_000);
  assert.equal(clock.pending, 1);
  clock.advance(75_000);
  const left = cached.cacheInfo().currSize;
  assert.ok(left > 0 && left < 100_000, `some but not all expired: ${left}`);
  assert.equal(clock.pending, 1);
  clock.advance(15_000);
  assert.equal(cached.cacheInfo().currSize, 0);
  assert.equal(clock.pending, 0);
});
