/**
 * docs/behaviour.md §12: cacheStats() and onEvent. The counters and their arithmetic,
 * checked on a scripted sequence and on random ones; the events, their order
 * and their keys; a listener that throws or calls the cache back; and both
 * through decorated methods.
 */
import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import fc from "fast-check";
import { alruCache, cacheOf, ManualClock } from "../mod.ts";
import {
  assertWhole,
  countersOfEvents,
  type Deferred,
  deferred,
  flush,
  rejectionOf,
  STAT_NAMES,
  type Stats,
  statsOf,
  withConsole,
  withErrors,
  withoutUnhandledRejections,
  ZERO_STATS,
} from "./_helpers.ts";

interface Seen {
  type: string;
  key: unknown;
}

const ev = (type: string, key: unknown): Seen => ({ type, key });

Deno.test("cacheStats starts at zero with its ten counters, and cacheInfo keeps exactly its four fields", async () => {
  const cached = alruCache(async (n: number) => await Promise.resolve(n));
  const stats = cached.cacheStats();
  // §16.6 adds the load statistics; nothing else belongs here.
  const extra = Object.keys(stats).filter(
    (name) => !(STAT_NAMES as readonly string[]).includes(name),
  );
  assert.deepEqual(extra, ["loads", "loadFailures", "loadTime"]);
  assert.deepEqual(statsOf(cached), ZERO_STATS);
  await cached(1);
  assert.deepEqual(Object.keys(cached.cacheInfo()).sort(), [
    "currSize",
    "hits",
    "maxSize",
    "misses",
  ]);
  assert.notEqual(cached.cacheStats(), cached.cacheStats(), "a fresh object");
});

Deno.test("a scripted sequence: every counter and every event, in order, then cacheClear resets the counters", async () => {
  const clock = new ManualClock();
  const failing = new Set<number>();
  const events: Seen[] = [];
  const syncFailure = new Error("sync");
  const cached = alruCache((key: number) => {
    if (key === 6) throw syncFailure;
    return Promise.resolve().then(() => {
      if (failing.has(key)) throw new Error(`${key} failed`);
      return key * 10;
    });
  }, {
    maxSize: 2,
    ttl: 100,
    staleWhileRevalidate: 50,
    errorTtl: 30,
    clock,
    onEvent: (event) => events.push(ev(event.type, event.key)),
  });
  const step = async (expected: Seen[], action: () => unknown) => {
    const from = events.length;
    await action();
    await flush();
    assert.deepEqual(events.slice(from), expected);
    assertWhole(cached);
  };

  await step([ev("miss", 1)], () => cached(1));
  await step([ev("hit", 1)], () => cached(1));
  await step([ev("miss", 2)], () => cached(2));
  await step([ev("evict", 1), ev("miss", 3)], () => cached(3));
  assert.equal(cached.cacheInvalidate(2), true);
  assert.equal(cached.cacheInvalidate(2), false);
  assert.equal(cached.cacheInvalidate(9), false);
  assert.deepEqual(events.at(-1), ev("invalidate", 2), "only one removal");
  failing.add(4);
  await step([ev("miss", 4), ev("error", 4)], () => rejectionOf(cached(4)));
  await step(
    [ev("hit", 4), ev("errorHit", 4)],
    () => rejectionOf(cached(4)),
  ); // an error hit
  await step([ev("expire", 4)], () => clock.advance(30));
  await step([], () => clock.advance(70)); // t=100: 3 turns stale
  await step(
    [ev("hit", 3), ev("stale", 3), ev("refresh", 3)],
    () => cached(3),
  );
  failing.add(3);
  clock.advance(100); // t=200: the refreshed 3 turns stale
  await step(
    [
      ev("hit", 3),
      ev("stale", 3),
      ev("refresh", 3),
      ev("error", 3),
      ev("refreshFailure", 3),
    ],
    () => cached(3),
  );
  // The failure is kept.
  await step([ev("hit", 3), ev("stale", 3)], () => cached(3));
  // The failure stops being kept at t=230, but no entry leaves then: the
  // stale entry stays until t=250.
  await step([], () => clock.advance(30));
  await step([ev("expire", 3)], () => clock.advance(20));
  failing.add(5);
  await step(
    [ev("refresh", 5), ev("error", 5), ev("refreshFailure", 5)],
    () => rejectionOf(cached.cacheRefresh(5)),
  );
  await step([], async () => {
    assert.equal(await rejectionOf(cached(6)), syncFailure);
  });

  const expected: Stats = {
    hits: 5,
    misses: 4,
    staleHits: 3,
    errorHits: 1,
    refreshes: 3,
    refreshFailures: 2,
    runFailures: 3,
    evictions: 1,
    expirations: 2,
    invalidations: 1,
  };
  assert.deepEqual(statsOf(cached), expected);
  assert.deepEqual(cached.cacheInfo(), {
    hits: 5,
    misses: 4,
    maxSize: 2,
    currSize: 0,
  });
  // One event type per counter: counting the events gives the counters.
  assert.deepEqual(countersOfEvents(events), expected);

  // Clearing is neither an eviction nor an invalidation: it emits nothing.
  await step([], () => cached.cacheClear());
  assert.deepEqual(statsOf(cached), ZERO_STATS);
  assert.deepEqual(cached.cacheInfo(), {
    hits: 0,
    misses: 0,
    maxSize: 2,
    currSize: 0,
  });
  await cached(1);
  assert.deepEqual(statsOf(cached), { ...ZERO_STATS, misses: 1 });
  await cached.cacheClose();
  assert.equal(clock.pending, 0);
});

