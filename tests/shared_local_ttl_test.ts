/**
 * `localTtl` (§13.4, §13.5): where the store cannot notify other processes,
 * every local copy lives at most `localTtl`, so that an invalidation reaches
 * every process within that bound. That holds for the copy of the process
 * that computed and wrote the value, for a value computed here because the
 * store failed, for a refreshed value, for stale values and fallbacks, and
 * for kept failures; the value in the store keeps its full lifetime. A store
 * that notifies keeps copies for their ttl.
 *
 * Each process is played by a cache on one memoryStore wrapped so that it
 * cannot notify (as Deno KV cannot; store_contract_test.ts checks that KV
 * says so), on a ManualClock that moves the store's deadlines with the
 * caches'.
 */

import assert from "node:assert/strict";
import { alruCache, type CacheStore, ManualClock } from "../mod.ts";
import { memoryStore } from "../memory.ts";
import { cannotNotify, wrapStore } from "./shared/stores.ts";

const LOCAL_TTL = 200;

/** A store that cannot notify, whose readOrLease fails while `failing.now` is set. */
function failingReads(
  store: CacheStore,
  failing: { now: boolean },
): CacheStore {
  return wrapStore(cannotNotify(store), {
    readOrLease: (key, leaseMs) =>
      failing.now
        ? Promise.reject(new Error("the store is down"))
        : store.readOrLease(key, leaseMs),
  });
}

interface Setup {
  clock: ManualClock;
  /** The one store, which cannot notify: every cache on it is a process. */
  store: CacheStore;
  /** The same store's data, able to notify, for a wrapper of a test's own. */
  inner: CacheStore;
}

/** A clock and a store that cannot notify, on it. */
function setup(): Setup {
  const clock = new ManualClock();
  const inner = memoryStore({ clock });
  return { clock, store: cannotNotify(inner), inner };
}

Deno.test("the writer's own copy lives at most localTtl, and the store keeps the value for its ttl", async () => {
  const { clock, store } = setup();
  let runs = 0;
  const make = () =>
    alruCache(
      async (key: string) => await Promise.resolve(`${key} ${++runs}`),
      { ttl: 60_000, localTtl: LOCAL_TTL, clock, store },
    );
  const a = make();
  const b = make();
  assert.equal(await a("k"), "k 1");
  clock.advance(LOCAL_TTL - 1);
  assert.ok(a.cacheContains("k"));
  clock.advance(1);
  assert.equal(a.cacheContains("k"), false, "kept past localTtl");
  // The store still has it: read back, not computed again.
  assert.equal(await a("k"), "k 1");
  assert.equal(runs, 1);

  // The reproduction: another process invalidates; within localTtl the
  // writer computes again.
  assert.equal(await a("j"), "j 2");
  assert.equal(await b.cacheInvalidate("j"), true);
  clock.advance(LOCAL_TTL);
  assert.equal(await a("j"), "j 3", "the invalidation did not reach a");
  await a.cacheClose();
  await b.cacheClose();
});

Deno.test("a value computed here because the store failed lives at most localTtl", async () => {
  const { clock, inner } = setup();
  const failing = { now: true };
  let runs = 0;
  const a = alruCache(
    async (key: string) => await Promise.resolve(`${key} ${++runs}`),
    {
      ttl: 60_000,
      localTtl: LOCAL_TTL,
      clock,
      store: failingReads(inner, failing),
    },
  );
  assert.equal(await a("k"), "k 1");
  assert.equal(a.cacheStats().storeErrors, 1);
  failing.now = false;
  clock.advance(LOCAL_TTL - 1);
  assert.ok(a.cacheContains("k"));
  clock.advance(1);
  assert.equal(a.cacheContains("k"), false, "kept past localTtl");
  assert.equal(await a("k"), "k 2");
  await a.cacheClose();
});

