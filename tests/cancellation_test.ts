import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import { deferred, flush, watchListeners } from "./_helpers.ts";

/** A function that takes the shared signal, records each run, and settles by hand. */
function controllable<T>() {
  const runs: {
    signal: AbortSignal;
    finish(value: T): void;
    fail(reason: unknown): void;
  }[] = [];
  let finished = 0;
  const fn = (_key: string, signal: AbortSignal) => {
    const work = deferred<T>();
    runs.push({ signal, finish: work.resolve, fail: work.reject });
    return work.promise.then((value) => {
      finished++;
      return value;
    });
  };
  return { fn, runs, finished: () => finished };
}

Deno.test("three waiters abort one by one: the shared signal aborts only after the third", async () => {
  const { fn, runs, finished } = controllable<string>();
  const load = alruCache(fn, { signal: true });
  const callers = [
    new AbortController(),
    new AbortController(),
    new AbortController(),
  ];
  const calls = callers.map((caller) => load.withSignal(caller.signal, "k"));
  const outcomes = calls.map((call) =>
    call.then(() => "resolved", (reason) => reason)
  );

  assert.equal(runs.length, 1);
  callers[0].abort(new Error("first"));
  callers[1].abort(new Error("second"));
  await flush();
  assert.equal(runs[0].signal.aborted, false);
  assert.equal(load.cacheContains("k"), true);
  const third = new Error("third");
  callers[2].abort(third);
  assert.equal(runs[0].signal.aborted, true);
  assert.equal(runs[0].signal.reason, third);

  const reasons = await Promise.all(outcomes);
  assert.deepEqual(reasons.map((reason) => (reason as Error).message), [
    "first",
    "second",
    "third",
  ]);
  assert.equal(runs.length, 1);
  assert.equal(finished(), 0);
  assert.equal(load.cacheContains("k"), false);
  assert.deepEqual(load.cacheInfo(), {
    hits: 2,
    misses: 1,
    maxSize: 128,
    currSize: 0,
  });
  assert.equal(load.cacheParameters().tasks, 0);

  // The next call is a miss that starts fresh work with a fresh signal.
  const next = load("k");
  assert.equal(runs.length, 2);
  assert.equal(runs[1].signal.aborted, false);
  runs[1].finish("fresh");
  assert.equal(await next, "fresh");
  assert.equal(load.cacheInfo().misses, 2);
});

Deno.test("the creator aborts and a joiner still gets the value", async () => {
  const { fn, runs } = controllable<string>();
  const load = alruCache(fn, { signal: true });
  const creator = new AbortController();
  const joiner = new AbortController();
  const created = load.withSignal(creator.signal, "k");
  const joined = load.withSignal(joiner.signal, "k");
  creator.abort();
  await assert.rejects(created, { name: "AbortError" });
  assert.equal(runs[0].signal.aborted, false);
  runs[0].finish("value");
  assert.equal(await joined, "value");
  assert.equal(await load("k"), "value");
  assert.deepEqual(load.cacheInfo(), {
    hits: 2,
    misses: 1,
    maxSize: 128,
    currSize: 1,
  });
});

Deno.test("a plain caller keeps shared work alive when every signal caller aborts", async () => {
  const { fn, runs } = controllable<string>();
  const load = alruCache(fn, { signal: true });
  const withSignal = new AbortController();
  const signalCall = load.withSignal(withSignal.signal, "k");
  const plainCall = load("k");
  withSignal.abort();
  await assert.rejects(signalCall, { name: "AbortError" });
  assert.equal(runs[0].signal.aborted, false);
  runs[0].finish("kept");
  assert.equal(await plainCall, "kept");
});

Deno.test("a plain creator keeps shared work alive when a signal joiner aborts", async () => {
  const { fn, runs } = controllable<string>();
  const load = alruCache(fn, { signal: true });
  const plainCall = load("k");
  const joiner = new AbortController();
  const joined = load.withSignal(joiner.signal, "k");
  joiner.abort();
  await assert.rejects(joined, { name: "AbortError" });
  assert.equal(runs[0].signal.aborted, false);
  runs[0].finish("kept");
  assert.equal(await plainCall, "kept");
});

