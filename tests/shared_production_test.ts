/**
 * The shared tier under the failures a fleet meets in production, in one
 * process on memoryStore and a ManualClock: a cache closed while it waits on
 * another's lease, a lease no live process holds, a store that is down (the
 * circuit breaker), a subscription that was lost and is back, and an
 * invalidation whose other processes do not acknowledge it.
 */

import assert from "node:assert/strict";
import {
  alruCache,
  type CacheEvent,
  type CacheStore,
  ManualClock,
  type StoreEvent,
  UnacknowledgedNoticeError,
} from "../mod.ts";
import { memoryStore } from "../memory.ts";
import { never, sleepOn, wrapStore } from "./shared/stores.ts";
import { assertWhole, track } from "./_helpers.ts";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const LEASE = 30 * SECOND;
const STORE_TIMEOUT = 5 * SECOND;
const TTL = 10 * MINUTE;

/**
 * A cache on `store` as a process named `name` would have it: its function
 * takes `fnMs` of the clock's time and names the run; `runs` lists them.
 */
function processOn(
  clock: ManualClock,
  store: CacheStore,
  name: string,
  runs: string[],
  options: {
    fnMs?: number;
    events?: CacheEvent[];
    breakerThreshold?: number;
    breakerCooldown?: number;
  } = {},
) {
  return alruCache(async (key: string) => {
    runs.push(`${key} by ${name}`);
    if (options.fnMs) await sleepOn(clock, options.fnMs);
    return `${key} from ${name} #${runs.length}`;
  }, {
    ttl: TTL,
    lease: LEASE,
    storeTimeout: STORE_TIMEOUT,
    clock,
    store,
    key: (key: string) => key,
    onEvent: options.events
      ? (event) => options.events!.push(event)
      : undefined,
    breakerThreshold: options.breakerThreshold,
    breakerCooldown: options.breakerCooldown,
  });
}

Deno.test("a cache closed while a call waits on another process's lease starts no work: the caller is rejected and fn never runs there", async () => {
  const clock = new ManualClock();
  const store = memoryStore({ clock });
  const runs: string[] = [];
  const holder = processOn(clock, store, "holder", runs, { fnMs: MINUTE });
  const waiter = processOn(clock, store, "waiter", runs);
  const held = track(holder("k"));
  await clock.advanceAsync(0);
  const waiting = track(waiter("k"));
  await clock.advanceAsync(0);
  await waiter.cacheClose();
  await clock.advanceAsync(0);
  assert.equal(waiting.outcome.state, "rejected");
  await clock.advanceAsync(MINUTE);
  assert.equal(held.outcome.state, "fulfilled");
  assert.deepEqual(runs, ["k by holder"], "the closed cache ran fn");
  assert.deepEqual(waiter.cacheStats().runFailures, 0);
  await holder.cacheClose();
});

Deno.test("a lease with no end, which no cache took, is waited for a few leases' worth, then the call counts a store error and runs fn here; a live holder's long run is waited for", async () => {
  const clock = new ManualClock();
  const store = memoryStore({ clock });
  // As a key left by another program, or a lease someone made persistent.
  const planted = await store.readOrLease("stuck", Infinity);
  assert.equal(planted.status, "leased");
  const runs: string[] = [];
  const events: CacheEvent[] = [];
  const cached = processOn(clock, store, "here", runs, { events });
  const call = track(cached("stuck"));
  await clock.advanceAsync(3 * LEASE - 1);
  assert.equal(call.outcome.state, "pending", "gave up early");
  assert.deepEqual(runs, []);
  await clock.advanceAsync(1);
  await clock.advanceAsync(0);
  assert.equal(call.outcome.state, "fulfilled", "waited without a bound");
  assert.deepEqual(runs, ["stuck by here"]);
  assert.equal(cached.cacheStats().storeErrors, 1);
  const error = events.find((event) => event.type === "storeError")?.error;
  assert.match(String(error), /LeaseWaitError: the lease of key "stuck"/);

  // A holder that renews is alive however long it runs.
  const holder = processOn(clock, store, "holder", runs, {
    fnMs: 10 * LEASE,
  });
  const held = track(holder("long"));
  await clock.advanceAsync(0);
  const waiting = track(cached("long"));
  await clock.advanceAsync(10 * LEASE);
  await clock.advanceAsync(0);
  assert.equal(held.outcome.state, "fulfilled");
  assert.equal(waiting.outcome.state, "fulfilled");
  assert.deepEqual(runs, ["stuck by here", "long by holder"]);
  assert.equal(cached.cacheStats().storeErrors, 1);
  await Promise.all([cached.cacheClose(), holder.cacheClose()]);
});