Deno.test("a context reset resets every counter, as cacheClear does", async () => {
  await withConsole("warn", async (warnings) => {
    const cached = alruCache(async (n: number) => await Promise.resolve(n), {
      maxSize: 1,
      ttl: 60_000,
    });
    await cached(1);
    await cached(1);
    await cached(2); // evicts 1
    cached.cacheInvalidate(2);
    await cached.cacheRefresh(3);
    assert.deepEqual(statsOf(cached), {
      ...ZERO_STATS,
      hits: 1,
      misses: 2,
      refreshes: 1,
      evictions: 1,
      invalidations: 1,
    });
    const fake = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      await cached(4); // finds the timers replaced: resets, then misses
    } finally {
      fake.uninstall();
    }
    assert.equal(warnings.length, 1, Deno.inspect(warnings));
    assert.deepEqual(statsOf(cached), { ...ZERO_STATS, misses: 1 });
    assert.equal(cached.cacheStats().hits, cached.cacheInfo().hits);
    assert.equal(cached.cacheStats().misses, cached.cacheInfo().misses);
    cached.cacheClear();
    await cached.cacheClose();
  });
});

Deno.test("event keys: the argument for one-argument keys, the argument list for others, the key function's result otherwise", async () => {
  const events: Seen[] = [];
  const onEvent = (event: Seen) => events.push(ev(event.type, event.key));
  const one = alruCache(async (x: unknown) => await Promise.resolve(x), {
    onEvent,
  });
  const object = { id: 1 };
  await one(1);
  await one("a");
  await one(object);
  await one(undefined);
  assert.deepEqual(events.map((e) => e.key), [1, "a", object, undefined]);
  assert.equal(events[2].key, object, "the argument itself");

  events.length = 0;
  const many = alruCache(
    async (...args: unknown[]) => await Promise.resolve(args.length),
    { onEvent },
  );
  await many(1, 2);
  await many();
  await many(undefined);
  await many(object, "b", 3);
  assert.deepEqual(events.map((e) => e.key), [
    [1, 2],
    [],
    undefined,
    [object, "b", 3],
  ]);
  assert.equal((events[3].key as unknown[])[0], object);

  events.length = 0;
  const keyObject = { tenant: "t1" };
  const keyed = alruCache(
    async (tenant: string, _id: number) => await Promise.resolve(tenant),
    { key: () => keyObject, onEvent },
  );
  await keyed("t1", 1);
  await keyed("t1", 2);
  assert.deepEqual(events, [ev("miss", keyObject), ev("hit", keyObject)]);
  assert.equal(events[0].key, keyObject, "the key function's result itself");
});

Deno.test("onEvent runs synchronously, after the cache's state is whole", async () => {
  const clock = new ManualClock();
  const seen: [string, unknown, boolean][] = [];
  const cached = alruCache(async (n: number) => await Promise.resolve(n), {
    maxSize: 1,
    ttl: 10,
    clock,
    onEvent: (event): void => {
      assertWhole(cached);
      assert.equal(cached.cacheStats().hits, cached.cacheInfo().hits);
      seen.push([
        event.type,
        event.key,
        cached.cacheContains(event.key as number),
      ]);
    },
  });
  const first = cached(1);
  assert.deepEqual(seen, [["miss", 1, true]], "before the call returned");
  await first;
  await cached(1);
  await cached(2);
  cached.cacheInvalidate(2);
  await cached(3);
  clock.advance(10);
  assert.deepEqual(seen, [
    ["miss", 1, true],
    ["hit", 1, true],
    ["evict", 1, false],
    ["miss", 2, true],
    ["invalidate", 2, false],
    ["miss", 3, true],
    ["expire", 3, false],
  ]);
  assert.equal(cached.cacheStats().hits, 1, "the counters were up to date");
});

