import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";

Deno.test("a function that calls its own cache with the same key keeps the index consistent", async () => {
  let depth = 0;
  const cached = alruCache(async (n: number): Promise<number> => {
    depth++;
    // The inner call runs while the outer one has no entry yet: both miss.
    const inner = depth === 1 ? cached(n) : Promise.resolve(-1);
    return n + (await inner);
  }, { maxSize: 4 });

  assert.equal(await cached(1), 1);
  assert.deepEqual(cached.cacheInfo(), {
    hits: 0,
    misses: 2,
    maxSize: 4,
    currSize: 1,
  });
  assert.equal(await cached(1), 1);
  assert.equal(cached.cacheInfo().hits, 1);
  assert.equal(cached.cacheInvalidate(1), true);
  assert.equal(cached.cacheContains(1), false);
  assert.equal(cached.cacheInfo().currSize, 0);
});

Deno.test("re-entrant calls with two arguments share the interned key safely", async () => {
  let calls = 0;
  const cached = alruCache(async (a: string, b: string): Promise<string> => {
    calls++;
    const inner = calls === 1 ? cached(a, b) : Promise.resolve("");
    return a + b + (await inner);
  });
  assert.equal(await cached("x", "y"), "xyxy");
  assert.equal(cached.cacheInfo().currSize, 1);
  assert.equal(await cached("x", "y"), "xyxy");
  assert.equal(cached.cacheInvalidate("x", "y"), true);
  assert.equal(cached.cacheInfo().currSize, 0);
});

Deno.test("a thenable whose then getter calls the cache finds the new entry already whole", async () => {
  let reenter: (() => void) | undefined;
  const seen: unknown[] = [];
  const cached = alruCache((key: string) => {
    if (key === "old") return Promise.resolve("old value");
    return {
      get then() {
        reenter?.();
        return (resolve: (value: string) => void) => resolve(`${key} value`);
      },
    };
  }, { maxSize: 2 });
  assert.equal(await cached("old"), "old value");
  assert.equal(await cached("old"), "old value"); // its slot now shares a promise
  cached.cacheInvalidate("old"); // frees that slot for the next entry
  reenter = () => {
    reenter = undefined;
    seen.push(cached("new"));
  };
  const first = cached("new");
  assert.equal(seen.length, 1);
  assert.equal(seen[0], first);
  assert.equal(await first, "new value");
  assert.deepEqual(cached.cacheInfo(), {
    hits: 2,
    misses: 2,
    maxSize: 2,
    currSize: 1,
  });
});

Deno.test("a clock that calls the cache while it evicts leaves the cache whole", async () => {
  const clock = new ManualClock();
  let reenter: (() => void) | undefined;
  const reentrantClock = {
    now: () => clock.now(),
    setTimeout: (callback: () => void, delay: number) =>
      clock.setTimeout(callback, delay),
    clearTimeout: (handle: unknown) => {
      clock.clearTimeout(handle);
      const call = reenter;
      reenter = undefined;
      call?.();
    },
  };
  const cached = alruCache(async (key: number) => await Promise.resolve(key), {
    maxSize: 1,
    ttl: 1_000,
    clock: reentrantClock,
  });
  await cached(1);
  let nested: Promise<number> | undefined;
  reenter = () => nested = cached(2);
  const outer = cached(3); // evicts 1, cancelling the only timer
  assert.equal(await outer, 3);
  assert.equal(await nested, 2);
  assert.equal(cached.cacheInfo().currSize, 1);
  for (let key = 10; key < 60; key++) assert.equal(await cached(key), key);
  assert.equal(cached.cacheInfo().currSize, 1);
  assert.equal(cached.cacheContains(59), true);
  await cached.cacheClose();
  assert.equal(clock.pending, 0);
});

Deno.test("a random source or clock that drops the settling entry leaves no deadline behind for its slot", async () => {
  for (const source of ["random", "now"] as const) {
    const clock = new ManualClock();
    let reenter: (() => void) | undefined;
    const callOnce = () => {
      const call = reenter;
      reenter = undefined;
      call?.();
    };
    const cached = alruCache(
      async (key: number) => await Promise.resolve(key),
      {
        maxSize: 4,
        ttl: 100,
        jitter: 10,
        random: () => {
          if (source === "random") callOnce();
          return 0;
        },
        clock: {
          now: () => {
            if (source === "now") callOnce();
            return clock.now();
          },
          setTimeout: (callback, delay) => clock.setTimeout(callback, delay),
          clearTimeout: (handle) => clock.clearTimeout(handle),
        },
      },
    );
    const call = cached(1);
    // Set once the load has started, which reads the clock too (§16.6).
    reenter = () => cached.cacheInvalidate(1);
    assert.equal(await call, 1, source);
    assert.equal(cached.cacheContains(1), false, source);
    assert.equal(clock.pending, 0, source);
    // The freed slot serves a new entry, which keeps its own full ttl.
    assert.equal(await cached(2), 2);
    clock.advance(99);
    assert.equal(cached.cacheContains(2), true, source);
    clock.advance(1);
    assert.equal(cached.cacheContains(2), false, source);
    assert.equal(clock.pending, 0, source);
  }
});