/** `store` with a switch: while `down`, every operation hangs, as a server that stopped answering. */
function switchable(store: CacheStore) {
  const state = { down: false, asked: 0 };
  const gate = <T>(operation: () => Promise<T>): Promise<T> => {
    state.asked++;
    return state.down ? never<T>() : operation();
  };
  const wrapped = wrapStore(store, {
    readOrLease: (...args) => gate(() => store.readOrLease(...args)),
    wait: (...args) => gate(() => store.wait(...args)),
    write: (...args) => gate(() => store.write(...args)),
    renew: (...args) => gate(() => store.renew(...args)),
    release: (...args) => gate(() => store.release(...args)),
    delete: (...args) => gate(() => store.delete(...args)),
    clear: (...args) => gate(() => store.clear(...args)),
  });
  return { store: wrapped, state };
}

Deno.test("the circuit breaker: after breakerThreshold consecutive store failures calls stop asking the store and answer in fn's own time; after breakerCooldown one call tries again, and sharing resumes", async () => {
  const clock = new ManualClock();
  const shared = memoryStore({ clock });
  const { store, state } = switchable(shared);
  const runs: string[] = [];
  const events: CacheEvent[] = [];
  const fnMs = 50;
  const options = {
    fnMs,
    events,
    breakerThreshold: 3,
    breakerCooldown: 10 * SECOND,
  };
  const cached = processOn(clock, store, "here", runs, options);
  // Answers a call once the clock has moved fn's time.
  const answer = async (call: Promise<string>) => {
    await clock.advanceAsync(fnMs);
    return await call;
  };
  await answer(cached("warm"));
  state.down = true;
  // Three calls, each waiting storeTimeout for a store that does not answer.
  for (const key of ["a", "b", "c"]) {
    const call = track(cached(key));
    await clock.advanceAsync(STORE_TIMEOUT + fnMs);
    assert.equal(call.outcome.state, "fulfilled");
  }
  assert.equal(cached.cacheStats().storeErrors, 3);
  assert.equal(cached.cacheStats().breakerOpenings, 1);
  assert.deepEqual(
    events.filter((e) => e.type.startsWith("breaker")).map((e) => e.type),
    ["breakerOpen"],
  );
  // Open: a call costs fn's time, and asks the store nothing.
  const asked = state.asked;
  const fast = track(cached("d"));
  await clock.advanceAsync(fnMs);
  assert.equal(fast.outcome.state, "fulfilled", "an open breaker waited");
  assert.equal(state.asked, asked, "an open breaker asked the store");
  assert.equal(cached.cacheStats().storeErrors, 3);

  // After the cool-down, one call tries the store; it is still down, so the
  // breaker stays open for another cool-down, with no second opening.
  await clock.advanceAsync(10 * SECOND);
  const probe = track(cached("e"));
  const beside = track(cached("f"));
  await clock.advanceAsync(fnMs);
  assert.equal(beside.outcome.state, "fulfilled", "a second call tried too");
  await clock.advanceAsync(STORE_TIMEOUT);
  assert.equal(probe.outcome.state, "fulfilled");
  assert.equal(cached.cacheStats().storeErrors, 4);
  assert.equal(cached.cacheStats().breakerOpenings, 1);

  // The server is back: within one cool-down a call reaches it, the breaker
  // closes, and what this process computes is shared again.
  state.down = false;
  await clock.advanceAsync(10 * SECOND);
  const computed = await answer(cached("g"));
  assert.equal(cached.cacheStats().breakerClosings, 1);
  assert.deepEqual(
    events.filter((e) => e.type.startsWith("breaker")).map((e) => e.type),
    ["breakerOpen", "breakerClose"],
  );
  const other = processOn(clock, shared, "other", runs);
  assert.equal(await other("g"), computed);
  assert.equal(runs.filter((run) => run.startsWith("g ")).length, 1);
  assert.equal(
    cached.cacheStats().storeErrors,
    4,
    "the breaker's try counted twice",
  );
  await Promise.all([cached.cacheClose(), other.cacheClose()]);
});

