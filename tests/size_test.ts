import assert from "node:assert/strict";
import { alruCache } from "../mod.ts";
import { checkLru, type Deferred, deferred, flush } from "./_helpers.ts";

interface Probeable {
  (n: number): Promise<number>;
  cacheContains(n: number): boolean;
}

/**
 * Reads the order of `keys` (least recently used first) in a full cache by
 * inserting fresh keys one at a time and noting which old key each one
 * drops. This empties the cache of `keys`.
 */
async function evictionOrder(
  cached: Probeable,
  keys: number[],
  freshFrom = 1000,
): Promise<number[]> {
  const order: number[] = [];
  let present = keys.filter((k) => cached.cacheContains(k));
  let fresh = freshFrom;
  while (present.length > 0) {
    await cached(fresh++);
    const dropped = present.filter((k) => !cached.cacheContains(k));
    assert.equal(dropped.length, 1, "one insert drops exactly one entry");
    order.push(dropped[0]);
    present = present.filter((k) => k !== dropped[0]);
  }
  return order;
}

const identity = async (n: number) => await Promise.resolve(n);

Deno.test("the least recently used entries are dropped first", async () => {
  const cached = alruCache(identity, { maxSize: 3 });
  for (const [i, n] of [3, 4, 5].entries()) {
    await cached(n);
    checkLru(cached, {
      hits: 0,
      misses: i + 1,
      currSize: i + 1,
      tasks: 0,
      maxSize: 3,
    });
  }
  for (const n of [3, 2, 1]) await cached(n);
  checkLru(cached, { hits: 1, misses: 5, currSize: 3, tasks: 0, maxSize: 3 });
  assert.equal(cached.cacheContains(4), false);
  assert.equal(cached.cacheContains(5), false);
  assert.deepEqual(await evictionOrder(cached, [1, 2, 3, 4, 5]), [3, 2, 1]);
});

Deno.test("new keys displace every old one", async () => {
  const cached = alruCache(identity, { maxSize: 3 });
  for (const n of [3, 4, 5]) await cached(n);
  for (const n of [1, 2, 3]) await cached(n);
  checkLru(cached, { hits: 0, misses: 6, currSize: 3, tasks: 0, maxSize: 3 });
  assert.deepEqual(await evictionOrder(cached, [1, 2, 3, 4, 5]), [1, 2, 3]);
});

Deno.test("a hit makes the entry the most recently used", async () => {
  const cached = alruCache(identity, { maxSize: 3 });
  for (const n of [1, 2, 3]) await cached(n);
  await cached(1);
  await cached(2);
  assert.deepEqual(await evictionOrder(cached, [1, 2, 3]), [3, 1, 2]);
});

Deno.test("joining in-flight work makes its entry the most recently used", async () => {
  const gates = new Map<number, Deferred<number>>();
  const cached = alruCache((n: number) => {
    const gate = deferred<number>();
    gates.set(n, gate);
    return gate.promise;
  }, { maxSize: 2 });
  const calls = [cached(1), cached(2), cached(1)];
  checkLru(cached, { hits: 1, misses: 2, currSize: 2, tasks: 2, maxSize: 2 });
  calls.push(cached(3));
  assert.equal(cached.cacheContains(2), false);
  assert.equal(cached.cacheContains(1), true);
  assert.equal(cached.cacheContains(3), true);
  for (const [n, gate] of gates) gate.resolve(n);
  assert.deepEqual(await Promise.all(calls), [1, 2, 1, 3]);
});

Deno.test("in-flight entries count toward maxSize and can be evicted without being cancelled", async () => {
  const gates = new Map<number, Deferred<string>>();
  let calls = 0;
  const cached = alruCache((n: number) => {
    calls++;
    const gate = deferred<string>();
    gates.set(n, gate);
    return gate.promise;
  }, { maxSize: 2 });

  const one = cached(1);
  const two = cached(2);
  const three = cached(3);
  checkLru(cached, { hits: 0, misses: 3, currSize: 2, tasks: 2, maxSize: 2 });
  assert.equal(cached.cacheContains(1), false);

  gates.get(1)!.resolve("one");
  assert.equal(await one, "one");
  await flush();
  assert.equal(cached.cacheContains(1), false, "evicted work is not stored");
  checkLru(cached, { hits: 0, misses: 3, currSize: 2, tasks: 2, maxSize: 2 });

  gates.get(2)!.resolve("two");
  gates.get(3)!.resolve("three");
  assert.equal(await two, "two");
  assert.equal(await three, "three");

  const again = cached(1);
  assert.equal(calls, 4, "a call after eviction starts new work");
  gates.get(1)!.resolve("one again");
  assert.equal(await again, "one again");
  checkLru(cached, { hits: 0, misses: 4, currSize: 2, tasks: 0, maxSize: 2 });
});

