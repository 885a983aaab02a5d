/**
 * docs/behaviour.md §11: staleWhileRevalidate, staleIfError and errorTtl, alone and
 * together. Time is a ManualClock throughout, and every run of fn is counted
 * and settled by hand, so each assertion says exactly when a run starts and
 * what its callers get.
 */
import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import {
  assertStats,
  assertWhole,
  flush,
  pendingRunsCache,
  rejectionOf,
  seen,
  withoutUnhandledRejections,
} from "./_helpers.ts";

/** Counts the promises among `calls` that have settled after a flush. */
async function settledNow(calls: Promise<unknown>[]): Promise<number> {
  let settled = 0;
  for (const call of calls) call.then(() => settled++, () => settled++);
  await flush();
  return settled;
}

/** Fresh for 100 ms, then stale for 50 ms. */
const SWR = { ttl: 100, staleWhileRevalidate: 50 };

Deno.test("100 concurrent stale callers resolve at once with the stale value and start exactly one run", async () => {
  const { cached, clock, runs, events, answer } = pendingRunsCache(SWR);
  const v1 = { version: 1 };
  assert.equal(await answer(cached("a"), v1), v1);

  clock.advance(100);
  assert.equal(cached.cacheContains("a"), true, "a stale entry is an entry");
  assert.equal(cached.cacheInfo().currSize, 1);
  events.length = 0;

  const calls = Array.from({ length: 100 }, () => cached("a"));
  assert.equal(runs.length, 2, "the first stale hit called fn synchronously");
  assert.deepEqual([runs[1].key, runs[1].at], ["a", 100]);
  assert.equal(await settledNow(calls), 100, "nobody waits for the refresh");
  for (const value of await Promise.all(calls)) assert.equal(value, v1);
  assert.equal(runs.length, 2, "one run for all 100 stale hits");
  assert.equal(cached.cacheParameters().tasks, 1, "the refresh is a task");
  assert.deepEqual(events, [
    seen("hit"),
    seen("stale"),
    seen("refresh"),
    ...Array.from({ length: 99 }, () => [seen("hit"), seen("stale")]).flat(),
  ]);
  assertStats(cached, { hits: 100, misses: 1, staleHits: 100, refreshes: 1 });
  assert.deepEqual(cached.cacheInfo(), {
    hits: 100,
    misses: 1,
    maxSize: 128,
    currSize: 1,
  });

  const v2 = { version: 2 };
  runs[1].settle.resolve(v2);
  await flush();
  assert.equal(cached.cacheParameters().tasks, 0);
  assert.equal(await cached("a"), v2, "the refresh replaced the entry");
  assert.equal(runs.length, 2);
  assertStats(cached, { hits: 101, misses: 1, staleHits: 100, refreshes: 1 });
  assertWhole(cached);
  await cached.cacheClose();
  assert.equal(clock.pending, 0);
});

Deno.test("a successful refresh replaces the entry with a fresh one timed from when it settled", async () => {
  const { cached, clock, runs, events, answer } = pendingRunsCache(SWR);
  await answer(cached("a"), { version: 1 });
  clock.advance(100);
  await cached("a"); // stale hit, refresh starts at t=100
  clock.advance(20);
  const v2 = { version: 2 };
  runs[1].settle.resolve(v2);
  await flush();
  events.length = 0;

  // The old stale window (ending at t=150) no longer applies.
  clock.advance(99); // t=219: still fresh
  assert.equal(await cached("a"), v2);
  assert.deepEqual(events, [seen("hit")]);
  assert.equal(runs.length, 2, "a fresh hit starts no refresh");
  assertStats(cached, { hits: 2, misses: 1, staleHits: 1, refreshes: 1 });

  // Fresh until t=220, then stale until t=270.
  clock.advance(50); // t=269
  assert.equal(cached.cacheContains("a"), true);
  assert.equal(cached.cacheStats().expirations, 0);
  clock.advance(1); // t=270
  assert.equal(cached.cacheContains("a"), false);
  assert.deepEqual(events.at(-1), seen("expire"));
  assert.equal(cached.cacheStats().expirations, 1);
  assert.equal(clock.pending, 0);
  assertWhole(cached);
});

