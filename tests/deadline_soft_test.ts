/**
 * docs/behaviour.md §16.7: `softTimeout`. The callers of a slow miss whose
 * key has a last good value get that value at exactly the soft deadline;
 * the run goes on as a refresh would and stores its value.
 */
import assert from "node:assert/strict";
import { alruCache, type CacheEvent, ManualClock } from "../mod.ts";
import {
  assertWhole,
  checkEachEntryToUserCode,
  type Deferred,
  deferred,
  flush,
  statsOf,
  track,
} from "./_helpers.ts";

function softCache(clock: ManualClock, extra: Record<string, unknown> = {}) {
  const runs: Deferred<string>[] = [];
  const events: CacheEvent[] = [];
  const signals: AbortSignal[] = [];
  const cached = alruCache(
    (key: string, signal?: AbortSignal) => {
      if (signal !== undefined) signals.push(signal);
      const run = deferred<string>();
      runs.push(run);
      return run.promise.then((value) => `${key}${value}`);
    },
    {
      clock,
      ttl: 10,
      staleIfError: 1_000,
      softTimeout: 50,
      onEvent: (event) => events.push(event),
      ...extra,
    },
  );
  return { cached, runs, events, signals };
}

// A value kept for "a", then expired: its fallback is in its window.
async function expired(
  clock: ManualClock,
  { cached, runs }: ReturnType<typeof softCache>,
): Promise<void> {
  const first = cached("a");
  runs[0].resolve("0");
  assert.equal(await first, "a0");
  clock.advance(10);
}

Deno.test("at exactly softTimeout, every caller still waiting gets the last good value, each a stale hit; the run goes on and stores its value", async () => {
  const clock = new ManualClock();
  const soft = softCache(clock);
  const { cached, runs, events } = soft;
  await expired(clock, soft);
  const miss = track(cached("a"));
  clock.advance(20);
  const joined = track(cached("a"));
  clock.advance(29);
  await flush();
  assert.equal(miss.outcome.state, "pending", "at 49");
  assert.equal(joined.outcome.state, "pending");
  clock.advance(1);
  await flush();
  assert.deepEqual(miss.outcome, { state: "fulfilled", value: "a0" });
  assert.deepEqual(joined.outcome, { state: "fulfilled", value: "a0" });
  const stats = statsOf(cached);
  assert.equal(stats.misses, 2);
  assert.equal(stats.hits, 1, "the stale answers are not hits");
  assert.equal(stats.staleHits, 2);
  assert.equal(events.filter((event) => event.type === "stale").length, 2);
  // A call now is a stale hit answered at once, and starts nothing.
  assert.equal(await cached("a"), "a0");
  assert.equal(runs.length, 2);
  assert.equal(statsOf(cached).hits, 2);
  assert.equal(statsOf(cached).staleHits, 3);
  assert.equal(clock.pending, 0, "no deadline left");
  runs[1].resolve("1");
  await flush();
  assert.equal(await cached("a"), "a1", "the run's value was stored");
  assertWhole(cached);
});

Deno.test("a run that settles before its soft deadline changes nothing; a first miss has no soft deadline", async () => {
  const clock = new ManualClock();
  const soft = softCache(clock);
  const { cached, runs } = soft;
  const first = track(cached("a"));
  assert.equal(clock.pending, 0, "no fallback: no deadline");
  clock.advance(60);
  await flush();
  assert.equal(first.outcome.state, "pending");
  runs[0].resolve("0");
  await flush();
  clock.advance(10);
  const second = track(cached("a"));
  clock.advance(49);
  runs[1].resolve("1");
  await flush();
  assert.deepEqual(second.outcome, { state: "fulfilled", value: "a1" });
  assert.equal(statsOf(cached).staleHits, 0);
  clock.advance(1);
  assert.equal(clock.pending, 1, "only the new value's expiry");
});

Deno.test("cacheInvalidate forgets the fallback: a soft deadline after it does nothing", async () => {
  const clock = new ManualClock();
  const soft = softCache(clock);
  const { cached, runs } = soft;
  await expired(clock, soft);
  const miss = track(cached("a"));
  cached.cacheInvalidate("a");
  clock.advance(50);
  await flush();
  assert.equal(miss.outcome.state, "pending");
  runs[1].resolve("1");
  await flush();
  assert.deepEqual(miss.outcome, { state: "fulfilled", value: "a1" });
});

