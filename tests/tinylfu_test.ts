/**
 * The `"tinylfu"` policy through the cache: SPEC §14 rules 2–8 and 12, as a
 * caller sees them.
 */
import assert from "node:assert/strict";
import { alruCache, type CacheEvent } from "../mod.ts";
import { assertWhole, deferred, flush, statsOf } from "./_helpers.ts";

// A deterministic source in [0, 1): a Park–Miller generator.
function seeded(seed: number): () => number {
  let state = seed % 2147483647 || 1;
  return () => {
    state = (state * 48271) % 2147483647;
    return (state - 1) / 2147483646;
  };
}

Deno.test("the policy option: unset, lru or tinylfu; anything else is refused naming it", () => {
  const fn = (x: number) => Promise.resolve(x);
  assert.equal("policy" in alruCache(fn).cacheParameters(), false);
  assert.equal(
    alruCache(fn, { policy: "lru" }).cacheParameters().policy,
    "lru",
  );
  assert.equal(
    alruCache(fn, { policy: "tinylfu" }).cacheParameters().policy,
    "tinylfu",
  );
  assert.equal(
    "policy" in alruCache(fn, { policy: undefined }).cacheParameters(),
    false,
  );
  assert.throws(
    () => alruCache(fn, { policy: 1 as unknown as "lru" }),
    (error: unknown) =>
      error instanceof TypeError && /"policy"/.test(error.message),
  );
  assert.throws(
    () => alruCache(fn, { policy: "lfu" as unknown as "lru" }),
    (error: unknown) =>
      error instanceof RangeError && /"policy"/.test(error.message) &&
      /"lru"/.test(error.message) && /"tinylfu"/.test(error.message) &&
      /"lfu"/.test(error.message),
  );
});

Deno.test("100 concurrent first calls run the function once under tinylfu", async () => {
  let runs = 0;
  const gate = deferred<number>();
  const cached = alruCache(async (_: string) => {
    runs++;
    return await gate.promise;
  }, { maxSize: 10, policy: "tinylfu" });
  const calls = Array.from({ length: 100 }, () => cached("k"));
  gate.resolve(7);
  assert.deepEqual(await Promise.all(calls), new Array(100).fill(7));
  assert.equal(runs, 1);
  const info = cached.cacheInfo();
  assert.equal(info.hits, 99);
  assert.equal(info.misses, 1);
});

Deno.test("a sequential replay ends with misses = currSize + evictions, and a miss never evicts its own entry", async () => {
  for (const maxSize of [1, 2, 3, 10, 50]) {
    const random = seeded(maxSize);
    const cached = alruCache((key: number) => Promise.resolve(key), {
      maxSize,
      policy: "tinylfu",
      random: seeded(99),
    });
    for (let i = 0; i < 5_000; i++) {
      const key = Math.floor(1 / (random() + 0.002)) + (i % 7 === 0 ? i : 0);
      await cached(key);
      assert.ok(cached.cacheContains(key), `the call for ${key} kept no entry`);
    }
    const { misses, currSize } = cached.cacheInfo();
    assert.equal(misses, currSize + cached.cacheStats().evictions);
    assert.ok(currSize <= maxSize);
    assertWhole(cached);
  }
});

// With maxSize 2 the window holds one entry and main one. After `a` is
// asked for often, then removed, the calls b, a, c push a into a full main
// region against b: a wins only if its frequency was kept.
// A sketch this small (four words) lets some seeds give `a` every counter
// of `b` or `c`, as count-min may; the tests use a seed that does not.
async function aAgainstB(
  cached: ((key: string) => Promise<string>) & {
    cacheContains(key: string): boolean;
  },
): Promise<boolean> {
  await cached("b");
  await cached("a");
  await cached("c");
  assert.ok(cached.cacheContains("c"));
  assert.notEqual(cached.cacheContains("a"), cached.cacheContains("b"));
  return cached.cacheContains("a");
}

Deno.test("frequencies survive invalidation, and clear forgets them", async () => {
  const make = () =>
    alruCache((key: string) => Promise.resolve(key), {
      maxSize: 2,
      policy: "tinylfu",
      random: seeded(7),
    });
  // A fresh cache: a and b tie, and ties go to the victim.
  assert.equal(await aAgainstB(make()), false);

  const invalidated = make();
  for (let i = 0; i < 5; i++) await invalidated("a");
  invalidated.cacheInvalidate("a");
  assert.equal(await aAgainstB(invalidated), true);

  const cleared = make();
  for (let i = 0; i < 5; i++) await cleared("a");
  cleared.cacheClear();
  assert.equal(await aAgainstB(cleared), false);
});

