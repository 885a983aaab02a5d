/**
 * docs/behaviour.md §11.2 and §11.4: a refresh still running when its
 * entry's time runs out becomes the key's run. Calls join it as hits, its
 * value becomes the entry with a lifetime of its own, and its failure
 * reaches those callers as a miss's would; invalidation, clearing and
 * eviction still win over it; it counts in `tasks` and `currSize` as a run,
 * and every event is one step of one counter throughout. With a store, the
 * refresh stays local.
 */
import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import { memoryStore } from "../memory.ts";
import {
  assertStats,
  assertWhole,
  countersOfEvents,
  flush,
  pendingRunsCache,
  rejectionOf,
  seen,
  type SeenEvent,
  type Stats,
  statsOf,
  withoutUnhandledRejections,
} from "./_helpers.ts";

// Each event is one step of one counter: counted by type, the events are
// the counters.
function assertEventsAreCounters(
  cached: { cacheStats(): Stats },
  events: readonly SeenEvent[],
): void {
  assert.deepEqual(countersOfEvents(events), statsOf(cached));
}

function assertRunning(
  cached: {
    cacheContains(key: string): boolean;
    cacheInfo(): { currSize: number };
    cacheParameters(): { tasks: number };
  },
  expected: { currSize: number; tasks: number },
): void {
  assert.equal(cached.cacheContains("a"), true, "the key keeps an entry");
  assert.equal(cached.cacheInfo().currSize, expected.currSize, "currSize");
  assert.equal(cached.cacheParameters().tasks, expected.tasks, "tasks");
}

Deno.test("a cacheRefresh running when the entry's lifetime ends becomes the key's run: a call joins it, and its value is the entry", async () => {
  const { cached, clock, runs, events, answer } = pendingRunsCache({
    ttl: 100,
  });
  const v1 = { version: 1 };
  await answer(cached("a"), v1);
  clock.advance(30);
  const refresh = cached.cacheRefresh("a"); // runs[1]
  clock.advance(70); // t=100: the entry's time is over
  assert.deepEqual(events.slice(-1), [seen("expire")]);
  assertRunning(cached, { currSize: 1, tasks: 1 });
  assertWhole(cached);

  const joined = cached("a");
  assert.equal(runs.length, 2, "the call joined the refresh");
  assert.deepEqual(events.slice(-2), [seen("expire"), seen("hit")]);
  clock.advance(10); // t=110
  const v2 = { version: 2 };
  runs[1].settle.resolve(v2);
  assert.equal(await refresh, v2);
  assert.equal(await joined, v2);
  await flush();
  assert.equal(cached.cacheParameters().tasks, 0);
  assert.equal(await cached("a"), v2, "the refresh's value is the entry");
  assert.equal(runs.length, 2);

  clock.advance(99); // its own lifetime, from t=110
  assert.equal(cached.cacheContains("a"), true);
  clock.advance(1);
  assert.equal(cached.cacheContains("a"), false);
  assertStats(cached, { hits: 2, misses: 1, refreshes: 1, expirations: 2 });
  assertEventsAreCounters(cached, events);
  assert.equal(clock.pending, 0);
  assertWhole(cached);
});

Deno.test("a background refresh running at the end of the stale window becomes the key's run", async () => {
  const { cached, clock, runs, events, answer } = pendingRunsCache({
    ttl: 100,
    staleWhileRevalidate: 50,
  });
  const v1 = { version: 1 };
  await answer(cached("a"), v1);
  clock.advance(100);
  assert.equal(await cached("a"), v1, "a stale hit starts runs[1]");
  clock.advance(50); // the stale window ends while the refresh runs
  assertRunning(cached, { currSize: 1, tasks: 1 });
  const joined = [cached("a"), cached("a")];
  assert.equal(runs.length, 2, "the calls joined the refresh");
  clock.advance(5); // t=155
  const v2 = { version: 2 };
  runs[1].settle.resolve(v2);
  assert.deepEqual(await Promise.all(joined), [v2, v2]);
  await flush();
  assert.equal(await cached("a"), v2);
  clock.advance(99); // fresh until t=255
  assert.equal(await cached("a"), v2);
  assert.equal(cached.cacheStats().staleHits, 1, "only the first was stale");
  clock.advance(1);
  assert.equal(await cached("a"), v2, "stale from t=255");
  assert.equal(runs.length, 3);
  assertStats(cached, {
    hits: 6,
    misses: 1,
    staleHits: 2,
    refreshes: 2,
    expirations: 1,
  });
  assertEventsAreCounters(cached, events);
  assertWhole(cached);
  await cached.cacheClose();
});

