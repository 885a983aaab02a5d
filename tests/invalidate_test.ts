import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import { checkLru, type Deferred, deferred, flush } from "./_helpers.ts";

const identity = async (n: number) => await Promise.resolve(n);
const countArgs = async (...args: number[]) =>
  await Promise.resolve(args.length);

Deno.test("cacheInvalidate removes one entry at a time", async () => {
  const cached = alruCache(identity);

  for (const n of [1, 2, 3]) assert.equal(cached.cacheInvalidate(n), false);
  checkLru(cached, { hits: 0, misses: 0, currSize: 0, tasks: 0 });

  assert.deepEqual(await Promise.all([1, 2, 3].map((n) => cached(n))), [
    1,
    2,
    3,
  ]);
  checkLru(cached, { hits: 0, misses: 3, currSize: 3, tasks: 0 });

  assert.equal(cached.cacheInvalidate(1), true);
  checkLru(cached, { hits: 0, misses: 3, currSize: 2, tasks: 0 });
  assert.equal(cached.cacheInvalidate(2), true);
  checkLru(cached, { hits: 0, misses: 3, currSize: 1, tasks: 0 });
  assert.equal(cached.cacheInvalidate(3), true);
  checkLru(cached, { hits: 0, misses: 3, currSize: 0, tasks: 0 });

  assert.deepEqual(await Promise.all([1, 2, 3].map((n) => cached(n))), [
    1,
    2,
    3,
  ]);
  checkLru(cached, { hits: 0, misses: 6, currSize: 3, tasks: 0 });
});

Deno.test("cacheInvalidate returns false for an absent key and for a second removal", async () => {
  const cached = alruCache(identity);
  assert.equal(cached.cacheInvalidate(42), false);
  await cached(1);
  assert.equal(cached.cacheInvalidate(2), false);
  assert.equal(cached.cacheInvalidate(1), true);
  assert.equal(cached.cacheInvalidate(1), false);
  checkLru(cached, { hits: 0, misses: 1, currSize: 0, tasks: 0 });
});

Deno.test("cacheInvalidate works for every arity, zero arguments included", async () => {
  const cached = alruCache(countArgs);
  for (let size = 0; size < 10; size++) {
    const args = Array.from({ length: size }, (_, i) => i);
    assert.equal(await cached(...args), size);
    checkLru(cached, { hits: 0, misses: size + 1, currSize: 1, tasks: 0 });
    assert.equal(cached.cacheInvalidate(...args), true, `arity ${size}`);
    checkLru(cached, { hits: 0, misses: size + 1, currSize: 0, tasks: 0 });
  }

  for (let size = 0; size < 10; size++) {
    const args = Array.from({ length: size }, (_, i) => i);
    assert.equal(await cached(...args), size);
  }
  checkLru(cached, { hits: 0, misses: 20, currSize: 10, tasks: 0 });

  // Only the exact argument list is removed: [0, 1] is not a prefix match.
  assert.equal(cached.cacheInvalidate(0, 1), true);
  assert.equal(cached.cacheContains(0), true);
  assert.equal(cached.cacheContains(0, 1, 2), true);
  assert.equal(cached.cacheInvalidate(), true);
  assert.equal(cached.cacheContains(0), true);
  checkLru(cached, { hits: 0, misses: 20, currSize: 8, tasks: 0 });
});

Deno.test("argument order matters to cacheInvalidate", async () => {
  const cached = alruCache(countArgs);
  for (let i = 0, size = 2; size < 10; i++, size++) {
    const args = Array.from({ length: size }, (_, j) => j);
    const reversed = [...args].reverse();
    assert.equal(await cached(...args), size);
    checkLru(cached, {
      hits: 0,
      misses: 2 * i + 1,
      currSize: i + 1,
      tasks: 0,
    });
    assert.equal(await cached(...reversed), size);
    checkLru(cached, {
      hits: 0,
      misses: 2 * i + 2,
      currSize: i + 2,
      tasks: 0,
    });
    assert.equal(cached.cacheInvalidate(...reversed), true);
    checkLru(cached, {
      hits: 0,
      misses: 2 * i + 2,
      currSize: i + 1,
      tasks: 0,
    });
    assert.equal(cached.cacheInvalidate(...reversed), false);
  }

  for (let i = 0, size = 2; size < 10; i++, size++) {
    const args = Array.from({ length: size }, (_, j) => j);
    assert.equal(await cached(...args), size);
    checkLru(cached, { hits: i + 1, misses: 16, currSize: 8, tasks: 0 });
  }
});

