/**
 * `redisStore` with many keys at once (redis_batch.ts), against the real
 * server at REDIS_URL, on node-redis and on ioredis: the reads and the
 * writes of a turn go in one script call per chunk, and writes made while
 * one is in flight go together; a waiter does not read the key again every
 * pollInterval while it is subscribed, but reads whether its lease still
 * holds, with backoff, and wakes when the lease ends without a word. Each
 * client is wrapped so that the test counts the scripts it sends.
 */

import assert from "node:assert/strict";
import { once } from "node:events";
import { redisStore } from "../redis.ts";
import { CHUNK, POLL_BACKOFF_CAP, ReadBatch } from "../redis_batch.ts";
import { ServerClock } from "../redis_format.ts";
import type { CacheStore, ReadOrLease, StoreLease } from "../store.ts";
import { redisCommand, redisUrl } from "../tools/redis.ts";
import { REDIS_CLIENTS, sleep } from "./shared/clients.ts";
import { freshNamespace } from "./shared/harness.ts";

/** A client whose script calls are counted, by the number of keys they pass. */
interface CountedClient {
  /** The client, as redisStore takes it. */
  readonly client: object;
  /** EVALSHA calls so far, by their number of keys. */
  readonly scripts: number[];
  /** MGET calls so far, by their number of keys. */
  readonly fetches: number[];
  close(): Promise<void>;
}

// Forwards everything to `target`, with its methods bound to it, and hands
// each command's arguments to `seen` first.
function countingProxy<T extends object>(
  target: T,
  method: "sendCommand" | "call",
  seen: (args: string[]) => void,
): T {
  return new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property, object);
      if (property === method) {
        return (...args: unknown[]) => {
          seen(
            (method === "sendCommand" ? args[0] : args) as string[],
          );
          return (value as (...a: unknown[]) => unknown).apply(object, args);
        };
      }
      return typeof value === "function" ? value.bind(object) : value;
    },
  });
}

async function openCounted(
  backend: typeof REDIS_CLIENTS[number],
): Promise<CountedClient> {
  const scripts: number[] = [];
  const fetches: number[] = [];
  const seen = (args: string[]) => {
    const name = String(args[0]).toUpperCase();
    if (name === "EVALSHA") scripts.push(Number(args[2]));
    if (name === "MGET") fetches.push(args.length - 1);
  };
  if (backend === "node-redis") {
    const { createClient } = await import("redis");
    const client = createClient({ url: redisUrl() });
    client.on("error", () => {});
    await client.connect();
    return {
      client: countingProxy(client, "sendCommand", seen),
      scripts,
      fetches,
      close: async () => void await client.close(),
    };
  }
  const { Redis } = await import("ioredis");
  const client = new Redis(redisUrl());
  client.on("error", () => {});
  await once(client, "ready");
  return {
    client: countingProxy(client, "call", seen),
    scripts,
    fetches,
    async close() {
      const ended = once(client, "end");
      await client.quit();
      await ended;
    },
  };
}

async function withClients(
  backend: typeof REDIS_CLIENTS[number],
  count: number,
  body: (clients: CountedClient[]) => Promise<void>,
): Promise<void> {
  const clients: CountedClient[] = [];
  try {
    for (let i = 0; i < count; i++) clients.push(await openCounted(backend));
    await body(clients);
  } finally {
    for (const client of clients) await client.close();
  }
}

function leaseOf(found: ReadOrLease): StoreLease {
  assert.equal(found.status, "leased");
  return (found as { lease: StoreLease }).lease;
}

const LONG = 60_000;

