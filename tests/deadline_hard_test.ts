/**
 * docs/behaviour.md §16.8 and §16.9: `hardTimeout`. Each caller waiting on
 * running work rejects alone with a TimeoutError at exactly its own
 * deadline; the work goes on for the others and is stored as usual; with
 * `signal: true` the last caller to leave abandons it; and the deadlines
 * share the cache's one timer.
 */
import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import {
  assertWhole,
  checkEachEntryToUserCode,
  type Deferred,
  deferred,
  flush,
  track,
} from "./_helpers.ts";

function slowCache(
  clock: ManualClock,
  extra: Record<string, unknown> = {},
) {
  const runs: Deferred<string>[] = [];
  const signals: AbortSignal[] = [];
  const cached = alruCache(
    (key: string, signal?: AbortSignal) => {
      const run = deferred<string>();
      runs.push(run);
      if (signal !== undefined) signals.push(signal);
      return run.promise.then((value) => `${key}:${value}`);
    },
    { clock, hardTimeout: 100, name: "slow", ...extra },
  );
  return { cached, runs, signals };
}

Deno.test("a caller waiting on a run rejects with a TimeoutError at exactly hardTimeout from its own call, naming the cache", async () => {
  const clock = new ManualClock();
  const { cached, runs } = slowCache(clock);
  const first = track(cached("a"));
  clock.advance(40);
  const joined = track(cached("a")); // a hit that joins the run at 40
  clock.advance(59);
  await flush();
  assert.equal(first.outcome.state, "pending", "at 99");
  clock.advance(1);
  await flush();
  assert.equal(first.outcome.state, "rejected", "at 100");
  const reason = (first.outcome as { reason: DOMException }).reason;
  assert.ok(reason instanceof DOMException);
  assert.equal(reason.name, "TimeoutError");
  assert.match(reason.message, /slow/);
  assert.match(reason.message, /100/);
  assert.equal(joined.outcome.state, "pending", "the joiner's own deadline");
  clock.advance(39);
  await flush();
  assert.equal(joined.outcome.state, "pending", "at 139");
  clock.advance(1);
  await flush();
  assert.equal(joined.outcome.state, "rejected", "at 140");
  assert.equal(clock.pending, 0, "no deadline once nobody waits");
  // The work goes on: its entry stays, and its value is stored.
  assert.equal(cached.cacheContains("a"), true);
  assert.equal(runs.length, 1);
  runs[0].resolve("late");
  await flush();
  assert.equal(await cached("a"), "a:late");
  assert.deepEqual(cached.cacheInfo(), {
    hits: 2,
    misses: 1,
    maxSize: 128,
    currSize: 1,
  });
  assertWhole(cached);
});

Deno.test("a call that settles before its deadline is untouched, and leaves no deadline behind", async () => {
  const clock = new ManualClock();
  const { cached, runs } = slowCache(clock);
  const call = cached("a");
  assert.equal(clock.pending, 1, "one timer for the deadline");
  clock.advance(99);
  runs[0].resolve("v");
  assert.equal(await call, "a:v");
  assert.equal(clock.pending, 0);
  clock.advance(10);
  assert.equal(await cached("a"), "a:v", "a hit answered at once");
  assert.equal(clock.pending, 0);
});

Deno.test("the deadlines and the expiry share the cache's one timer", async () => {
  const clock = new ManualClock();
  const { cached, runs } = slowCache(clock, { ttl: 1_000 });
  const a = track(cached("a"));
  clock.advance(10);
  const b = track(cached("b"));
  assert.equal(clock.pending, 1);
  runs[0].resolve("1"); // a is kept until 1010
  await flush();
  assert.equal(clock.pending, 1, "one timer for b's deadline and a's expiry");
  clock.advance(100);
  await flush();
  assert.equal(b.outcome.state, "rejected", "b at 110");
  assert.equal(a.outcome.state, "fulfilled");
  assert.equal(clock.pending, 1, "a's expiry");
  runs[1].resolve("2");
  await flush();
  assert.equal(clock.pending, 1);
  clock.advance(900); // 1010
  assert.equal(cached.cacheContains("a"), false);
  assert.equal(cached.cacheContains("b"), true, "kept until 1110");
});