Deno.test("an onEvent that throws is reported through console.error once per cache and never breaks a call", async () => {
  await withErrors(async (errors) => {
    await withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      const boom = new Error("listener broke");
      const make = () =>
        alruCache(async (n: number) => {
          await Promise.resolve();
          if (n < 0) throw new Error(`bad ${n}`);
          return n;
        }, {
          maxSize: 1,
          ttl: 10,
          staleWhileRevalidate: 10,
          clock,
          onEvent: () => {
            throw boom;
          },
        });
      const first = make();
      assert.equal(await first(1), 1);
      assert.equal(await first(1), 1);
      assert.equal(await first(2), 2); // evicts 1
      clock.advance(10);
      assert.equal(await first(2), 2); // stale hit and refresh
      await flush();
      assert.equal(await first.cacheRefresh(2), 2);
      assert.equal(first.cacheInvalidate(2), true);
      const failure = await rejectionOf(first(-1));
      assert.equal((failure as Error).message, "bad -1", "fn's own reason");
      assert.equal(await first(3), 3);
      clock.advance(100); // 3 expires
      assert.equal(errors.length, 1, "reported once for this cache");
      const [reported] = errors;
      assert.ok(
        reported.some((arg) => arg === boom || (arg as Error)?.cause === boom),
        Deno.inspect(reported),
      );
      assert.deepEqual(
        statsOf(first),
        {
          ...ZERO_STATS,
          hits: 2,
          misses: 4,
          staleHits: 1,
          refreshes: 2,
          runFailures: 1,
          evictions: 1,
          expirations: 1,
          invalidations: 1,
        },
        "counting went on",
      );

      const second = make();
      assert.equal(await second(1), 1);
      assert.equal(await second(1), 1);
      assert.equal(errors.length, 2, "once per cache, not once per module");
      await first.cacheClose();
      await second.cacheClose();
    });
  });
});

Deno.test("onEvent may call the cache back: calls, invalidation, refreshes and reads all work from inside it", async () => {
  await withoutUnhandledRejections(async () => {
    const clock = new ManualClock();
    const events: Seen[] = [];
    const nested: Promise<number>[] = [];
    let refreshedOnEvict = false;
    const cached = alruCache(
      async (n: number) => await Promise.resolve(n * 10),
      {
        maxSize: 2,
        ttl: 10,
        clock,
        onEvent: (event): void => {
          events.push(ev(event.type, event.key));
          assert.equal(cached.cacheStats().hits, cached.cacheInfo().hits);
          if (event.type === "miss" && event.key === 1) nested.push(cached(2));
          if (event.type === "hit" && event.key === 2) {
            cached.cacheInvalidate(2);
          }
          if (event.type === "evict" && !refreshedOnEvict) {
            refreshedOnEvict = true;
            nested.push(cached.cacheRefresh(1));
          }
          if (event.type === "expire") cached.cacheClear();
        },
      },
    );
    assert.equal(await cached(1), 10);
    assert.deepEqual(await Promise.all(nested), [20]);
    assert.deepEqual(events, [ev("miss", 1), ev("miss", 2)]);
    assertWhole(cached);

    assert.equal(await cached(2), 20, "a hit that its listener invalidates");
    assert.equal(cached.cacheContains(2), false);
    assert.deepEqual(events.slice(2), [ev("hit", 2), ev("invalidate", 2)]);

    // 3 then 4: the second evicts 1, whose listener refreshes 1 back in.
    assert.equal(await cached(3), 30);
    assert.equal(await cached(4), 40);
    await Promise.all(nested);
    await flush();
    assertWhole(cached);
    assert.ok(cached.cacheInfo().currSize <= 2);
    assert.equal(cached.cacheStats().hits, cached.cacheInfo().hits);
    assert.equal(cached.cacheStats().misses, cached.cacheInfo().misses);

    clock.advance(10); // the first expiry clears the cache
    assertWhole(cached);
    assert.equal(cached.cacheInfo().currSize, 0);
    assert.deepEqual(statsOf(cached), ZERO_STATS);
    assert.equal(clock.pending, 0);
    assert.equal(await cached(5), 50, "the cache goes on");
    await cached.cacheClose();
  });
});

