/**
 * docs/behaviour.md §16.1 to §16.3: the cache's name, the events that carry
 * it and the value that left, and the events channel of
 * `node:diagnostics_channel`, which hears every event `onEvent` would.
 */
import assert from "node:assert/strict";
import dc from "node:diagnostics_channel";
import {
  alruCache,
  CacheClosedError,
  type CacheEvent,
  cacheOf,
  ManualClock,
} from "../mod.ts";
import {
  assertWhole,
  checkEachEntryToUserCode,
  deferred,
  flush,
  macrotask,
  track,
} from "./_helpers.ts";

const CHANNEL = "async-lru:events";

// Subscribes to the events channel for the length of `body`.
async function listening(
  body: (heard: CacheEvent[]) => Promise<void> | void,
  listener?: (event: CacheEvent) => void,
): Promise<void> {
  const heard: CacheEvent[] = [];
  const subscriber = (message: unknown) => {
    heard.push(message as CacheEvent);
    listener?.(message as CacheEvent);
  };
  dc.subscribe(CHANNEL, subscriber);
  try {
    await body(heard);
  } finally {
    dc.unsubscribe(CHANNEL, subscriber);
  }
}

Deno.test("the name is the name option, else fn's name, else anonymous; the function keeps its own name", () => {
  async function fetchRate(n: number) {
    return await Promise.resolve(n);
  }
  const named = alruCache(fetchRate, { name: "rates" });
  assert.equal(named.cacheParameters().name, "rates");
  assert.equal(named.name, "fetchRate");
  assert.equal(alruCache(fetchRate).cacheParameters().name, "fetchRate");
  const anonymous = alruCache(
    [(n: number) => Promise.resolve(n)][0],
  );
  assert.equal(anonymous.cacheParameters().name, "anonymous");
  class Service {
    @alruCache
    describe(n: number) {
      return Promise.resolve(n);
    }
  }
  assert.equal(
    cacheOf(new Service().describe).cacheParameters().name,
    "describe",
  );
  assert.throws(
    () => alruCache(fetchRate, { name: 1 as never }),
    (error: Error) =>
      error instanceof TypeError && /"name"/.test(error.message),
  );
  assert.throws(
    () => alruCache(fetchRate, { name: "" }),
    (error: Error) =>
      error instanceof RangeError && /"name"/.test(error.message),
  );
  assert.throws(
    () => alruCache(fetchRate, { nmae: "x" } as never),
    /did you mean "name"/,
  );
});

Deno.test("the errors of a closed cache name it", async () => {
  const running = deferred<number>();
  const cached = alruCache(() => running.promise, { name: "rates" });
  const call = track(cached());
  await cached.cacheClose();
  await flush();
  const reason = (call.outcome as { reason: DOMException }).reason;
  assert.equal(reason.name, "AbortError");
  assert.match(reason.message, /rates/);
  await assert.rejects(
    cached(),
    (error: Error) =>
      error instanceof CacheClosedError && /rates/.test(error.message),
  );
  running.resolve(1);
});

Deno.test("every event carries the name, and evictions, expiries and invalidations the value that left", async () => {
  const clock = new ManualClock();
  const events: CacheEvent[] = [];
  const failing = new Set<string>();
  const slow = deferred<string>();
  const cached = alruCache(
    (key: string) =>
      key === "r"
        ? slow.promise
        : failing.has(key)
        ? Promise.reject(new Error(key))
        : Promise.resolve(key === "u" ? undefined : key.toUpperCase()),
    {
      name: "letters",
      maxSize: 2,
      ttl: 100,
      errorTtl: 1_000,
      clock,
      onEvent: (event) => events.push(event),
    },
  );
  await cached("a");
  await cached("a"); // a shared hit: its value is behind a promise now
  await cached("b");
  await cached("c"); // evicts a
  assert.ok(events.every((event) => event.name === "letters"));
  assert.deepEqual(
    events.find((event) => event.type === "evict"),
    { type: "evict", key: "a", name: "letters", value: "A" },
  );
  await cached("u"); // evicts b, a bare value
  const evictB = events.filter((event) => event.type === "evict")[1];
  assert.deepEqual(evictB, {
    type: "evict",
    key: "b",
    name: "letters",
    value: "B",
  });
  assert.equal(cached.cacheInvalidate("u"), true);
  const invalidation = events.find((event) => event.type === "invalidate")!;
  assert.ok(Object.hasOwn(invalidation, "value"), "undefined, as its own");
  assert.equal(invalidation.value, undefined);
  clock.advance(100); // c expires
  assert.deepEqual(events.find((event) => event.type === "expire"), {
    type: "expire",
    key: "c",
    name: "letters",
    value: "C",
  });
  // A running entry and a kept failure leave without a value.
  const running = cached("r");
  await cached("s");
  await cached("t"); // evicts r while it runs
  const runningEvicted = events.filter((event) => event.type === "evict")
    .at(-1)!;
  assert.equal(runningEvicted.key, "r");
  assert.equal(Object.hasOwn(runningEvicted, "value"), false);
  slow.resolve("R");
  await running;
  failing.add("f");
  await assert.rejects(cached("f"));
  assert.equal(cached.cacheInvalidate("f"), true);
  const failedGone = events.filter((event) => event.type === "invalidate")
    .at(-1)!;
  assert.deepEqual(failedGone, {
    type: "invalidate",
    key: "f",
    name: "letters",
  });
  assertWhole(cached);
});