Deno.test("a refresh whose kept failure ends while it runs becomes the key's run", async () => {
  await withoutUnhandledRejections(async () => {
    const { cached, clock, runs, events } = pendingRunsCache({
      ttl: 100,
      errorTtl: 50,
    });
    const reason = new Error("down");
    const failed = rejectionOf(cached("a"));
    runs[0].settle.reject(reason);
    assert.equal(await failed, reason);
    const refresh = cached.cacheRefresh("a"); // runs[1], beside the failure
    assert.equal(await rejectionOf(cached("a")), reason, "an error hit");
    clock.advance(50); // the kept failure ends
    assertRunning(cached, { currSize: 1, tasks: 1 });
    const joined = cached("a");
    assert.equal(runs.length, 2);
    const v2 = { version: 2 };
    runs[1].settle.resolve(v2);
    assert.equal(await refresh, v2);
    assert.equal(await joined, v2);
    await flush();
    assert.equal(await cached("a"), v2);
    assertStats(cached, {
      hits: 3,
      misses: 1,
      errorHits: 1,
      refreshes: 1,
      runFailures: 1,
      expirations: 1,
    });
    assertEventsAreCounters(cached, events);
    assertWhole(cached);
    await cached.cacheClose();
  });
});

Deno.test("a background refresh that became the key's run and fails: its callers reject as a miss's do, and the next call misses", async () => {
  await withoutUnhandledRejections(async () => {
    const { cached, clock, runs, events, answer } = pendingRunsCache({
      ttl: 100,
      staleWhileRevalidate: 50,
    });
    await answer(cached("a"), { version: 1 });
    clock.advance(100);
    await cached("a"); // runs[1]
    clock.advance(50);
    const joined = rejectionOf(cached("a"));
    const reason = new Error("refresh failed");
    runs[1].settle.reject(reason);
    assert.equal(await joined, reason);
    assert.equal(cached.cacheContains("a"), false, "nothing kept");
    assert.equal(cached.cacheParameters().tasks, 0);
    const next = cached("a");
    assert.equal(runs.length, 3, "a miss");
    await answer(next, { version: 3 });
    assertStats(cached, {
      hits: 2,
      misses: 2,
      staleHits: 1,
      refreshes: 1,
      refreshFailures: 1,
      runFailures: 1,
      expirations: 1,
    });
    assertEventsAreCounters(cached, events);
    assertWhole(cached);
    await cached.cacheClose();
  });
});

Deno.test("a background refresh that became the key's run and fails, with errorTtl: the failure is kept as a miss's is", async () => {
  await withoutUnhandledRejections(async () => {
    const { cached, clock, runs, events, answer } = pendingRunsCache({
      ttl: 100,
      staleWhileRevalidate: 50,
      errorTtl: 200,
    });
    await answer(cached("a"), { version: 1 });
    clock.advance(100);
    await cached("a"); // runs[1]
    clock.advance(50);
    const joined = rejectionOf(cached("a"));
    const reason = new Error("refresh failed");
    runs[1].settle.reject(reason);
    assert.equal(await joined, reason);
    assert.equal(await rejectionOf(cached("a")), reason, "an error hit");
    assert.equal(runs.length, 2, "no run while the failure is kept");
    clock.advance(200);
    assert.equal(cached.cacheContains("a"), false);
    assertStats(cached, {
      hits: 3,
      misses: 1,
      staleHits: 1,
      errorHits: 1,
      refreshes: 1,
      refreshFailures: 1,
      runFailures: 1,
      expirations: 2,
    });
    assertEventsAreCounters(cached, events);
    assertWhole(cached);
    await cached.cacheClose();
  });
});

