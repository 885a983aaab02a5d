import assert from "node:assert/strict";
import { alruCache } from "../mod.ts";

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
