/**
 * The core behaviours, checked on Node against the bundled module: a
 * `node:test` file that `tests/node_test.ts` runs with
 * `node --test --unhandled-rejections=strict`, the bundle's path in the
 * environment variable ALRU_BUNDLE.
 *
 * `deno test` also picks this file up (it matches `*.test.mjs`); under Deno,
 * without ALRU_BUNDLE, it tests `mod.ts` itself through Deno's `node:test`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { pathToFileURL } from "node:url";

const bundle = process.env.ALRU_BUNDLE;
if (!bundle && typeof globalThis.Deno === "undefined") {
  throw new Error(
    "Set ALRU_BUNDLE to the path of the bundled module (deno bundle mod.ts)",
  );
}
const { alruCache, CacheClosedError, ManualClock } = await import(
  bundle
    ? pathToFileURL(bundle).href
    : new URL("../../mod.ts", import.meta.url).href
);

/** Lets pending promise reactions run, without any timer. */
async function flush(turns = 20) {
  for (let i = 0; i < turns; i++) await Promise.resolve();
}

/** A promise with its settle functions. */
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Settles a promise into a value that says how, for checking without awaiting. */
function track(promise) {
  const state = { status: "pending", value: undefined };
  promise.then(
    (value) => Object.assign(state, { status: "fulfilled", value }),
    (value) => Object.assign(state, { status: "rejected", value }),
  );
  return state;
}

test("hits and misses are counted; the wrapper keeps the name and the function", async () => {
  let runs = 0;
  async function square(n) {
    runs++;
    return await Promise.resolve(n * n);
  }
  const cached = alruCache(square, { maxSize: 32 });
  assert.equal(cached.name, "square");
  assert.equal(cached.wrapped, square);

  assert.equal(await cached(2), 4);
  assert.equal(await cached(2), 4);
  assert.equal(await cached(3), 9);
  assert.equal(runs, 2);
  assert.deepEqual(cached.cacheInfo(), {
    hits: 1,
    misses: 2,
    maxSize: 32,
    currSize: 2,
  });
  assert.deepEqual(cached.cacheParameters(), {
    maxSize: 32,
    ttl: undefined,
    jitter: undefined,
    tasks: 0,
    closed: false,
  });

  // The README example.
  const getPep = alruCache(
    async (n) => await Promise.resolve(`pep ${n}`),
    { maxSize: 32 },
  );
  for (const n of [8, 290, 308, 320, 8, 218, 320, 279, 289, 320, 9991]) {
    assert.equal(await getPep(n), `pep ${n}`);
  }
  assert.deepEqual(getPep.cacheInfo(), {
    hits: 3,
    misses: 8,
    maxSize: 32,
    currSize: 8,
  });
});

test("100 concurrent callers share one run: hits 99, misses 1", async () => {
  let runs = 0;
  const work = deferred();
  const load = alruCache((_id) => {
    runs++;
    return work.promise;
  });
  const calls = Array.from({ length: 100 }, () => load("k"));
  assert.equal(runs, 1);
  assert.equal(load.cacheParameters().tasks, 1);

  const value = { loaded: true };
  work.resolve(value);
  const results = await Promise.all(calls);
  assert.ok(results.every((result) => result === value));
  assert.deepEqual(load.cacheInfo(), {
    hits: 99,
    misses: 1,
    maxSize: 128,
    currSize: 1,
  });
  assert.equal(load.cacheParameters().tasks, 0);
  assert.equal(await load("k"), value);
  assert.equal(runs, 1);
});

test("a rejection is not cached, and every caller gets the same reason", async () => {
  let runs = 0;
  const cached = alruCache(async (_n) => {
    runs++;
    await Promise.resolve();
    throw new Error(`failure ${runs}`);
  });
  const outcomes = await Promise.allSettled([cached(1), cached(1), cached(1)]);
  assert.ok(outcomes.every((outcome) => outcome.status === "rejected"));
  const [first, second, third] = outcomes.map((outcome) => outcome.reason);
  assert.equal(first.message, "failure 1");
  assert.equal(second, first);
  assert.equal(third, first);
  await flush();
  assert.deepEqual(cached.cacheInfo(), {
    hits: 2,
    misses: 1,
    maxSize: 128,
    currSize: 0,
  });

  await assert.rejects(cached(1), { message: "failure 2" });
  assert.equal(cached.cacheInfo().misses, 2);

  // A synchronous throw rejects the call and counts nothing.
  const thrower = alruCache((_n) => {
    throw new TypeError("sync");
  });
  await assert.rejects(thrower(1), TypeError);
  assert.deepEqual(thrower.cacheInfo(), {
    hits: 0,
    misses: 0,
    maxSize: 128,
    currSize: 0,
  });
});