Deno.test("a stale entry expires at the end of its stale window, not of its freshness", async () => {
  const { cached, clock, runs, events, answer } = pendingRunsCache(SWR);
  await answer(cached("a"), { version: 1 });
  events.length = 0;

  clock.advance(100);
  assert.deepEqual(events, [], "turning stale is not an expiry");
  assert.equal(cached.cacheStats().expirations, 0);
  clock.advance(49);
  assert.equal(cached.cacheContains("a"), true);
  clock.advance(1);
  assert.equal(cached.cacheContains("a"), false);
  assert.deepEqual(events, [seen("expire")]);
  assertStats(cached, { misses: 1, expirations: 1 });
  assert.equal(clock.pending, 0, "no timer once nothing waits to expire");

  const next = cached("a");
  assert.equal(runs.length, 2, "after the stale window a call is a miss");
  assert.deepEqual(await answer(next, { version: 2 }), { version: 2 });
  assertStats(cached, { misses: 2, expirations: 1 });
  await cached.cacheClose();
});

Deno.test("jitter lengthens the lifetime, and the stale window follows it", async () => {
  const { cached, clock, runs, answer } = pendingRunsCache({
    ttl: 100,
    jitter: 100,
    random: () => 0.5,
    staleWhileRevalidate: 50,
  });
  await answer(cached("a"), { version: 1 });
  clock.advance(149);
  await cached("a");
  assert.equal(runs.length, 1, "fresh for ttl + 50 ms of jitter");
  clock.advance(1);
  await answer(cached("a"), new Error("down"));
  assert.equal(runs.length, 2, "stale from t=150");
  await flush();
  clock.advance(49);
  assert.equal(cached.cacheContains("a"), true);
  clock.advance(1);
  assert.equal(cached.cacheContains("a"), false, "gone at t=200");
});

Deno.test("a failed refresh leaves the stale entry as it was; with errorTtl 0 the next stale hit refreshes again, one at a time", async () => {
  await withoutUnhandledRejections(async () => {
    const { cached, clock, runs, events, answer } = pendingRunsCache(SWR);
    const v1 = { version: 1 };
    await answer(cached("a"), v1);
    clock.advance(100);
    events.length = 0;

    assert.equal(await cached("a"), v1);
    clock.advance(10);
    runs[1].settle.reject(new Error("refresh failed"));
    await flush();
    assert.deepEqual(events, [
      seen("hit"),
      seen("stale"),
      seen("refresh"),
      seen("error"),
      seen("refreshFailure"),
    ]);
    assertStats(cached, {
      hits: 1,
      misses: 1,
      staleHits: 1,
      refreshes: 1,
      refreshFailures: 1,
      runFailures: 1,
    });
    assert.equal(cached.cacheContains("a"), true);
    assert.equal(cached.cacheParameters().tasks, 0);

    clock.advance(10); // t=120
    assert.equal(await cached("a"), v1, "still the stale value");
    assert.equal(runs.length, 3, "nothing kept the failure: a new refresh");
    assert.equal(await cached("a"), v1);
    assert.equal(runs.length, 3, "one refresh at a time");
    clock.advance(10);
    runs[2].settle.reject(new Error("failed again"));
    await flush();
    assertStats(cached, {
      hits: 3,
      misses: 1,
      staleHits: 3,
      refreshes: 2,
      refreshFailures: 2,
      runFailures: 2,
    });

    // Failures did not extend the stale window, which ends at t=150.
    clock.advance(19);
    assert.equal(cached.cacheContains("a"), true);
    clock.advance(1);
    assert.equal(cached.cacheContains("a"), false);
    assert.equal(cached.cacheStats().expirations, 1);
    assertWhole(cached);
    assert.equal(clock.pending, 0);
  });
});

