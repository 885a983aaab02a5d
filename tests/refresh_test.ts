/**
 * docs/behaviour.md §11: cacheRefresh on fresh, stale, absent and in-flight keys; what a
 * failed refresh leaves; the identity rule for refreshes whose entry was
 * invalidated, evicted or replaced while they ran; and how background
 * refreshes obey cacheClose.
 */
import assert from "node:assert/strict";
import { alruCache, CacheClosedError, ManualClock } from "../mod.ts";
import {
  assertWhole,
  type Deferred,
  deferred,
  flush,
  pendingRunsCache,
  rejectionOf,
  seen,
  type Version,
  withoutUnhandledRejections,
} from "./_helpers.ts";

function assertCounts(
  cached: {
    cacheInfo(): { hits: number; misses: number };
    cacheStats(): { refreshes: number; refreshFailures: number };
  },
  expected: {
    hits: number;
    misses: number;
    refreshes: number;
    refreshFailures?: number;
  },
): void {
  const { hits, misses } = cached.cacheInfo();
  const { refreshes, refreshFailures } = cached.cacheStats();
  assert.deepEqual({ hits, misses, refreshes, refreshFailures }, {
    refreshFailures: 0,
    ...expected,
  });
}

function assertAbortError(reason: unknown): void {
  assert.ok(
    reason instanceof DOMException && reason.name === "AbortError",
    `expected an AbortError, got ${Deno.inspect(reason)}`,
  );
}

Deno.test("cacheRefresh on a fresh key runs fn now, replaces the entry and is counted as neither hit nor miss", async () => {
  const { cached, clock, runs, events, answer } = pendingRunsCache({
    ttl: 100,
  });
  const v1 = { version: 1 };
  await answer(cached("a"), v1);
  clock.advance(30);
  events.length = 0;

  const refresh = cached.cacheRefresh("a");
  assert.equal(runs.length, 2, "fn runs at once, although the entry is fresh");
  assert.deepEqual(events, [seen("refresh")]);
  assert.equal(cached.cacheParameters().tasks, 1);
  assert.equal(await cached("a"), v1, "the old entry answers meanwhile");
  assert.equal(runs.length, 2);
  assertCounts(cached, { hits: 1, misses: 1, refreshes: 1 });

  clock.advance(10); // t=40
  const v2 = { version: 2 };
  runs[1].settle.resolve(v2);
  assert.equal(await refresh, v2);
  await flush();
  assert.equal(cached.cacheParameters().tasks, 0);
  assert.equal(await cached("a"), v2, "the refresh replaced the entry");
  assertCounts(cached, { hits: 2, misses: 1, refreshes: 1 });
  assert.equal(cached.cacheInfo().currSize, 1);

  clock.advance(99); // the new lifetime runs from t=40
  assert.equal(cached.cacheContains("a"), true);
  clock.advance(1);
  assert.equal(cached.cacheContains("a"), false);
  assert.equal(clock.pending, 0);
  assertWhole(cached);
});

Deno.test("cacheRefresh on a stale key: stale hits during it get the stale value and start no other run", async () => {
  const { cached, clock, runs, answer } = pendingRunsCache({
    ttl: 100,
    staleWhileRevalidate: 50,
  });
  const v1 = { version: 1 };
  await answer(cached("a"), v1);
  clock.advance(100);
  const refresh = cached.cacheRefresh("a");
  assert.equal(runs.length, 2);
  assert.equal(await cached("a"), v1);
  assert.equal(await cached("a"), v1);
  assert.equal(runs.length, 2, "the stale hits joined the refresh");
  assert.equal(cached.cacheStats().staleHits, 2);
  assertCounts(cached, { hits: 2, misses: 1, refreshes: 1 });
  const v2 = { version: 2 };
  assert.equal(await answer(refresh, v2), v2);
  await flush();
  assert.equal(await cached("a"), v2);
  assert.equal(cached.cacheStats().staleHits, 2, "a fresh hit now");
  await cached.cacheClose();
});

Deno.test("cacheRefresh joins a background refresh already running", async () => {
  const { cached, clock, runs, answer } = pendingRunsCache({
    ttl: 100,
    staleWhileRevalidate: 50,
  });
  await answer(cached("a"), { version: 1 });
  clock.advance(100);
  await cached("a"); // starts the background refresh
  const refresh = cached.cacheRefresh("a");
  assert.equal(runs.length, 2, "no second run");
  const v2 = { version: 2 };
  assert.equal(await answer(refresh, v2), v2, "the running refresh's value");
  assertCounts(cached, { hits: 1, misses: 1, refreshes: 1 });
  await cached.cacheClose();
});

