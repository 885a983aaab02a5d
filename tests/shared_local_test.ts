/**
 * The local side of the shared tier, in one process (§13): a local hit
 * never reaches the store; a value read from the store is kept for what is
 * left of its lifetime as the store measures it, never more than the cache's
 * own ttl plus jitter and never by a process's wall clock; `cacheClose()`
 * closes the connection it opened but never the user's client; and the
 * options that only make sense with a store are checked.
 *
 * Each process is played by a cache on one memoryStore on a ManualClock,
 * except where the server itself matters: the reader whose wall clock is an
 * hour behind reads through node-redis or ioredis, and the connection that cacheClose()
 * closes is Redis's.
 */

import assert from "node:assert/strict";
import { alruCache, cacheOf, ManualClock } from "../mod.ts";
import { memoryStore } from "../memory.ts";
import { redisCommand, redisUrl } from "../tools/redis.ts";
import { counting, REDIS_CLIENTS } from "./shared/clients.ts";
import { freshNamespace, withConnections } from "./shared/harness.ts";
import { wrapStore } from "./shared/stores.ts";

const TTL = 10 * 60_000;

Deno.test("a local hit never touches the store", async () => {
  const clock = new ManualClock();
  const store = counting(memoryStore({ clock }));
  const cached = alruCache((n: number) => n * 2, {
    ttl: TTL,
    clock,
    store: store.store,
  });
  assert.equal(await cached(21), 42);
  const afterMiss = store.total();
  assert.ok(afterMiss > 0, "the miss asked the store");
  for (let i = 0; i < 1_000; i++) assert.equal(await cached(21), 42);
  assert.equal(cached.cacheInfo().hits, 1_000);
  assert.equal(store.total(), afterMiss, JSON.stringify([...store.calls]));
  await cached.cacheClose();
});

Deno.test("a reader keeps its copy for the value's remaining lifetime in the store, not a fresh ttl", async () => {
  const clock = new ManualClock();
  const store = memoryStore({ clock });
  let runs = 0;
  // localTtl far above ttl: only the value's own deadline may end it.
  const make = () =>
    alruCache((key: string) => `${key} ${++runs}`, {
      ttl: 600,
      localTtl: TTL,
      clock,
      store,
    });
  const writer = make();
  const reader = make();
  assert.equal(await writer("k"), "k 1");
  clock.advance(400);
  assert.equal(await reader("k"), "k 1", "read from the store");
  clock.advance(199);
  assert.ok(reader.cacheContains("k"), "gone before its deadline");
  assert.ok(writer.cacheContains("k"));
  // A fresh ttl from the read would keep it until 1,000.
  clock.advance(1);
  assert.equal(reader.cacheContains("k"), false, "kept past its deadline");
  assert.equal(writer.cacheContains("k"), false);
  assert.equal(runs, 1);
  await writer.cacheClose();
  await reader.cacheClose();
});

Deno.test("a reader's copy lives at most the cache's ttl plus jitter, whatever lifetime the store reports", async () => {
  const clock = new ManualClock();
  const inner = memoryStore({ clock });
  // A store that reports ten times what is left.
  const boastful = wrapStore(inner, {
    readOrLease: async (...args) => {
      const found = await inner.readOrLease(...args);
      if (found.status !== "value") return found;
      const { text, ttl } = found.value;
      return { status: "value", value: { text, ttl: ttl * 10 } };
    },
  });
  let runs = 0;
  const options = {
    ttl: 1_000,
    jitter: 200,
    random: () => 0.5, // the writer's value lives 1,100 ms
    localTtl: TTL,
    clock,
  };
  const writer = alruCache((key: string) => `${key} ${++runs}`, {
    ...options,
    store: inner,
  });
  const reader = alruCache((key: string) => `${key} ${++runs}`, {
    ...options,
    store: boastful,
  });
  assert.equal(await writer("k"), "k 1");
  assert.equal(await reader("k"), "k 1", "read from the store");
  // The store says 11,000 ms; the reader cannot know the writer's draw, and
  // keeps its copy for its own longest, 1,200 ms.
  clock.advance(1_199);
  assert.ok(reader.cacheContains("k"), "gone before ttl plus jitter");
  clock.advance(1);
  assert.equal(
    reader.cacheContains("k"),
    false,
    "kept past ttl plus jitter, as long as the store said",
  );
  assert.equal(runs, 1);
  await writer.cacheClose();
  await reader.cacheClose();
});