Deno.test("a waiter aborts, then the work rejects: no unhandled rejection, entry gone", async () => {
  const { fn, runs } = controllable<string>();
  const load = alruCache(fn, { signal: true });
  const leaving = new AbortController();
  const staying = new AbortController();
  const left = load.withSignal(leaving.signal, "k");
  const stayed = load.withSignal(staying.signal, "k");
  leaving.abort();
  await assert.rejects(left, { name: "AbortError" });
  const failure = new Error("backend down");
  runs[0].fail(failure);
  await assert.rejects(stayed, (reason) => reason === failure);
  await flush();
  assert.equal(load.cacheContains("k"), false);
  assert.equal(load.cacheInfo().currSize, 0);
});

Deno.test("every waiter aborts, then the work rejects late: nothing surfaces", async () => {
  const { fn, runs } = controllable<string>();
  const load = alruCache(fn, { signal: true });
  const caller = new AbortController();
  const call = load.withSignal(caller.signal, "k");
  caller.abort();
  await assert.rejects(call, { name: "AbortError" });
  runs[0].fail(new Error("late failure"));
  runs[0].finish("ignored");
  await flush();
  assert.equal(load.cacheInfo().currSize, 0);
});

Deno.test("cacheClose without wait aborts the shared signal and rejects waiters with AbortError", async () => {
  const { fn, runs } = controllable<string>();
  const load = alruCache(fn, { signal: true });
  const caller = new AbortController();
  const withSignal = load.withSignal(caller.signal, "a");
  const plain = load("b");
  await load.cacheClose();
  assert.equal(runs[0].signal.aborted, true);
  assert.equal(runs[1].signal.aborted, true);
  assert.equal((runs[0].signal.reason as DOMException).name, "AbortError");
  await assert.rejects(withSignal, { name: "AbortError" });
  await assert.rejects(plain, { name: "AbortError" });
  assert.equal(load.cacheInfo().currSize, 0);
  // Aborting the caller afterwards changes nothing.
  caller.abort();
});

Deno.test("cacheClose with wait aborts nothing and waits for the work", async () => {
  const { fn, runs } = controllable<string>();
  const load = alruCache(fn, { signal: true });
  const caller = new AbortController();
  const call = load.withSignal(caller.signal, "a");
  const closing = load.cacheClose({ wait: true });
  await flush();
  assert.equal(runs[0].signal.aborted, false);
  runs[0].finish("done");
  await closing;
  assert.equal(await call, "done");
  assert.equal(load.cacheContains("a"), true);
});

Deno.test("aborting the callers of one key never touches another key", async () => {
  const { fn, runs } = controllable<string>();
  const load = alruCache(fn, { signal: true });
  const callerA = new AbortController();
  const callerB = new AbortController();
  const a = load.withSignal(callerA.signal, "a");
  const b = load.withSignal(callerB.signal, "b");
  callerA.abort();
  await assert.rejects(a, { name: "AbortError" });
  assert.equal(runs[0].signal.aborted, true);
  assert.equal(runs[1].signal.aborted, false);
  assert.equal(load.cacheContains("a"), false);
  assert.equal(load.cacheContains("b"), true);
  runs[1].finish("b");
  assert.equal(await b, "b");
});

Deno.test("an already-aborted signal rejects at once: fn not called, nothing counted", async () => {
  let calls = 0;
  const load = alruCache((key: string) => {
    calls++;
    return Promise.resolve(key);
  });
  const reason = new Error("gave up");
  await assert.rejects(
    load.withSignal(AbortSignal.abort(reason), "k"),
    (error) => error === reason,
  );
  assert.equal(calls, 0);
  assert.deepEqual(load.cacheInfo(), {
    hits: 0,
    misses: 0,
    maxSize: 128,
    currSize: 0,
  });
  // Also on a hit: the settled entry is not handed out, nothing counted.
  await load("k");
  await assert.rejects(load.withSignal(AbortSignal.abort(), "k"), {
    name: "AbortError",
  });
  assert.deepEqual(load.cacheInfo(), {
    hits: 0,
    misses: 1,
    maxSize: 128,
    currSize: 1,
  });
});

