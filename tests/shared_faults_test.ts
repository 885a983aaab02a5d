/**
 * The store failing (§13: "the store failing never fails a call"): a Redis
 * server stopped in the middle of a run, restarted, and paused. Each test
 * uses a server of its own from `startRedis()`, so that the one at
 * REDIS_URL stays up for the other tests, and runs with node-redis and with
 * ioredis.
 */

import assert from "node:assert/strict";
import { alruCache } from "../mod.ts";
import {
  type RedisServer,
  restartServer,
  startRedis,
  stopServer,
} from "../tools/redis.ts";
import {
  type Backend,
  connect,
  type Connection,
  REDIS_CLIENTS,
  sleep,
  within,
} from "./shared/clients.ts";
import {
  type CallOutcome,
  configFor,
  firstOf,
  freshNamespace,
  valuesOf,
  withFleet,
  type WorkerProcess,
} from "./shared/harness.ts";

const FN_MS = 200;
const STORE_TIMEOUT = 250;
// Short, so that a lease left behind shows within the test's bounds.
const LEASE = 1_500;

const BREAKER_THRESHOLD = 3;
const BREAKER_COOLDOWN = 1_000;

async function statsOf(
  worker: WorkerProcess,
): Promise<Record<string, number>> {
  return (await worker.request("stats")).stats as Record<string, number>;
}

async function storeErrors(worker: WorkerProcess): Promise<number> {
  const { stats } = await worker.request("stats");
  return (stats as { storeErrors: number }).storeErrors;
}

/**
 * Two caches in this process on two clients of `server`, as two processes
 * would have them, each counting its runs; closed with their clients after.
 */
async function withTwoCaches(
  backend: Backend,
  server: RedisServer,
  body: (caches: ReturnType<typeof cacheOn>[]) => Promise<void>,
): Promise<void> {
  const namespace = freshNamespace("two-caches");
  const connections: Connection[] = [];
  const caches: ReturnType<typeof cacheOn>[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const connection = await connect(backend, server.url);
      connections.push(connection);
      caches.push(cacheOn(connection, namespace));
    }
    await body(caches);
  } finally {
    for (const { cached } of caches) await cached.cacheClose();
    for (const connection of connections) await connection.close();
  }
}

function cacheOn(connection: Connection, namespace: string) {
  const counts = { runs: 0, started: Promise.withResolvers<void>() };
  const cached = alruCache(async (key: string) => {
    counts.runs++;
    counts.started.resolve();
    await sleep(FN_MS);
    return `${key}:${crypto.randomUUID()}`;
  }, {
    ttl: 60_000,
    lease: LEASE,
    storeTimeout: STORE_TIMEOUT,
    store: connection.store(namespace),
  });
  return { cached, counts, connection };
}

async function timed<T>(work: Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await work;
  return [value, performance.now() - started];
}

