import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import { checkLru, type Deferred, deferred, flush } from "./_helpers.ts";

const identity = async (n: number) => await Promise.resolve(n);

Deno.test("cacheContains tells whether a settled entry is present", async () => {
  const cached = alruCache(identity, { maxSize: 4 });
  assert.equal(cached.cacheContains(1), false);
  await cached(1);
  assert.equal(cached.cacheContains(1), true);
  assert.equal(cached.cacheContains(2), false);
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 0, maxSize: 4 });
});

Deno.test("cacheContains counts neither hits nor misses", async () => {
  let calls = 0;
  const cached = alruCache(async (n: number) => {
    calls++;
    return await Promise.resolve(n);
  }, { maxSize: 4 });
  await cached(1);
  for (let i = 0; i < 10; i++) {
    assert.equal(cached.cacheContains(1), true);
    assert.equal(cached.cacheContains(99), false);
  }
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 0, maxSize: 4 });
  assert.equal(calls, 1, "cacheContains never runs fn");
});

Deno.test("cacheContains does not change the LRU order", async () => {
  const cached = alruCache(identity, { maxSize: 2 });
  await cached(1);
  await cached(2);
  assert.equal(cached.cacheContains(1), true);

  // 1 is still the least recently used, so the next insert drops it.
  await cached(3);
  assert.equal(cached.cacheContains(1), false);
  assert.equal(cached.cacheContains(2), true);
  assert.equal(cached.cacheContains(3), true);
});

Deno.test("cacheContains after cacheInvalidate and cacheClear", async () => {
  const cached = alruCache(identity, { maxSize: 4 });
  await cached(1);
  await cached(2);

  assert.equal(cached.cacheInvalidate(1), true);
  assert.equal(cached.cacheContains(1), false);
  assert.equal(cached.cacheContains(2), true);

  cached.cacheClear();
  assert.equal(cached.cacheContains(2), false);
});

Deno.test("cacheContains is true while the work is in flight", async () => {
  const gate = deferred<number>();
  const cached = alruCache((_n: number) => gate.promise, { maxSize: 4 });
  const pending = cached(1);
  assert.equal(cached.cacheContains(1), true);
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 1, maxSize: 4 });

  gate.resolve(1);
  assert.equal(await pending, 1);
  assert.equal(cached.cacheContains(1), true);
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 0, maxSize: 4 });
});

Deno.test("cacheContains is false once the entry has expired", async () => {
  const clock = new ManualClock();
  const cached = alruCache(identity, { maxSize: 4, ttl: 50, clock });
  await cached(1);
  assert.equal(cached.cacheContains(1), true);
  clock.advance(49);
  assert.equal(cached.cacheContains(1), true);
  clock.advance(51);
  assert.equal(cached.cacheContains(1), false);
});

Deno.test("cacheContains is false after the work rejected", async () => {
  const cached = alruCache(async (_n: number) => {
    await Promise.resolve();
    throw new Error("nope");
  });
  await assert.rejects(cached(1), /nope/);
  await flush();
  assert.equal(cached.cacheContains(1), false);
});

Deno.test("cacheContains is false for in-flight work that was evicted", async () => {
  const gates = new Map<number, Deferred<number>>();
  const cached = alruCache((n: number) => {
    const gate = deferred<number>();
    gates.set(n, gate);
    return gate.promise;
  }, { maxSize: 1 });
  const first = cached(1);
  const second = cached(2);
  assert.equal(cached.cacheContains(1), false);
  assert.equal(cached.cacheContains(2), true);
  gates.get(1)!.resolve(1);
  gates.get(2)!.resolve(2);
  assert.deepEqual(await Promise.all([first, second]), [1, 2]);
  await flush();
  assert.equal(cached.cacheContains(1), false);
  assert.equal(cached.cacheContains(2), true);
});

Deno.test("cacheContains derives the key exactly as a call does", async () => {
  const varargs = alruCache(async (...args: unknown[]) =>
    await Promise.resolve(args.length)
  );
  await varargs(1, 2);
  await varargs();
  await varargs(NaN);
  await varargs(0);
  assert.equal(varargs.cacheContains(1, 2), true);
  assert.equal(varargs.cacheContains(2, 1), false);
  assert.equal(varargs.cacheContains(1), false);
  assert.equal(varargs.cacheContains(1, 2, undefined), false);
  assert.equal(varargs.cacheContains(), true);
  assert.equal(varargs.cacheContains(undefined), false);
  assert.equal(varargs.cacheContains(NaN), true);
  assert.equal(varargs.cacheContains(-0), true);
  assert.equal(varargs.cacheContains("0"), false);

  const byId = alruCache(
    async (item: { id: string }) => await Promise.resolve(item.id),
    { key: (item) => item.id },
  );
  await byId({ id: "a" });
  assert.equal(byId.cacheContains({ id: "a" }), true);
  assert.equal(byId.cacheContains({ id: "b" }), false);
  checkLru(byId, { hits: 0, misses: 1, currSize: 1, tasks: 0 });
});