Deno.test("maxSize 1 keeps only the latest key", async () => {
  const cached = alruCache(identity, { maxSize: 1 });
  await cached(1);
  await cached(1);
  await cached(2);
  assert.equal(cached.cacheContains(1), false);
  assert.equal(cached.cacheContains(2), true);
  await cached(1);
  checkLru(cached, { hits: 1, misses: 3, currSize: 1, tasks: 0, maxSize: 1 });
});

for (const maxSize of [null, Infinity]) {
  Deno.test(`maxSize ${maxSize} is unbounded`, async () => {
    let calls = 0;
    const cached = alruCache(async (n: number) => {
      calls++;
      return await Promise.resolve(n);
    }, { maxSize });
    const inputs = [1, 2, 3, 4, 1, 2, 3, 4];
    assert.deepEqual(await Promise.all(inputs.map((n) => cached(n))), inputs);
    checkLru(cached, {
      hits: 4,
      misses: 4,
      currSize: 4,
      tasks: 0,
      maxSize: Infinity,
    });
    assert.equal(calls, 4);

    for (let n = 0; n < 2000; n++) await cached(n);
    assert.equal(cached.cacheInfo().currSize, 2000);
    for (let n = 0; n < 2000; n++) {
      assert.equal(cached.cacheContains(n), true);
    }
  });
}

Deno.test("maxSize 0 keeps nothing and shares nothing", async () => {
  let calls = 0;
  const cached = alruCache(async (n: number) => {
    calls++;
    return await Promise.resolve(n);
  }, { maxSize: 0 });
  const inputs = [1, 2, 3, 4, 1, 2, 3, 4];
  assert.deepEqual(await Promise.all(inputs.map((n) => cached(n))), inputs);
  checkLru(cached, { hits: 0, misses: 8, currSize: 0, tasks: 0, maxSize: 0 });
  assert.equal(calls, 8);
  assert.equal(cached.cacheContains(1), false);
  assert.equal(cached.cacheInvalidate(1), false);
});

Deno.test("maxSize 0: concurrent calls for one key each run fn", async () => {
  const gates: Deferred<string>[] = [];
  const cached = alruCache((_n: number) => {
    const gate = deferred<string>();
    gates.push(gate);
    return gate.promise;
  }, { maxSize: 0 });
  const first = cached(1);
  const second = cached(1);
  assert.equal(gates.length, 2);
  checkLru(cached, { hits: 0, misses: 2, currSize: 0, tasks: 0, maxSize: 0 });
  gates[1].resolve("second");
  gates[0].resolve("first");
  assert.equal(await first, "first");
  assert.equal(await second, "second");
  checkLru(cached, { hits: 0, misses: 2, currSize: 0, tasks: 0, maxSize: 0 });
});

Deno.test("a bound that is not a power of two holds exactly maxSize entries in LRU order", async () => {
  for (const maxSize of [17, 20, 33]) {
    const cached = alruCache(
      async (key: number) => await Promise.resolve(key),
      {
        maxSize,
      },
    );
    for (let key = 0; key < 3 * maxSize; key++) {
      await cached(key);
      if (key % 3 === 0) await cached(key - 1 < 0 ? 0 : key - 1);
    }
    const newest = Array.from({ length: maxSize }, (_, i) => 2 * maxSize + i);
    for (const key of newest) assert.equal(await cached(key), key);
    assert.equal(cached.cacheInfo().currSize, maxSize);
    for (const key of newest) assert.ok(cached.cacheContains(key), `${key}`);
    assert.equal(cached.cacheContains(2 * maxSize - 1), false);
  }
});