Deno.test("concurrent cacheRefresh calls share one run", async () => {
  const { cached, runs, answer } = pendingRunsCache({});
  await answer(cached("a"), { version: 1 });
  const refreshes = [cached.cacheRefresh("a"), cached.cacheRefresh("a")];
  assert.equal(runs.length, 2);
  const v2 = { version: 2 };
  runs[1].settle.resolve(v2);
  const [first, second] = await Promise.all(refreshes);
  assert.equal(first, v2);
  assert.equal(second, v2);
  assertCounts(cached, { hits: 0, misses: 1, refreshes: 1 });
});

Deno.test("cacheRefresh joins a miss in flight instead of running fn again", async () => {
  const { cached, runs, events } = pendingRunsCache({});
  const miss = cached("a");
  const refresh = cached.cacheRefresh("a");
  assert.equal(runs.length, 1);
  const v1 = { version: 1 };
  runs[0].settle.resolve(v1);
  assert.equal(await refresh, v1);
  assert.equal(await miss, v1);
  assertCounts(cached, { hits: 0, misses: 1, refreshes: 0 });
  assert.deepEqual(events, [seen("miss")], "joining starts no refresh");
});

Deno.test("cacheRefresh on an absent key creates an in-flight entry that calls join as hits", async () => {
  const { cached, clock, runs, events } = pendingRunsCache({ ttl: 100 });
  const refresh = cached.cacheRefresh("a");
  assert.equal(runs.length, 1);
  assert.equal(cached.cacheContains("a"), true);
  assert.equal(cached.cacheInfo().currSize, 1);
  assert.equal(cached.cacheParameters().tasks, 1);
  const joined = cached("a");
  assert.equal(runs.length, 1, "the call joined");
  assert.deepEqual(events, [seen("refresh"), seen("hit")]);

  const v1 = { version: 1 };
  runs[0].settle.resolve(v1);
  assert.equal(await refresh, v1);
  assert.equal(await joined, v1);
  assertCounts(cached, { hits: 1, misses: 0, refreshes: 1 });
  assert.equal(await cached("a"), v1, "stored as the key's entry");
  clock.advance(100);
  assert.equal(cached.cacheContains("a"), false, "with the usual lifetime");
  assertWhole(cached);
});

Deno.test("a failed cacheRefresh of an absent key removes its entry and is not kept, even with errorTtl", async () => {
  await withoutUnhandledRejections(async () => {
    const { cached, runs, events } = pendingRunsCache({
      ttl: 100,
      errorTtl: 1_000,
    });
    const refresh = rejectionOf(cached.cacheRefresh("a"));
    const joined = rejectionOf(cached("a"));
    const reason = new Error("down");
    runs[0].settle.reject(reason);
    assert.equal(await refresh, reason);
    assert.equal(await joined, reason, "its joiners get the same reason");
    assert.equal(cached.cacheContains("a"), false);
    assert.equal(cached.cacheInfo().currSize, 0);
    assert.deepEqual(events, [
      seen("refresh"),
      seen("hit"),
      seen("error"),
      seen("refreshFailure"),
    ]);
    assertCounts(cached, {
      hits: 1,
      misses: 0,
      refreshes: 1,
      refreshFailures: 1,
    });
    const next = cached("a");
    assert.equal(runs.length, 2, "the next call is a miss, not an error hit");
    runs[1].settle.resolve({ version: 2 });
    await next;
    assert.equal(cached.cacheStats().errorHits, 0);
    await cached.cacheClose();
  });
});

Deno.test("a failed cacheRefresh keeps the old entry as it was and rejects; the failure is not kept", async () => {
  await withoutUnhandledRejections(async () => {
    const { cached, clock, runs, events, answer } = pendingRunsCache({
      ttl: 100,
      errorTtl: 1_000,
    });
    const v1 = { version: 1 };
    await answer(cached("a"), v1);
    clock.advance(50);
    events.length = 0;
    const reason = new Error("down");
    assert.equal(
      await rejectionOf(answer(cached.cacheRefresh("a"), reason)),
      reason,
    );
    assert.deepEqual(events, [
      seen("refresh"),
      seen("error"),
      seen("refreshFailure"),
    ]);
    assert.equal(await cached("a"), v1, "the old entry answers");
    assert.equal(runs.length, 2);
    assertCounts(cached, {
      hits: 1,
      misses: 1,
      refreshes: 1,
      refreshFailures: 1,
    });
    assert.equal(cached.cacheStats().errorHits, 0);

    clock.advance(49);
    assert.equal(cached.cacheContains("a"), true);
    clock.advance(1);
    assert.equal(cached.cacheContains("a"), false, "its lifetime unchanged");
    const next = cached("a");
    assert.equal(runs.length, 3, "a miss: the failure was never kept");
    assert.deepEqual(await answer(next, { version: 3 }), { version: 3 });
    await cached.cacheClose();
  });
});