Deno.test("a refreshed value lives at most localTtl", async () => {
  const { clock, store } = setup();
  let runs = 0;
  const a = alruCache(
    async (key: string) => await Promise.resolve(`${key} ${++runs}`),
    { ttl: 60_000, localTtl: LOCAL_TTL, clock, store },
  );
  assert.equal(await a("k"), "k 1");
  clock.advance(100);
  assert.equal(await a.cacheRefresh("k"), "k 2");
  clock.advance(LOCAL_TTL - 1);
  assert.equal(await a("k"), "k 2", "a hit on the refreshed value");
  clock.advance(1);
  assert.equal(a.cacheContains("k"), false, "kept past localTtl");
  await a.cacheClose();
});

Deno.test("stale values are served only within localTtl of the copy", async () => {
  const { clock, store } = setup();
  let runs = 0;
  const make = (ttl: number) =>
    alruCache(
      async (key: string) => await Promise.resolve(`${key} ${++runs}`),
      {
        ttl,
        localTtl: LOCAL_TTL,
        staleWhileRevalidate: 10_000,
        clock,
        store,
      },
    );
  // A copy that localTtl ends is not stale, the value being alive in the
  // store: it goes, the writer's and a reader's alike.
  const a = make(60_000);
  const b = make(60_000);
  assert.equal(await a("k"), "k 1");
  assert.equal(await b("k"), "k 1");
  clock.advance(LOCAL_TTL);
  assert.equal(a.cacheContains("k"), false, "the writer's copy stayed");
  assert.equal(b.cacheContains("k"), false, "the reader's copy stayed");
  // A value whose own ttl ends first is stale until localTtl, not for the
  // whole staleWhileRevalidate window.
  const short = make(100);
  assert.equal(await short("s"), "s 2");
  clock.advance(150);
  assert.ok(short.cacheContains("s"), "stale within localTtl");
  clock.advance(LOCAL_TTL - 150);
  assert.equal(short.cacheContains("s"), false, "stale past localTtl");
  assert.equal(runs, 2);
  for (const cache of [a, b, short]) await cache.cacheClose();
});

Deno.test("a staleIfError fallback answers only within localTtl of the copy", async () => {
  const { clock, store } = setup();
  let fail = false;
  let runs = 0;
  const make = () =>
    alruCache(async (key: string) => {
      await Promise.resolve();
      if (fail) throw new Error("down");
      return `${key} ${++runs}`;
    }, {
      ttl: 100,
      localTtl: LOCAL_TTL,
      staleIfError: 10_000,
      clock,
      store,
    });
  const a = make();
  const b = make();
  assert.equal(await a("k"), "k 1");
  fail = true;
  clock.advance(150); // a's copy has expired, and the store's; a's fallback remains
  assert.equal(
    await b.cacheInvalidate("k"),
    false,
    "the store kept an ended value",
  );
  assert.equal(await a("k"), "k 1", "answered with the fallback");
  clock.advance(LOCAL_TTL - 150);
  await assert.rejects(a("k"), /down/, "a fallback past localTtl");
  assert.equal(runs, 1);
  await a.cacheClose();
  await b.cacheClose();
});

Deno.test("a kept failure lives at most localTtl", async () => {
  const { clock, store } = setup();
  let runs = 0;
  const a = alruCache(async (_key: string) => {
    runs++;
    await Promise.resolve();
    throw new Error("down");
  }, {
    ttl: 60_000,
    errorTtl: 10_000,
    localTtl: LOCAL_TTL,
    clock,
    store,
  });
  await assert.rejects(a("k"), /down/);
  clock.advance(LOCAL_TTL - 1);
  await assert.rejects(a("k"), /down/);
  assert.equal(runs, 1, "the failure is kept");
  clock.advance(1);
  assert.equal(a.cacheContains("k"), false, "kept past localTtl");
  await a.cacheClose();
});

Deno.test("a store that notifies keeps the writer's copy for its ttl, whatever localTtl", async () => {
  const { clock, inner } = setup();
  let runs = 0;
  const a = alruCache(
    async (key: string) => await Promise.resolve(`${key} ${++runs}`),
    { ttl: 60_000, localTtl: LOCAL_TTL, clock, store: inner },
  );
  assert.equal(await a("k"), "k 1");
  clock.advance(59_999);
  assert.ok(a.cacheContains("k"));
  clock.advance(1);
  assert.equal(a.cacheContains("k"), false);
  await a.cacheClose();
});
