import assert from "node:assert/strict";
import fc from "fast-check";
import {
  alruCache,
  type CachedFunction,
  type CacheEvent,
  cacheOf,
  ManualClock,
} from "../mod.ts";
import {
  assertWhole,
  checkEachEntryToUserCode,
  deferred,
  flush,
  rejectionOf,
  withErrors,
} from "./_helpers.ts";

// A cache of string keys whose value is the key, weighed by its length.
function byLength(
  maxWeight: number,
  extra: Record<string, unknown> = {},
) {
  const events: CacheEvent[] = [];
  const weighed: unknown[] = [];
  const cached = alruCache((key: string) => Promise.resolve(key), {
    maxSize: 100,
    maxWeight,
    weigher: (value: string, args: [string]) => {
      weighed.push([value, ...args]);
      return value.length;
    },
    onEvent: (event) => events.push(event),
    ...extra,
  });
  return { cached, events, weighed };
}

function evicted(events: CacheEvent[]): unknown[] {
  return events.filter((event) => event.type === "evict").map((event) =>
    event.key
  );
}

Deno.test("maxWeight and weigher are checked, each naming the option", () => {
  const weigher = () => 1;
  assert.throws(
    () =>
      alruCache(() => Promise.resolve(1), { maxWeight: "5" as never, weigher }),
    (error) => error instanceof TypeError && /maxWeight/.test(error.message),
  );
  for (const bad of [-1, NaN, -Infinity]) {
    assert.throws(
      () => alruCache(() => Promise.resolve(1), { maxWeight: bad, weigher }),
      (error) => error instanceof RangeError && /maxWeight/.test(error.message),
    );
  }
  assert.throws(
    () => alruCache(() => Promise.resolve(1), { maxWeight: 5 }),
    (error) =>
      error instanceof TypeError &&
      error.message.includes("maxWeight requires weigher"),
  );
  assert.throws(
    () => alruCache(() => Promise.resolve(1), { weigher }),
    (error) =>
      error instanceof TypeError &&
      error.message.includes("weigher requires maxWeight"),
  );
  assert.throws(
    () =>
      alruCache(() => Promise.resolve(1), {
        maxWeight: 5,
        weigher: 3 as never,
      }),
    (error) => error instanceof TypeError && /weigher/.test(error.message),
  );
  assert.throws(
    () => alruCache(() => Promise.resolve(1), { maxWeight: null, weigher }),
    (error) =>
      error instanceof TypeError &&
      error.message.includes("weigher requires maxWeight"),
  );
  // null is unset, and Infinity and 0 are bounds.
  alruCache(() => Promise.resolve(1), { maxWeight: null });
  alruCache(() => Promise.resolve(1), { maxWeight: Infinity, weigher });
  alruCache(() => Promise.resolve(1), { maxWeight: 0, weigher });
});

Deno.test("cacheParameters shows maxWeight and currWeight only when maxWeight is set", async () => {
  const plain = alruCache((key: string) => Promise.resolve(key), {
    maxSize: 3,
  });
  await plain("a");
  assert.deepEqual(plain.cacheParameters(), {
    maxSize: 3,
    ttl: undefined,
    jitter: undefined,
    tasks: 0,
    closed: false,
    name: "anonymous",
    softTimeout: undefined,
    hardTimeout: undefined,
  });
  const { cached } = byLength(10);
  const running = cached("abc");
  assert.deepEqual(cached.cacheParameters(), {
    maxSize: 100,
    ttl: undefined,
    jitter: undefined,
    tasks: 1,
    closed: false,
    name: "anonymous",
    softTimeout: undefined,
    hardTimeout: undefined,
    maxWeight: 10,
    currWeight: 0, // in flight: weighs nothing yet
  });
  await running;
  assert.equal(cached.cacheParameters().currWeight, 3);
  assert.deepEqual(cached.cacheInfo(), {
    hits: 0,
    misses: 1,
    maxSize: 100,
    currSize: 1,
  });
});