Deno.test("a failed cacheRefresh is never answered with a stale value", async () => {
  await withoutUnhandledRejections(async () => {
    const { cached, clock, answer } = pendingRunsCache({
      ttl: 100,
      staleWhileRevalidate: 50,
      staleIfError: 1_000,
    });
    const v1 = { version: 1 };
    await answer(cached("a"), v1);
    clock.advance(100); // stale
    const stale = new Error("down while stale");
    const refresh = answer(cached.cacheRefresh("a"), stale);
    assert.equal(await rejectionOf(refresh), stale);
    assert.equal(cached.cacheContains("a"), true, "the stale entry stays");
    // A stale hit still answers with the old value (its refresh fails too).
    assert.equal(await answer(cached("a"), new Error("again")), v1);
    await flush();

    clock.advance(100); // only the staleIfError fallback is left
    assert.equal(cached.cacheContains("a"), false);
    const gone = new Error("down after expiry");
    const late = answer(cached.cacheRefresh("a"), gone);
    assert.equal(await rejectionOf(late), gone);
    await cached.cacheClose();
  });
});

Deno.test("a refresh whose entry was invalidated stores nothing and never touches the newer entry", async () => {
  for (const outcome of ["resolves", "rejects"]) {
    await withoutUnhandledRejections(async () => {
      const { cached, clock, runs, answer } = pendingRunsCache({
        ttl: 100,
        staleWhileRevalidate: 50,
      });
      await answer(cached("a"), { version: 1 });
      clock.advance(100);
      await cached("a"); // background refresh: runs[1]
      assert.equal(cached.cacheParameters().tasks, 1);
      assert.equal(cached.cacheInvalidate("a"), true);
      assert.equal(cached.cacheParameters().tasks, 0, "tasks drops");
      const newer = cached("a"); // a miss: runs[2]
      assert.equal(runs.length, 3);

      if (outcome === "resolves") runs[1].settle.resolve({ version: 2 });
      else runs[1].settle.reject(new Error("old refresh failed"));
      await flush();
      assert.equal(cached.cacheContains("a"), true, outcome);
      assert.equal(cached.cacheParameters().tasks, 1, "the newer miss");
      const v3 = { version: 3 };
      runs[2].settle.resolve(v3);
      assert.equal(await newer, v3);
      assert.equal(await cached("a"), v3, outcome);
      clock.advance(99); // the newer entry's lifetime is its own
      assert.equal(await cached("a"), v3);
      assert.equal(runs.length, 3);
      assertWhole(cached);
      await cached.cacheClose();
    });
  }
});

Deno.test("a refresh whose entry was evicted stores nothing", async () => {
  const { cached, clock, runs, answer } = pendingRunsCache({
    maxSize: 1,
    ttl: 100,
    staleWhileRevalidate: 50,
  });
  await answer(cached("a"), { version: 1 });
  clock.advance(100);
  await cached("a"); // background refresh: runs[1]
  const b = cached("b"); // evicts a
  assert.equal(cached.cacheContains("a"), false);
  assert.equal(cached.cacheParameters().tasks, 1, "only b's miss");
  runs[1].settle.resolve({ version: 2 });
  await flush();
  assert.equal(cached.cacheContains("a"), false, "the refresh stored nothing");
  assert.equal(cached.cacheContains("b"), true);
  assert.equal(cached.cacheInfo().currSize, 1);
  await answer(b, { version: 1 });
  assertWhole(cached);
  await cached.cacheClose();
});

Deno.test("a cacheRefresh whose entry was replaced leaves the newer entry, its value and its lifetime alone", async () => {
  const { cached, clock, runs, answer } = pendingRunsCache({ ttl: 100 });
  await answer(cached("a"), { version: 1 });
  const refresh = cached.cacheRefresh("a"); // runs[1]
  cached.cacheInvalidate("a");
  clock.advance(10);
  const v3 = { version: 3 };
  assert.equal(await answer(cached("a"), v3), v3); // lives until t=110
  clock.advance(10);
  const v2 = { version: 2 };
  runs[1].settle.resolve(v2);
  assert.equal(await refresh, v2, "its caller still gets its value");
  await flush();
  assert.equal(await cached("a"), v3);
  clock.advance(89);
  assert.equal(cached.cacheContains("a"), true);
  clock.advance(1);
  assert.equal(cached.cacheContains("a"), false, "not re-timed by the refresh");
  assertWhole(cached);
});

