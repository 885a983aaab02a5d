/**
 * The local side of the shared tier, in one process (§13): a local hit
 * never reaches the store; a value read from the store is kept for its
 * remaining lifetime there, not a fresh ttl; `cacheClose()` gives back a
 * held lease and its own connection but never the user's client; and the
 * options that only make sense with a store are checked. Each process of a
 * fleet is played by a cache on a client (or KV handle) of its own, against
 * the real server at REDIS_URL or a real KV file.
 */

import assert from "node:assert/strict";
import { alruCache, cacheOf } from "../mod.ts";
import { encodeKey } from "../store_key.ts";
import { redisCommand } from "../tools/redis.ts";
import {
  BACKENDS,
  type Connection,
  counting,
  kvNamespace,
  sleep,
} from "./shared/clients.ts";
import { freshNamespace, withConnections } from "./shared/harness.ts";

/** The server's count of script runs, the only commands the adapter sends. */
async function scriptRuns(url: string): Promise<number> {
  const info = await redisCommand(url, "INFO", "commandstats") as string;
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) {
    calls += Number(match[2]);
  }
  return calls;
}

/** Whether the store holds a lease on `key` right now, read by hand. */
async function leaseHeld(
  connection: Connection,
  target: string,
  namespace: string,
  key: string,
): Promise<boolean> {
  if (connection.kv !== undefined) {
    const entry = await connection.kv.get<{ until: number }>([
      ...kvNamespace(namespace),
      "lease",
      0n,
      key,
    ]);
    return entry.value !== null && entry.value.until > Date.now();
  }
  return await redisCommand(target, "EXISTS", `${namespace}:l:${key}`) === 1;
}

