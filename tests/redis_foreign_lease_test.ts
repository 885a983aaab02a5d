/**
 * What another program may leave under a key's lease key in Redis, and how
 * long a call waits for it: a lease with no expiry (one made persistent, or
 * an older deployment's), a key of another type, and a string in another
 * format. No wait goes without a bound: the call counts a store error and
 * runs fn itself. Runs with node-redis and with ioredis, on the server at
 * REDIS_URL.
 */

import assert from "node:assert/strict";
import { alruCache, type CacheEvent } from "../mod.ts";
import { redisCommand, redisUrl } from "../tools/redis.ts";
import { connect, REDIS_CLIENTS } from "./shared/clients.ts";
import { freshNamespace } from "./shared/harness.ts";

const LEASE = 300;
const STORE_TIMEOUT = 250;

for (const backend of REDIS_CLIENTS) {
  Deno.test(`${backend}: a key's lease key holding no live cache's lease never makes a call wait without a bound`, async () => {
    const url = redisUrl();
    const connection = await connect(backend, url);
    const namespace = freshNamespace("foreign-lease");
    const events: CacheEvent[] = [];
    let runs = 0;
    const cached = alruCache((key: string) => {
      runs++;
      return Promise.resolve(`${key} computed`);
    }, {
      ttl: 60_000,
      lease: LEASE,
      storeTimeout: STORE_TIMEOUT,
      store: connection.store(namespace),
      key: (key: string) => key,
      onEvent: (event) => events.push(event),
    });
    try {
      // The generation of a namespace never cleared is 0: "0:<token>" is
      // what a lease of it holds, here with no expiry.
      await redisCommand(url, "SET", `${namespace}:l:persisted`, "0:token");
      await redisCommand(url, "RPUSH", `${namespace}:l:list`, "x");
      await redisCommand(url, "SET", `${namespace}:l:other`, "not a lease");
      await redisCommand(url, "PEXPIRE", `${namespace}:l:other`, 60_000);

      let started = performance.now();
      assert.equal(await cached("persisted"), "persisted computed");
      let ms = performance.now() - started;
      assert.ok(
        ms >= 3 * LEASE - 20 && ms < 3 * LEASE + 2 * STORE_TIMEOUT + 300,
        `a persisted lease was waited for ${ms.toFixed(0)} ms`,
      );
      const errors = events.filter((event) => event.type === "storeError");
      assert.equal(errors.length, 1);
      assert.match(String(errors[0].error), /LeaseWaitError/);

      started = performance.now();
      assert.equal(await cached("list"), "list computed");
      ms = performance.now() - started;
      assert.ok(ms < STORE_TIMEOUT + 200, `a list: ${ms.toFixed(0)} ms`);
      assert.equal(cached.cacheStats().storeErrors, 2);

      // A string that is no lease of this generation is no lease: taken
      // over at once, with no error.
      started = performance.now();
      assert.equal(await cached("other"), "other computed");
      ms = performance.now() - started;
      assert.ok(ms < STORE_TIMEOUT, `another string: ${ms.toFixed(0)} ms`);
      assert.equal(cached.cacheStats().storeErrors, 2);
      assert.equal(runs, 3);
    } finally {
      await cached.cacheClose();
      await connection.close();
    }
  });
}