Deno.test("weight is added as a run settles, and the least recently used weighed entries go until it fits", async () => {
  const { cached, events, weighed } = byLength(10);
  await cached("aaaa"); // 4
  await cached("bbb"); // 7
  await cached("cc"); // 9
  await cached("aaaa"); // a hit: "bbb" is now the least recently used
  assert.deepEqual(weighed, [["aaaa", "aaaa"], ["bbb", "bbb"], ["cc", "cc"]]);
  await cached("ddddd"); // 14: "bbb" goes (11), then "cc" (9)
  assert.deepEqual(evicted(events), ["bbb", "cc"]);
  assert.equal(cached.cacheStats().evictions, 2);
  assert.equal(cached.cacheParameters().currWeight, 9);
  assert.equal(cached.cacheContains("aaaa"), true);
  assert.equal(cached.cacheContains("ddddd"), true);
  assertWhole(cached);
});

Deno.test("entries in flight and kept failures weigh nothing and are passed over", async () => {
  const gates = new Map<string, ReturnType<typeof deferred<string>>>();
  const events: CacheEvent[] = [];
  const cached = alruCache((key: string) => {
    if (key.startsWith("!")) return Promise.reject(new Error(key));
    const gate = deferred<string>();
    gates.set(key, gate);
    return gate.promise;
  }, {
    maxWeight: 5,
    weigher: (value: string) => value.length,
    errorTtl: 1_000,
    clock: new ManualClock(),
    onEvent: (event) => events.push(event),
  });
  const slow = cached("slow"); // oldest, in flight
  await rejectionOf(cached("!x")); // a kept failure
  const a = cached("aaa");
  gates.get("aaa")!.resolve("aaa");
  await a;
  const b = cached("bbb");
  gates.get("bbb")!.resolve("bbb"); // 6 > 5: "aaa" goes, not "slow" nor "!x"
  await b;
  assert.deepEqual(evicted(events), ["aaa"]);
  assert.equal(cached.cacheContains("slow"), true);
  assert.equal(cached.cacheContains("!x"), true);
  assert.equal(cached.cacheParameters().currWeight, 3);
  gates.get("slow")!.resolve("slow"); // 7 > 5: "slow" is now the oldest weighed
  await slow;
  assert.deepEqual(evicted(events), ["aaa", "slow"]);
  assert.equal(cached.cacheParameters().currWeight, 3);
  assertWhole(cached);
});

Deno.test("a stale entry keeps its weight, and a refresh re-weighs it in place without moving it", async () => {
  const clock = new ManualClock();
  let version = 1;
  const events: CacheEvent[] = [];
  const weighed: unknown[] = [];
  const cached = alruCache(
    (key: string) => Promise.resolve(key.repeat(version)),
    {
      ttl: 100,
      staleWhileRevalidate: 1_000,
      clock,
      maxWeight: 10,
      weigher: (value: string, args: [string]) => {
        weighed.push([value, args[0]]);
        return value.length;
      },
      onEvent: (event) => events.push(event),
    },
  );
  await cached("aa"); // 2, the least recently used
  await cached("bbb"); // 5
  clock.advance(150); // both stale
  assert.equal(cached.cacheParameters().currWeight, 5);
  version = 3;
  assert.equal(await cached.cacheRefresh("aa"), "aaaaaa"); // 6 + 3 = 9
  assert.deepEqual(weighed.at(-1), ["aaaaaa", "aa"]);
  assert.equal(cached.cacheParameters().currWeight, 9);
  assert.equal(cached.cacheInfo().hits, 0); // no access recorded
  // Had the refresh moved "aa", "bbb" would be the one to go here.
  version = 1;
  await cached("cc"); // 11: "aa", still the least recently used, goes
  assert.deepEqual(evicted(events), ["aa"]);
  assert.equal(cached.cacheParameters().currWeight, 5);
  // A stale hit's background refresh re-weighs too.
  version = 3;
  assert.equal(await cached("bbb"), "bbb"); // stale: answers, starts a refresh
  await flush();
  assert.deepEqual(weighed.at(-1), ["bbbbbbbbb", "bbb"]);
  // 9 + 2 = 11: "bbb" was just used, so "cc" goes.
  assert.deepEqual(evicted(events), ["aa", "cc"]);
  assert.equal(cached.cacheParameters().currWeight, 9);
  assertWhole(cached);
  cached.cacheClose();
});