Deno.test("a stale entry leaves with its value, and so does one whose refresh is in flight", async () => {
  const clock = new ManualClock();
  const events: CacheEvent[] = [];
  let version = 0;
  const refresh = deferred<string>();
  const cached = alruCache(
    (key: string) =>
      version++ === 0 ? Promise.resolve(`${key}0`) : refresh.promise,
    {
      ttl: 10,
      staleWhileRevalidate: 100,
      clock,
      onEvent: (event) => events.push(event),
    },
  );
  await cached("k");
  clock.advance(10);
  assert.equal(await cached("k"), "k0", "stale, and a refresh starts");
  cached.cacheInvalidate("k");
  assert.deepEqual(events.at(-1), {
    type: "invalidate",
    key: "k",
    name: "anonymous",
    value: "k0",
  });
  refresh.resolve("k1");
  await flush();
});

Deno.test("every event onEvent hears is published on async-lru:events, at the same moment and in the same order", async () => {
  const clock = new ManualClock();
  const told: CacheEvent[] = [];
  const order: string[] = [];
  await listening(async (heard) => {
    const cached = alruCache(
      (key: number) => Promise.resolve(key * 2),
      {
        maxSize: 1,
        ttl: 50,
        clock,
        name: "double",
        onEvent: (event) => {
          told.push(event);
          order.push(`onEvent ${event.type}`);
        },
      },
    );
    await cached(1);
    await cached(1);
    await cached(2);
    cached.cacheInvalidate(2);
    await cached(3);
    clock.advance(50);
    assert.deepEqual(heard, told);
    assert.ok(heard.every((event, i) => event === told[i]), "the same objects");
    assert.deepEqual(heard.map((event) => event.type), [
      "miss",
      "hit",
      "evict",
      "miss",
      "invalidate",
      "miss",
      "expire",
    ]);
    assert.deepEqual(
      order,
      heard.flatMap((event) => [
        `onEvent ${event.type}`,
        `channel ${event.type}`,
      ]),
      "onEvent first, then the channel, for each event",
    );
  }, (event) => order.push(`channel ${event.type}`));
});

Deno.test("a subscriber hears from the next event on, whenever it subscribes, and nothing once it unsubscribes; the counters do not change", async () => {
  const cached = alruCache((key: number) => Promise.resolve(key));
  await cached(1);
  await listening(async (heard) => {
    await cached(1);
    await cached(2);
    assert.deepEqual(heard, [
      { type: "hit", key: 1, name: "anonymous" },
      { type: "miss", key: 2, name: "anonymous" },
    ]);
  });
  const before = cached.cacheInfo();
  await cached(1);
  assert.deepEqual(cached.cacheInfo(), { ...before, hits: before.hits + 1 });
});

Deno.test("a subscriber may call the cache back, and is called only while the cache is whole", async () => {
  const clock = new ManualClock();
  const cached = alruCache((key: number) => Promise.resolve(key), {
    maxSize: 2,
    ttl: 10,
    clock,
  });
  checkEachEntryToUserCode(cached);
  const seen: string[] = [];
  await listening(async () => {
    await cached(1);
    await cached(2);
    await cached(3);
    clock.advance(10);
    await flush();
  }, (event) => {
    seen.push(`${event.type} ${event.key}`);
    if (event.type === "evict") {
      cached.cacheInvalidate(3);
      void cached(4);
    }
    assertWhole(cached);
  });
  assert.ok(seen.includes("evict 1"));
  assert.ok(seen.includes("invalidate 3"));
  assertWhole(cached);
});

Deno.test("a subscriber that throws changes no outcome, counter or entry; diagnostics_channel reports the error on a later turn", async () => {
  const reported: unknown[] = [];
  const onError = (event: ErrorEvent) => {
    reported.push(event.error);
    event.preventDefault();
  };
  globalThis.addEventListener("error", onError);
  const boom = new Error("boom");
  const throwing = () => {
    throw boom;
  };
  dc.subscribe(CHANNEL, throwing);
  try {
    const cached = alruCache((key: number) => Promise.resolve(key * 2));
    assert.equal(await cached(1), 2);
    assert.equal(await cached(1), 2);
    assert.deepEqual(cached.cacheInfo(), {
      hits: 1,
      misses: 1,
      maxSize: 128,
      currSize: 1,
    });
    assertWhole(cached);
    await macrotask();
  } finally {
    dc.unsubscribe(CHANNEL, throwing);
    globalThis.removeEventListener("error", onError);
  }
  assert.deepEqual(reported, [boom, boom]);
});
