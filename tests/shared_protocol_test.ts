/**
 * The shared tier's protocol (§13.4 to §13.7), in one process: several
 * caches sharing one memoryStore play the processes of a fleet, on one
 * ManualClock that moves the functions, the stores' values, leases and
 * waits, and the caches' lease renewals and storeTimeout together. Leases,
 * storeTimeout and ttl are minutes long, and no test sleeps: what would take
 * minutes takes milliseconds. What needs a real server or real processes
 * (the fleet, pub/sub, a server that stops) is in the other shared_*_test.ts
 * files; what each store must do, in store_contract.ts.
 */

import assert from "node:assert/strict";
import { alruCache, type CacheStore, ManualClock } from "../mod.ts";
import { memoryStore } from "../memory.ts";
import { counting } from "./shared/clients.ts";
import { never, sleepOn, wrapStore } from "./shared/stores.ts";
import { deferred, track } from "./_helpers.ts";

const MINUTE = 60_000;
const LEASE = 2 * MINUTE;
const STORE_TIMEOUT = MINUTE;
const TTL = 10 * MINUTE;

interface Run {
  readonly key: string;
  readonly cache: string;
  readonly value: string;
}

/**
 * A cache on `store`, as a process named `name` would have it: its
 * function sleeps `fnMs` of the clock's time, if any, then returns a value
 * naming the run (or rejects, while `fail` is set).
 */
function processOn(
  clock: ManualClock,
  store: CacheStore,
  name: string,
  runs: Run[],
  options: { fnMs?: number; lease?: number; ttl?: number } = {},
) {
  const state = { fail: false };
  const cached = alruCache(async (key: string) => {
    const run = {
      key,
      cache: name,
      value: `${key} from ${name} #${runs.length + 1}`,
    };
    runs.push(run);
    if (options.fnMs) await sleepOn(clock, options.fnMs);
    if (state.fail) throw new Error(`${name} failed on purpose`);
    return run.value;
  }, {
    ttl: options.ttl ?? TTL,
    lease: options.lease ?? LEASE,
    storeTimeout: STORE_TIMEOUT,
    clock,
    store,
  });
  return Object.assign(cached, { state });
}

Deno.test("four caches sharing a store run fn once per key, and every caller gets that run's value as soon as it is written", async () => {
  const clock = new ManualClock();
  const store = memoryStore({ clock });
  const runs: Run[] = [];
  const caches = ["a", "b", "c", "d"].map((name) =>
    processOn(clock, store, name, runs, { fnMs: 50 })
  );
  const keys = ["k0", "k1", "k2", "k3", "k4"];
  const calls = caches.flatMap((cached) =>
    keys.flatMap((key) => [cached(key), cached(key)])
  ).map(track);
  await clock.advanceAsync(50);
  // Waiters were woken by the writes: their waits last the lease (minutes).
  assert.ok(calls.every((call) => call.outcome.state === "fulfilled"));
  assert.equal(runs.length, keys.length, JSON.stringify(runs));
  const served = new Map<string, Set<unknown>>();
  calls.forEach((call, i) => {
    const key = keys[Math.floor(i / 2) % keys.length];
    const value = (call.outcome as { value: unknown }).value;
    if (!served.has(key)) served.set(key, new Set());
    served.get(key)!.add(value);
  });
  for (const key of keys) {
    const values = [...served.get(key)!];
    assert.deepEqual(values, [runs.find((r) => r.key === key)!.value]);
  }
  for (const cached of caches) {
    assert.equal(cached.cacheStats().storeErrors, 0);
    await cached.cacheClose();
  }
});

Deno.test("a value in the store is read, not computed; a key with no value is computed by the one cache that took its lease", async () => {
  const clock = new ManualClock();
  const store = counting(memoryStore({ clock }));
  const runs: Run[] = [];
  const a = processOn(clock, store.store, "a", runs);
  const b = processOn(clock, store.store, "b", runs);
  assert.equal(await a("k"), "k from a #1");
  assert.equal(await b("k"), "k from a #1", "b computed instead of reading");
  assert.equal(runs.length, 1);
  assert.equal(store.calls.get("write"), 1);
  assert.equal(store.calls.get("readOrLease"), 2);
  await a.cacheClose();
  await b.cacheClose();
});

