/**
 * The shared tier with many operations queued in front of a healthy store
 * (§13.6), in one process, on memoryStore and a ManualClock: a store that
 * answers one operation at a time, each some time after the last, as a
 * client's queue of thousands of commands does. No operation of it times
 * out while the store keeps answering, so every key is computed once and
 * written; the holder's callers still wait at most `storeTimeout` for a
 * write; and a store that goes silent still fails the calls, `storeTimeout`
 * after its last answer.
 */

import assert from "node:assert/strict";
import { alruCache, type CacheStore, ManualClock } from "../mod.ts";
import { memoryStore } from "../memory.ts";
import { sleepOn, wrapStore } from "./shared/stores.ts";
import { track } from "./_helpers.ts";

const STORE_TIMEOUT = 250;
// The store answers one queued operation every STEP ms.
const STEP = 100;

/**
 * `store` behind a queue: each readOrLease and write answers STEP ms of the
 * clock after the one before it, in order, as a client sends them.
 */
function queued(clock: ManualClock, store: CacheStore): CacheStore {
  let free = clock.now();
  const inTurn = <T>(operation: () => Promise<T>): Promise<T> => {
    free = Math.max(free, clock.now()) + STEP;
    return sleepOn(clock, free - clock.now()).then(operation);
  };
  return wrapStore(store, {
    readOrLease: (...args) => inTurn(() => store.readOrLease(...args)),
    write: (...args) => inTurn(() => store.write(...args)),
  });
}

Deno.test("keys whose reads queue past storeTimeout behind a store that keeps answering are each read, leased and written, with no store error", async () => {
  const clock = new ManualClock();
  const shared = memoryStore({ clock });
  let runs = 0;
  const cached = alruCache(async (key: string) => {
    runs++;
    return await Promise.resolve(`${key} computed`);
  }, {
    ttl: 60_000,
    storeTimeout: STORE_TIMEOUT,
    clock,
    store: queued(clock, shared),
  });
  const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
  const calls = keys.map((key) => track(cached(key)));
  // Eight reads, then eight writes, 100 ms apart: the last read answers at
  // 800 ms, far past storeTimeout, while the store answered all along.
  for (
    let i = 0;
    i < 20 && calls.some((c) => c.outcome.state === "pending");
    i++
  ) {
    await clock.advanceAsync(STEP);
  }
  assert.deepEqual(
    calls.map((c) => c.outcome),
    keys.map((key) => ({ state: "fulfilled", value: `${key} computed` })),
  );
  assert.equal(cached.cacheStats().storeErrors, 0, "a queued read timed out");
  assert.equal(runs, keys.length);
  // Let the writes the callers did not wait for land.
  await clock.advanceAsync(keys.length * STEP);
  const reader = alruCache((key: string): Promise<string> => {
    throw new Error(`${key} was not in the store`);
  }, { ttl: 60_000, clock, store: shared });
  for (const key of keys) assert.equal(await reader(key), `${key} computed`);
  await cached.cacheClose();
  await reader.cacheClose();
});

Deno.test("a store that goes silent behind the queue still fails the waiting reads storeTimeout after its last answer", async () => {
  const clock = new ManualClock();
  const shared = memoryStore({ clock });
  let answered = 0;
  const store = wrapStore(shared, {
    // Answers the first two reads, 100 and 200 ms in, then nothing.
    readOrLease: (...args) =>
      ++answered <= 2
        ? sleepOn(clock, answered * STEP).then(() =>
          shared.readOrLease(...args)
        )
        : new Promise(() => {}),
  });
  let runs = 0;
  const cached = alruCache(async (key: string) => {
    runs++;
    return await Promise.resolve(key);
  }, { ttl: 60_000, storeTimeout: STORE_TIMEOUT, clock, store });
  const calls = ["a", "b", "c", "d"].map((key) => track(cached(key)));
  await clock.advanceAsync(2 * STEP + STORE_TIMEOUT - 1);
  assert.equal(calls[2].outcome.state, "pending", "timed out while answered");
  await clock.advanceAsync(1);
  assert.ok(calls.every((c) => c.outcome.state === "fulfilled"));
  assert.equal(cached.cacheStats().storeErrors, 2);
  assert.equal(runs, 4);
  await cached.cacheClose();
});
