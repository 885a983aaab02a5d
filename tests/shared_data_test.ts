/**
 * What goes into the store and comes out of it (§13 Keys and Values):
 * garbage found under a key is a miss and a store error, never a crash or an
 * answer, on node-redis, ioredis and Deno KV, each with garbage of its own
 * layout planted by hand; arguments that make no store key and values the
 * default serializer refuses reject the call with a `TypeError` that says
 * where, which the protocol decides whatever the store (memoryStore here).
 */

import assert from "node:assert/strict";
import { alruCache } from "../mod.ts";
import { memoryStore } from "../memory.ts";
import { encodeKey } from "../store_key.ts";
import { redisCommand } from "../tools/redis.ts";
import {
  BACKENDS,
  type Connection,
  counting,
  kvNamespace,
} from "./shared/clients.ts";
import { freshNamespace, withConnections } from "./shared/harness.ts";

const TTL = 60_000;

/** Writes `text` by hand where the store keeps the value of `key`. */
async function plant(
  connection: Connection,
  target: string,
  namespace: string,
  key: string,
  value: string | { text: string; expiresAt: number },
): Promise<void> {
  // The layouts of redis.ts and kv.ts at generation 0 (never cleared); the
  // Redis key gets no expiry.
  if (connection.kv !== undefined) {
    const at = [...kvNamespace(namespace), "value", 0n, key];
    await connection.kv.set(at, value);
  } else {
    const text = typeof value === "string" ? value : `alru3:0::${value.text}`;
    await redisCommand(target, "SET", `${namespace}:v:${key}`, text);
  }
}

for (const backend of BACKENDS) {
  Deno.test(`${backend}: garbage under a key is a miss and a store error, not a crash`, async () => {
    await withConnections(backend, 2, async ([mine, other], where) => {
      const namespace = freshNamespace("garbage");
      let runs = 0;
      const make = (connection: Connection) =>
        alruCache((key: string) => ({ key, run: ++runs }), {
          ttl: TTL,
          store: connection.store(namespace),
        });
      const cached = make(mine);

      // Text the store wrote the frame of, but not JSON.
      const badText = encodeKey(["bad-text"]);
      await plant(mine, where.target, namespace, badText, {
        text: "{not json",
        expiresAt: Date.now() + TTL,
      });
      assert.deepEqual(await cached("bad-text"), { key: "bad-text", run: 1 });
      assert.equal(cached.cacheStats().storeErrors, 1);

      // Not even the store's frame.
      await plant(
        mine,
        where.target,
        namespace,
        encodeKey(["no-frame"]),
        "garbage",
      );
      assert.deepEqual(await cached("no-frame"), { key: "no-frame", run: 2 });
      if (backend === "kv") {
        // kvStore reads an entry that is not its own as absent, and writes
        // the computed value over it: a miss, then healed, with no error.
        const reader = make(other);
        assert.deepEqual(await reader("no-frame"), { key: "no-frame", run: 2 });
        await reader.cacheClose();
      } else {
        assert.equal(cached.cacheStats().storeErrors, 2);
      }
      await cached.cacheClose();
    });
  });
}

Deno.test("arguments that make no store key reject with a TypeError naming their position, and never reach the store", async () => {
  const store = counting(memoryStore());
  let runs = 0;
  const cached = alruCache((..._args: unknown[]) => ++runs, {
    ttl: TTL,
    store: store.store,
  });
  class Point {
    x = 1;
  }
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  const cases: [unknown[], RegExp][] = [
    [[1, () => {}], /argument 2: a function/],
    [[new Point()], /argument 1: an instance of Point/],
    [["a", [cycle]], /argument 2\[0\]\.self: a cycle/],
    [[Symbol("s")], /argument 1: a symbol/],
  ];
  for (const [args, message] of cases) {
    await assert.rejects(cached(...args), (error: Error) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, message);
      assert.match(error.message, /`key` option/);
      return true;
    });
    // cacheInvalidate derives the key as a call does.
    await assert.rejects(cached.cacheInvalidate(...args), message);
  }
  assert.equal(runs, 0, "fn never ran");
  assert.equal(store.total(), 0, "the store was never asked");
  assert.equal(cached.cacheStats().storeErrors, 0);
  await cached.cacheClose();
});

Deno.test("a value the default serializer refuses rejects its call; nothing is written, and the lease is freed at once", async () => {
  const inner = memoryStore();
  const store = counting(inner);
  const values: Record<string, unknown> = {
    date: new Date(0),
    map: new Map([[1, 2]]),
    nested: { items: [1, { at: new Date(0) }] },
  };
  const cached = alruCache((name: string) => values[name], {
    ttl: TTL,
    store: store.store,
  });
  const patterns: Record<string, RegExp> = {
    date: /value: a Date/,
    map: /value: a Map/,
    nested: /value\.items\[1\]\.at: a Date/,
  };
  for (const [name, pattern] of Object.entries(patterns)) {
    await assert.rejects(cached(name), (error: Error) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, pattern);
      return true;
    });
    assert.equal(cached.cacheContains(name), false);
    // Neither a value nor a lease is left: the key is free for the next.
    const found = await inner.readOrLease(encodeKey([name]), 1_000);
    assert.equal(found.status, "leased", `${name}: ${found.status}`);
    if (found.status === "leased") {
      await inner.release(encodeKey([name]), found.lease);
    }
  }
  assert.equal(store.calls.get("write"), undefined, "a value was written");
  assert.equal(store.calls.get("release"), 3);
  assert.equal(cached.cacheStats().storeErrors, 0);
  await cached.cacheClose();
});