Deno.test("cacheInvalidate derives the key as a call does", async () => {
  const cached = alruCache(async (...args: unknown[]) =>
    await Promise.resolve(args.length)
  );
  await cached(1);
  await cached("1");
  await cached(NaN);
  await cached(0);

  assert.equal(cached.cacheInvalidate(1n), false);
  assert.equal(cached.cacheInvalidate(1.0), true, "1.0 is the number 1");
  assert.equal(cached.cacheContains("1"), true, "'1' is a different key");
  assert.equal(cached.cacheInvalidate(NaN), true);
  assert.equal(cached.cacheInvalidate(-0), true);
  assert.equal(cached.cacheInvalidate(undefined), false);
  checkLru(cached, { hits: 0, misses: 4, currSize: 1, tasks: 0 });

  const byId = alruCache(
    async (item: { id: number }) => await Promise.resolve(item.id),
    { key: (item) => item.id },
  );
  await byId({ id: 7 });
  assert.equal(byId.cacheInvalidate({ id: 8 }), false);
  assert.equal(byId.cacheInvalidate({ id: 7 }), true);
  checkLru(byId, { hits: 0, misses: 1, currSize: 0, tasks: 0 });
});

Deno.test("cacheInvalidate does not count hits or misses and keeps the other entries' order", async () => {
  const cached = alruCache(identity, { maxSize: 3 });
  await cached(1);
  await cached(2);
  await cached(3);
  assert.equal(cached.cacheInvalidate(2), true);
  checkLru(cached, { hits: 0, misses: 3, currSize: 2, tasks: 0, maxSize: 3 });

  await cached(4); // fills the freed place, nothing evicted
  checkLru(cached, { hits: 0, misses: 4, currSize: 3, tasks: 0, maxSize: 3 });
  await cached(5); // 1 is the least recently used
  assert.equal(cached.cacheContains(1), false);
  assert.equal(cached.cacheContains(3), true);
  await cached(6);
  assert.equal(cached.cacheContains(3), false);
  assert.equal(cached.cacheContains(4), true);
});

Deno.test("cacheInvalidate of in-flight work: its callers still get the value, the next call starts new work", async () => {
  const gates: Deferred<string>[] = [];
  const cached = alruCache((_n: number) => {
    const gate = deferred<string>();
    gates.push(gate);
    return gate.promise;
  });

  const first = cached(1);
  const joined = cached(1);
  checkLru(cached, { hits: 1, misses: 1, currSize: 1, tasks: 1 });

  assert.equal(cached.cacheInvalidate(1), true);
  checkLru(cached, { hits: 1, misses: 1, currSize: 0, tasks: 0 });
  assert.equal(cached.cacheInvalidate(1), false);

  const fresh = cached(1);
  assert.equal(gates.length, 2);
  checkLru(cached, { hits: 1, misses: 2, currSize: 1, tasks: 1 });

  gates[0].resolve("old");
  assert.equal(await first, "old");
  assert.equal(await joined, "old");
  await flush();
  // Settling the old work must not touch the newer entry.
  assert.equal(cached.cacheContains(1), true);
  checkLru(cached, { hits: 1, misses: 2, currSize: 1, tasks: 1 });

  gates[1].resolve("new");
  assert.equal(await fresh, "new");
  assert.equal(await cached(1), "new");
  assert.equal(gates.length, 2);
  checkLru(cached, { hits: 2, misses: 2, currSize: 1, tasks: 0 });
});

Deno.test("invalidated in-flight work is not stored when it settles", async () => {
  const gate = deferred<number>();
  const cached = alruCache((_n: number) => gate.promise);
  const pending = cached(1);
  assert.equal(cached.cacheInvalidate(1), true);
  gate.resolve(1);
  assert.equal(await pending, 1);
  await flush();
  assert.equal(cached.cacheContains(1), false);
  checkLru(cached, { hits: 0, misses: 1, currSize: 0, tasks: 0 });
});

Deno.test("invalidating the only entry waiting to expire leaves no timer", async () => {
  const clock = new ManualClock();
  const cached = alruCache(identity, { ttl: 100, clock });
  await cached(1);
  assert.equal(clock.pending, 1);
  assert.equal(cached.cacheInvalidate(1), true);
  assert.equal(clock.pending, 0);
});
