/**
 * The warm read, as paired rounds in one process: a value another process
 * wrote to Redis, read by a cache whose local tier does not have it, against
 * one raw `GET` of the same stored text with the same client. In each round,
 * every variant reads BATCH keys of its own that a writer (a store on a
 * second connection) wrote before the round, one awaited call after
 * another, in an order shuffled anew; each ratio is taken within the round,
 * and the report gives its median over the rounds and its quartiles, per
 * client (node-redis, ioredis).
 *
 * - **GET**: `client.get` of the value's Redis key.
 * - **readOrLease**: the store's `readOrLease` alone.
 * - **alruCache**: a call of a cache with a store on a key it has never
 *   seen: a local miss that finds the value in Redis.
 *
 * `--before <path to another tree>` adds that tree's `alruCache` and
 * `redisStore` (its `mod.ts` and `redis.ts`) as variants of their own, for a
 * before/after comparison in the same rounds; their keys are written by that
 * tree's own store, under a namespace of their own, since the format of a
 * value may differ:
 *
 * ```sh
 * mkdir /tmp/before && git archive <commit> | tar -x -C /tmp/before
 * taskset -c 0 deno run --allow-all tools/redis.ts -- \
 *   deno run --config bench/deno.json --allow-all bench/shared_warm_read.ts --before /tmp/before
 * ```
 *
 * `--rounds N` (default 31), `--batch N` (keys per variant per round,
 * default 200), `--only node-redis|ioredis`. Without `REDIS_URL` it starts a
 * server of its own through tools/redis.ts. A loopback round trip on two
 * cores is bimodal (see bench/README.md); `taskset -c 0` keeps the server
 * and the bench on one core.
 *
 * @module
 */
import { once } from "node:events";
import { parseArgs } from "node:util";
import { createClient } from "redis";
import { Redis } from "ioredis";
import * as mod from "../mod.ts";
import * as redis from "../redis.ts";
import { encodeKey } from "../store_key.ts";
import { type RedisServer, startRedis } from "../tools/redis.ts";
import { median, quartiles, shuffle } from "./rounds.ts";

type Client = "node-redis" | "ioredis";
type AlruCache = typeof mod.alruCache;
type RedisStore = typeof redis.redisStore;

const HOUR = 3_600_000;

interface Opened {
  client: object;
  get(key: string): Promise<string | null>;
  close(): Promise<void>;
}

async function open(kind: Client, url: string): Promise<Opened> {
  if (kind === "node-redis") {
    const client = createClient({ url });
    client.on("error", () => {});
    await client.connect();
    return {
      client,
      get: (key) => client.get(key),
      close: async () => void await client.close(),
    };
  }
  const client = new Redis(url);
  client.on("error", () => {});
  await once(client, "ready");
  return {
    client,
    get: (key) => client.get(key),
    async close() {
      const ended = once(client, "end");
      await client.quit();
      await ended;
    },
  };
}

/** A variant reads the keys it is given, one awaited call after another. */
interface Variant {
  name: string;
  read(keys: number[]): Promise<void>;
  // The tree whose store writes its keys, when not this one: a value's
  // format may differ between the trees.
  before?: boolean;
}

function load(key: number): Promise<number> {
  return Promise.resolve(key);
}