Deno.test("withSignal counts hits and misses by the usual rules", async () => {
  const load = alruCache((key: string) => Promise.resolve(key));
  const signal = new AbortController().signal;
  assert.equal(await load.withSignal(signal, "k"), "k");
  assert.equal(await load.withSignal(signal, "k"), "k");
  const burst = await Promise.all(
    Array.from({ length: 10 }, () => load.withSignal(signal, "new")),
  );
  assert.ok(burst.every((value) => value === "new"));
  assert.deepEqual(load.cacheInfo(), {
    hits: 10,
    misses: 2,
    maxSize: 128,
    currSize: 2,
  });
});

Deno.test("abort after settlement is a no-op", async () => {
  const { fn, runs } = controllable<string>();
  const load = alruCache(fn, { signal: true });
  const caller = new AbortController();
  const call = load.withSignal(caller.signal, "k");
  runs[0].finish("value");
  // Settled, but the caller's continuation has not run yet.
  await flush(1);
  caller.abort();
  assert.equal(await call, "value");
  assert.equal(runs[0].signal.aborted, false);
  assert.equal(load.cacheContains("k"), true);
  caller.abort(); // twice, still nothing
  assert.equal(
    await load.withSignal(caller.signal, "other").catch(() => "rejected"),
    "rejected",
  );
});

Deno.test("eviction, invalidate and clear never abort the shared signal", async () => {
  const { fn, runs } = controllable<string>();
  const load = alruCache(fn, { signal: true, maxSize: 1 });
  const callers = [
    new AbortController(),
    new AbortController(),
    new AbortController(),
  ];
  const evicted = load.withSignal(callers[0].signal, "a");
  load("b"); // evicts "a"
  assert.equal(load.cacheContains("a"), false);
  const invalidated = load.withSignal(callers[1].signal, "c"); // evicts "b"
  load.cacheInvalidate("c");
  const cleared = load.withSignal(callers[2].signal, "d");
  load.cacheClear();
  for (const run of runs) assert.equal(run.signal.aborted, false);
  runs.forEach((run, index) => run.finish(`value ${index}`));
  assert.equal(await evicted, "value 0");
  assert.equal(await invalidated, "value 2");
  assert.equal(await cleared, "value 3");
});

Deno.test("detached work still stops when its last waiter aborts", async () => {
  const { fn, runs } = controllable<string>();
  const load = alruCache(fn, { signal: true, maxSize: 0 });
  const caller = new AbortController();
  const call = load.withSignal(caller.signal, "k");
  assert.equal(load.cacheInfo().currSize, 0);
  caller.abort();
  await assert.rejects(call, { name: "AbortError" });
  assert.equal(runs[0].signal.aborted, true);
});

Deno.test("the function gets the shared signal after the caller's arguments; keys ignore it", async () => {
  const seen: unknown[][] = [];
  const load = alruCache(
    (a: number, b: string, signal: AbortSignal) => {
      seen.push([a, b, signal instanceof AbortSignal]);
      return Promise.resolve(`${a}${b}`);
    },
    { signal: true, key: (a, b) => `${a}:${b}` },
  );
  assert.equal(await load(1, "x"), "1x");
  assert.equal(await load(1, "x"), "1x");
  assert.equal(load.cacheContains(1, "x"), true);
  assert.deepEqual(seen, [[1, "x", true]]);
  assert.equal(load.cacheInvalidate(1, "x"), true);

  const single = alruCache(
    (id: number, signal: AbortSignal) =>
      Promise.resolve(signal.aborted ? -1 : id),
    { signal: true },
  );
  assert.equal(await single(5), 5);
  assert.equal(single.cacheContains(5), true);
});

Deno.test("withSignal rejects a value that is not an AbortSignal", async () => {
  const load = alruCache((key: string) => Promise.resolve(key));
  await assert.rejects(
    load.withSignal(undefined as unknown as AbortSignal, "k"),
    (error) => error instanceof TypeError && /AbortSignal/.test(error.message),
  );
  assert.equal(load.cacheInfo().misses, 0);
});

