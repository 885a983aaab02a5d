/**
 * How `redisStore` carries its notices, on a real server with node-redis
 * and with ioredis. A subscriber connection that is lost says so, and says
 * "gap" once the server has taken its subscription back, so that a cache
 * never serves what was invalidated meanwhile (on a server of the test's
 * own, which the test kills connections on).
 */

import assert from "node:assert/strict";
import { alruCache } from "../mod.ts";
import type { StoreEvent } from "../store.ts";
import { redisCommand } from "../tools/redis.ts";
import { track } from "./_helpers.ts";
import { type Backend, REDIS_CLIENTS, sleep } from "./shared/clients.ts";
import { freshNamespace } from "./shared/harness.ts";
import {
  pubsubClients,
  rawConnection,
  subscribers,
  withServer,
} from "./shared/server.ts";

const TTL = 60_000;
// What a real server and client are given for what must happen soon.
const PROMPT_MS = 5_000;

/** The other client library, for a fleet that mixes them. */
function otherClient(backend: Backend): Backend {
  return backend === "node-redis" ? "ioredis" : "node-redis";
}

/** Waits until `done()` holds, reading it every few ms; fails after PROMPT_MS. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + PROMPT_MS;
  while (!done()) {
    assert.ok(
      performance.now() < deadline,
      `${what}: not within ${PROMPT_MS} ms`,
    );
    await sleep(5);
  }
}

for (const backend of REDIS_CLIENTS) {
  Deno.test(`${backend}: a subscription whose connection is killed hears the loss, its waiters are rejected, and it hears a gap once it listens again`, async () => {
    await withServer([backend, backend], async (server, [mine, theirs]) => {
      const namespace = freshNamespace("gap");
      const poll = { pollInterval: 60_000 };
      const store = mine.store(namespace, poll);
      const other = theirs.store(namespace, poll);
      const heard: StoreEvent[] = [];
      const errors: unknown[] = [];
      const subscription = await store.subscribe(
        (event) => heard.push(event),
        (error) => errors.push(error),
      );
      try {
        await other.readOrLease("busy", TTL); // nothing wakes its waiter
        const never = new AbortController().signal;
        const waiting = track(
          store.wait("busy", { timeoutMs: TTL, signal: never }),
        );
        const [id] = await pubsubClients(server.url);
        assert.equal(
          await redisCommand(server.url, "CLIENT", "KILL", "ID", id),
          1,
        );
        await until(() => errors.length > 0, "the loss reported");
        await until(
          () => waiting.outcome.state !== "pending",
          "the waiter stopped",
        );
        assert.equal(waiting.outcome.state, "rejected");
        await until(
          () => heard.some((event) => event.type === "gap"),
          "the gap",
        );
        assert.deepEqual(heard, [{ type: "gap" }]);
        // Heard once the subscription is back on the server: a delete now
        // reaches it.
        await other.delete("after:the:gap");
        await until(() => heard.length > 1, "the delete after the gap");
        assert.deepEqual(heard, [{ type: "gap" }, {
          type: "delete",
          key: "after:the:gap",
        }]);
      } finally {
        await subscription.close();
      }
    });
  });

  Deno.test(
    `${backend}: a cache whose subscriber connection is killed, while another (${
      otherClient(backend)
    }) invalidates its key, serves the new value once it listens again`,
    async () => {
      await withServer(
        [backend, otherClient(backend)],
        async (server, [mine, theirs]) => {
          const namespace = freshNamespace("gap-cache");
          let version = 1;
          const load = (key: string) => `${key} v${version}`;
          const a = alruCache(load, { ttl: TTL, store: mine.store(namespace) });
          const b = alruCache(load, {
            ttl: TTL,
            store: theirs.store(namespace),
          });
          try {
            assert.equal(await a("k"), "k v1");
            // A listens first: the one pub/sub connection is A's.
            const [aSubscriber] = await pubsubClients(server.url);
            assert.equal(await b("k"), "k v1", "b read a's value");
            assert.equal(await subscribers(server.url, namespace), 2);

            version = 2;
            // node-redis reconnects at once: the server refuses new
            // connections until the invalidation is out, so that it is
            // published while A does not listen, whichever the client.
            const admin = await rawConnection(server.url);
            try {
              const clients = String(
                await redisCommand(server.url, "CLIENT", "LIST"),
              ).trim().split("\n").length;
              // Those open now, less the one that listed them and A's
              // subscriber.
              await admin.send("CONFIG", "SET", "maxclients", clients - 2);
              assert.equal(
                await admin.send("CLIENT", "KILL", "ID", aSubscriber),
                "1",
              );
              assert.equal(await b.cacheInvalidate("k"), true);
              assert.equal(await b("k"), "k v2", "b computed the new value");
            } finally {
              await admin.send("CONFIG", "SET", "maxclients", 10_000);
              admin.close();
            }

            await until(() => !a.cacheContains("k"), "a dropping its copy");
            assert.equal(await a("k"), "k v2");
            assert.ok(
              a.cacheStats().storeErrors > 0,
              "a's cache did not hear of the loss",
            );
          } finally {
            await a.cacheClose();
            await b.cacheClose();
          }
        },
      );
    },
  );
}