Deno.test("a value heavier than maxWeight is delivered to every caller, not kept, and evicts nothing else", async () => {
  const { cached, events } = byLength(5);
  await cached("aa");
  await cached("bbb");
  const first = cached("heavier");
  const second = cached("heavier");
  assert.equal(cached.cacheContains("heavier"), true); // held while in flight
  assert.deepEqual(await Promise.all([first, second]), ["heavier", "heavier"]);
  assert.equal(cached.cacheContains("heavier"), false);
  assert.deepEqual(evicted(events), ["heavier"]);
  assert.equal(cached.cacheStats().evictions, 1);
  assert.deepEqual(cached.cacheInfo(), {
    hits: 1,
    misses: 3,
    maxSize: 100,
    currSize: 2,
  });
  assert.equal(cached.cacheParameters().currWeight, 5);
  assertWhole(cached);
});

Deno.test("a refresh whose value is too heavy evicts its entry once", async () => {
  let heavy = false;
  const events: CacheEvent[] = [];
  const cached = alruCache(
    (key: string) => Promise.resolve(heavy ? key.repeat(9) : key),
    {
      maxWeight: 5,
      weigher: (value: string) => value.length,
      onEvent: (event) => events.push(event),
    },
  );
  await cached("ab");
  heavy = true;
  assert.equal(await cached.cacheRefresh("ab"), "ab".repeat(9));
  assert.equal(cached.cacheContains("ab"), false);
  assert.deepEqual(evicted(events), ["ab"]);
  assert.equal(cached.cacheParameters().currWeight, 0);
});

Deno.test("Infinity tracks weights and evicts nothing for them", async () => {
  const { cached, events } = byLength(Infinity);
  for (const key of ["a", "bb", "ccc"]) await cached(key);
  assert.equal(cached.cacheParameters().currWeight, 6);
  assert.deepEqual(evicted(events), []);
  cached.cacheClear();
  assert.equal(cached.cacheParameters().currWeight, 0);
  await cached("dddd");
  assert.equal(cached.cacheParameters().currWeight, 4);
});

Deno.test("a weigher that fails delivers the value, keeps nothing, counts nothing, and is reported once per cache", async () => {
  for (
    const bad of [
      () => {
        throw new Error("boom");
      },
      () => -1,
      () => NaN,
      () => Infinity,
      () => -Infinity,
      () => "3",
      () => undefined,
    ]
  ) {
    await withErrors(async (errors) => {
      const events: CacheEvent[] = [];
      let fails = true;
      const cached = alruCache(function lookUp(key: string) {
        return Promise.resolve(key);
      }, {
        maxWeight: 10,
        weigher: (value: string) => fails ? bad() as number : value.length,
        onEvent: (event) => events.push(event),
      });
      const [first, second] = await Promise.all([cached("a"), cached("a")]);
      assert.equal(first, "a");
      assert.equal(second, "a");
      assert.equal(await cached("b"), "b");
      assert.equal(cached.cacheContains("a"), false);
      assert.equal(cached.cacheContains("b"), false);
      assert.deepEqual(
        events.map((event) => event.type),
        ["miss", "hit", "miss"],
      );
      assert.equal(cached.cacheStats().evictions, 0);
      assert.equal(cached.cacheParameters().currWeight, 0);
      assert.equal(errors.length, 1);
      const message = String(errors[0][0]);
      assert.match(message, /weigher/);
      assert.match(message, /lookUp/);
      fails = false;
      await cached("c");
      assert.equal(cached.cacheParameters().currWeight, 1);
      assert.equal(errors.length, 1);
    });
  }
});