Deno.test("without signal: true the work is never abandoned for callers that timed out; with it, the last caller to leave aborts it", async () => {
  const clock = new ManualClock();
  {
    const { cached, runs } = slowCache(clock);
    const call = track(cached("a"));
    clock.advance(100);
    await flush();
    assert.equal(call.outcome.state, "rejected");
    assert.equal(cached.cacheContains("a"), true, "the entry stays");
    runs[0].resolve("v");
    await flush();
    assert.equal(cached.cacheContains("a"), true);
  }
  {
    const { cached, runs, signals } = slowCache(clock, { signal: true });
    const first = track(cached("a"));
    clock.advance(50);
    const second = track(cached("a"));
    clock.advance(50);
    await flush();
    assert.equal(first.outcome.state, "rejected");
    assert.equal(signals[0].aborted, false, "one caller still waits");
    clock.advance(50);
    await flush();
    assert.equal(second.outcome.state, "rejected");
    assert.equal(signals[0].aborted, true, "the last one left");
    assert.equal((signals[0].reason as DOMException).name, "TimeoutError");
    assert.equal(cached.cacheContains("a"), false, "the entry goes");
    runs[0].resolve("late");
    await flush();
    assert.equal(cached.cacheContains("a"), false, "not stored");
    const again = track(cached("a"));
    assert.equal(runs.length, 2, "the next call misses");
    runs[1].resolve("v");
    await flush();
    assert.deepEqual(again.outcome, { state: "fulfilled", value: "a:v" });
  }
});

Deno.test("a caller with its own signal leaves at whichever comes first, its signal or its deadline", async () => {
  const clock = new ManualClock();
  const { cached, runs } = slowCache(clock, { signal: true });
  const controller = new AbortController();
  const withSignal = track(cached.withSignal(controller.signal, "a"));
  const plain = track(cached("a"));
  clock.advance(30);
  controller.abort(new Error("mine"));
  await flush();
  assert.equal(
    (withSignal.outcome as { reason: Error }).reason.message,
    "mine",
  );
  assert.equal(plain.outcome.state, "pending");
  clock.advance(70);
  await flush();
  assert.equal(plain.outcome.state, "rejected");
  assert.equal(clock.pending, 0);
  assert.equal(runs.length, 1);
});

Deno.test("cacheRefresh's caller has a deadline; answered callers and background refreshes have none", async () => {
  const clock = new ManualClock();
  const { cached, runs } = slowCache(clock, {
    ttl: 10,
    staleWhileRevalidate: 1_000,
  });
  const first = cached("a");
  runs[0].resolve("1");
  assert.equal(await first, "a:1");
  const refresh = track(cached.cacheRefresh("a"));
  clock.advance(100);
  await flush();
  assert.equal(refresh.outcome.state, "rejected", "cacheRefresh timed out");
  runs[1].resolve("2");
  await flush();
  assert.equal(await cached("a"), "a:2", "its value is stored");
  clock.advance(20); // stale now
  assert.equal(await cached("a"), "a:2", "a stale hit, answered at once");
  assert.equal(runs.length, 3, "a background refresh runs");
  clock.advance(500);
  await flush();
  assert.equal(cached.cacheParameters().tasks, 1, "and has no deadline");
  runs[2].resolve("3");
  await flush();
});

Deno.test("callers keep their deadlines through cacheClear; a close without wait rejects them with its AbortError and leaves no timer", async () => {
  const clock = new ManualClock();
  const { cached } = slowCache(clock);
  const call = track(cached("a"));
  cached.cacheClear();
  assert.equal(clock.pending, 1, "the caller's deadline");
  clock.advance(100);
  await flush();
  assert.equal(call.outcome.state, "rejected");
  assert.equal(
    (call.outcome as { reason: DOMException }).reason.name,
    "TimeoutError",
  );
  const other = track(cached("b"));
  await cached.cacheClose();
  await flush();
  assert.equal(
    (other.outcome as { reason: DOMException }).reason.name,
    "AbortError",
  );
  assert.match(
    (other.outcome as { reason: DOMException }).reason.message,
    /slow/,
  );
  assert.equal(clock.pending, 0);
});