Deno.test("decorated methods take the new options, and cacheOf reaches cacheRefresh and cacheStats per instance", async () => {
  const clock = new ManualClock();
  const events: Seen[] = [];
  class Prices {
    runs = 0;
    constructor(readonly currency: string) {}

    @alruCache({
      ttl: 100,
      staleWhileRevalidate: 50,
      errorTtl: 20,
      shouldCache: (value) => value !== null,
      onEvent: (event) => events.push(ev(event.type, event.key)),
      clock,
    })
    async price(item: string): Promise<string | null> {
      this.runs++;
      await Promise.resolve();
      if (item === "gold") throw new Error("no price for gold");
      return item === "air"
        ? null
        : `${item} in ${this.currency} #${this.runs}`;
    }
  }
  const eur = new Prices("EUR");
  const usd = new Prices("USD");
  assert.equal(await eur.price("tea"), "tea in EUR #1");
  assert.equal(await eur.price("tea"), "tea in EUR #1");
  assert.equal(await usd.price("tea"), "tea in USD #1");
  assert.deepEqual(statsOf(cacheOf(eur.price)), {
    ...ZERO_STATS,
    hits: 1,
    misses: 1,
  });
  assert.deepEqual(statsOf(cacheOf(usd.price)), { ...ZERO_STATS, misses: 1 });
  assert.deepEqual(events, [
    ev("miss", "tea"),
    ev("hit", "tea"),
    ev("miss", "tea"),
  ]);

  clock.advance(100);
  assert.equal(await eur.price("tea"), "tea in EUR #1", "stale");
  await flush();
  assert.equal(eur.runs, 2, "refreshed on the instance");
  assert.equal(await eur.price("tea"), "tea in EUR #2");
  assert.equal(
    await cacheOf(eur.price).cacheRefresh("tea"),
    "tea in EUR #3",
    "cacheRefresh runs the method on its instance",
  );
  assert.equal(usd.runs, 1);

  assert.equal(await eur.price("air"), null);
  assert.equal(cacheOf(eur.price).cacheContains("air"), false, "shouldCache");
  const failure = await rejectionOf(eur.price("gold"));
  assert.equal(await rejectionOf(eur.price("gold")), failure, "errorTtl");
  assert.equal(eur.runs, 5);
  assert.deepEqual(statsOf(cacheOf(eur.price)), {
    ...ZERO_STATS,
    hits: 4,
    misses: 3,
    staleHits: 1,
    errorHits: 1,
    refreshes: 2,
    runFailures: 1,
  });
  cacheOf(eur.price).cacheClear();
  assert.deepEqual(statsOf(cacheOf(eur.price)), ZERO_STATS);
  assert.deepEqual(statsOf(cacheOf(usd.price)), { ...ZERO_STATS, misses: 1 });
  await cacheOf(eur.price).cacheClose();
  await cacheOf(usd.price).cacheClose();
  assert.equal(clock.pending, 0);
});

Deno.test("an onEvent that is not a function fails when the class is defined, naming onEvent", () => {
  assert.throws(
    () => alruCache({ onEvent: "console.log" as never }),
    (error: unknown) =>
      error instanceof TypeError && /onEvent/.test(error.message),
  );
});

// ---------------------------------------------------------------------------
// Random operation sequences

type Op =
  | { t: "call"; key: number; sync: boolean }
  | { t: "refresh"; key: number }
  | { t: "settle"; pick: number; ok: boolean }
  | { t: "settleAll" }
  | { t: "advance"; ms: number }
  | { t: "invalidate"; key: number }
  | { t: "contains"; key: number }
  | { t: "clear" };

// Mostly two keys, so that entries live long enough to turn stale.
const keyArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, 1) },
  { weight: 1, arbitrary: fc.nat({ max: 3 }) },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant("call" as const),
      key: keyArb,
      sync: fc.oneof(
        { weight: 9, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("refresh" as const), key: keyArb }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant("settle" as const),
      pick: fc.nat({ max: 7 }),
      ok: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ t: "settleAll" as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("advance" as const),
      ms: fc.constantFrom(0, 1, 3, 5, 10, 12),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("invalidate" as const),
      key: keyArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("contains" as const), key: keyArb }),
  },
  { weight: 1, arbitrary: fc.constant({ t: "clear" as const }) },
);