Deno.test("cacheClear while a refresh runs: it no longer counts in tasks and stores nothing", async () => {
  const { cached, clock, runs, answer } = pendingRunsCache({
    ttl: 100,
    staleWhileRevalidate: 50,
  });
  await answer(cached("a"), { version: 1 });
  clock.advance(100);
  const refresh = cached.cacheRefresh("a");
  cached.cacheClear();
  assert.equal(cached.cacheParameters().tasks, 0);
  runs[1].settle.resolve({ version: 2 });
  assert.deepEqual(await refresh, { version: 2 });
  await flush();
  assert.equal(cached.cacheContains("a"), false);
  assert.equal(cached.cacheInfo().currSize, 0);
  assert.equal(clock.pending, 0);
});

Deno.test("cacheClose({ wait: true }) waits for background refreshes and keeps their entries", async () => {
  for (const outcome of ["resolves", "rejects"]) {
    await withoutUnhandledRejections(async () => {
      const { cached, clock, runs, answer } = pendingRunsCache({
        ttl: 100,
        staleWhileRevalidate: 50,
      });
      await answer(cached("a"), { version: 1 });
      clock.advance(100);
      await cached("a"); // background refresh
      let closed = false;
      const closing = cached.cacheClose({ wait: true }).then(() => {
        closed = true;
      });
      await flush();
      assert.equal(closed, false, "the refresh is still running");
      await assert.rejects(cached("a"), CacheClosedError);
      if (outcome === "resolves") runs[1].settle.resolve({ version: 2 });
      else runs[1].settle.reject(new Error("refresh failed"));
      await closing; // never rejects because the refresh failed
      assert.equal(cached.cacheContains("a"), true, outcome);
      assert.equal(cached.cacheParameters().tasks, 0);
      assert.equal(clock.pending, 0, "closing leaves no timer");
      clock.advance(1_000);
      assert.equal(cached.cacheContains("a"), true, "a closed cache keeps it");
    });
  }
});

Deno.test("cacheClose({ wait: false }) abandons refreshes, aborts their signal and leaves stale entries", async () => {
  await withoutUnhandledRejections(async () => {
    const clock = new ManualClock();
    const signals: AbortSignal[] = [];
    const runs: Deferred<Version>[] = [];
    const cached = alruCache((_key: string, signal: AbortSignal) => {
      signals.push(signal);
      const run = deferred<Version>();
      runs.push(run);
      return run.promise;
    }, { ttl: 100, staleWhileRevalidate: 50, signal: true, clock });
    const first = cached("a");
    runs[0].resolve({ version: 1 });
    await first;
    const second = cached("b");
    runs[1].resolve({ version: 1 });
    await second;
    clock.advance(100);
    await cached("a"); // background refresh of a: runs[2]
    const refreshB = rejectionOf(cached.cacheRefresh("b")); // runs[3]
    const absent = rejectionOf(cached.cacheRefresh("c")); // runs[4]
    assert.equal(cached.cacheParameters().tasks, 3);
    assert.equal(signals.filter((signal) => signal.aborted).length, 0);

    await cached.cacheClose({ wait: false });
    assert.deepEqual(signals.map((signal) => signal.aborted), [
      false,
      false,
      true,
      true,
      true,
    ]);
    assertAbortError(await refreshB);
    assertAbortError(await absent);
    assert.equal(cached.cacheContains("a"), true, "stale entries stay");
    assert.equal(cached.cacheContains("b"), true);
    assert.equal(cached.cacheContains("c"), false, "in-flight entries go");
    assert.equal(cached.cacheInfo().currSize, 2);
    assert.equal(cached.cacheParameters().tasks, 0);
    assert.equal(clock.pending, 0, "closing leaves no timer");
    await assert.rejects(cached.cacheRefresh("a"), CacheClosedError);

    runs[2].resolve({ version: 2 });
    runs[3].reject(new Error("late failure goes nowhere"));
    await flush();
    assert.equal(cached.cacheContains("a"), true);
    assert.equal(cached.cacheInfo().currSize, 2);
  });
});

Deno.test("background refreshes that fail never produce an unhandled rejection", async () => {
  await withoutUnhandledRejections(async () => {
    const clock = new ManualClock();
    let runs = 0;
    const cached = alruCache(async (key: string) => {
      runs++;
      await Promise.resolve();
      if (runs > 3) throw new Error(`refresh of ${key} failed`);
      return key;
    }, { ttl: 10, staleWhileRevalidate: 1_000, clock });
    await Promise.all([cached("a"), cached("b"), cached("c")]);
    for (let round = 0; round < 5; round++) {
      clock.advance(10);
      assert.deepEqual(
        await Promise.all([cached("a"), cached("b"), cached("c")]),
        ["a", "b", "c"],
      );
      await flush();
    }
    assert.equal(runs, 3 + 5 * 3);
    assert.equal(cached.cacheStats().refreshFailures, 15);
    await cached.cacheClose();
  });
});