test("maxSize 3 over 3, 4, 5, 3, 2, 1 evicts in the order 3, 2, 1", async () => {
  const cached = alruCache(async (n) => await Promise.resolve(n), {
    maxSize: 3,
  });
  for (const n of [3, 4, 5, 3, 2, 1]) assert.equal(await cached(n), n);
  const { hits, misses, currSize } = cached.cacheInfo();
  assert.deepEqual({ hits, misses, currSize }, {
    hits: 1,
    misses: 5,
    currSize: 3,
  });

  // Each fresh key evicts the least recently used entry.
  const order = [];
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
  assert.equal(cached.cacheInfo().currSize, 3);
});

test("ttl 100, jitter 200, random 0.5 on a ManualClock: present at 199 ms, gone at 200 ms", async () => {
  const clock = new ManualClock();
  const cached = alruCache(async (n) => await Promise.resolve(n), {
    ttl: 100,
    jitter: 200,
    random: () => 0.5,
    clock,
  });
  assert.equal(await cached(1), 1);
  assert.equal(clock.pending, 1);
  clock.advance(199);
  assert.equal(cached.cacheContains(1), true);
  assert.equal(await cached(1), 1); // a hit does not refresh the entry
  clock.advance(1);
  assert.equal(cached.cacheContains(1), false);
  assert.equal(clock.pending, 0);
  assert.deepEqual(cached.cacheParameters(), {
    maxSize: 128,
    ttl: 100,
    jitter: 200,
    tasks: 0,
    closed: false,
  });
});

test("cacheContains, cacheInvalidate and cacheClear", async () => {
  const clock = new ManualClock();
  const finish = [];
  const load = alruCache(
    (id) =>
      id === "slow"
        ? new Promise((resolve) => finish.push(resolve))
        : Promise.resolve(`value ${id}`),
    { ttl: 60_000, clock },
  );
  await load("a");
  await load("b");
  const before = load.cacheInfo();
  assert.equal(load.cacheContains("a"), true);
  assert.equal(load.cacheContains("zzz"), false);
  assert.deepEqual(load.cacheInfo(), before); // no side effects

  assert.equal(load.cacheInvalidate("a"), true);
  assert.equal(load.cacheInvalidate("a"), false);
  assert.equal(load.cacheContains("a"), false);
  assert.equal(load.cacheInfo().currSize, 1);

  // Invalidating work in flight does not stop it: its caller still gets it.
  const slow = load("slow");
  assert.equal(load.cacheInvalidate("slow"), true);
  finish[0]("done");
  assert.equal(await slow, "done");
  assert.equal(load.cacheContains("slow"), false);

  assert.equal(clock.pending, 1);
  load.cacheClear();
  assert.deepEqual(load.cacheInfo(), {
    hits: 0,
    misses: 0,
    maxSize: 128,
    currSize: 0,
  });
  assert.equal(clock.pending, 0);
  assert.equal(load.cacheContains("b"), false);
});

test("cacheClose without wait: work in flight rejects with AbortError, later calls with CacheClosedError", async () => {
  let finish = (_value) => {};
  const load = alruCache((_id) =>
    new Promise((resolve) => {
      finish = resolve;
    })
  );
  const pending = load(1);
  await load.cacheClose();
  await assert.rejects(pending, (error) => {
    assert.ok(error instanceof DOMException);
    assert.equal(error.name, "AbortError");
    return true;
  });
  await assert.rejects(load(1), CacheClosedError);
  await assert.rejects(load(2), (error) => {
    assert.ok(error instanceof CacheClosedError);
    assert.equal(error.name, "CacheClosedError");
    return true;
  });
  finish("too late"); // ignored
  await flush();
  assert.equal(load.cacheContains(1), false);
  assert.equal(load.cacheParameters().closed, true);
  assert.equal(load.cacheParameters().tasks, 0);
  await load.cacheClose(); // closing twice is harmless
  assert.deepEqual(load.cacheInfo(), {
    hits: 0,
    misses: 1,
    maxSize: 128,
    currSize: 0,
  });
});

test("cacheClose with wait resolves once work in flight has settled, and keeps its entries", async () => {
  const works = new Map();
  const load = alruCache((id) => {
    const work = deferred();
    works.set(id, work);
    return work.promise;
  });
  const good = load("good");
  const bad = track(load("bad"));
  const closing = track(load.cacheClose({ wait: true }));
  await flush();
  assert.equal(closing.status, "pending");
  assert.equal(load.cacheParameters().closed, true);
  await assert.rejects(load("good"), CacheClosedError); // even a hit

  works.get("bad").reject(new Error("failed"));
  await flush();
  assert.equal(closing.status, "pending");
  works.get("good").resolve("value");
  assert.equal(await good, "value");
  await flush();
  assert.equal(closing.status, "fulfilled"); // never rejects for a failure
  assert.equal(bad.status, "rejected");
  assert.equal(bad.value.message, "failed");
  assert.equal(load.cacheContains("good"), true);
  assert.equal(load.cacheContains("bad"), false);
  assert.equal(load.cacheParameters().tasks, 0);
});

