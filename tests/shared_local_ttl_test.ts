/**
 * `localTtl` (§13.4, §13.5): where the store cannot notify other processes,
 * every local copy lives at most `localTtl`, so that an invalidation reaches
 * every process within that bound. That holds for the copy of the process
 * that computed and wrote the value, for a value computed here because the
 * store failed, for a refreshed value, for stale values and fallbacks, and
 * for kept failures; the value in the store keeps its full lifetime.
 *
 * Each process is played by a cache on a connection of its own: two KV
 * handles on one database file, or two Redis clients whose store is wrapped
 * so that it cannot notify (any adapter may be such a store). Local time is
 * a ManualClock; the store's deadlines are real, and far off.
 */

import assert from "node:assert/strict";
import { alruCache, type CacheStore, ManualClock } from "../mod.ts";
import { BACKENDS, type Connection, REDIS_CLIENTS } from "./shared/clients.ts";
import { freshNamespace, withConnections } from "./shared/harness.ts";

const LOCAL_TTL = 200;

/**
 * `store` as an adapter that cannot tell this process of other processes'
 * changes: `notifies` is false and subscribing hears nothing. A KV store is
 * one already.
 */
function cannotNotify(store: CacheStore): CacheStore {
  if (!store.notifies) return store;
  return {
    notifies: false,
    readOrLease: (...args) => store.readOrLease(...args),
    wait: (...args) => store.wait(...args),
    write: (...args) => store.write(...args),
    renew: (...args) => store.renew(...args),
    release: (...args) => store.release(...args),
    delete: (...args) => store.delete(...args),
    clear: () => store.clear(),
    subscribe: () => Promise.resolve({ close: () => Promise.resolve() }),
  };
}

/** `store`, as one that cannot notify, whose readOrLease fails while `failing.now` is set. */
function failingReads(
  store: CacheStore,
  failing: { now: boolean },
): CacheStore {
  const quiet = cannotNotify(store);
  return {
    notifies: false,
    readOrLease: (key, leaseMs) =>
      failing.now
        ? Promise.reject(new Error("the store is down"))
        : quiet.readOrLease(key, leaseMs),
    wait: (...args) => quiet.wait(...args),
    write: (...args) => quiet.write(...args),
    renew: (...args) => quiet.renew(...args),
    release: (...args) => quiet.release(...args),
    delete: (...args) => quiet.delete(...args),
    clear: () => quiet.clear(),
    subscribe: (...args) => quiet.subscribe(...args),
  };
}

interface Setup {
  clock: ManualClock;
  namespace: string;
  store(connection: Connection): CacheStore;
}

/** Runs `body` with two connections to `backend` and a fresh namespace. */
function withTwo(
  backend: (typeof BACKENDS)[number],
  body: (connections: Connection[], setup: Setup) => Promise<void>,
): Promise<void> {
  return withConnections(backend, 2, async (connections) => {
    const namespace = freshNamespace("local-ttl");
    await body(connections, {
      clock: new ManualClock(),
      namespace,
      store: (connection) => cannotNotify(connection.store(namespace)),
    });
  });
}