Deno.test("a background refresh that became the key's run and fails, with staleIfError: its callers get the last good value, a cacheRefresh that joined it the failure", async () => {
  await withoutUnhandledRejections(async () => {
    const { cached, clock, runs, events, answer } = pendingRunsCache({
      ttl: 100,
      staleWhileRevalidate: 50,
      staleIfError: 1_000,
      errorTtl: 200,
    });
    const v1 = { version: 1 };
    await answer(cached("a"), v1);
    clock.advance(100);
    await cached("a"); // runs[1]
    clock.advance(50);
    const joined = cached("a");
    const forced = rejectionOf(cached.cacheRefresh("a"));
    assert.equal(runs.length, 2);
    const reason = new Error("refresh failed");
    runs[1].settle.reject(reason);
    assert.equal(await joined, v1, "the fallback, as a miss's callers get");
    assert.equal(await forced, reason, "cacheRefresh gets its failure");
    assert.equal(await cached("a"), v1, "the kept failure answers with it");
    assert.equal(runs.length, 2);
    // As a miss's callers, the joined call got the fallback uncounted.
    assertStats(cached, {
      hits: 3,
      misses: 1,
      staleHits: 2,
      refreshes: 1,
      refreshFailures: 1,
      runFailures: 1,
      expirations: 1,
    });
    assertEventsAreCounters(cached, events);
    assertWhole(cached);
    await cached.cacheClose();
  });
});

Deno.test("a cacheRefresh that became the key's run and fails is never kept nor answered with a fallback, for any of its callers", async () => {
  await withoutUnhandledRejections(async () => {
    const { cached, clock, runs, events, answer } = pendingRunsCache({
      ttl: 100,
      staleIfError: 1_000,
      errorTtl: 200,
    });
    await answer(cached("a"), { version: 1 });
    clock.advance(50);
    const refresh = rejectionOf(cached.cacheRefresh("a")); // runs[1]
    clock.advance(50);
    const joined = rejectionOf(cached("a"));
    const reason = new Error("refresh failed");
    runs[1].settle.reject(reason);
    assert.equal(await refresh, reason);
    assert.equal(await joined, reason);
    assert.equal(cached.cacheContains("a"), false, "not kept");
    const next = cached("a");
    assert.equal(runs.length, 3, "a miss");
    await answer(next, { version: 3 });
    assertStats(cached, {
      hits: 1,
      misses: 2,
      refreshes: 1,
      refreshFailures: 1,
      runFailures: 1,
      expirations: 1,
    });
    assertEventsAreCounters(cached, events);
    assertWhole(cached);
    await cached.cacheClose();
  });
});

for (const removal of ["cacheInvalidate", "cacheClear"] as const) {
  Deno.test(`${removal} while a refresh is the key's run wins: its callers get its value, which is not kept`, async () => {
    const { cached, clock, runs, events, answer } = pendingRunsCache({
      ttl: 100,
    });
    await answer(cached("a"), { version: 1 });
    const refresh = cached.cacheRefresh("a"); // runs[1]
    clock.advance(100);
    const joined = cached("a");
    if (removal === "cacheInvalidate") {
      assert.equal(cached.cacheInvalidate("a"), true);
    } else {
      cached.cacheClear();
      events.length = 0;
    }
    assert.equal(cached.cacheContains("a"), false);
    assert.equal(cached.cacheParameters().tasks, 0);
    const v2 = { version: 2 };
    runs[1].settle.resolve(v2);
    assert.equal(await refresh, v2);
    assert.equal(await joined, v2);
    await flush();
    assert.equal(cached.cacheContains("a"), false, "the value is not kept");
    assert.equal(cached.cacheInfo().currSize, 0);
    const next = cached("a");
    assert.equal(runs.length, 3, "a miss");
    await answer(next, { version: 3 });
    assertEventsAreCounters(cached, events);
    assert.equal(clock.pending, 1, "the new entry's timer only");
    assertWhole(cached);
  });
}