Deno.test("lease renewal runs on the cache's clock: a function that takes 5 minutes under a 30 s lease keeps its key, and another cache waits for its value", async () => {
  const clock = new ManualClock();
  const store = counting(memoryStore({ clock }));
  const runs: Run[] = [];
  const options = { fnMs: 5 * MINUTE, lease: 30_000 };
  const a = processOn(clock, store.store, "a", runs, options);
  const b = processOn(clock, store.store, "b", runs, options);
  const first = track(a("slow"));
  await clock.advanceAsync(1_000);
  const second = track(b("slow"));
  // Past the lease many times over: only its renewals keep b waiting.
  await clock.advanceAsync(5 * MINUTE - 2_000);
  assert.equal(second.outcome.state, "pending");
  assert.equal(runs.length, 1, `b ran too: ${JSON.stringify(runs)}`);
  await clock.advanceAsync(1_000);
  assert.deepEqual(first.outcome, {
    state: "fulfilled",
    value: "slow from a #1",
  });
  assert.deepEqual(second.outcome, first.outcome);
  // Renewed every third of the lease, 10 s, while fn ran.
  const renewals = store.calls.get("renew") ?? 0;
  assert.ok(renewals >= 29 && renewals <= 30, `${renewals} renewals`);
  await a.cacheClose();
  await b.cacheClose();
});

Deno.test("a rejection is never written: its lease is released, a waiting cache takes it and computes, and nobody keeps the failure", async () => {
  const clock = new ManualClock();
  const store = counting(memoryStore({ clock }));
  const runs: Run[] = [];
  const a = processOn(clock, store.store, "a", runs, { fnMs: 100 });
  const b = processOn(clock, store.store, "b", runs, { fnMs: 100 });
  a.state.fail = true;
  const failed = track(a("k"));
  const waiting = track(b("k"));
  await clock.advanceAsync(100);
  assert.equal(failed.outcome.state, "rejected");
  assert.match(
    String((failed.outcome as { reason: unknown }).reason),
    /a failed/,
  );
  // b took the released lease at once, not after the lease ran out.
  assert.equal(runs.length, 2);
  assert.equal(runs[1].cache, "b");
  await clock.advanceAsync(100);
  assert.deepEqual(waiting.outcome, {
    state: "fulfilled",
    value: "k from b #2",
  });
  assert.equal(store.calls.get("write"), 1, "only b's value was written");
  // What the store holds is b's value: a reads it.
  a.state.fail = false;
  assert.equal(await a("k"), "k from b #2");
  assert.equal(runs.length, 2);

  // A failure with nobody waiting leaves no lease either.
  a.state.fail = true;
  const alone = track(a("k2"));
  await clock.advanceAsync(100);
  assert.equal(alone.outcome.state, "rejected");
  const next = track(b("k2"));
  await clock.advanceAsync(100);
  assert.deepEqual(next.outcome, { state: "fulfilled", value: "k2 from b #4" });
  await a.cacheClose();
  await b.cacheClose();
});

Deno.test("an invalidation and a clear reach the other caches: their copies go, and their next call is a miss", async () => {
  const clock = new ManualClock();
  const store = memoryStore({ clock });
  const runs: Run[] = [];
  const a = processOn(clock, store, "a", runs);
  const b = processOn(clock, store, "b", runs);
  for (const key of ["k", "j", "i"]) {
    await a(key);
    await b(key);
  }
  assert.equal(runs.length, 3);
  assert.equal(await a.cacheInvalidate("k"), true);
  await clock.advanceAsync(0);
  assert.equal(b.cacheContains("k"), false, "b kept an invalidated copy");
  assert.ok(b.cacheContains("j"));
  assert.equal(await b("k"), "k from b #4");

  await b.cacheClear();
  await clock.advanceAsync(0);
  assert.deepEqual(
    ["k", "j", "i"].map((key) => a.cacheContains(key)),
    [false, false, false],
    "a kept copies after b's clear",
  );
  // The store's values went too: a computes.
  assert.equal(await a("j"), "j from a #5");
  await a.cacheClose();
  await b.cacheClose();
});

for (const op of ["cacheInvalidate", "cacheClear"] as const) {
  Deno.test(`${op} during a run wins over that run's write: its callers get the value, but no other cache ever reads it`, async () => {
    const clock = new ManualClock();
    const store = memoryStore({ clock });
    const runs: Run[] = [];
    const slow = processOn(clock, store, "slow", runs, { fnMs: MINUTE });
    const other = processOn(clock, store, "other", runs);
    const reader = processOn(clock, store, "reader", runs);
    const running = track(slow("k"));
    await clock.advanceAsync(1_000);
    if (op === "cacheInvalidate") await other.cacheInvalidate("k");
    else await other.cacheClear();
    await clock.advanceAsync(MINUTE);
    assert.deepEqual(running.outcome, {
      state: "fulfilled",
      value: "k from slow #1",
    });
    assert.equal(await reader("k"), "k from reader #2", `the ${op} lost`);
    for (const cached of [slow, other, reader]) await cached.cacheClose();
  });
}