Deno.test("deadlines call user code only while the cache is whole", async () => {
  const clock = new ManualClock();
  const { cached, runs } = slowCache(clock, { signal: true, ttl: 50 });
  checkEachEntryToUserCode(cached);
  const a = track(cached("a"));
  const b = track(cached("b"));
  clock.advance(50);
  const a2 = track(cached("a"));
  runs[1].resolve("b");
  await flush();
  clock.advance(50);
  await flush();
  clock.advance(50);
  await flush();
  assert.equal(a.outcome.state, "rejected");
  assert.equal(a2.outcome.state, "rejected");
  assert.equal(b.outcome.state, "fulfilled");
  assertWhole(cached);
});

Deno.test("hardTimeout and softTimeout are checked, and shown in cacheParameters", () => {
  const fn = () => Promise.resolve(1);
  for (const bad of [0, -1, NaN, Infinity]) {
    assert.throws(() => alruCache(fn, { hardTimeout: bad }), RangeError);
  }
  assert.throws(
    () => alruCache(fn, { hardTimeout: "1" as never }),
    (error: Error) =>
      error instanceof TypeError && error.message.includes('"hardTimeout"'),
  );
  assert.throws(
    () => alruCache(fn, { ttl: 1, softTimeout: 10 }),
    (error: Error) =>
      error instanceof TypeError &&
      error.message.includes("softTimeout requires staleIfError"),
  );
  assert.throws(
    () =>
      alruCache(fn, {
        ttl: 1,
        staleIfError: 10,
        softTimeout: 10,
        hardTimeout: 10,
      }),
    (error: Error) =>
      error instanceof RangeError &&
      /softTimeout.*hardTimeout/.test(error.message),
  );
  const cached = alruCache(fn, {
    ttl: 1,
    staleIfError: 10,
    softTimeout: 5,
    hardTimeout: null,
  });
  assert.equal(cached.cacheParameters().softTimeout, 5);
  assert.equal(cached.cacheParameters().hardTimeout, undefined);
  assert.equal(
    alruCache(fn, { hardTimeout: 7 }).cacheParameters().hardTimeout,
    7,
  );
});

Deno.test("a close with wait waits for the work, not the deadlines: a caller may time out while it waits", async () => {
  const clock = new ManualClock();
  const { cached, runs } = slowCache(clock);
  const call = track(cached("a"));
  const closing = track(cached.cacheClose({ wait: true }));
  assert.equal(clock.pending, 1, "the caller keeps its deadline");
  clock.advance(100);
  await flush();
  assert.equal(
    (call.outcome as unknown as { reason: DOMException }).reason.name,
    "TimeoutError",
  );
  assert.equal(closing.outcome.state, "pending", "the work still runs");
  runs[0].resolve("v");
  await flush();
  assert.equal(closing.outcome.state, "fulfilled");
  assert.equal(clock.pending, 0);
});

Deno.test("with a store, waiting for another process's lease is waiting: the caller times out", async () => {
  const { memoryStore } = await import("../memory.ts");
  const clock = new ManualClock();
  const store = memoryStore({ clock });
  const slow = deferred<number>();
  const holder = alruCache((_key: string) => slow.promise, {
    clock,
    ttl: 10_000,
    store,
  });
  const waiter = alruCache((_key: string) => Promise.resolve(2), {
    clock,
    ttl: 10_000,
    store,
    hardTimeout: 100,
  });
  const first = track(holder("k"));
  await flush();
  const second = track(waiter("k"));
  await flush();
  clock.advance(100);
  await flush();
  assert.equal(
    (second.outcome as unknown as { reason: DOMException }).reason.name,
    "TimeoutError",
  );
  slow.resolve(1);
  await flush();
  assert.deepEqual(first.outcome, { state: "fulfilled", value: 1 });
  await holder.cacheClose();
  await waiter.cacheClose();
});