Deno.test("a stale entry counts in currSize and LRU order, and eviction may drop it", async () => {
  const { cached, clock, runs, events, answer } = pendingRunsCache({
    maxSize: 2,
    ttl: 100,
    staleWhileRevalidate: 1_000,
  });
  await answer(cached("a"), { version: 1 });
  clock.advance(50);
  await answer(cached("b"), { version: 1 });
  clock.advance(50); // a stale, b fresh
  assert.equal(cached.cacheInfo().currSize, 2);
  events.length = 0;

  const c = cached("c"); // a, the least recently used, goes
  assert.deepEqual(events, [seen("evict", "a"), seen("miss", "c")]);
  assert.equal(cached.cacheContains("a"), false);
  assert.equal(cached.cacheStats().evictions, 1);
  await answer(c, { version: 1 });

  clock.advance(50); // b stale too, c fresh; order b, c
  events.length = 0;
  await cached("b"); // a stale hit makes b the most recent; refresh pending
  const d = cached("d");
  assert.deepEqual(events, [
    seen("hit", "b"),
    seen("stale", "b"),
    seen("refresh", "b"),
    seen("evict", "c"),
    seen("miss", "d"),
  ]);
  assert.equal(cached.cacheContains("b"), true);
  runs[3].settle.resolve({ version: 2 });
  await answer(d, { version: 1 });
  await flush();
  assert.deepEqual(await cached("b"), { version: 2 });
  assertWhole(cached);
  await cached.cacheClose();
});

Deno.test("staleIfError answers the callers of a failed miss with the last good value within its window, and rejects after it", async () => {
  await withoutUnhandledRejections(async () => {
    const { cached, clock, runs, answer } = pendingRunsCache({
      ttl: 100,
      staleIfError: 50,
    });
    const v1 = { version: 1 };
    await answer(cached("a"), v1);

    clock.advance(100);
    assert.equal(cached.cacheContains("a"), false, "a fallback is no entry");
    assert.equal(cached.cacheInfo().currSize, 0);

    clock.advance(20); // t=120
    const calls = [cached("a"), cached("a"), cached("a")];
    assert.equal(runs.length, 2, "the call after expiry is a miss and runs fn");
    runs[1].settle.reject(new Error("upstream down"));
    for (const value of await Promise.all(calls)) assert.equal(value, v1);
    assert.deepEqual(cached.cacheInfo(), {
      hits: 2,
      misses: 2,
      maxSize: 128,
      currSize: 0,
    });
    assert.equal(
      cached.cacheContains("a"),
      false,
      "the failure stored nothing",
    );

    clock.advance(29); // t=149: the value expired 49 ms ago
    assert.equal(await answer(cached("a"), new Error("still down")), v1);

    clock.advance(1); // t=150: 50 ms ago, no longer less than staleIfError
    const reason = new Error("down for good");
    assert.equal(await rejectionOf(answer(cached("a"), reason)), reason);

    // A new good value becomes the fallback once it expires in turn.
    const v5 = { version: 5 };
    assert.equal(await answer(cached("a"), v5), v5);
    clock.advance(100);
    assert.equal(await answer(cached("a"), new Error("down")), v5);
    assert.equal(runs.length, 6);
    assertWhole(cached);
    await cached.cacheClose();
    assert.equal(clock.pending, 0);
  });
});

Deno.test("staleIfError's window starts when the lifetime ends, not the stale window", async () => {
  const { cached, clock, answer } = pendingRunsCache({
    ttl: 100,
    staleWhileRevalidate: 20,
    staleIfError: 50,
  });
  const v1 = { version: 1 };
  await answer(cached("a"), v1);
  clock.advance(120);
  assert.equal(cached.cacheContains("a"), false, "the stale window is over");
  clock.advance(29); // t=149
  assert.equal(await answer(cached("a"), new Error("down")), v1);
  clock.advance(1); // t=150
  const reason = new Error("down");
  assert.equal(await rejectionOf(answer(cached("a"), reason)), reason);
  await cached.cacheClose();
});