Deno.test("a refresh that is the key's run counts toward maxSize, and eviction wins over it", async () => {
  const { cached, clock, runs, events, answer } = pendingRunsCache({
    ttl: 100,
    maxSize: 1,
  });
  await answer(cached("a"), { version: 1 });
  const refresh = cached.cacheRefresh("a"); // runs[1]
  clock.advance(100);
  assertRunning(cached, { currSize: 1, tasks: 1 });
  const b = cached("b"); // runs[2]: evicts a's run
  assert.equal(cached.cacheContains("a"), false);
  assert.equal(cached.cacheInfo().currSize, 1);
  assert.equal(cached.cacheParameters().tasks, 1, "b's miss only");
  const v2 = { version: 2 };
  runs[1].settle.resolve(v2);
  assert.equal(await refresh, v2);
  await flush();
  assert.equal(
    cached.cacheContains("a"),
    false,
    "the evicted run keeps nothing",
  );
  await answer(b, { version: 1 });
  assertStats(cached, {
    misses: 2,
    refreshes: 1,
    evictions: 1,
    expirations: 1,
  });
  assertEventsAreCounters(cached, events);
  assertWhole(cached);
});

Deno.test("a refresh that is the key's run is not abandoned when a caller that joined it with a signal leaves", async () => {
  const clock = new ManualClock();
  const signals: AbortSignal[] = [];
  const settles: ((value: string) => void)[] = [];
  const cached = alruCache((key: string, signal: AbortSignal) => {
    signals.push(signal);
    return new Promise<string>((resolve) => {
      settles.push((value) => resolve(`${key} ${value}`));
    });
  }, { ttl: 100, staleWhileRevalidate: 50, signal: true, clock });
  const first = cached("a");
  settles[0]("v1");
  assert.equal(await first, "a v1");
  clock.advance(100);
  assert.equal(await cached("a"), "a v1"); // runs the refresh
  clock.advance(50);
  const tab = new AbortController();
  const leaving = rejectionOf(cached.withSignal(tab.signal, "a"));
  tab.abort(new Error("the tab closed"));
  assert.match(String(await leaving), /the tab closed/);
  assert.equal(signals[1].aborted, false, "the refresh goes on");
  assert.equal(cached.cacheContains("a"), true);
  assert.equal(cached.cacheParameters().tasks, 1);
  settles[1]("v2");
  await flush();
  assert.equal(await cached("a"), "a v2", "and its value is kept");
  assert.equal(signals.length, 2);
  assertWhole(cached);
  await cached.cacheClose();
});

Deno.test("with a store, a refresh that became the key's run stays local, and another process's invalidation wins over it", async () => {
  const clock = new ManualClock();
  const store = memoryStore({ clock });
  let runs = 0;
  const settles: ((value: string) => void)[] = [];
  const make = (name: string) =>
    alruCache((key: string) => {
      runs++;
      if (name === "b") return Promise.resolve(`${key} from b`);
      return new Promise<string>((resolve) => settles.push(resolve));
    }, { ttl: 100, clock, store });
  const a = make("a");
  const b = make("b");
  assert.equal(await b("k"), "k from b");
  assert.equal(await a("k"), "k from b", "a reads b's value");
  assert.equal(runs, 1);

  // A refresh that becomes the key's run, and settles: its value is a's.
  const refresh = a.cacheRefresh("k");
  await clock.advanceAsync(100);
  assert.equal(a.cacheContains("k"), true);
  const joined = a("k");
  assert.equal(runs, 2, "the call joined the refresh; it read no store");
  settles[0]("k from a's refresh");
  assert.equal(await refresh, "k from a's refresh");
  assert.equal(await joined, "k from a's refresh");
  await flush();
  assert.equal(await a("k"), "k from a's refresh");
  assert.equal(await b("k"), "k from b", "never written to the store");
  assert.equal(runs, 3);

  // Another process's invalidation while one runs: nothing kept.
  const again = a.cacheRefresh("k");
  await clock.advanceAsync(100);
  const waiting = a("k");
  assert.equal(runs, 4);
  assert.equal(await b.cacheInvalidate("k"), false, "b had nothing");
  await clock.advanceAsync(0);
  assert.equal(a.cacheContains("k"), false, "b's invalidation reached a");
  settles[1]("too late");
  assert.equal(await again, "too late");
  assert.equal(await waiting, "too late");
  await flush();
  assert.equal(a.cacheContains("k"), false, "the value is not kept");
  assertWhole(a);
  await a.cacheClose();
  await b.cacheClose();
});