for (const backend of REDIS_CLIENTS) {
  Deno.test(`${backend}: the reads and the writes of one turn go in one script call per ${CHUNK} keys, each key read, leased or written as alone`, async () => {
    await withClients(backend, 2, async ([mine, theirs]) => {
      const namespace = freshNamespace("batch");
      const store = redisStore(mine.client, { namespace });
      const other = redisStore(theirs.client, { namespace });
      const keys = Array.from({ length: CHUNK + 100 }, (_, i) => `k${i}`);
      // One key twice: the first takes the lease, the second finds it busy.
      const found = await Promise.all(
        [...keys, "k0"].map((key) => store.readOrLease(key, LONG)),
      );
      const calls = Math.ceil(found.length / CHUNK);
      assert.deepEqual(
        mine.scripts,
        Array(calls).fill(null).map((_, i) =>
          // generation, then a value and a lease per key
          1 + 2 * Math.min(CHUNK, found.length - i * CHUNK)
        ),
        "the reads were not sent together",
      );
      assert.deepEqual(
        found.map((f) => f.status),
        [...keys.map(() => "leased"), "busy"],
      );
      const leases = found.slice(0, keys.length).map(leaseOf);
      assert.equal(
        new Set(leases.map((lease) => lease.token)).size,
        keys.length,
        "two leases share a token",
      );
      const busy = await Promise.all(
        keys.map((key) => other.readOrLease(key, LONG)),
      );
      assert.ok(busy.every((f) => f.status === "busy"));

      mine.scripts.length = 0;
      // A lease that no longer holds writes nothing, and takes nothing from
      // the others written with it.
      await store.delete("k1");
      await Promise.all(
        keys.map((key, i) =>
          store.write(key, { text: `value ${i}`, ttl: LONG }, leases[i])
        ),
      );
      assert.equal(
        mine.scripts.filter((keys) => keys > 3).length,
        Math.ceil(keys.length / CHUNK),
        "the writes were not sent together",
      );
      const read = await Promise.all(
        keys.map((key) => other.readOrLease(key, LONG)),
      );
      assert.deepEqual(read[0], {
        status: "value",
        value: {
          text: "value 0",
          ttl: (read[0] as { value: { ttl: number } })
            .value.ttl,
        },
      });
      assert.equal(read[1].status, "leased", "a deleted key's lease wrote");
      for (let i = 2; i < keys.length; i++) {
        assert.equal(read[i].status, "value");
        assert.equal(
          (read[i] as { value: { text: string } }).value.text,
          `value ${i}`,
        );
      }
    });
  });

  Deno.test(`${backend}: writes made in separate turns while one is in flight go together`, async () => {
    await withClients(backend, 1, async ([mine]) => {
      const namespace = freshNamespace("batch-turns");
      const store = redisStore(mine.client, { namespace });
      const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
      const leases = (await Promise.all(
        keys.map((key) => store.readOrLease(key, LONG)),
      )).map(leaseOf);
      mine.scripts.length = 0;
      // Each write in a timer's callback of its own, as the runs of a
      // function end one by one.
      await Promise.all(
        keys.map((key, i) =>
          new Promise<void>((resolve, reject) =>
            setTimeout(
              () =>
                store.write(key, { text: "v", ttl: LONG }, leases[i]).then(
                  resolve,
                  reject,
                ),
              0,
            )
          )
        ),
      );
      assert.ok(
        mine.scripts.length <= 10,
        `${mine.scripts.length} script calls for ${keys.length} writes`,
      );
    });
  });

  Deno.test(`${backend}: a subscribed waiter reads whether the lease still holds with backoff, not the key every pollInterval, and wakes when the lease ends unannounced`, async () => {
    const pollInterval = 40;
    const leaseMs = 1_500;
    await withClients(backend, 2, async ([mine, theirs]) => {
      const namespace = freshNamespace("batch-waits");
      const holder: CacheStore = redisStore(theirs.client, { namespace });
      const waiter: CacheStore = redisStore(mine.client, {
        namespace,
        pollInterval,
      });
      const subscription = await waiter.subscribe(() => {}, () => {});
      try {
        // The holder takes the lease and dies: nobody renews, releases or
        // writes, and no message comes.
        leaseOf(await holder.readOrLease("k", leaseMs));
        const taken = performance.now();
        mine.scripts.length = 0;
        await waiter.wait("k", {
          timeoutMs: 10_000,
          signal: new AbortController().signal,
        });
        const waited = performance.now() - taken;
        assert.ok(
          waited >= leaseMs - 50 && waited < leaseMs + 300,
          `the wait ended ${
            waited.toFixed(0)
          } ms after the lease was taken (lease ${leaseMs} ms)`,
        );
        // 40, 80, 160, 320, 320... ms: about 7 polls in 1,500 ms, where
        // one every pollInterval would be 37.
        const polls = mine.scripts.length;
        const atMost = 2 + Math.ceil(
          leaseMs / (POLL_BACKOFF_CAP * pollInterval),
        ) + Math.log2(POLL_BACKOFF_CAP);
        assert.ok(
          polls >= 2 && polls <= atMost,
          `${polls} polls in ${waited.toFixed(0)} ms (at most ${atMost})`,
        );
        assert.ok(
          mine.scripts.every((keys) => keys === 2),
          `not only polls of one lease: ${mine.scripts}`,
        );
        // The key is free: the waiter takes it now.
        assert.equal((await waiter.readOrLease("k", LONG)).status, "leased");
      } finally {
        await subscription.close();
      }
    });
  });

  Deno.test(`${backend}: without a subscription, a waiter reads whether the lease still holds every pollInterval, and wakes once it is released`, async () => {
    const pollInterval = 40;
    await withClients(backend, 2, async ([mine, theirs]) => {
      const namespace = freshNamespace("batch-polls");
      const holder = redisStore(theirs.client, { namespace });
      const waiter = redisStore(mine.client, { namespace, pollInterval });
      const lease = leaseOf(await holder.readOrLease("k", LONG));
      mine.scripts.length = 0;
      const started = performance.now();
      const waiting = waiter.wait("k", {
        timeoutMs: 10_000,
        signal: new AbortController().signal,
      });
      await sleep(300);
      await holder.release("k", lease);
      await waiting;
      const waited = performance.now() - started;
      assert.ok(
        waited < 300 + 2 * pollInterval + 100,
        `the wait ended ${
          waited.toFixed(0)
        } ms after it began, the lease released after 300 ms`,
      );
      assert.ok(
        mine.scripts.length >= 300 / pollInterval - 2,
        `${mine.scripts.length} polls in ${
          waited.toFixed(0)
        } ms: it backed off with nobody to tell it`,
      );
    });
  });
}