Deno.test("cacheInvalidate and cacheClear forget staleIfError fallbacks", async () => {
  const { cached, clock, answer } = pendingRunsCache({
    ttl: 100,
    staleIfError: 1_000,
  });
  for (const [version, key] of ["a", "b", "c"].entries()) {
    await answer(cached(key), { version });
  }
  clock.advance(100);

  cached.cacheInvalidate("a");
  const reasonA = new Error("a down");
  assert.equal(
    await rejectionOf(answer(cached("a"), reasonA)),
    reasonA,
    "no fallback after cacheInvalidate",
  );
  assert.deepEqual(
    await answer(cached("b"), new Error("b down")),
    { version: 1 },
    "other keys keep theirs",
  );

  cached.cacheClear();
  const reasonC = new Error("c down");
  assert.equal(
    await rejectionOf(answer(cached("c"), reasonC)),
    reasonC,
    "no fallback after cacheClear",
  );
  await cached.cacheClose();
});

Deno.test("at most maxSize staleIfError fallbacks are kept, the oldest forgotten first", async () => {
  const { cached, clock, answer } = pendingRunsCache({
    maxSize: 2,
    ttl: 100,
    staleIfError: 10_000,
  });
  // Each value expires before the next is loaded: no eviction, only expiry.
  for (const [version, key] of ["a", "b", "c"].entries()) {
    await answer(cached(key), { version });
    clock.advance(110);
  }
  assert.equal(cached.cacheInfo().currSize, 0);

  const reason = new Error("a down");
  assert.equal(
    await rejectionOf(answer(cached("a"), reason)),
    reason,
    "a's fallback was the oldest",
  );
  const b = await answer(cached("b"), new Error("b down"));
  assert.deepEqual(b, { version: 1 });
  const c = await answer(cached("c"), new Error("c down"));
  assert.deepEqual(c, { version: 2 });
  await cached.cacheClose();
});

Deno.test("errorTtl keeps a rejection: calls within it are error hits with the same reason object, then it expires", async () => {
  const { cached, clock, runs, events, answer } = pendingRunsCache({
    errorTtl: 100,
  });
  const first = [cached("a"), cached("a"), cached("a")].map(rejectionOf);
  const reason = new Error("upstream down");
  runs[0].settle.reject(reason);
  for (const seen of await Promise.all(first)) assert.equal(seen, reason);
  assert.deepEqual(events, [
    seen("miss"),
    seen("hit"),
    seen("hit"),
    seen("error"),
  ]);
  events.length = 0;

  clock.advance(99);
  assert.equal(await rejectionOf(cached("a")), reason);
  assert.equal(await rejectionOf(cached("a")), reason);
  assert.equal(runs.length, 1, "a kept failure runs nothing");
  assert.deepEqual(events, [
    seen("hit"),
    seen("errorHit"),
    seen("hit"),
    seen("errorHit"),
  ]);
  assertStats(cached, { hits: 4, misses: 1, errorHits: 2, runFailures: 1 });

  clock.advance(1);
  assert.deepEqual(events.at(-1), seen("expire"));
  assert.equal(cached.cacheStats().expirations, 1);
  assert.equal(clock.pending, 0);
  const next = cached("a");
  assert.equal(runs.length, 2, "after errorTtl the next call is a miss");
  assert.deepEqual(await answer(next, { version: 2 }), { version: 2 });
  assertStats(cached, {
    hits: 4,
    misses: 2,
    errorHits: 2,
    expirations: 1,
    runFailures: 1,
  });
  assertWhole(cached);
  await cached.cacheClose();
});

Deno.test("errorTtl as a function takes the error and the arguments and sets each failure's lifetime", async () => {
  const clock = new ManualClock();
  const seen: [unknown, unknown][] = [];
  let runs = 0;
  class Busy extends Error {
    constructor(readonly retryAfter: number) {
      super("busy");
    }
  }
  const cached = alruCache(async (wait: number): Promise<number> => {
    runs++;
    throw new Busy(await Promise.resolve(wait));
  }, {
    errorTtl: (error, args) => {
      seen.push([error, args]);
      return (error as Busy).retryAfter;
    },
    clock,
  });
  const thirty = await rejectionOf(cached(30));
  const eighty = await rejectionOf(cached(80));
  assert.deepEqual(seen, [[thirty, [30]], [eighty, [80]]]);
  clock.advance(29);
  assert.equal(await rejectionOf(cached(30)), thirty);
  clock.advance(1);
  await rejectionOf(cached(30));
  assert.equal(runs, 3, "the 30 ms failure was gone at t=30");
  assert.equal(await rejectionOf(cached(80)), eighty);
  clock.advance(50);
  await rejectionOf(cached(80));
  assert.equal(runs, 4, "the 80 ms failure was gone at t=80");
  await cached.cacheClose();
});

