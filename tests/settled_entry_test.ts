import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import { checkLru, deferred } from "./_helpers.ts";

Deno.test("hits on a settled entry share one promise of the value the miss resolved to", async () => {
  const value = { id: 1 };
  const cached = alruCache(async (_key: number) =>
    await Promise.resolve(value)
  );
  const missed = await cached(1);
  const first = cached(1);
  const second = cached(1);
  assert.equal(first, second);
  assert.equal(await first, missed);
  assert.equal(missed, value);
  checkLru(cached, { hits: 2, misses: 1, currSize: 1, tasks: 0 });
});

Deno.test("a hit joining work in flight gets the work's promise; hits after it settles share another", async () => {
  const work = deferred<string>();
  const cached = alruCache((_key: number) => work.promise);
  const missed = cached(1);
  const joined = cached(1);
  assert.equal(joined, missed);
  work.resolve("done");
  assert.equal(await joined, "done");
  const settled = cached(1);
  assert.equal(settled, cached(1));
  assert.equal(await settled, "done");
  checkLru(cached, { hits: 3, misses: 1, currSize: 1, tasks: 0 });
});

Deno.test("falsy settled values are served as themselves", async () => {
  const values = [undefined, null, 0, -0, "", false, NaN, 0n];
  const cached = alruCache(async (index: number) =>
    await Promise.resolve(values[index])
  );
  for (let index = 0; index < values.length; index++) await cached(index);
  for (let index = 0; index < values.length; index++) {
    assert.ok(Object.is(await cached(index), values[index]), `index ${index}`);
  }
  checkLru(cached, { hits: 8, misses: 8, currSize: 8, tasks: 0 });
});

Deno.test("a slot freed by eviction serves its next entry's own value", async () => {
  const cached = alruCache(async (key: string) => await Promise.resolve(key), {
    maxSize: 2,
  });
  await cached("a");
  await cached("b");
  assert.equal(await cached("a"), "a"); // "a" now shares a promise
  await cached("c"); // evicts "b"
  await cached("d"); // evicts "a"; its slot is reused
  assert.equal(await cached("c"), "c");
  assert.equal(await cached("d"), "d");
  assert.equal(await cached("d"), "d");
  assert.equal(cached.cacheContains("a"), false);
  assert.equal(await cached("a"), "a");
  checkLru(cached, {
    hits: 4,
    misses: 5,
    maxSize: 2,
    currSize: 2,
    tasks: 0,
  });
});

Deno.test("a hit entry expires at its deadline like any other", async () => {
  const clock = new ManualClock();
  const cached = alruCache(async (key: number) => await Promise.resolve(key), {
    ttl: 100,
    clock,
  });
  await cached(1);
  clock.advance(50);
  assert.equal(await cached(1), 1);
  clock.advance(49);
  assert.equal(cached.cacheContains(1), true);
  clock.advance(1);
  assert.equal(cached.cacheContains(1), false);
  assert.equal(clock.pending, 0);
});

Deno.test("a value that gains a then method after it settled is adopted by its first hit, as by Promise.resolve", async () => {
  const value: Record<string, unknown> = {};
  const cached = alruCache((_key: number) => Promise.resolve(value));
  assert.equal(await cached(1), value);
  value.then = (resolve: (adopted: string) => void) => resolve("adopted");
  assert.equal(await cached(1), "adopted");
});