Deno.test("the weigher is called only for a value about to be kept", async () => {
  const clock = new ManualClock();
  const weighed: string[] = [];
  const cached = alruCache((key: string) => {
    if (key === "fails") return Promise.reject(new Error(key));
    return Promise.resolve(key);
  }, {
    clock,
    ttl: (value: string) => value === "ttl0" ? 0 : 100,
    shouldCache: (value: string) => value !== "skip",
    errorTtl: 100,
    maxWeight: 100,
    weigher: (value: string) => {
      weighed.push(value);
      return 1;
    },
  });
  await cached("skip");
  await cached("ttl0");
  await rejectionOf(cached("fails"));
  await cached("kept");
  assert.deepEqual(weighed, ["kept"]);
  cached.cacheClose();
});

Deno.test("a weigher that calls the cache back finds it whole", async () => {
  const seen: unknown[] = [];
  const cached: CachedFunction<[string], string> = alruCache(
    (key: string) => Promise.resolve(key),
    {
      maxSize: 3,
      maxWeight: 4,
      weigher: (value: string) => {
        assertWhole(cached);
        seen.push(cached.cacheParameters().currWeight);
        if (value === "bb") {
          cached.cacheInvalidate("a");
          void cached("zz");
        }
        if (value === "ccc") cached.cacheInvalidate("ccc"); // its own entry
        return value.length;
      },
    },
  );
  checkEachEntryToUserCode(cached);
  await cached("a");
  await cached("bb");
  assert.equal(cached.cacheContains("a"), false);
  await flush();
  assert.equal(await cached("ccc"), "ccc");
  assert.equal(cached.cacheContains("ccc"), false);
  assertWhole(cached);
  assert.ok(seen.every((weight) => (weight as number) <= 4));
  assert.ok(cached.cacheParameters().currWeight! <= 4);
});

Deno.test("with a store, weights act on the local tier and a value read from the store is weighed", async () => {
  const { memoryStore } = await import("../memory.ts");
  const clock = new ManualClock();
  const store = memoryStore({ clock });
  const weighed: unknown[] = [];
  const options = {
    store,
    clock,
    ttl: 10_000,
    maxWeight: 5,
    weigher: (value: string) => {
      weighed.push(value);
      return value.length;
    },
  };
  const writer = alruCache((key: string) => Promise.resolve(key), options);
  const reader = alruCache(
    (key: string) => Promise.resolve(`${key}!`),
    options,
  );
  assert.equal(await writer("abc"), "abc");
  assert.equal(await reader("abc"), "abc"); // read from the store, as served
  assert.deepEqual(weighed, ["abc", "abc"]);
  assert.equal(await writer("xyz"), "xyz"); // 6 > 5: "abc" goes locally
  assert.equal(writer.cacheContains("abc"), false);
  assert.equal(await reader("abc"), "abc"); // still in the store
  assert.equal(reader.cacheParameters().currWeight, 3);
  await writer.cacheClose({ wait: true });
  await reader.cacheClose({ wait: true });
});

Deno.test("the weigher gets the call's arguments, on the short path and the long one", async () => {
  const weighed: unknown[][] = [];
  const weigher = (value: number, args: number[]) => {
    weighed.push([value, ...args]);
    return 1;
  };
  const two = alruCache(
    (a: number, b: number) => Promise.resolve(a + b),
    { maxWeight: 10, weigher },
  );
  const three = alruCache(
    (a: number, b: number, c: number) => Promise.resolve(a + b + c),
    { maxWeight: 10, weigher },
  );
  await two(1, 2);
  await three(1, 2, 3);
  assert.deepEqual(weighed, [[3, 1, 2], [6, 1, 2, 3]]);
});

Deno.test("a decorated method weighs per instance", async () => {
  class Pages {
    @alruCache({ maxWeight: 5, weigher: (html: string) => html.length })
    render(path: string): Promise<string> {
      return Promise.resolve(path.repeat(2));
    }
  }
  const first = new Pages();
  const second = new Pages();
  await first.render("ab"); // 4
  await first.render("c"); // 6 > 5: "ab" goes
  await second.render("ab");
  const cache = cacheOf(first.render);
  assert.equal(cache.cacheParameters().currWeight, 2);
  assert.equal(cache.cacheStats().evictions, 1);
  assert.equal(cacheOf(second.render).cacheParameters().currWeight, 4);
});

