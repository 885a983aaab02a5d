/**
 * docs/behaviour.md §16.6: loads, loadFailures and loadTime, measured on
 * the cache's clock: every call of the function counted as it is made, its
 * time from just before the call to the arrival of its outcome, before any
 * caller hears of it.
 */
import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import {
  assertWhole,
  type Deferred,
  deferred,
  flush,
  hookedClock,
  track,
} from "./_helpers.ts";

function loadsOf(
  cached: {
    cacheStats(): { loads: number; loadFailures: number; loadTime: number };
  },
) {
  const { loads, loadFailures, loadTime } = cached.cacheStats();
  return { loads, loadFailures, loadTime };
}

Deno.test("loads count misses, refreshes and throws as the function is called; loadTime is exact on a ManualClock", async () => {
  const clock = new ManualClock();
  const runs: Deferred<number>[] = [];
  const cached = alruCache((key: number): Promise<number> => {
    if (key < 0) throw new Error("negative");
    const run = deferred<number>();
    runs.push(run);
    return run.promise;
  }, { clock, ttl: 100, staleWhileRevalidate: 1_000 });
  let heard: unknown;
  const first = track(
    cached(1).then((value) => {
      heard = loadsOf(cached);
      return value;
    }),
  );
  const joined = track(cached(1));
  assert.deepEqual(loadsOf(cached), { loads: 1, loadFailures: 0, loadTime: 0 });
  clock.advance(30);
  runs[0].resolve(10);
  await flush();
  assert.deepEqual(
    heard,
    { loads: 1, loadFailures: 0, loadTime: 30 },
    "counted before the caller hears",
  );
  assert.equal(first.outcome.state, "fulfilled");
  assert.deepEqual(loadsOf(cached), {
    loads: 1,
    loadFailures: 0,
    loadTime: 30,
  });
  assert.equal(joined.outcome.state, "fulfilled");
  // A synchronous throw is a load that failed, in no time on this clock.
  await assert.rejects(cached(-1));
  assert.deepEqual(loadsOf(cached), {
    loads: 2,
    loadFailures: 1,
    loadTime: 30,
  });
  // A background refresh and a cacheRefresh are loads; their failures too.
  clock.advance(100);
  assert.equal(await cached(1), 10, "stale");
  assert.equal(runs.length, 2);
  clock.advance(5);
  runs[1].reject(new Error("down"));
  await flush();
  assert.deepEqual(loadsOf(cached), {
    loads: 3,
    loadFailures: 2,
    loadTime: 35,
  });
  const refresh = cached.cacheRefresh(1);
  clock.advance(7);
  runs[2].resolve(11);
  assert.equal(await refresh, 11);
  assert.deepEqual(loadsOf(cached), {
    loads: 4,
    loadFailures: 2,
    loadTime: 42,
  });
  // Hits read no clock and count no load.
  await cached(1);
  assert.equal(cached.cacheStats().loads, 4);
  assertWhole(cached);
});

Deno.test("a run started before cacheClear counts after it; the load statistics reset with the counters", async () => {
  const clock = new ManualClock();
  const running = deferred<number>();
  const cached = alruCache((_key: number) => running.promise, { clock });
  const call = cached(1);
  clock.advance(10);
  cached.cacheClear();
  assert.deepEqual(loadsOf(cached), { loads: 0, loadFailures: 0, loadTime: 0 });
  clock.advance(5);
  running.resolve(1);
  await call;
  assert.deepEqual(loadsOf(cached), {
    loads: 0,
    loadFailures: 0,
    loadTime: 15,
  });
});

Deno.test("a clock that throws while a load is timed loses that run's time only", async () => {
  const clock = new ManualClock();
  const hooks: { now?: () => void } = {};
  const runs: Deferred<number>[] = [];
  const cached = alruCache((_key: number) => {
    const run = deferred<number>();
    runs.push(run);
    return run.promise;
  }, { clock: hookedClock(clock, hooks) });
  hooks.now = () => {
    throw new Error("clock");
  };
  const first = cached(1);
  hooks.now = undefined;
  const second = cached(2);
  clock.advance(4);
  runs[0].resolve(1);
  runs[1].resolve(2);
  assert.deepEqual(await Promise.all([first, second]), [1, 2]);
  assert.deepEqual(loadsOf(cached), { loads: 2, loadFailures: 0, loadTime: 4 });
});

Deno.test("a shared miss that runs the function here is a load", async () => {
  const { memoryStore } = await import("../memory.ts");
  const clock = new ManualClock();
  const store = memoryStore({ clock });
  const cached = alruCache((key: string) => Promise.resolve(key.length), {
    clock,
    ttl: 1_000,
    store,
  });
  assert.equal(await cached("abc"), 3);
  assert.deepEqual(loadsOf(cached), { loads: 1, loadFailures: 0, loadTime: 0 });
  await cached.cacheClose();
  await flush();
});
