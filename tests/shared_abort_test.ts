/**
 * The shared work being aborted (§9, §13.4): once every caller of a run has
 * aborted, the run's signal aborts, and a lease the run holds is released at
 * once (by token), never renewed again, whether or not the function stops;
 * the value the function still returns is not written, and a run that had
 * not taken the lease yet stops waiting for it and never runs the function.
 * The release delays no caller, is bounded by `storeTimeout`, and its
 * failure is counted, never unhandled.
 *
 * Each process is played by a cache on one memoryStore, on a ManualClock
 * that moves the store's leases and waits with the caches' timers; no time
 * passes unless a test moves the clock.
 */

import assert from "node:assert/strict";
import { alruCache, type CacheStore, ManualClock } from "../mod.ts";
import { memoryStore } from "../memory.ts";
import { counting } from "./shared/clients.ts";
import { never, wrapStore } from "./shared/stores.ts";
import { assertAbortError, deferred, track } from "./_helpers.ts";

const LEASE = 3 * 60_000;
const STORE_TIMEOUT = 60_000;

/** A cache with `signal: true` whose function ignores its signal. */
function stubborn(clock: ManualClock, store: CacheStore) {
  const gate = deferred<string>();
  const started = deferred<void>();
  const state = { runs: 0, aborted: false, gate, started };
  const cached = alruCache(
    async (_key: string, signal: AbortSignal) => {
      state.runs++;
      signal.addEventListener("abort", () => state.aborted = true);
      started.resolve();
      return await gate.promise;
    },
    {
      ttl: 60_000,
      lease: LEASE,
      storeTimeout: STORE_TIMEOUT,
      signal: true,
      clock,
      store,
    },
  );
  return { cached, state };
}

/** A plain cache that says which process computed. */
function plain(clock: ManualClock, store: CacheStore, name: string) {
  let runs = 0;
  return alruCache(
    async (key: string) =>
      await Promise.resolve(`${key} from ${name} ${++runs}`),
    { ttl: 60_000, lease: LEASE, storeTimeout: STORE_TIMEOUT, clock, store },
  );
}

Deno.test("aborting the shared work releases its lease at once, though fn goes on", async () => {
  const clock = new ManualClock();
  const store = counting(memoryStore({ clock }));
  const a = stubborn(clock, store.store);
  const b = plain(clock, store.store, "b");
  try {
    const caller = new AbortController();
    const call = track(a.cached.withSignal(caller.signal, "k"));
    await a.state.started.promise; // a holds the lease and runs fn
    caller.abort();
    await clock.advanceAsync(0);
    assertAbortError(call);
    assert.ok(a.state.aborted, "the work's signal aborted");
    assert.equal(store.calls.get("release"), 1);
    // b computes the key now, with no time passing, rather than wait for
    // a's fn however long it runs, or for the lease to end.
    const next = track(b("k"));
    await clock.advanceAsync(0);
    assert.deepEqual(next.outcome, { state: "fulfilled", value: "k from b 1" });
    // Nor is the lease renewed afterwards.
    await clock.advanceAsync(LEASE);
    assert.equal(
      store.calls.get("renew"),
      undefined,
      "renewed after the abort",
    );
  } finally {
    a.state.gate.resolve("late from a");
    await a.cached.cacheClose();
    await b.cacheClose();
  }
});

Deno.test("the value an aborted run still returns is never written", async () => {
  const clock = new ManualClock();
  const inner = memoryStore({ clock });
  const store = counting(inner);
  const a = stubborn(clock, store.store);
  const b = plain(clock, inner, "b");
  try {
    const caller = new AbortController();
    const call = track(a.cached.withSignal(caller.signal, "k"));
    await a.state.started.promise;
    caller.abort();
    a.state.gate.resolve("late from a");
    await clock.advanceAsync(0);
    assertAbortError(call);
    assert.equal(await b("k"), "k from b 1", "b was served a's late value");
    assert.equal(store.calls.get("write"), undefined, "a wrote");
    assert.equal(a.cached.cacheContains("k"), false);
  } finally {
    a.state.gate.resolve("late from a");
    await a.cached.cacheClose();
    await b.cacheClose();
  }
});

Deno.test("a run aborted while it waits for another cache's lease stops waiting and never runs fn", async () => {
  const clock = new ManualClock();
  const inner = memoryStore({ clock });
  const store = counting(inner);
  const a = stubborn(clock, store.store);
  a.state.gate.resolve("from a");
  const gate = deferred<string>();
  const started = deferred<void>();
  const b = alruCache(async (_key: string) => {
    started.resolve();
    return await gate.promise;
  }, { ttl: 60_000, lease: LEASE, clock, store: inner });
  try {
    const held = track(b("k"));
    await started.promise; // b holds the lease
    const caller = new AbortController();
    const call = track(a.cached.withSignal(caller.signal, "k"));
    await clock.advanceAsync(0);
    assert.equal(store.calls.get("wait"), 1, "a is not waiting for b");
    caller.abort();
    await clock.advanceAsync(0);
    assertAbortError(call);
    const reads = store.calls.get("readOrLease");
    // b fails, so the lease is free and nothing is written: a run that
    // still waited would take the lease now and compute.
    gate.reject(new Error("b failed"));
    await clock.advanceAsync(LEASE);
    assert.equal(held.outcome.state, "rejected");
    assert.equal(a.state.runs, 0, "the aborted run ran fn");
    assert.equal(store.calls.get("readOrLease"), reads, "it read again");
    assert.equal(await a.cached("k"), "from a", "a computes when asked");
  } finally {
    gate.resolve("from b");
    await a.cached.cacheClose();
    await b.cacheClose();
  }
});

for (const fault of ["hangs", "rejects"] as const) {
  Deno.test(`a release after an abort that ${fault} delays no caller, is bounded by storeTimeout, counted once, and never unhandled`, async () => {
    const clock = new ManualClock();
    let releases = 0;
    const store = wrapStore(memoryStore({ clock }), {
      release: () => {
        releases++;
        return fault === "hangs"
          ? never()
          : Promise.reject(new Error("release failed"));
      },
    });
    const a = stubborn(clock, store);
    try {
      const caller = new AbortController();
      const call = track(a.cached.withSignal(caller.signal, "k"));
      await a.state.started.promise;
      caller.abort();
      // The caller is not kept waiting for the store: no time passes.
      await clock.advanceAsync(0);
      assertAbortError(call);
      assert.equal(releases, 1, "released once");
      if (fault === "hangs") {
        assert.equal(a.cached.cacheStats().storeErrors, 0, "counted early");
        await clock.advanceAsync(STORE_TIMEOUT);
      }
      assert.equal(a.cached.cacheStats().storeErrors, 1);
    } finally {
      a.state.gate.resolve("late");
      await a.cached.cacheClose();
    }
    assert.equal(releases, 1, "released again on close");
  });
}