Deno.test("breakerThreshold: Infinity never opens the breaker, and the options are checked", async () => {
  const clock = new ManualClock();
  const { store, state } = switchable(memoryStore({ clock }));
  const runs: string[] = [];
  const cached = processOn(clock, store, "here", runs, {
    breakerThreshold: Infinity,
  });
  state.down = true;
  for (let i = 0; i < 20; i++) {
    const call = track(cached(`k${i}`));
    await clock.advanceAsync(STORE_TIMEOUT);
    assert.equal(call.outcome.state, "fulfilled");
  }
  assert.equal(cached.cacheStats().storeErrors, 20);
  assert.equal(cached.cacheStats().breakerOpenings, 0);
  await cached.cacheClose();
  for (
    const [name, value] of [
      ["breakerThreshold", 0],
      ["breakerThreshold", 1.5],
      ["breakerCooldown", -1],
      ["breakerCooldown", Infinity],
    ] as const
  ) {
    assert.throws(
      () =>
        alruCache(() => Promise.resolve(1), { ttl: 1, store, [name]: value }),
      (error: Error) => error.message.includes(`"${name}"`),
      `${name}: ${value}`,
    );
  }
  assert.throws(
    () => alruCache(() => Promise.resolve(1), { ttl: 1, breakerCooldown: 5 }),
    /breakerCooldown.*store/,
  );
});

Deno.test("a subscription that was lost and is back drops every local copy, since invalidations may have been missed, and counts storeGaps", async () => {
  const clock = new ManualClock();
  const shared = memoryStore({ clock });
  const listeners: ((event: StoreEvent) => void)[] = [];
  const store = wrapStore(shared, {
    subscribe(listener, onError) {
      listeners.push(listener);
      return shared.subscribe(listener, onError);
    },
  });
  const runs: string[] = [];
  const events: CacheEvent[] = [];
  const cached = processOn(clock, store, "here", runs, { events });
  await cached("a");
  await cached("b");
  assert.equal(cached.cacheInfo().currSize, 2);
  assert.equal(listeners.length, 1);
  listeners[0]({ type: "gap" });
  assert.equal(cached.cacheInfo().currSize, 0, "copies from before the gap");
  assert.equal(cached.cacheStats().storeGaps, 1);
  assert.deepEqual(
    events.filter((event) => event.type === "storeGap"),
    [{ type: "storeGap", key: undefined, name: "anonymous" }],
  );
  // Read again from the store, not computed again.
  await cached("a");
  assert.deepEqual(runs, ["a by here", "b by here"]);
  await cached.cacheClose();
});

Deno.test("cacheInvalidate resolves once the other processes have dropped their copies: no turn of the clock needed", async () => {
  const clock = new ManualClock();
  const store = memoryStore({ clock });
  const runs: string[] = [];
  const here = processOn(clock, store, "here", runs);
  const there = processOn(clock, store, "there", runs);
  await here("k");
  await there("k");
  assert.equal(there.cacheContains("k"), true);
  assert.equal(await here.cacheInvalidate("k"), true);
  assert.equal(there.cacheContains("k"), false, "resolved before the drop");
  await there("j");
  await here.cacheClear();
  assert.equal(there.cacheContains("j"), false, "clear resolved first");
  await Promise.all([here.cacheClose(), there.cacheClose()]);
});