for (const backend of BACKENDS) {
  const redis = backend !== "kv";

  Deno.test(`${backend}: a local hit never touches the store`, async () => {
    await withConnections(backend, 1, async ([connection], where) => {
      const store = counting(connection.store(freshNamespace("hits")));
      const cached = alruCache((n: number) => n * 2, {
        ttl: 60_000,
        store: store.store,
      });
      assert.equal(await cached(21), 42);
      const afterMiss = store.total();
      assert.ok(afterMiss > 0, "the miss asked the store");
      const serverBefore = redis ? await scriptRuns(where.target) : 0;
      for (let i = 0; i < 1_000; i++) assert.equal(await cached(21), 42);
      assert.equal(cached.cacheInfo().hits, 1_000);
      assert.equal(store.total(), afterMiss, JSON.stringify([...store.calls]));
      if (redis) {
        assert.equal(await scriptRuns(where.target), serverBefore);
      }
      await cached.cacheClose();
    });
  });

  Deno.test(`${backend}: a reader keeps its copy for the value's remaining lifetime, not a fresh ttl`, async () => {
    await withConnections(backend, 2, async ([writer, reader]) => {
      const namespace = freshNamespace("lifetime");
      const ttl = 600;
      let runs = 0;
      // localTtl far above ttl: only the value's own deadline may end it.
      const make = (connection: Connection) =>
        alruCache((key: string) => `${key} ${++runs}`, {
          ttl,
          localTtl: 60_000,
          store: connection.store(namespace),
        });
      const first = make(writer);
      const second = make(reader);
      assert.equal(await first("k"), "k 1");
      const written = performance.now(); // the deadline is before this
      await sleep(300);
      assert.equal(await second("k"), "k 1", "read from the store");
      await sleep(written + 180 - performance.now() + 300);
      assert.ok(second.cacheContains("k"), "gone before its deadline");
      // A fresh ttl from the read would keep it until about 900 ms.
      await sleep(written + ttl + 100 - performance.now());
      assert.equal(second.cacheContains("k"), false, "kept past its deadline");
      assert.equal(runs, 1);
      await first.cacheClose();
      await second.cacheClose();
    });
  });

  Deno.test(`${backend}: cacheClose() releases a held lease and stops listening, but leaves the client open`, async () => {
    await withConnections(backend, 2, async ([mine, other], where) => {
      const namespace = freshNamespace("close");
      const key = encodeKey(["k"]);
      const gate = Promise.withResolvers<string>();
      const started = Promise.withResolvers<void>();
      const holder = alruCache(async (_: string) => {
        started.resolve();
        return await gate.promise;
      }, { ttl: 60_000, store: mine.store(namespace) });
      const call = holder("k");
      await started.promise;
      assert.ok(await leaseHeld(mine, where.target, namespace, key));
      const channel = `${namespace}:events`;
      const subscribers = async () =>
        ((await redisCommand(where.target, "PUBSUB", "NUMSUB", channel)) as [
          string,
          number,
        ])[1];
      if (redis) assert.equal(await subscribers(), 1, "the holder listens");

      // Closing waits for the running work, but gives the lease back now.
      const closing = holder.cacheClose({ wait: true });
      const deadline = performance.now() + 1_000;
      while (await leaseHeld(mine, where.target, namespace, key)) {
        assert.ok(performance.now() < deadline, "the lease is still held");
        await sleep(10);
      }
      // So another process computes at once instead of waiting 10 s.
      const next = alruCache((_: string) => "from other", {
        ttl: 60_000,
        store: other.store(namespace),
      });
      const asked = performance.now();
      assert.equal(await next("k"), "from other");
      assert.ok(performance.now() - asked < 1_000);

      gate.resolve("from holder");
      assert.equal(await call, "from holder");
      await closing;
      if (redis) assert.equal(await subscribers(), 1, "only the other listens");
      await next.cacheClose();
      if (redis) assert.equal(await subscribers(), 0, "nobody listens");
      // The user's clients are still theirs, and open.
      await mine.ping();
      await other.ping();
    });
  });

  Deno.test(`${backend}: decorated instance methods with a store need key; static ones do not`, async () => {
    await withConnections(backend, 1, async ([connection]) => {
      const store = connection.store(freshNamespace("methods"));
      assert.throws(
        () => {
          class Users {
            @alruCache({ ttl: 60_000, store })
            async byId(id: number) {
              return await Promise.resolve(id);
            }
          }
          return Users;
        },
        (error: Error) => {
          assert.ok(error instanceof TypeError, String(error));
          assert.match(error.message, /needs a "key" option for byId/);
          return true;
        },
      );

      class Tenants {
        constructor(readonly tenant: string) {}

        // `key` receives the instance as this: instances keep apart.
        @alruCache({
          ttl: 60_000,
          store,
          key: function (this: Tenants, id: number) {
            return `${this.tenant}:${id}`;
          },
        })
        async byId(id: number) {
          return await Promise.resolve(`${this.tenant} ${id}`);
        }

        @alruCache({ ttl: 60_000, store })
        static async version() {
          return await Promise.resolve("v1");
        }
      }
      const a = new Tenants("a");
      const b = new Tenants("b");
      assert.equal(await a.byId(1), "a 1");
      assert.equal(await b.byId(1), "b 1");
      assert.equal(await Tenants.version(), "v1");
      for (const method of [a.byId, b.byId, Tenants.version]) {
        await cacheOf(method).cacheClose();
      }
    });
  });

  Deno.test(`${backend}: a store needs ttl; with one, invalidate and clear return promises`, async () => {
    await withConnections(backend, 2, async ([mine, other]) => {
      const namespace = freshNamespace("options");
      assert.throws(
        () => alruCache((n: number) => n, { store: mine.store(namespace) }),
        (error: Error) =>
          error instanceof TypeError && /ttl/.test(error.message),
      );
      const make = (connection: Connection) =>
        alruCache((n: number) => n, {
          ttl: 60_000,
          store: connection.store(namespace),
        });
      const first = make(mine);
      const second = make(other);
      await first(1);
      const invalidated: Promise<boolean> = first.cacheInvalidate(1);
      assert.ok(invalidated instanceof Promise);
      assert.equal(await invalidated, true);
      assert.equal(await second.cacheInvalidate(1), false, "already gone");
      const cleared: Promise<void> = first.cacheClear();
      assert.ok(cleared instanceof Promise);
      assert.equal(await cleared, undefined);
      await first.cacheClose();
      await second.cacheClose();
    });
  });

  Deno.test(`${backend}: with ttl 0 nothing is written, and the lease keeps runs from overlapping`, async () => {
    await withConnections(backend, 2, async ([mine, other]) => {
      const namespace = freshNamespace("ttl0");
      const runs: [number, number][] = [];
      const make = (connection: Connection) =>
        alruCache(async (key: string) => {
          const run: [number, number] = [performance.now(), Infinity];
          runs.push(run);
          await sleep(100);
          run[1] = performance.now();
          return `${key} ${runs.length}`;
        }, { ttl: 0, store: connection.store(namespace) });
      const first = make(mine);
      const second = make(other);
      await Promise.all([first("k"), second("k")]);
      // Nothing written, so the waiter computes too, but only once the
      // holder is done: never two runs of a key at the same time.
      assert.ok(runs.length <= 2, `${runs.length} runs`);
      if (runs.length === 2) {
        assert.ok(runs[1][0] >= runs[0][1], "two runs overlapped");
      }
      const before = runs.length;
      await second("k");
      assert.equal(runs.length, before + 1, "a value was kept");
      await first.cacheClose();
      await second.cacheClose();
    });
  });

  Deno.test(`${backend}: every process, the writer too, is served what deserialize returns`, async () => {
    await withConnections(backend, 2, async ([mine, other]) => {
      const namespace = freshNamespace("serializer");
      const make = (connection: Connection) =>
        alruCache((day: number) => new Date(day * 86_400_000), {
          ttl: 60_000,
          store: connection.store(namespace),
          // A custom serializer is trusted, Dates included.
          serialize: (value) => String(value.getTime()),
          deserialize: (text) => ({ at: new Date(Number(text)) }),
        });
      const writer = make(mine);
      const reader = make(other);
      const written = await writer(1);
      assert.deepEqual(written, { at: new Date(86_400_000) });
      assert.deepEqual(await reader(1), written);
      // The default serializer keeps undefined, for writer and reader alike.
      const plain = (connection: Connection) =>
        alruCache(
          (id: number) => ({ id, note: undefined, list: [undefined] }),
          {
            ttl: 60_000,
            store: connection.store(`${namespace}:plain`),
          },
        );
      const [first, second] = [plain(mine), plain(other)];
      const value = await first(7);
      assert.deepEqual(await second(7), value);
      assert.ok(Object.hasOwn(await second(7), "note"));
      for (const cache of [writer, reader, first, second]) {
        await cache.cacheClose();
      }
    });
  });
}