const configArb: fc.Arbitrary<Config> = fc.record({
  maxSize: fc.constantFrom(1, 2, 3, Infinity),
  staleWhileRevalidate: fc.constantFrom(null, 0, 20, 20),
  staleIfError: fc.constantFrom(null, 20),
  errorTtl: fc.constantFrom(0, 8),
});

interface Config {
  maxSize: number;
  staleWhileRevalidate: number | null;
  staleIfError: number | null;
  errorTtl: number;
}

async function runOps(config: Config, ops: Op[]): Promise<void> {
  const clock = new ManualClock();
  const pending: Deferred<number>[] = [];
  let syncThrow = false;
  let events: Seen[] = [];
  const cached = alruCache((key: number) => {
    if (syncThrow) throw new Error(`sync ${key}`);
    const run = deferred<number>();
    pending.push(run);
    return run.promise;
  }, {
    maxSize: config.maxSize,
    ttl: 10,
    errorTtl: config.errorTtl,
    // Set to undefined, an option is refused: leave unset ones out.
    ...(config.staleWhileRevalidate === null
      ? {}
      : { staleWhileRevalidate: config.staleWhileRevalidate }),
    ...(config.staleIfError === null
      ? {}
      : { staleIfError: config.staleIfError }),
    clock,
    onEvent: (event) => events.push(ev(event.type, event.key)),
  });
  const ignore = (promise: Promise<unknown>) => promise.catch(() => {});
  const check = (label: string) => {
    const stats = statsOf(cached);
    const info = cached.cacheInfo();
    const count = (type: string) =>
      events.filter((e) => e.type === type).length;
    assert.equal(stats.hits, info.hits, label);
    assert.equal(stats.misses, info.misses, label);
    assert.ok(stats.hits >= stats.staleHits + stats.errorHits, label);
    for (const name of STAT_NAMES) {
      assert.ok(Number.isInteger(stats[name]) && stats[name] >= 0, name);
    }
    // One event type per counter: the events, counted, are the counters.
    assert.deepEqual(countersOfEvents(events), stats, label);
    assert.ok(count("error") >= stats.refreshFailures, `${label}: errors`);
    assert.ok(events.every((e) => [0, 1, 2, 3].includes(e.key as number)));
    assert.ok(info.currSize <= config.maxSize, `${label}: currSize`);
    assertWhole(cached);
  };

  for (const [index, op] of ops.entries()) {
    const before = statsOf(cached);
    switch (op.t) {
      case "call":
        syncThrow = op.sync;
        ignore(cached(op.key));
        syncThrow = false;
        break;
      case "refresh":
        ignore(cached.cacheRefresh(op.key));
        break;
      case "settle": {
        if (pending.length === 0) break;
        const [run] = pending.splice(op.pick % pending.length, 1);
        if (op.ok) run.resolve(op.pick);
        else run.reject(new Error(`run failed`));
        break;
      }
      case "settleAll":
        for (const run of pending.splice(0)) run.resolve(-1);
        break;
      case "advance":
        clock.advance(op.ms);
        break;
      case "invalidate":
        cached.cacheInvalidate(op.key);
        break;
      case "contains":
        cached.cacheContains(op.key);
        assert.deepEqual(
          statsOf(cached),
          before,
          "cacheContains counts nothing",
        );
        break;
      case "clear":
        cached.cacheClear();
        events = [];
        assert.deepEqual(statsOf(cached), ZERO_STATS, "cacheClear resets");
        break;
    }
    await flush();
    check(`op ${index} ${JSON.stringify(op)}`);
  }
  for (const run of pending.splice(0)) run.resolve(-1);
  await flush();
  clock.advance(1_000);
  check("after everything settled and expired");
  await cached.cacheClose();
  assert.equal(clock.pending, 0);
}

Deno.test("random operation sequences keep cacheStats consistent with cacheInfo and with the events", async () => {
  await withoutUnhandledRejections(async () => {
    await fc.assert(
      fc.asyncProperty(
        configArb,
        fc.array(opArb, { minLength: 10, maxLength: 80, size: "max" }),
        runOps,
      ),
      { numRuns: 400 },
    );
  });
});
