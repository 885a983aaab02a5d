/**
 * The parity examples of docs/behaviour.md §8: one test per example.
 */
import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import { flush } from "./_helpers.ts";

function infoOf(cached: {
  cacheInfo(): { hits: number; misses: number; currSize: number };
}) {
  const { hits, misses, currSize } = cached.cacheInfo();
  return { hits, misses, currSize };
}

const identity = async (n: number) => await Promise.resolve(n);

Deno.test("parity: maxSize 3 over 3, 4, 5, 3, 2, 1 leaves the order [3, 2, 1]", async () => {
  const cached = alruCache(identity, { maxSize: 3 });
  for (const n of [3, 4, 5, 3, 2, 1]) assert.equal(await cached(n), n);
  assert.deepEqual(infoOf(cached), { hits: 1, misses: 5, currSize: 3 });

  // Read the order with eviction probes: each fresh key drops the oldest.
  const order: number[] = [];
  let present = [1, 2, 3, 4, 5].filter((n) => cached.cacheContains(n));
  assert.deepEqual(present, [1, 2, 3]);
  for (let fresh = 100; present.length > 0; fresh++) {
    await cached(fresh);
    const dropped = present.filter((n) => !cached.cacheContains(n));
    assert.equal(dropped.length, 1);
    order.push(dropped[0]);
    present = present.filter((n) => n !== dropped[0]);
  }
  assert.deepEqual(order, [3, 2, 1]);
});

Deno.test("parity: maxSize 4 over [1, 2, 3, 4, 1, 2, 3, 4] concurrently", async () => {
  const cached = alruCache(identity, { maxSize: 4 });
  const inputs = [1, 2, 3, 4, 1, 2, 3, 4];
  assert.deepEqual(await Promise.all(inputs.map((n) => cached(n))), inputs);
  assert.deepEqual(infoOf(cached), { hits: 4, misses: 4, currSize: 4 });
});

Deno.test("parity: maxSize 0 over [1, 2, 3, 4, 1, 2, 3, 4] concurrently", async () => {
  const cached = alruCache(identity, { maxSize: 0 });
  const inputs = [1, 2, 3, 4, 1, 2, 3, 4];
  assert.deepEqual(await Promise.all(inputs.map((n) => cached(n))), inputs);
  assert.deepEqual(infoOf(cached), { hits: 0, misses: 8, currSize: 0 });
});

Deno.test("parity: three concurrent callers of rejecting work", async () => {
  let calls = 0;
  const cached = alruCache(async (_n: number) => {
    calls++;
    await Promise.resolve();
    throw new Error(`failure ${calls}`);
  });
  const outcomes = await Promise.allSettled([cached(1), cached(1), cached(1)]);
  const reasons = outcomes.map((outcome) => {
    assert.equal(outcome.status, "rejected");
    return (outcome as PromiseRejectedResult).reason;
  });
  assert.ok(reasons[0] instanceof Error);
  assert.equal(reasons[1], reasons[0]);
  assert.equal(reasons[2], reasons[0]);
  await flush();
  assert.deepEqual(infoOf(cached), { hits: 2, misses: 1, currSize: 0 });

  await assert.rejects(cached(1), /failure 2/);
  assert.equal(cached.cacheInfo().misses, 2);
});

Deno.test("parity: ttl 100, jitter 200, random 0.5: present at 199 ms, gone at 200 ms", async () => {
  const clock = new ManualClock();
  const cached = alruCache(identity, {
    ttl: 100,
    jitter: 200,
    random: () => 0.5,
    clock,
  });
  await cached(1);
  clock.advance(199);
  assert.equal(cached.cacheContains(1), true);
  clock.advance(1);
  assert.equal(cached.cacheContains(1), false);
});

Deno.test("parity: the README example", async () => {
  const known = new Set([8, 218, 279, 289, 290, 308, 320]);
  const requested: string[] = [];
  // Stands in for the network: only the PEPs in `known` exist.
  const fakeFetch = async (url: string) => {
    requested.push(url);
    await Promise.resolve();
    const num = Number(url.match(/pep-(\d+)\/$/)![1]);
    return {
      ok: known.has(num),
      text: async () => await Promise.resolve(`<html>PEP ${num}</html>`),
    };
  };

  const getPep = alruCache(async function getPep(num: number) {
    const resource = `https://peps.invalid/pep-${
      String(num).padStart(4, "0")
    }/`;
    try {
      const response = await fakeFetch(resource);
      if (!response.ok) return "Not Found";
      return await response.text();
    } catch {
      return "Not Found";
    }
  }, { maxSize: 32 });

  const lengths: [number, number][] = [];
  for (const n of [8, 290, 308, 320, 8, 218, 320, 279, 289, 320, 9991]) {
    const pep = await getPep(n);
    lengths.push([n, pep.length]);
  }

  assert.deepEqual(getPep.cacheInfo(), {
    hits: 3,
    misses: 8,
    maxSize: 32,
    currSize: 8,
  });
  assert.equal(requested.length, 8);
  assert.equal(await getPep(9991), "Not Found");
  assert.equal(lengths.at(-1)![1], "Not Found".length);
  assert.equal(lengths[0][1], "<html>PEP 8</html>".length);

  await getPep.cacheClose();
  assert.equal(getPep.cacheParameters().closed, true);
});