Deno.test("contains, invalidate and cacheRefresh feed nothing to the sketch", async () => {
  const cached = alruCache((key: string) => Promise.resolve(key), {
    maxSize: 2,
    policy: "tinylfu",
    random: seeded(7),
  });
  for (let i = 0; i < 5; i++) {
    await cached.cacheRefresh("a");
    cached.cacheContains("a");
  }
  cached.cacheInvalidate("a");
  assert.equal(await aAgainstB(cached), false);
});

Deno.test("an in-flight entry that loses admission is evicted, and its callers still get its value", async () => {
  const events: CacheEvent[] = [];
  const gates = new Map<string, ReturnType<typeof deferred<string>>>();
  const cached = alruCache((key: string) => {
    const gate = deferred<string>();
    gates.set(key, gate);
    return gate.promise;
  }, {
    maxSize: 2,
    policy: "tinylfu",
    random: seeded(3),
    onEvent: (event) => events.push(event),
  });
  // b is popular and settled in main.
  const b = cached("b");
  gates.get("b")!.resolve("B");
  await b;
  for (let i = 0; i < 4; i++) await cached("b");
  // a, in flight, is pushed out of the window by c and loses to b.
  const a1 = cached("a");
  const a2 = cached("a");
  const c = cached("c");
  assert.equal(cached.cacheContains("a"), false);
  assert.ok(cached.cacheContains("b") && cached.cacheContains("c"));
  assert.ok(
    events.some((event) => event.type === "evict" && event.key === "a"),
  );
  gates.get("a")!.resolve("A");
  gates.get("c")!.resolve("C");
  assert.deepEqual(await Promise.all([a1, a2, c]), ["A", "A", "C"]);
  await flush();
  assert.equal(cached.cacheContains("a"), false);
  const { misses, currSize } = cached.cacheInfo();
  assert.equal(misses, currSize + cached.cacheStats().evictions);
  assertWhole(cached);
});

Deno.test("the same random replays the same outcome, and is drawn only under tinylfu", async () => {
  const outcome = async (seed: number) => {
    const cached = alruCache((key: number) => Promise.resolve(key), {
      maxSize: 20,
      policy: "tinylfu",
      random: seeded(seed),
    });
    const trace = seeded(1234);
    const held: boolean[] = [];
    for (let i = 0; i < 3_000; i++) {
      const key = Math.floor(1 / (trace() + 0.005));
      await cached(key);
      held.push(cached.cacheContains(Math.floor(i / 30)));
    }
    return { info: cached.cacheInfo(), stats: statsOf(cached), held };
  };
  assert.deepEqual(await outcome(11), await outcome(11));

  let draws = 0;
  const counting = () => {
    draws++;
    return 0.5;
  };
  alruCache((x: number) => Promise.resolve(x), {
    random: counting,
    policy: "lru",
  });
  assert.equal(draws, 0);
  alruCache((x: number) => Promise.resolve(x), {
    random: counting,
    policy: "tinylfu",
  });
  assert.equal(draws, 2);
  assert.throws(
    () =>
      alruCache((x: number) => Promise.resolve(x), {
        random: () => 1,
        policy: "tinylfu",
      }),
    RangeError,
  );
});

Deno.test("tinylfu keeps popular keys that lru loses to a scan", async () => {
  const ratio = async (policy: "lru" | "tinylfu") => {
    const cached = alruCache((key: number) => Promise.resolve(key), {
      maxSize: 100,
      policy,
      random: seeded(8),
    });
    for (let round = 0; round < 50; round++) {
      for (let key = 0; key < 80; key++) await cached(key);
      for (let key = 0; key < 200; key++) {
        await cached(1_000 + round * 200 + key);
      }
    }
    const { hits, misses } = cached.cacheInfo();
    return hits / (hits + misses);
  };
  const lru = await ratio("lru");
  const tinylfu = await ratio("tinylfu");
  assert.equal(lru, 0);
  assert.ok(tinylfu > 0.2, `tinylfu's hit ratio ${tinylfu}`);
});