const badErrorTtls: [string, (error: unknown) => number][] = [
  ["throws", () => {
    throw new Error("errorTtl broke");
  }],
  ["returns a negative number", () => -1],
  ["returns NaN", () => NaN],
  ["returns a string", () => "10" as unknown as number],
];

for (const [label, errorTtl] of badErrorTtls) {
  Deno.test(`an errorTtl function that ${label} keeps nothing and rejects with a RangeError naming errorTtl whose cause is the reason`, async () => {
    await withoutUnhandledRejections(async () => {
      const { cached, runs, answer } = pendingRunsCache({ errorTtl });
      const calls = [cached("a"), cached("a")].map(rejectionOf);
      const reason = new Error("upstream down");
      runs[0].settle.reject(reason);
      const [first, second] = await Promise.all(calls);
      assert.ok(first instanceof RangeError, Deno.inspect(first));
      assert.match(first.message, /errorTtl/);
      assert.equal(first.cause, reason);
      assert.equal(second, first, "every caller gets the same reason");
      assert.equal(cached.cacheContains("a"), false);
      assert.equal(cached.cacheInfo().currSize, 0);
      const next = cached("a");
      assert.equal(runs.length, 2, "nothing was kept");
      await answer(next, { version: 1 });
      await cached.cacheClose();
    });
  });
}

Deno.test("with errorTtl, a synchronous throw from fn is not kept, counted or reported", async () => {
  const clock = new ManualClock();
  const events: string[] = [];
  let runs = 0;
  const reason = new Error("sync");
  const cached = alruCache((_key: string): Promise<number> => {
    runs++;
    throw reason;
  }, { errorTtl: 100, clock, onEvent: (event) => events.push(event.type) });
  assert.equal(await rejectionOf(cached("a")), reason);
  assert.equal(await rejectionOf(cached("a")), reason);
  assert.equal(runs, 2);
  assert.deepEqual(events, []);
  assertStats(cached, {});
  assert.equal(clock.pending, 0);
});

Deno.test("a kept failure meets a stale value: stale hits without runs, then error hits once the stale window ends", async () => {
  await withoutUnhandledRejections(async () => {
    const { cached, clock, runs, events, answer } = pendingRunsCache({
      ttl: 100,
      staleWhileRevalidate: 50,
      errorTtl: 200,
    });
    const v1 = { version: 1 };
    await answer(cached("a"), v1);
    clock.advance(100);
    const reason = new Error("refresh failed");
    assert.equal(await answer(cached("a"), reason), v1); // kept until t=300
    await flush();

    clock.advance(20); // t=120
    assert.equal(await cached("a"), v1);
    assert.equal(await cached("a"), v1);
    assert.equal(runs.length, 2, "the kept failure stops new refreshes");
    assert.equal(cached.cacheContains("a"), true);
    assertStats(cached, {
      hits: 3,
      misses: 1,
      staleHits: 3,
      refreshes: 1,
      refreshFailures: 1,
      runFailures: 1,
    });

    clock.advance(30); // t=150: the stale window ends
    events.length = 0;
    clock.advance(10);
    assert.equal(await rejectionOf(cached("a")), reason);
    assert.equal(await rejectionOf(cached("a")), reason);
    assert.equal(runs.length, 2);
    assert.deepEqual(events, [
      seen("hit"),
      seen("errorHit"),
      seen("hit"),
      seen("errorHit"),
    ]);
    assert.equal(cached.cacheStats().errorHits, 2);

    clock.advance(139); // t=299
    assert.equal(await rejectionOf(cached("a")), reason);
    clock.advance(1); // t=300: the kept failure leaves
    assert.deepEqual(events.at(-1), seen("expire"));
    const next = cached("a");
    assert.equal(runs.length, 3, "a miss once the failure is no longer kept");
    assert.deepEqual(await answer(next, { version: 3 }), { version: 3 });
    assertStats(cached, {
      hits: 6,
      misses: 2,
      staleHits: 3,
      errorHits: 3,
      refreshes: 1,
      refreshFailures: 1,
      expirations: 2,
      runFailures: 1,
    });
    assertWhole(cached);
    await cached.cacheClose();
    assert.equal(clock.pending, 0);
  });
});