Deno.test("past its soft deadline the run is not abandoned by callers leaving; a close without wait still aborts it", async () => {
  const clock = new ManualClock();
  const soft = softCache(clock, { signal: true });
  const { cached, signals } = soft;
  await expired(clock, soft);
  const first = new AbortController();
  const miss = track(cached.withSignal(first.signal, "a"));
  clock.advance(50);
  await flush();
  assert.equal(miss.outcome.state, "fulfilled");
  clock.advance(2_000); // the fallback's window is over: calls join the run
  const controller = new AbortController();
  const joined = track(cached.withSignal(controller.signal, "a"));
  first.abort(new Error("answered already"));
  controller.abort(new Error("gone"));
  await flush();
  assert.equal(joined.outcome.state, "rejected");
  assert.equal(signals[1].aborted, false, "the run goes on");
  assert.equal(cached.cacheContains("a"), true);
  await cached.cacheClose();
  assert.equal(signals[1].aborted, true);
});

Deno.test("soft and hard deadlines together: the soft answers first; callers without a fallback still time out", async () => {
  const clock = new ManualClock();
  const soft = softCache(clock, { hardTimeout: 100 });
  const { cached, runs } = soft;
  checkEachEntryToUserCode(cached);
  await expired(clock, soft);
  const miss = track(cached("a"));
  const other = track(cached("b"));
  clock.advance(50);
  await flush();
  assert.deepEqual(miss.outcome, { state: "fulfilled", value: "a0" });
  assert.equal(other.outcome.state, "pending");
  clock.advance(50);
  await flush();
  assert.equal(
    (other.outcome as unknown as { reason: DOMException }).reason.name,
    "TimeoutError",
  );
  assert.equal(clock.pending, 0);
  runs[1].resolve("1");
  runs[2].resolve("2");
  await flush();
  assertWhole(cached);
});

Deno.test("a run that fails after its soft deadline is handled as usual: kept for errorTtl, answered with the fallback", async () => {
  const clock = new ManualClock();
  const soft = softCache(clock, { errorTtl: 500 });
  const { cached, runs } = soft;
  await expired(clock, soft);
  const miss = track(cached("a"));
  clock.advance(50);
  await flush();
  assert.deepEqual(miss.outcome, { state: "fulfilled", value: "a0" });
  runs[1].reject(new Error("down"));
  await flush();
  assert.equal(statsOf(cached).runFailures, 1);
  assert.equal(await cached("a"), "a0", "the kept failure's fallback");
  assert.equal(runs.length, 2, "no new run while the failure is kept");
  assertWhole(cached);
});

Deno.test("ttl: 0 keeps no fallback, so softTimeout never acts; hardTimeout still bounds the callers sharing a run", async () => {
  const clock = new ManualClock();
  const runs: Deferred<string>[] = [];
  const cached = alruCache((_key: string) => {
    const run = deferred<string>();
    runs.push(run);
    return run.promise;
  }, { clock, ttl: 0, staleIfError: 1_000, softTimeout: 50, hardTimeout: 80 });
  const first = cached("a");
  runs[0].resolve("0");
  assert.equal(await first, "0");
  const shared = [track(cached("a")), track(cached("a"))];
  assert.equal(runs.length, 2, "nothing kept: a miss, shared");
  clock.advance(50);
  await flush();
  assert.ok(shared.every((call) => call.outcome.state === "pending"));
  clock.advance(30);
  await flush();
  assert.ok(shared.every((call) => call.outcome.state === "rejected"));
  runs[1].resolve("1");
  await flush();
  assert.equal(clock.pending, 0);
});

Deno.test("cacheClear and a close with wait drop soft deadlines: no timer is left for them", async () => {
  const clock = new ManualClock();
  const soft = softCache(clock);
  const { cached, runs } = soft;
  await expired(clock, soft);
  const miss = track(cached("a"));
  assert.equal(clock.pending, 1, "the soft deadline");
  cached.cacheClear();
  assert.equal(clock.pending, 0);
  runs[1].resolve("1");
  await flush();
  assert.deepEqual(miss.outcome, { state: "fulfilled", value: "a1" });
  // The cleared run was detached: a value of its own again, then expired.
  const fresh = cached("a");
  runs[2].resolve("2");
  assert.equal(await fresh, "a2");
  clock.advance(10);
  const again = track(cached("a"));
  assert.equal(clock.pending, 1, "a soft deadline again");
  const closing = cached.cacheClose({ wait: true });
  assert.equal(clock.pending, 0);
  runs[3].resolve("3");
  await closing;
  assert.deepEqual(again.outcome, { state: "fulfilled", value: "a3" });
});