for (const backend of REDIS_CLIENTS) {
  Deno.test(`${backend}: a reader whose wall clock is an hour behind keeps its copy for what Redis says is left, not an hour more`, async () => {
    await withConnections(backend, 2, async ([mine, theirs]) => {
      const namespace = freshNamespace("skew");
      const writer = alruCache((key: string) => `${key} from the writer`, {
        ttl: 500,
        store: mine.store(namespace),
      });
      const clock = new ManualClock();
      // The reader's own ttl is long: only the store's measure may end it.
      const reader = alruCache((key: string) => `${key} from the reader`, {
        ttl: TTL,
        clock,
        store: theirs.store(namespace),
      });
      try {
        assert.equal(await writer("k"), "k from the writer");
        const now = Date.now;
        Date.now = () => now() - 3_600_000;
        try {
          assert.equal(await reader("k"), "k from the writer", "not read");
        } finally {
          Date.now = now;
        }
        assert.ok(reader.cacheContains("k"));
        // What was left, at most 500 ms, less the round trips since.
        clock.advance(500);
        assert.equal(
          reader.cacheContains("k"),
          false,
          "kept by the reader's wall clock",
        );
      } finally {
        await writer.cacheClose();
        await reader.cacheClose();
      }
    });
  });
}

for (const backend of REDIS_CLIENTS) {
  Deno.test(`${backend}: cacheClose() closes the subscriber connection it opened, and leaves the user's client open`, async () => {
    await withConnections(backend, 2, async ([mine, other]) => {
      const namespace = freshNamespace("close");
      const url = redisUrl();
      const channel = `${namespace}:events`;
      const subscribers = async () =>
        ((await redisCommand(url, "PUBSUB", "NUMSUB", channel)) as [
          string,
          number,
        ])[1];
      const make = (connection: typeof mine) =>
        alruCache((key: string) => key, {
          ttl: TTL,
          store: connection.store(namespace),
        });
      const first = make(mine);
      const second = make(other);
      await first("k");
      await second("k");
      assert.equal(await subscribers(), 2, "both listen");
      await first.cacheClose();
      assert.equal(await subscribers(), 1, "only the other listens");
      await second.cacheClose();
      assert.equal(await subscribers(), 0, "nobody listens");
      // The user's clients are still theirs, and open.
      await mine.ping();
      await other.ping();
    });
  });
}

Deno.test("decorated instance methods with a store need key; static ones do not", async () => {
  const store = memoryStore();
  assert.throws(
    () => {
      class Users {
        @alruCache({ ttl: TTL, store })
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
      ttl: TTL,
      store,
      key: function (this: Tenants, id: number) {
        return `${this.tenant}:${id}`;
      },
    })
    async byId(id: number) {
      return await Promise.resolve(`${this.tenant} ${id}`);
    }

    @alruCache({ ttl: TTL, store })
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

Deno.test("a store needs ttl; with one, invalidate and clear return promises", async () => {
  const store = memoryStore();
  assert.throws(
    () => alruCache((n: number) => n, { store }),
    (error: Error) => error instanceof TypeError && /ttl/.test(error.message),
  );
  const make = () => alruCache((n: number) => n, { ttl: TTL, store });
  const first = make();
  const second = make();
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

Deno.test("every process, the writer too, is served what deserialize returns", async () => {
  const store = memoryStore();
  const make = () =>
    alruCache((day: number) => new Date(day * 86_400_000), {
      ttl: TTL,
      store,
      // A custom serializer is trusted, Dates included.
      serialize: (value) => String(value.getTime()),
      deserialize: (text) => ({ at: new Date(Number(text)) }),
    });
  const writer = make();
  const reader = make();
  const written = await writer(1);
  assert.deepEqual(written, { at: new Date(86_400_000) });
  assert.deepEqual(await reader(1), written);
  // The default serializer keeps undefined, for writer and reader alike.
  const other = memoryStore();
  const plain = () =>
    alruCache(
      (id: number) => ({ id, note: undefined, list: [undefined] }),
      { ttl: TTL, store: other },
    );
  const [first, second] = [plain(), plain()];
  const value = await first(7);
  assert.deepEqual(await second(7), value);
  assert.ok(Object.hasOwn(await second(7), "note"));
  for (const cache of [writer, reader, first, second]) {
    await cache.cacheClose();
  }
});