for (const backend of REDIS_CLIENTS) {
  Deno.test(`${backend}: a server stopped mid-run fails no call; the circuit breaker then spares calls the store's timeout, and sharing resumes within one cool-down of the server's return`, async () => {
    const server = await startRedis();
    try {
      await withFleet(backend, async (fleet, where) => {
        const config = configFor(where, {
          namespace: freshNamespace("down"),
          ttl: 60_000,
          lease: LEASE,
          storeTimeout: STORE_TIMEOUT,
          breakerThreshold: BREAKER_THRESHOLD,
          breakerCooldown: BREAKER_COOLDOWN,
          fnMs: FN_MS,
        });
        const [a, b] = await fleet.start(config, config);
        // Both subscribed and sharing before the server goes.
        await Promise.all(
          [a, b].map((w) => w.request("call", { keys: ["w"] })),
        );
        const keys = Array.from({ length: 5 }, (_, i) => `mid-${i}`);
        const running = [a, b].map((w) => w.request("call", { keys }));
        await firstOf([a, b], "fnStart");
        await sleep(50);
        await stopServer(server);
        for (const reply of await Promise.all(running)) {
          for (const outcome of reply.results as CallOutcome[]) {
            assert.ok(outcome.ok, JSON.stringify(outcome));
            // fn, a write that times out (and a release, which should not
            // be waited for), and perhaps a local run after a failed wait.
            assert.ok(outcome.ms < 2 * FN_MS + 3 * STORE_TIMEOUT + 500);
          }
        }
        // While it is down, a call runs locally after one storeTimeout
        // until the breaker opens, and then at once.
        let opened = false;
        for (let i = 0; i < BREAKER_THRESHOLD + 1 && !opened; i++) {
          const [down] = (await a.request("call", { keys: [`down-${i}`] }))
            .results as CallOutcome[];
          assert.ok(down.ok);
          assert.ok(
            down.ms < STORE_TIMEOUT + FN_MS + 300,
            `the call took ${down.ms.toFixed(0)} ms`,
          );
          opened = (await statsOf(a)).breakerOpenings === 1;
        }
        assert.ok(opened, "the breaker did not open");
        const open = (await a.request("call", {
          keys: Array.from({ length: 5 }, (_, i) => `open-${i}`),
        })).results as CallOutcome[];
        for (const outcome of open) {
          assert.ok(outcome.ok);
          assert.ok(
            outcome.ms < FN_MS + 100,
            `with the breaker open a call took ${outcome.ms.toFixed(0)} ms`,
          );
        }
        assert.ok(await storeErrors(a) > 0, "a counted no store error");
        assert.ok(await storeErrors(b) > 0, "b counted no store error");

        // Back up, with the same processes: the clients reconnect by
        // themselves, and within one cool-down a key is computed once
        // again.
        await restartServer(server);
        const back = performance.now();
        for (let round = 0;; round++) {
          const before = await Promise.all([a, b].map(storeErrors));
          const key = `resume-${round}`;
          const [[x], [y]] = (await Promise.all(
            [a, b].map((w) => w.request("call", { keys: [key] })),
          )).map(valuesOf);
          const after = await Promise.all([a, b].map(storeErrors));
          if (x.nonce === y.nonce && after[0] === before[0]) break;
          assert.ok(
            performance.now() - back < BREAKER_COOLDOWN + 1_500,
            "sharing did not resume within one cool-down",
          );
          await sleep(100);
        }
        assert.equal((await statsOf(a)).breakerClosings, 1);
        const fresh = Array.from({ length: 10 }, (_, i) => `after-${i}`);
        const runsBefore = (await a.request("stats")).runs as number +
          ((await b.request("stats")).runs as number);
        const [fromA, fromB] = (await Promise.all(
          [a, b].map((w) => w.request("call", { keys: fresh })),
        )).map(valuesOf);
        assert.deepEqual(fromA, fromB, "a and b got the same values");
        const runsAfter = (await a.request("stats")).runs as number +
          ((await b.request("stats")).runs as number);
        assert.equal(runsAfter - runsBefore, fresh.length, "one run per key");
        // The requests a sent while the server was down reach the new one
        // when its client reconnects; a lease one of them takes is nobody's
        // and must not hold "down-0" up for the other process.
        const [late] = (await b.request("call", { keys: ["down-0"] }))
          .results as CallOutcome[];
        assert.ok(late.ok);
        assert.ok(
          late.ms < STORE_TIMEOUT + FN_MS + 300,
          `b waited ${late.ms.toFixed(0)} ms for down-0 (lease ${LEASE} ms)`,
        );
        // withFleet then checks that both exit cleanly: status 0, so no
        // unhandled rejection along the way.
      }, server.url);
    } finally {
      await server.stop();
    }
  });

  Deno.test(`${backend}: a paused server trips storeTimeout; the call runs locally in about storeTimeout + fn`, async () => {
    const server = await startRedis();
    try {
      await withTwoCaches(backend, server, async ([one]) => {
        await one.cached("warm"); // subscribed before the pause
        await server.pause(1_000);
        const [value, ms] = await timed(one.cached("paused"));
        assert.match(value, /^paused:/);
        assert.ok(
          ms >= STORE_TIMEOUT + FN_MS - 20 && ms < STORE_TIMEOUT + FN_MS + 200,
          `the call took ${ms.toFixed(0)} ms`,
        );
        assert.equal(one.cached.cacheStats().storeErrors, 1);
        await sleep(1_000); // the pause ends before the clients close
      });
    } finally {
      await server.stop();
    }
  });

  Deno.test(`${backend}: a readOrLease that timed out leaves no lease behind once the store answers`, async () => {
    const server = await startRedis();
    try {
      await withTwoCaches(backend, server, async ([one, two]) => {
        await Promise.all([one.cached("warm"), two.cached("warm")]);
        await server.pause(600);
        await one.cached("k"); // timed out: ran locally, wrote nothing
        await sleep(700); // the paused command has run by now
        // Nobody computes "k": the other process must take it at once, not
        // wait out a lease that the timed-out request took for nobody.
        const [, ms] = await timed(two.cached("k"));
        assert.ok(
          ms < STORE_TIMEOUT + FN_MS + 300,
          `the other cache waited ${ms.toFixed(0)} ms (lease ${LEASE} ms)`,
        );
      });
    } finally {
      await server.stop();
    }
  });

  Deno.test(`${backend}: writing and releasing delay the holder's callers by at most storeTimeout`, async () => {
    const server = await startRedis();
    try {
      await withTwoCaches(backend, server, async ([one]) => {
        await one.cached("warm");
        one.counts.started = Promise.withResolvers<void>();
        const call = timed(one.cached("held"));
        await one.counts.started.promise; // it holds the lease and runs fn
        await server.pause(1_500); // the write and the release hang
        const [, ms] = await call;
        assert.ok(
          ms < FN_MS + STORE_TIMEOUT + 150,
          `the holder's caller waited ${
            ms.toFixed(0)
          } ms for fn (${FN_MS} ms) and the store (storeTimeout ${STORE_TIMEOUT} ms)`,
        );
        await sleep(1_500);
      });
    } finally {
      await server.stop();
    }
  });

  Deno.test(`${backend}: cacheClose() with the server down does not hang, and leaves the client open`, async () => {
    const server = await startRedis();
    try {
      await withTwoCaches(backend, server, async (caches) => {
        const [one] = caches;
        await one.cached("warm"); // the pub/sub connection is open
        await stopServer(server);
        await sleep(300); // and now between its reconnection attempts
        await within(
          3_000,
          "cacheClose() with the server down",
          one.cached.cacheClose(),
        );
        // Each client leaves a short, harmless timer of its own when a
        // connection is closed between reconnection attempts, which must run
        // out inside this test for the sanitizer: node-redis the backoff of
        // the attempt it was waiting for (2^3 × 50 + 200 ms this early in an
        // outage), ioredis the 2 s it gives a socket to report that it closed
        // (its disconnectTimeout), armed by disconnect() even when the socket
        // is long gone.
        await sleep(backend === "node-redis" ? 700 : 2_100);
        await restartServer(server);
        // The user's client comes back. So must the idle second one before
        // it is closed: node-redis closed while it waits to reconnect leaves
        // that wait's timer behind, as above.
        await Promise.all(caches.map(({ connection }) => connection.ping()));
      });
    } finally {
      await server.stop();
    }
  });
}