for (const backend of REDIS_CLIENTS) {
  Deno.test(`${backend}: once the server's clock is read, a warm read is one MGET and no script, ${CHUNK} keys per MGET; a key without a live value of this generation goes on to the script`, async () => {
    await withClients(backend, 2, async ([mine, theirs]) => {
      const namespace = freshNamespace("warm");
      const store = redisStore(mine.client, { namespace });
      const other = redisStore(theirs.client, { namespace });
      const keys = Array.from({ length: CHUNK + 88 }, (_, i) => `k${i}`);
      const leases = (await Promise.all(
        keys.map((key) => other.readOrLease(key, LONG)),
      )).map(leaseOf);
      await Promise.all(
        keys.map((key, i) =>
          other.write(key, { text: `value ${i}`, ttl: LONG }, leases[i])
        ),
      );
      // The first read asks for the server's clock, and is a script call.
      assert.equal((await store.readOrLease("first", LONG)).status, "leased");
      assert.deepEqual(mine.scripts, [3]);
      assert.deepEqual(mine.fetches, []);
      mine.scripts.length = 0;

      const started = performance.now();
      const found = await Promise.all(
        keys.map((key) => store.readOrLease(key, LONG)),
      );
      const took = performance.now() - started;
      assert.deepEqual(mine.scripts, [], "a warm read ran a script");
      assert.deepEqual(mine.fetches, [1 + CHUNK, 1 + 88]);
      for (const [i, read] of found.entries()) {
        assert.equal(read.status, "value");
        const { text, ttl } = (read as { value: { text: string; ttl: number } })
          .value;
        assert.equal(text, `value ${i}`);
        // What is left, on the server's clock: never more than written, and
        // less by no more than the time since the write.
        assert.ok(ttl <= LONG && ttl > LONG - 1_000 - took, `ttl ${ttl}`);
      }

      // A key without a value: the MGET, then the script, which leases it.
      mine.fetches.length = 0;
      assert.equal((await store.readOrLease("none", LONG)).status, "leased");
      assert.deepEqual([mine.fetches, mine.scripts], [[2], [3]]);

      // After a clear, the value of the generation before is none.
      await other.clear();
      mine.fetches.length = mine.scripts.length = 0;
      assert.equal((await store.readOrLease("k0", LONG)).status, "leased");
      assert.deepEqual([mine.fetches, mine.scripts], [[2], [3]]);

      // A value of the former format is none, and is written over.
      await redisCommand(redisUrl(), "SET", `${namespace}:v:old`, "alru2:1:x");
      const lease = leaseOf(await store.readOrLease("old", LONG));
      await store.write("old", { text: "new", ttl: Infinity }, lease);
      assert.deepEqual(await other.readOrLease("old", LONG), {
        status: "value",
        value: { text: "new", ttl: Infinity },
      });
    });
  });

  Deno.test(`${backend}: a warm read says what is left by the deadline in the value, on the server's clock, and one past it goes on to the script`, async () => {
    await withClients(backend, 1, async ([mine]) => {
      const namespace = freshNamespace("warm-deadline");
      const store = redisStore(mine.client, { namespace });
      await store.readOrLease("first", LONG);
      const [seconds, micros] = await redisCommand(redisUrl(), "TIME") as [
        string,
        string,
      ];
      const serverNow = Number(seconds) * 1_000 + Number(micros) / 1_000;
      // The key itself lives a minute; the deadlines in the values say 5 s
      // and 5 s ago.
      for (const [key, deadline] of [["soon", 5_000], ["past", -5_000]]) {
        await redisCommand(
          redisUrl(),
          "SET",
          `${namespace}:v:${key}`,
          `alru3:0:${Math.round(serverNow + Number(deadline))}:${key}`,
          "PX",
          LONG,
        );
      }
      mine.scripts.length = 0;
      const soon = await store.readOrLease("soon", LONG);
      assert.equal(soon.status, "value");
      const { ttl } = (soon as { value: { ttl: number } }).value;
      assert.ok(ttl <= 5_000 && ttl > 4_000, `ttl ${ttl}`);
      assert.deepEqual(mine.scripts, []);
      // Past its deadline: the script reads the key again, and says what
      // is left of the key's own expiry.
      const past = await store.readOrLease("past", LONG);
      assert.deepEqual(mine.scripts, [3]);
      assert.equal(past.status, "value");
      assert.ok((past as { value: { ttl: number } }).value.ttl > 5_000);
    });
  });
}