test("withSignal: a caller that aborts stops waiting, and nobody else does", async () => {
  const work = deferred();
  let runs = 0;
  const load = alruCache((_id) => {
    runs++;
    return work.promise;
  });
  const caller = new AbortController();
  const leaving = load.withSignal(caller.signal, 1);
  const staying = load(1);
  caller.abort();
  await assert.rejects(leaving, (error) => {
    assert.equal(error, caller.signal.reason);
    assert.equal(error.name, "AbortError");
    return true;
  });
  work.resolve("value");
  assert.equal(await staying, "value");
  assert.equal(runs, 1);
  assert.deepEqual(load.cacheInfo(), {
    hits: 1,
    misses: 1,
    maxSize: 128,
    currSize: 1,
  });

  // An already-aborted signal rejects at once: nothing runs or is counted.
  const reason = new Error("gone already");
  await assert.rejects(
    load.withSignal(AbortSignal.abort(reason), 2),
    (error) => error === reason,
  );
  assert.equal(runs, 1);
  assert.equal(load.cacheInfo().misses, 1);
  assert.equal(load.cacheContains(2), false);
});

test("withSignal with { signal: true }: the last caller to abort aborts the shared signal", async () => {
  const signals = [];
  const search = alruCache((query, signal) => {
    signals.push(signal);
    return new Promise((resolve, reject) => {
      signal.addEventListener("abort", () => reject(signal.reason));
      if (query === "quick") resolve(`results for ${query}`);
    });
  }, { signal: true });

  const tab1 = new AbortController();
  const tab2 = new AbortController();
  const first = search.withSignal(tab1.signal, "cats");
  const second = search.withSignal(tab2.signal, "cats"); // joins the work
  assert.equal(signals.length, 1);

  tab1.abort();
  await assert.rejects(first, { name: "AbortError" });
  assert.equal(signals[0].aborted, false); // tab 2 still waits
  assert.equal(search.cacheContains("cats"), true);

  const last = new Error("tab 2 closed");
  tab2.abort(last);
  await assert.rejects(second, (error) => error === last);
  assert.equal(signals[0].aborted, true); // nobody waits: the work stops
  assert.equal(signals[0].reason, last);
  assert.equal(search.cacheContains("cats"), false);
  assert.deepEqual(search.cacheInfo(), {
    hits: 1,
    misses: 1,
    maxSize: 128,
    currSize: 0,
  });

  // The next call is a miss with a fresh signal; a plain caller keeps the
  // work alive when a caller with a signal leaves.
  const tab3 = new AbortController();
  const third = search.withSignal(tab3.signal, "cats");
  const plain = track(search("cats"));
  assert.equal(signals.length, 2);
  assert.equal(signals[1].aborted, false);
  tab3.abort();
  await assert.rejects(third, { name: "AbortError" });
  assert.equal(signals[1].aborted, false);
  assert.equal(plain.status, "pending");
  await search.cacheClose(); // abandons it: the signal aborts
  assert.equal(signals[1].aborted, true);
  await flush();
  assert.equal(plain.status, "rejected");
  assert.equal(plain.value.name, "AbortError");

  // Work that settles before anyone aborts is not affected by a late abort.
  const quick = alruCache((query, signal) => {
    signals.push(signal);
    return Promise.resolve(`results for ${query}`);
  }, { signal: true });
  const tab4 = new AbortController();
  assert.equal(
    await quick.withSignal(tab4.signal, "quick"),
    "results for quick",
  );
  tab4.abort();
  assert.equal(signals[2].aborted, false);
  assert.equal(quick.cacheContains("quick"), true);
});

test("keys: f() and f(undefined) differ, NaN equals NaN, 0 equals -0", async () => {
  const seen = [];
  const cached = alruCache(async (...args) => {
    seen.push(args);
    return await Promise.resolve(args.length);
  }, { maxSize: Infinity });

  assert.equal(await cached(), 0);
  assert.equal(await cached(undefined), 1);
  assert.equal(await cached(), 0);
  assert.equal(await cached(undefined), 1);
  assert.equal(seen.length, 2);
  assert.equal(cached.cacheContains(), true);
  assert.equal(cached.cacheContains(undefined), true);

  await cached(NaN);
  await cached(NaN);
  await cached(0);
  await cached(-0);
  assert.equal(seen.length, 4);

  await cached(1, 2);
  await cached(2, 1);
  await cached("a,b");
  await cached("a", "b");
  await cached(1);
  await cached("1");
  await cached(1n);
  assert.equal(seen.length, 11);

  const object = {};
  await cached(object);
  await cached(object);
  await cached({});
  assert.equal(seen.length, 13);
  assert.deepEqual(cached.cacheInfo(), {
    hits: 5,
    misses: 13,
    maxSize: Infinity,
    currSize: 13,
  });

  // A key function: its result, compared with SameValueZero, is the key.
  const byId = alruCache(async (user) => await Promise.resolve(user.name), {
    key: (user) => user.id,
  });
  assert.equal(await byId({ id: 7, name: "first" }), "first");
  assert.equal(await byId({ id: 7, name: "second" }), "first");
  assert.equal(byId.cacheContains({ id: 7 }), true);
});