Deno.test("an invalidation the other processes do not acknowledge rejects, saying so, and counts a store error; the local drop stands", async () => {
  const clock = new ManualClock();
  const shared = memoryStore({ clock });
  const store = wrapStore(shared, {
    async delete(key, options) {
      await shared.delete(key);
      // As a store whose notice reached a process that did not answer.
      await sleepOn(clock, options?.timeoutMs ?? 1_000);
      throw new UnacknowledgedNoticeError(`the delete of ${key}`, {
        reached: 3,
        acknowledged: 2,
        timeoutMs: options?.timeoutMs ?? 1_000,
      });
    },
  });
  const runs: string[] = [];
  const events: CacheEvent[] = [];
  const cached = processOn(clock, store, "here", runs, { events });
  await cached("k");
  const invalidation = track(cached.cacheInvalidate("k"));
  await clock.advanceAsync(0);
  assert.equal(cached.cacheContains("k"), false);
  await clock.advanceAsync(STORE_TIMEOUT);
  assert.equal(invalidation.outcome.state, "rejected");
  const reason = (invalidation.outcome as { reason: unknown }).reason;
  assert.ok(reason instanceof UnacknowledgedNoticeError);
  assert.match(
    reason.message,
    /reached 3 processes, of which 1 did not acknowledge it within 5000 ms/,
  );
  assert.equal(cached.cacheStats().storeErrors, 1);
  assert.equal(cached.cacheStats().breakerOpenings, 0);
  await cached.cacheClose();
});

Deno.test("a subscription that failed to open is tried again after breakerCooldown, so invalidations reach the cache once the store lets it listen", async () => {
  const clock = new ManualClock();
  const shared = memoryStore({ clock });
  let attempts = 0;
  const store = wrapStore(shared, {
    subscribe(listener, onError) {
      attempts++;
      if (attempts === 1) {
        return Promise.reject(new Error("the subscriber could not connect"));
      }
      return shared.subscribe(listener, onError);
    },
  });
  const runs: string[] = [];
  const options = { breakerCooldown: 10 * SECOND };
  const here = processOn(clock, store, "here", runs, options);
  const there = processOn(clock, shared, "there", runs);
  await here("a");
  assert.equal(here.cacheStats().storeErrors, 1);
  await clock.advanceAsync(SECOND);
  await here("b");
  assert.equal(attempts, 1, "tried again before the cool-down");
  await clock.advanceAsync(10 * SECOND);
  await here("c");
  assert.equal(attempts, 2);
  assert.equal(here.cacheStats().storeErrors, 1);
  await there.cacheInvalidate("c");
  assert.equal(here.cacheContains("c"), false, "the invalidation was lost");
  await Promise.all([here.cacheClose(), there.cacheClose()]);
});

Deno.test("onEvent may call the cache back when a store timeout opens the breaker: the operation it starts is bound as any other", async () => {
  const clock = new ManualClock();
  const { store, state } = switchable(memoryStore({ clock }));
  let started: Promise<boolean> | undefined;
  const cached = alruCache((key: string) => Promise.resolve(key), {
    ttl: TTL,
    storeTimeout: STORE_TIMEOUT,
    breakerThreshold: 1,
    clock,
    store,
    key: (key: string) => key,
    onEvent(event) {
      if (event.type === "breakerOpen") started = cached.cacheInvalidate("k");
    },
  });
  state.down = true;
  const call = track(cached("a"));
  await clock.advanceAsync(STORE_TIMEOUT);
  assert.equal(call.outcome.state, "fulfilled");
  assert.ok(started !== undefined, "the breaker did not open");
  const invalidation = track(started);
  await clock.advanceAsync(2 * STORE_TIMEOUT - 1);
  assert.equal(invalidation.outcome.state, "pending");
  await clock.advanceAsync(1);
  assert.equal(invalidation.outcome.state, "rejected");
  assertWhole(cached);
  await cached.cacheClose();
});
