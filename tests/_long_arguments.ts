/**
 * One cached function driven with a single very long argument list, through
 * every path that looks its key up or releases it. Run by `keys_test.ts` in
 * the test process, and as a script of its own with the list length as its
 * argument, in a process given a larger stack. Not part of the published
 * module.
 */
import assert from "node:assert/strict";
import { alruCache } from "../mod.ts";
import { rejectionOf } from "./_helpers.ts";

/**
 * Calls, hits, finds, invalidates, evicts and fails with a list of `length`
 * arguments; throws if any step goes wrong.
 */
export async function exerciseLongArguments(length: number): Promise<void> {
  const list = Array.from({ length }, (_, i) => i);
  let runs = 0;
  const cached = alruCache((...args: number[]) => {
    runs++;
    return Promise.resolve({ run: runs, length: args.length });
  }, { maxSize: 1 });

  const first = await cached(...list);
  assert.deepEqual(first, { run: 1, length });
  assert.equal(await cached(...list), first, "a hit hands out the value");
  assert.equal(cached.cacheContains(...list), true);
  assert.equal(cached.cacheContains(...list.slice(1)), false);
  assert.deepEqual(cached.cacheInfo(), {
    hits: 1,
    misses: 1,
    maxSize: 1,
    currSize: 1,
  });

  assert.equal(cached.cacheInvalidate(...list), true);
  assert.equal(cached.cacheInvalidate(...list), false);
  assert.equal(cached.cacheContains(...list), false);

  // Stored again, then evicted by the next miss.
  assert.deepEqual(await cached(...list), { run: 2, length });
  assert.deepEqual(await cached(-1), { run: 3, length: 1 });
  assert.equal(cached.cacheContains(...list), false);
  assert.equal(cached.cacheContains(-1), true);
  assert.deepEqual(await cached(...list), { run: 4, length });
  assert.equal(cached.cacheInfo().currSize, 1);

  // A rejection releases the key; its caller gets the function's reason.
  const failure = new Error("long list failed");
  const failing = alruCache((..._args: number[]) => Promise.reject(failure));
  assert.equal(await rejectionOf(failing(...list)), failure);
  assert.equal(failing.cacheContains(...list), false);
  assert.equal(await rejectionOf(failing(...list)), failure);
  assert.deepEqual(failing.cacheInfo(), {
    hits: 0,
    misses: 2,
    maxSize: 128,
    currSize: 0,
  });
}

if (import.meta.main) {
  const length = Number(Deno.args[0]);
  await exerciseLongArguments(length);
  console.log(`ok ${length}`);
}