Deno.test("the server's clock is read once at a time, and its estimate is never behind the server: counted from when TIME was sent", async () => {
  const asked: ((reply: unknown) => void)[] = [];
  const clock = new ServerClock((args) => {
    assert.deepEqual(args, ["TIME"]);
    return new Promise((resolve) => asked.push(resolve));
  });
  assert.equal(clock.now(), undefined);
  assert.equal(clock.now(), undefined);
  assert.equal(asked.length, 1, "the clock was read twice at once");
  const sent = performance.now();
  // The server's time, 1,000 s and 0.5 ms into the epoch.
  asked[0](["1000", "500"]);
  await microtasks();
  const now = clock.now()!;
  const since = performance.now() - sent;
  assert.ok(now >= 1_000_000.5 + since, `${now} is behind the server`);
  assert.ok(now <= 1_000_000.5 + since + 5, `${now}: too far ahead`);
  assert.equal(asked.length, 1, "a fresh reading was taken again");
  // A failed reading leaves the clock as it was.
  const failing = new ServerClock(() => Promise.reject(new Error("down")));
  assert.equal(failing.now(), undefined);
  await microtasks();
  assert.equal(failing.now(), undefined);
});

Deno.test("a caller who reads again as soon as its read is answered is sent at once, not at the next turn of the event loop", async () => {
  const sent: string[][] = [];
  const answers: ((found: unknown) => void)[] = [];
  const batch = new ReadBatch((_script, keys) => {
    sent.push(keys);
    return new Promise((resolve) => answers.push(resolve));
  }, {
    generation: "g",
    value: (key) => `v:${key}`,
    lease: (key) => `l:${key}`,
  });
  const first = batch.readOrLease("a", LONG).then(() =>
    batch.readOrLease("b", LONG)
  );
  await microtasks();
  assert.equal(sent.length, 1);
  answers[0](["alru3:0::a", -1, "0"]);
  // Only microtasks run here, never a timer.
  await microtasks();
  assert.equal(sent.length, 2, "the second read waits for a timer");
  answers[1](["alru3:0::b", -1, "0"]);
  assert.deepEqual(await first, {
    status: "value",
    value: { text: "b", ttl: Infinity },
  });
});

async function microtasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}