Deno.test("a kept failure meets a staleIfError fallback: calls resolve with it and run nothing", async () => {
  const { cached, clock, runs, events, answer } = pendingRunsCache({
    ttl: 100,
    staleIfError: 1_000,
    errorTtl: 50,
  });
  const v1 = { version: 1 };
  await answer(cached("a"), v1);
  clock.advance(100);
  assert.equal(await answer(cached("a"), new Error("down")), v1);
  events.length = 0; // the failure is kept until t=150

  clock.advance(49);
  assert.equal(await cached("a"), v1);
  assert.equal(runs.length, 2, "a stale hit, no run");
  assert.deepEqual(events, [seen("hit"), seen("stale")]);
  assert.equal(cached.cacheStats().staleHits, 1);
  assert.equal(cached.cacheStats().errorHits, 0);

  clock.advance(1);
  const after = cached("a");
  assert.equal(runs.length, 3, "once the failure leaves, a call runs fn");
  assert.deepEqual(await answer(after, { version: 3 }), { version: 3 });
  await cached.cacheClose();
});

// A 1,000-call storm on a failing upstream, in 10 steps of 25 ms over two
// keys; whatever the cache serves, fn may see a key at most once per errorTtl.
const storms: {
  label: string;
  options: {
    ttl?: number;
    staleWhileRevalidate?: number;
    staleIfError?: number;
  };
  answered: "rejected" | "stale";
}[] = [
  { label: "errorTtl alone", options: {}, answered: "rejected" },
  {
    label: "errorTtl with staleWhileRevalidate",
    options: { ttl: 100, staleWhileRevalidate: 10_000 },
    answered: "stale",
  },
  {
    label: "errorTtl with staleIfError",
    options: { ttl: 100, staleIfError: 10_000 },
    answered: "stale",
  },
];

for (const { label, options, answered } of storms) {
  Deno.test(`${label}: a failing upstream sees at most one attempt per key per errorTtl under a 1,000-call storm`, async () => {
    await withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      let failing = answered === "rejected";
      const attempts = new Map<string, number[]>([["a", []], ["b", []]]);
      const cached = alruCache(async (key: string) => {
        attempts.get(key)!.push(clock.now());
        await Promise.resolve();
        if (failing) throw new Error(`${key} down at ${clock.now()}`);
        return { key };
      }, { ...options, errorTtl: 100, clock });
      if (answered === "stale") {
        await cached("a");
        await cached("b");
        clock.advance(100);
        failing = true;
      }
      const good = answered === "stale" ? 1 : 0;
      const start = clock.now();

      let rejected = 0;
      for (let step = 0; step < 10; step++) {
        const calls = Array.from(
          { length: 100 },
          (_, i) => cached(i % 2 === 0 ? "a" : "b"),
        );
        for (const outcome of await Promise.allSettled(calls)) {
          if (outcome.status === "rejected") rejected++;
          else assert.deepEqual(Object.keys(outcome.value), ["key"]);
        }
        clock.advance(25);
        await flush();
      }
      assert.equal(rejected, answered === "rejected" ? 1_000 : 0);
      for (const [key, times] of attempts) {
        // Steps at start + 0, 25, ..., 225: attempts at +0, +100, +200.
        assert.deepEqual(
          times.slice(good),
          [start, start + 100, start + 200],
          `attempts for ${key}`,
        );
      }
      const stats = cached.cacheStats();
      assert.equal(stats.hits + stats.misses, 1_000 + good * 2);
      // Without a value to serve, every call but those of the three steps
      // that started or joined a run is an error hit.
      assert.equal(stats.errorHits, answered === "rejected" ? 700 : 0);
      assertWhole(cached);
      await cached.cacheClose();
      assert.equal(clock.pending, 0);
    });
  });
}