// Both bounds hold at every step user code can see: inside the weigher and
// onEvent, and after each call and settlement, over random traces.
Deno.test("maxSize and maxWeight hold at every step of random traces, under either policy", async () => {
  const step = fc.oneof(
    fc.record({
      op: fc.constant("call" as const),
      key: fc.integer({ min: 0, max: 7 }),
    }),
    fc.record({
      op: fc.constant("settle" as const),
      index: fc.nat(),
      weight: fc.integer({ min: 0, max: 12 }),
      fail: fc.boolean(),
    }),
    fc.record({
      op: fc.constant("refresh" as const),
      key: fc.integer({ min: 0, max: 7 }),
    }),
    fc.record({
      op: fc.constant("invalidate" as const),
      key: fc.integer({ min: 0, max: 7 }),
    }),
    fc.record({
      op: fc.constant("time" as const),
      ms: fc.integer({ min: 1, max: 150 }),
    }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 4 }),
      fc.integer({ min: 0, max: 20 }),
      fc.array(step, { maxLength: 60 }),
      fc.constantFrom("lru" as const, "tinylfu" as const),
      async (maxSize, maxWeight, steps, policy) => {
        const clock = new ManualClock();
        const pending: {
          resolve(value: number): void;
          reject(reason: unknown): void;
        }[] = [];
        // deno-lint-ignore prefer-const -- the hooks below read it once made
        let cached!: CachedFunction<[number], number>;
        const check = () => {
          const info = cached.cacheInfo();
          const weight = cached.cacheParameters().currWeight!;
          assert.ok(info.currSize <= maxSize, "maxSize");
          assert.ok(weight <= maxWeight, `${weight} > ${maxWeight}`);
          assertWhole(cached);
        };
        cached = alruCache(
          (_key: number) =>
            new Promise<number>((resolve, reject) =>
              pending.push({ resolve, reject })
            ),
          {
            maxSize,
            maxWeight,
            policy,
            random: () => 0.5,
            clock,
            ttl: 100,
            staleWhileRevalidate: 100,
            errorTtl: 50,
            weigher: (value: number) => {
              check();
              return value;
            },
            onEvent: check,
          },
        );
        checkEachEntryToUserCode(cached);
        const calls: Promise<unknown>[] = [];
        for (const s of steps) {
          if (s.op === "call") {
            calls.push(cached(s.key).catch(() => {}));
          } else if (s.op === "refresh") {
            calls.push(cached.cacheRefresh(s.key).catch(() => {}));
          } else if (s.op === "invalidate") {
            cached.cacheInvalidate(s.key);
          } else if (s.op === "time") {
            clock.advance(s.ms);
          } else if (pending.length > 0) {
            const [run] = pending.splice(s.index % pending.length, 1);
            if (s.fail) run.reject(new Error("no"));
            else run.resolve(s.weight);
            await flush();
          }
          check();
        }
        for (const run of pending.splice(0)) run.resolve(1);
        await flush();
        check();
        for (const run of pending.splice(0)) run.resolve(1);
        await Promise.all(calls);
        check();
        cached.cacheClose();
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("under tinylfu, weight is shed from the main region's probation first: an entry promoted to protected outlives a more recent one on probation", async () => {
  const shed = async (policy: "lru" | "tinylfu") => {
    const cached = alruCache((key: string) => Promise.resolve(key), {
      maxSize: 100,
      maxWeight: 10,
      weigher: (value: string) => (value === "k6" ? 4 : 2),
      policy,
      random: () => 0.5,
    });
    await cached("k1");
    await cached("k1");
    await cached("k2");
    await cached("k1"); // on probation since k2 came: now protected
    for (const key of ["k3", "k4", "k5"]) await cached(key);
    await cached("k6"); // weighs 4: two entries of 2 go
    const held = ["k1", "k2", "k3", "k4", "k5", "k6"].filter((key) =>
      cached.cacheContains(key)
    );
    await cached.cacheClose();
    return held;
  };
  assert.deepEqual(await shed("lru"), ["k3", "k4", "k5", "k6"]);
  assert.deepEqual(await shed("tinylfu"), ["k1", "k4", "k5", "k6"]);
});