async function measure(
  kind: Client,
  url: string,
  options: { rounds: number; batch: number; before?: string },
): Promise<void> {
  const namespace = `bench:warm:${crypto.randomUUID()}`;
  const reader = await open(kind, url);
  const writerConnection = await open("node-redis", url);
  const writer = redis.redisStore(writerConnection.client, { namespace });
  let beforeWriter: typeof writer | undefined;
  const caches: { cacheClose(): Promise<void> }[] = [];
  const runs = { count: 0 };
  const counted = (key: number) => {
    runs.count++;
    return load(key);
  };
  const cacheVariant = (
    name: string,
    alruCache: AlruCache,
    redisStore: RedisStore,
    before = false,
  ): Variant => {
    const cached = alruCache(counted, {
      maxSize: 1_000,
      ttl: HOUR,
      store: redisStore(reader.client, {
        namespace: before ? `${namespace}:before` : namespace,
      }),
    });
    caches.push(cached);
    return {
      name,
      async read(keys) {
        for (const key of keys) await cached(key);
      },
    };
  };
  const storeVariant = (
    name: string,
    redisStore: RedisStore,
    before = false,
  ): Variant => {
    const store = redisStore(reader.client, {
      namespace: before ? `${namespace}:before` : namespace,
    });
    return {
      name,
      async read(keys) {
        for (const key of keys) {
          const found = await store.readOrLease(encodeKey([key]), 10_000);
          if (found.status !== "value") throw new Error("not written");
        }
      },
    };
  };
  const variants: Variant[] = [
    {
      name: "GET",
      async read(keys) {
        for (const key of keys) {
          const text = await reader.get(`${namespace}:v:${encodeKey([key])}`);
          if (text === null) throw new Error("not written");
        }
      },
    },
    storeVariant("readOrLease", redis.redisStore),
    cacheVariant("alruCache", mod.alruCache, redis.redisStore),
  ];
  if (options.before !== undefined) {
    const base = new URL(`${options.before}/`, `file://${Deno.cwd()}/`);
    const beforeMod = await import(new URL("mod.ts", base).href);
    const beforeRedis = await import(new URL("redis.ts", base).href);
    // The before tree's values under a namespace of their own, written by
    // its own store.
    beforeWriter = beforeRedis.redisStore(writerConnection.client, {
      namespace: `${namespace}:before`,
    });
    const before = (variant: Variant): Variant => ({
      ...variant,
      before: true,
    });
    variants.push(
      before(storeVariant("readOrLease before", beforeRedis.redisStore, true)),
      before(cacheVariant(
        "alruCache before",
        beforeMod.alruCache,
        beforeRedis.redisStore,
        true,
      )),
    );
  }

  let next = 0;
  // Writes BATCH keys per variant through the writer's store, then lets its
  // announcements (heard by the caches' subscriptions) arrive untimed.
  const written = async (): Promise<Map<string, number[]>> => {
    const batches = new Map<string, number[]>();
    const all: [number, typeof writer][] = [];
    for (const variant of variants) {
      const keys = Array.from({ length: options.batch }, () => next++);
      batches.set(variant.name, keys);
      const by = variant.before ? beforeWriter! : writer;
      for (const key of keys) all.push([key, by]);
    }
    await Promise.all(all.map(async ([key, writer]) => {
      const found = await writer.readOrLease(encodeKey([key]), 10_000);
      if (found.status !== "leased") throw new Error("not new");
      await writer.write(
        encodeKey([key]),
        { text: String(key), ttl: HOUR },
        found.lease,
      );
    }));
    await new Promise((resolve) => setTimeout(resolve, 10));
    return batches;
  };

  // Warm-up: the caches open their subscriptions, V8 compiles the paths.
  for (let i = 0; i < 5; i++) {
    const batches = await written();
    for (const variant of variants) {
      await variant.read(batches.get(variant.name)!);
    }
  }
  const perCall = new Map<string, number[]>();
  const ratios = new Map<string, number[]>();
  for (let round = 0; round < options.rounds; round++) {
    const batches = await written();
    const measured = new Map<string, number>();
    for (const variant of shuffle(variants)) {
      const start = performance.now();
      await variant.read(batches.get(variant.name)!);
      const us = (performance.now() - start) * 1e3 / options.batch;
      measured.set(variant.name, us);
      perCall.set(variant.name, [...perCall.get(variant.name) ?? [], us]);
    }
    for (const variant of variants) {
      if (variant.name === "GET") continue;
      const name = `${variant.name} / GET`;
      const ratio = measured.get(variant.name)! / measured.get("GET")!;
      ratios.set(name, [...ratios.get(name) ?? [], ratio]);
    }
  }
  if (runs.count !== 0) throw new Error("a reader computed a value");

  console.log(
    `\n## ${kind} (${options.rounds} rounds × ${options.batch} reads)\n`,
  );
  console.log("| variant | median µs per read | quartiles |");
  console.log("| --- | ---: | --- |");
  for (const [name, values] of perCall) {
    const [low, high] = quartiles(values);
    console.log(
      `| ${name} | ${median(values).toFixed(1)} | ${low.toFixed(1)}–${
        high.toFixed(1)
      } |`,
    );
  }
  console.log("\n| ratio | median | quartiles |");
  console.log("| --- | ---: | --- |");
  for (const [name, values] of ratios) {
    const [low, high] = quartiles(values);
    console.log(
      `| ${name} | ${median(values).toFixed(3)} | ${low.toFixed(3)}–${
        high.toFixed(3)
      } |`,
    );
  }

  for (const cache of caches) await cache.cacheClose();
  await reader.close();
  await writerConnection.close();
}

async function main(): Promise<void> {
  const args = parseArgs({
    args: Deno.args,
    options: {
      before: { type: "string" },
      rounds: { type: "string", default: "31" },
      batch: { type: "string", default: "200" },
      only: { type: "string" },
    },
  });
  const settings = {
    rounds: Number(args.values.rounds),
    batch: Number(args.values.batch),
    before: args.values.before,
  };
  let server: RedisServer | undefined;
  let url = Deno.env.get("REDIS_URL");
  if (url === undefined) {
    server = await startRedis();
    url = server.url;
  }
  try {
    for (const kind of ["node-redis", "ioredis"] as const) {
      if (args.values.only !== undefined && args.values.only !== kind) continue;
      await measure(kind, url, settings);
    }
  } finally {
    await server?.stop();
  }
}

await main();