Deno.test("a miss waits for its cache's subscription to open before it reads the store, so the value it reads hears its invalidation", async () => {
  const clock = new ManualClock();
  const inner = counting(memoryStore({ clock }));
  const opened = deferred<void>();
  const slowToListen = wrapStore(inner.store, {
    subscribe: async (...args) => {
      await opened.promise;
      return inner.store.subscribe(...args);
    },
  });
  const runs: Run[] = [];
  const writer = processOn(clock, inner.store, "writer", runs);
  const reader = processOn(clock, slowToListen, "reader", runs);
  await writer("k");
  const reads = inner.calls.get("readOrLease");
  const read = track(reader("k"));
  await clock.advanceAsync(0);
  assert.equal(inner.calls.get("readOrLease"), reads, "read before listening");
  opened.resolve();
  await clock.advanceAsync(0);
  assert.deepEqual(read.outcome, {
    state: "fulfilled",
    value: "k from writer #1",
  });
  assert.equal(await writer.cacheInvalidate("k"), true);
  await clock.advanceAsync(0);
  assert.equal(reader.cacheContains("k"), false, "the invalidation was missed");
  assert.equal(reader.cacheStats().storeErrors, 0);
  await writer.cacheClose();
  await reader.cacheClose();
});

Deno.test("cacheClose() does not wait past storeTimeout for a subscription that never opens", async () => {
  const clock = new ManualClock();
  const store = wrapStore(memoryStore({ clock }), { subscribe: () => never() });
  const runs: Run[] = [];
  const cached = processOn(clock, store, "a", runs);
  const call = track(cached("k"));
  // The miss gives up on the subscription after storeTimeout, and goes on.
  await clock.advanceAsync(STORE_TIMEOUT);
  assert.deepEqual(call.outcome, { state: "fulfilled", value: "k from a #1" });
  assert.ok(cached.cacheStats().storeErrors >= 1);
  const closing = track(cached.cacheClose());
  await clock.advanceAsync(STORE_TIMEOUT);
  // A few real turns for the close to settle, bounded.
  for (let i = 0; i < 10 && closing.outcome.state === "pending"; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assert.equal(
    closing.outcome.state,
    "fulfilled",
    "cacheClose() still waits for a subscription that never opened, storeTimeout after it began",
  );
});

Deno.test("with ttl 0 nothing is written, and the lease keeps two caches' runs from overlapping", async () => {
  const clock = new ManualClock();
  const store = counting(memoryStore({ clock }));
  const spans: [number, number][] = [];
  const make = () =>
    alruCache(async (key: string) => {
      const span: [number, number] = [clock.now(), Infinity];
      spans.push(span);
      await sleepOn(clock, 100);
      span[1] = clock.now();
      return `${key} ${spans.length}`;
    }, {
      ttl: 0,
      lease: LEASE,
      storeTimeout: STORE_TIMEOUT,
      clock,
      store: store.store,
    });
  const a = make();
  const b = make();
  const both = Promise.all([a("k"), b("k")]);
  await clock.advanceAsync(200);
  assert.deepEqual(await both, ["k 1", "k 2"]);
  // The waiter ran once the holder released its lease, not before.
  assert.deepEqual(spans, [[0, 100], [100, 200]]);
  assert.equal(store.calls.get("write"), undefined, "a value was written");
  const again = track(b("k"));
  await clock.advanceAsync(100);
  assert.deepEqual(again.outcome, { state: "fulfilled", value: "k 3" });
  await a.cacheClose();
  await b.cacheClose();
});

Deno.test("cacheClose() releases a held lease at once, so another cache computes the key, and closes its subscription; with wait it still waits for the run", async () => {
  const clock = new ManualClock();
  const inner = memoryStore({ clock });
  let subscriptions = 0;
  const store = wrapStore(inner, {
    subscribe: async (...args) => {
      const subscription = await inner.subscribe(...args);
      subscriptions++;
      return {
        close: () => {
          subscriptions--;
          return subscription.close();
        },
      };
    },
  });
  const gate = deferred<string>();
  const started = deferred<void>();
  const holder = alruCache(async (_: string) => {
    started.resolve();
    return await gate.promise;
  }, { ttl: TTL, lease: LEASE, storeTimeout: STORE_TIMEOUT, clock, store });
  const call = holder("k");
  await started.promise;
  assert.equal(subscriptions, 1);
  const closing = track(holder.cacheClose({ wait: true }));
  await clock.advanceAsync(0);
  assert.equal(subscriptions, 0, "the subscription is still open");
  const next = alruCache((_: string) => "from next", {
    ttl: TTL,
    lease: LEASE,
    clock,
    store: inner,
  });
  // No time passes: the lease is free now, not when it would have ended.
  const computed = track(next("k"));
  await clock.advanceAsync(0);
  assert.deepEqual(computed.outcome, {
    state: "fulfilled",
    value: "from next",
  });
  assert.equal(
    closing.outcome.state,
    "pending",
    "close did not wait for the run",
  );
  gate.resolve("from holder");
  assert.equal(await call, "from holder");
  await clock.advanceAsync(0);
  assert.equal(closing.outcome.state, "fulfilled");
  await next.cacheClose();
});

Deno.test("storeTimeout is measured on the cache's clock: a readOrLease that never answers sends the call to run locally once the clock passes storeTimeout, not before, and counts one store error", async () => {
  const clock = new ManualClock();
  const store = wrapStore(memoryStore({ clock }), {
    readOrLease: () => never(),
  });
  let runs = 0;
  const cached = alruCache(async (key: string) => {
    runs++;
    return await Promise.resolve(`${key} here`);
  }, { ttl: TTL, storeTimeout: 60_000, lease: LEASE, clock, store });
  const started = performance.now();
  const call = track(cached("k"));
  await clock.advanceAsync(59_999);
  assert.equal(runs, 0, "ran before storeTimeout");
  assert.equal(call.outcome.state, "pending");
  await clock.advanceAsync(1);
  assert.equal(runs, 1, "did not run once storeTimeout passed on the clock");
  assert.deepEqual(call.outcome, { state: "fulfilled", value: "k here" });
  assert.equal(cached.cacheStats().storeErrors, 1);
  assert.ok(performance.now() - started < 1_000, "real time passed");
  await cached.cacheClose();
});

Deno.test("a lease granted after its readOrLease timed out is released, so another cache computes the key at once", async () => {
  const clock = new ManualClock();
  const inner = memoryStore({ clock });
  const answer = deferred<void>();
  const late = wrapStore(inner, {
    readOrLease: async (...args) => {
      await answer.promise;
      return inner.readOrLease(...args);
    },
  });
  const runs: Run[] = [];
  const a = processOn(clock, late, "a", runs);
  const b = processOn(clock, inner, "b", runs);
  const call = track(a("k"));
  await clock.advanceAsync(STORE_TIMEOUT);
  assert.deepEqual(call.outcome, { state: "fulfilled", value: "k from a #1" });
  assert.equal(a.cacheStats().storeErrors, 1);
  answer.resolve(); // the store answers now, with a lease for nobody
  await clock.advanceAsync(0);
  const next = track(b("k"));
  await clock.advanceAsync(0);
  assert.deepEqual(next.outcome, { state: "fulfilled", value: "k from b #2" });
  await a.cacheClose();
  await b.cacheClose();
});

Deno.test("a write that never answers delays the holder's callers by storeTimeout, is counted, and its lease is released for the next cache", async () => {
  const clock = new ManualClock();
  const inner = counting(memoryStore({ clock }));
  const stuck = wrapStore(inner.store, { write: () => never() });
  const runs: Run[] = [];
  const a = processOn(clock, stuck, "a", runs);
  const b = processOn(clock, inner.store, "b", runs);
  const call = track(a("k"));
  await clock.advanceAsync(STORE_TIMEOUT - 1);
  assert.equal(call.outcome.state, "pending");
  await clock.advanceAsync(1);
  assert.deepEqual(call.outcome, { state: "fulfilled", value: "k from a #1" });
  assert.equal(a.cacheStats().storeErrors, 1);
  await clock.advanceAsync(0);
  assert.equal(inner.calls.get("release"), 1, "the lease was not released");
  assert.equal(await b("k"), "k from b #2");
  await a.cacheClose();
  await b.cacheClose();
});