Deno.test("the signal option must be a boolean", () => {
  assert.throws(
    () =>
      alruCache((key: string) => Promise.resolve(key), {
        signal: "yes" as unknown as false,
      }),
    (error) => error instanceof TypeError && /signal/.test(error.message),
  );
});

Deno.test("one long-lived signal across 100,000 calls accumulates no listeners", async () => {
  const controller = new AbortController();
  const listeners = watchListeners(controller.signal);
  const load = alruCache(
    (key: number, _signal: AbortSignal) => Promise.resolve(key),
    { signal: true, maxSize: 1_000 },
  );
  let highWater = 0;
  for (let round = 0; round < 100; round++) {
    const calls: Promise<number>[] = [];
    for (let i = 0; i < 1_000; i++) {
      // Half the keys repeat (hits on settled entries), half are new.
      const key = i % 2 === 0 ? i : round * 1_000 + i;
      calls.push(load.withSignal(controller.signal, key));
    }
    highWater = Math.max(highWater, listeners.count);
    await Promise.all(calls);
    assert.equal(listeners.count, 0);
  }
  assert.ok(
    highWater <= 1_000,
    `at most one listener per waiting call, saw ${highWater}`,
  );
  const { hits, misses } = load.cacheInfo();
  assert.equal(hits + misses, 100_000);
});

Deno.test("20,000 callers sharing one signal on one piece of work add one listener between them", async () => {
  const { fn, runs } = controllable<string>();
  const load = alruCache(fn, { signal: true });
  const controller = new AbortController();
  const listeners = watchListeners(controller.signal);
  const calls: Promise<string>[] = [];
  for (let i = 0; i < 20_000; i++) {
    calls.push(load.withSignal(controller.signal, "a"));
  }
  assert.equal(listeners.count, 1);
  assert.equal(runs.length, 1);
  const other = new AbortController();
  const kept = load.withSignal(other.signal, "a");
  // Handled before they reject: a rejection handled late costs Deno a
  // search through its list of unhandled ones.
  const settled = Promise.allSettled(calls);
  controller.abort(new Error("gone"));
  const outcomes = await settled;
  assert.ok(outcomes.every((outcome) => outcome.status === "rejected"));
  assert.equal(runs[0].signal.aborted, false, "another caller still waits");
  runs[0].finish("value");
  assert.equal(await kept, "value");
  assert.deepEqual(load.cacheInfo(), {
    hits: 20_000,
    misses: 1,
    maxSize: 128,
    currSize: 1,
  });
});

Deno.test("a plain call creates no AbortController and adds no listener", async () => {
  const RealController = globalThis.AbortController;
  let made = 0;
  globalThis.AbortController = class extends RealController {
    constructor() {
      super();
      made++;
    }
  };
  try {
    const load = alruCache((key: number) => Promise.resolve(key), {
      maxSize: 2,
    });
    const calls = [load(1), load(1), load(2), load(3)];
    await Promise.all(calls);
    await load(3);
    assert.equal(made, 0);
    // Hits on settled entries add no listener even with a signal.
    const signal = new RealController().signal;
    const listeners = watchListeners(signal);
    await load.withSignal(signal, 3);
    assert.equal(listeners.added, 0);
  } finally {
    globalThis.AbortController = RealController;
  }
});

Deno.test("await using closes the cache at the end of the scope", async () => {
  const clock = new ManualClock();
  let escaped: ((key: string) => Promise<string>) & {
    cacheParameters(): { closed: boolean };
  };
  {
    await using load = alruCache((key: string) => Promise.resolve(key), {
      ttl: 1_000,
      clock,
    });
    await load("k");
    assert.equal(clock.pending, 1);
    escaped = load;
  }
  assert.equal(escaped.cacheParameters().closed, true);
  assert.equal(clock.pending, 0);
  await assert.rejects(escaped("k"), { name: "CacheClosedError" });
});
