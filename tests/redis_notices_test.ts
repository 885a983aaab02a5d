/**
 * How `redisStore` carries its notices, on a real server with node-redis
 * and with ioredis. A subscriber connection that is lost says so, and says
 * "gap" once the server has taken its subscription back, so that a cache
 * never serves what was invalidated meanwhile (on a server of the test's
 * own, which the test kills connections on). A delete or a clear resolves
 * once every store it reached has acted on it, and rejects with
 * `UnacknowledgedNoticeError` when one does not, in one process and across
 * real ones; a process that hears the server later than the others, behind
 * a proxy that delays what the server sends, shows what resolving before
 * the acknowledgements would cost.
 */

import assert from "node:assert/strict";
import { alruCache } from "../mod.ts";
import {
  type CacheStore,
  type StoreEvent,
  UnacknowledgedNoticeError,
} from "../store.ts";
import { redisCommand, redisUrl } from "../tools/redis.ts";
import { track } from "./_helpers.ts";
import {
  type Backend,
  connect,
  REDIS_CLIENTS,
  sleep,
} from "./shared/clients.ts";
import {
  configFor,
  freshNamespace,
  listening,
  percentile,
  valuesOf,
  withFleet,
} from "./shared/harness.ts";
import { delayingProxy } from "./shared/proxy.ts";
import {
  pubsubClients,
  rawConnection,
  subscribers,
  withServer,
} from "./shared/server.ts";

const TTL = 60_000;
// How much later than the others the far process hears the server.
const FAR_MS = 20;
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
        // reaches it, and is heard by the time it resolves.
        await other.delete("after:the:gap");
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

  Deno.test(`${backend}: when an invalidation resolves, another cache holding the key, ${FAR_MS} ms further from the server, has already dropped it`, async () => {
    const url = redisUrl();
    // A hears every notice FAR_MS after B: B's invalidation, done once the
    // server has published it, would resolve long before A drops its copy.
    const far = delayingProxy(url, FAR_MS);
    const mine = await connect(backend, far.url);
    const theirs = await connect(backend, url);
    const namespace = freshNamespace("acknowledged");
    const a = alruCache((key: string) => `${key} from a`, {
      ttl: TTL,
      store: mine.store(namespace),
    });
    const b = alruCache((key: string) => `${key} from b`, {
      ttl: TTL,
      store: theirs.store(namespace),
    });
    try {
      const keys = Array.from({ length: 20 }, (_, i) => `key:${i}`);
      for (const key of keys) assert.equal(await a(key), `${key} from a`);
      for (const key of keys) assert.equal(await b(key), `${key} from a`);
      const kept: string[] = [];
      for (const key of keys) {
        assert.equal(await b.cacheInvalidate(key), true);
        if (a.cacheContains(key)) kept.push(key);
      }
      assert.deepEqual(
        kept,
        [],
        "a still held these when b's invalidation resolved",
      );
      // A clear too: a has a copy again, gone by the time the clear resolves.
      assert.equal(await a(keys[0]), `${keys[0]} from a`);
      assert.ok(a.cacheContains(keys[0]));
      await b.cacheClear();
      assert.equal(
        a.cacheContains(keys[0]),
        false,
        "a still held a copy when b's clear resolved",
      );
    } finally {
      await a.cacheClose();
      await b.cacheClose();
      await mine.close();
      await theirs.close();
      await far.close();
    }
  });

  Deno.test(`${backend}: a delete or a clear that a subscriber never acknowledges rejects with UnacknowledgedNoticeError after its timeoutMs, and stands`, async () => {
    const url = redisUrl();
    const mine = await connect(backend, url);
    const theirs = await connect(backend, url);
    const namespace = freshNamespace("unacknowledged");
    const store: CacheStore = mine.store(namespace);
    const other: CacheStore = theirs.store(namespace);
    const heard: StoreEvent[] = [];
    const subscription = await store.subscribe((e) => heard.push(e), () => {});
    // Hears every notice and acknowledges none.
    const silent = await rawConnection(url);
    try {
      await silent.subscribe(`${namespace}:events`);
      const lease = await other.readOrLease("k:1", TTL);
      assert.equal(lease.status, "leased");
      if (lease.status !== "leased") return;
      await other.write("k:1", { text: "v", ttl: TTL }, lease.lease);
      const timeoutMs = 300;
      for (
        const [what, change] of [
          ["the delete", () => other.delete("k:1", { timeoutMs })],
          ["the clear", () => other.clear({ timeoutMs })],
        ] as const
      ) {
        const started = performance.now();
        const error = await change().then(
          () => assert.fail(`${what} resolved`),
          (error) => error,
        );
        const ms = performance.now() - started;
        assert.ok(error instanceof UnacknowledgedNoticeError, String(error));
        assert.equal(error.reached, 2);
        assert.equal(error.acknowledged, 1);
        assert.match(error.message, new RegExp(`^${what}`));
        assert.ok(
          ms >= timeoutMs - 1 && ms < timeoutMs + 500,
          `${what} rejected after ${ms.toFixed(0)} ms`,
        );
      }
      assert.deepEqual(heard, [{ type: "delete", key: "k:1" }, {
        type: "clear",
      }]);
      // Both stand: the value is gone, and its key is free to compute.
      assert.equal((await store.readOrLease("k:1", TTL)).status, "leased");
      // With every subscriber acknowledging, the same store resolves.
      silent.close();
      const deadline = performance.now() + PROMPT_MS;
      while (await subscribers(url, namespace) > 1) {
        assert.ok(performance.now() < deadline, "the raw subscriber stays");
        await sleep(5);
      }
      assert.equal(await other.delete("k:1", { timeoutMs }), false);
    } finally {
      silent.close();
      await subscription.close();
      await mine.close();
      await theirs.close();
    }
  });

  Deno.test(`${backend}: across processes, a call started as soon as another process's invalidation resolved never gets the old value (50 keys, the caller ${FAR_MS} ms further from the server)`, async () => {
    // B hears every notice FAR_MS after A: without acknowledgements, A's
    // invalidation resolves, and B's call arrives, before B has heard it.
    const far = delayingProxy(redisUrl(), FAR_MS);
    try {
      await withFleet(backend, async (fleet, where) => {
        const namespace = freshNamespace("acknowledged-fleet");
        const config = configFor(where, { namespace, ttl: TTL, fnMs: 1 });
        const [a, b] = await fleet.start(config, {
          ...config,
          target: far.url,
        });
        const keys = Array.from({ length: 50 }, (_, i) => `fleet:${i}`);
        const first = valuesOf(await a.request("call", { keys }));
        assert.deepEqual(valuesOf(await b.request("call", { keys })), first);
        await listening(where.target, namespace, 2);
        // Every key at once, as a burst of invalidations would come; each
        // call is sent the moment its invalidation's reply arrives.
        const took: number[] = [];
        const after = await Promise.all(keys.map(async (key) => {
          const { result, started, ended } = await a.request("invalidate", {
            key,
          });
          assert.equal(result, true);
          took.push((ended as number) - (started as number));
          const [value] = valuesOf(await b.request("call", { keys: [key] }));
          return value;
        }));
        console.log(
          `${backend}: 50 invalidations at once, each acknowledged by a process ${FAR_MS} ms away: p50 ${
            percentile(took, 50).toFixed(1)
          } ms, p99 ${percentile(took, 99).toFixed(1)} ms`,
        );
        const old = keys.filter((_, i) => after[i].nonce === first[i].nonce);
        assert.deepEqual(
          old,
          [],
          `b served the old value of ${old.length} of 50`,
        );
      });
    } finally {
      await far.close();
    }
  });
}