for (const backend of BACKENDS) {
  const name = backend === "kv" ? "kv" : `${backend} that cannot notify`;

  Deno.test(`${name}: the writer's own copy lives at most localTtl, and the store keeps the value for its ttl`, async () => {
    await withTwo(backend, async ([one, two], { clock, store }) => {
      let runs = 0;
      const make = (connection: Connection) =>
        alruCache(
          async (key: string) => await Promise.resolve(`${key} ${++runs}`),
          {
            ttl: 60_000,
            localTtl: LOCAL_TTL,
            clock,
            store: store(connection),
          },
        );
      const a = make(one);
      const b = make(two);
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
  });

  Deno.test(`${name}: a value computed here because the store failed lives at most localTtl`, async () => {
    await withTwo(backend, async ([one], { clock, namespace }) => {
      const failing = { now: true };
      let runs = 0;
      const a = alruCache(
        async (key: string) => await Promise.resolve(`${key} ${++runs}`),
        {
          ttl: 60_000,
          localTtl: LOCAL_TTL,
          clock,
          store: failingReads(one.store(namespace), failing),
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
  });

  Deno.test(`${name}: a refreshed value lives at most localTtl`, async () => {
    await withTwo(backend, async ([one], { clock, store }) => {
      let runs = 0;
      const a = alruCache(
        async (key: string) => await Promise.resolve(`${key} ${++runs}`),
        {
          ttl: 60_000,
          localTtl: LOCAL_TTL,
          clock,
          store: store(one),
        },
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
  });

  Deno.test(`${name}: stale values are served only within localTtl of the copy`, async () => {
    await withTwo(backend, async ([one, two], { clock, store }) => {
      let runs = 0;
      const make = (connection: Connection, ttl: number) =>
        alruCache(
          async (key: string) => await Promise.resolve(`${key} ${++runs}`),
          {
            ttl,
            localTtl: LOCAL_TTL,
            staleWhileRevalidate: 10_000,
            clock,
            store: store(connection),
          },
        );
      // A copy that localTtl ends is not stale, the value being alive in the
      // store: it goes, the writer's and a reader's alike.
      const a = make(one, 60_000);
      const b = make(two, 60_000);
      assert.equal(await a("k"), "k 1");
      assert.equal(await b("k"), "k 1");
      clock.advance(LOCAL_TTL);
      assert.equal(a.cacheContains("k"), false, "the writer's copy stayed");
      assert.equal(b.cacheContains("k"), false, "the reader's copy stayed");
      // A value whose own ttl ends first is stale until localTtl, not for
      // the whole staleWhileRevalidate window.
      const short = make(one, 100);
      assert.equal(await short("s"), "s 2");
      clock.advance(150);
      assert.ok(short.cacheContains("s"), "stale within localTtl");
      clock.advance(LOCAL_TTL - 150);
      assert.equal(short.cacheContains("s"), false, "stale past localTtl");
      assert.equal(runs, 2);
      for (const cache of [a, b, short]) await cache.cacheClose();
    });
  });

  Deno.test(`${name}: a staleIfError fallback answers only within localTtl of the copy`, async () => {
    await withTwo(backend, async ([one, two], { clock, store }) => {
      let fail = false;
      let runs = 0;
      const make = (connection: Connection) =>
        alruCache(async (key: string) => {
          await Promise.resolve();
          if (fail) throw new Error("down");
          return `${key} ${++runs}`;
        }, {
          ttl: 100,
          localTtl: LOCAL_TTL,
          staleIfError: 10_000,
          clock,
          store: store(connection),
        });
      const a = make(one);
      const b = make(two);
      assert.equal(await a("k"), "k 1");
      fail = true;
      clock.advance(150); // a's copy has expired; its fallback remains
      assert.equal(await b.cacheInvalidate("k"), true); // nothing in the store
      assert.equal(await a("k"), "k 1", "answered with the fallback");
      clock.advance(LOCAL_TTL - 150);
      await assert.rejects(a("k"), /down/, "a fallback past localTtl");
      await a.cacheClose();
      await b.cacheClose();
    });
  });

  Deno.test(`${name}: a kept failure lives at most localTtl`, async () => {
    await withTwo(backend, async ([one], { clock, store }) => {
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
        store: store(one),
      });
      await assert.rejects(a("k"), /down/);
      clock.advance(LOCAL_TTL - 1);
      await assert.rejects(a("k"), /down/);
      assert.equal(runs, 1, "the failure is kept");
      clock.advance(1);
      assert.equal(a.cacheContains("k"), false, "kept past localTtl");
      await a.cacheClose();
    });
  });
}

for (const backend of REDIS_CLIENTS) {
  Deno.test(`${backend}: a store that notifies keeps the writer's copy for its ttl, whatever localTtl`, async () => {
    await withConnections(backend, 1, async ([one]) => {
      const clock = new ManualClock();
      let runs = 0;
      const a = alruCache(
        async (key: string) => await Promise.resolve(`${key} ${++runs}`),
        {
          ttl: 60_000,
          localTtl: LOCAL_TTL,
          clock,
          store: one.store(freshNamespace("local-ttl-notifies")),
        },
      );
      assert.equal(await a("k"), "k 1");
      clock.advance(59_999);
      assert.ok(a.cacheContains("k"));
      clock.advance(1);
      assert.equal(a.cacheContains("k"), false);
      await a.cacheClose();
    });
  });
}
