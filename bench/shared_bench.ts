/**
 * The shared tier's costs, against a real Redis server, for both clients the
 * store takes (node-redis and ioredis):
 *
 * - **local hit**: 1,000 warm number keys cycled, with a store beside the
 *   same hit without one. A hit never touches the store.
 * - **object hit**: the same with an object argument (`{ id }`). Without a
 *   store the same object hits; with one, equal objects share a key, so a
 *   hit encodes its argument. Beside them, the `key` option, with and
 *   without a store.
 * - **from Redis**: each call a local miss on a key that a second cache, on
 *   a connection of its own, wrote to the store before the timed part:
 *   beside one raw `GET` of the same stored value with the same client, and
 *   beside the store's `readOrLease` alone. Also a key nobody has computed
 *   yet (lease, run, write) for scale.
 *
 * It needs `REDIS_URL`; without it every case here is skipped. Run it with a
 * throwaway server:
 *
 * ```sh
 * deno run --allow-all tools/redis.ts -- deno task bench bench/shared_bench.ts
 * ```
 *
 * On a machine of two cores, a loopback round trip takes 20 µs when the
 * server and the client share a core and 50 to 90 µs when they do not, and
 * the scheduler moves between the two; `taskset -c 0` before `deno run`
 * keeps both on one core, for numbers that hold from run to run.
 *
 * Every iteration makes BATCH awaited calls, one after another; divide the
 * time by BATCH for one call. The stampede across processes is a script of
 * its own: `bench/shared_stampede.ts`.
 */
import { once } from "node:events";
import { createClient } from "redis";
// The named export: under Deno's npm interop the default export's types do
// not resolve to the class.
import { Redis } from "ioredis";
import { alruCache } from "../mod.ts";
import { redisStore } from "../redis.ts";
import { encodeKey } from "../store_key.ts";

/** Calls per bench iteration. */
export const BATCH = 100;
const KEYS = 1_000;
const HOUR = 3_600_000;
const TEN_MINUTES = 600_000;
/** Untimed wait after the writer's batch, in ms. */
const SETTLE_MS = 5;
/**
 * Iterations of the cases that talk to Redis: left to itself, `deno bench`
 * gives a case of a few milliseconds per iteration some 40, too few for the
 * longer path to be compiled and for the round trips' noise to average out.
 */
const REDIS_RUN = { warmup: 50, n: 400 };

const url = Deno.env.get("REDIS_URL");
if (url === undefined) {
  console.error(
    "shared_bench.ts: REDIS_URL is not set, so its cases are skipped; run " +
      "`deno run --allow-all tools/redis.ts -- deno bench --config bench/deno.json --allow-all " +
      "bench/shared_bench.ts`",
  );
}
const ignore = url === undefined;

/** Every case's name, in order. */
export const CASES: string[] = [];

/** A prefix of this run's own, so that runs on one server never meet. */
const RUN = `bench:shared:${crypto.randomUUID()}`;
let namespaces = 0;
function namespace(): string {
  return `${RUN}:${namespaces++}`;
}

type Client = "node-redis" | "ioredis";
const CLIENTS: readonly Client[] = ["node-redis", "ioredis"];

/** One open client: a raw GET through it, and a store on it. */
interface Connection {
  get(key: string): Promise<string | null>;
  store(namespace: string): ReturnType<typeof redisStore>;
  /** Drops the connection at once, without waiting for anything. */
  drop(): void;
}

async function connect(kind: Client): Promise<Connection> {
  if (kind === "node-redis") {
    const client = createClient({ url });
    client.on("error", () => {});
    await client.connect();
    return {
      get: (key) => client.get(key),
      store: (namespace) => redisStore(client, { namespace }),
      drop: () => client.destroy(),
    };
  }
  const client = new Redis(url!);
  client.on("error", () => {});
  await once(client, "ready");
  return {
    get: (key) => client.get(key),
    store: (namespace) => redisStore(client, { namespace }),
    drop: () => client.disconnect(),
  };
}

// Opened on first use, so that a run filtered to one case opens only what it
// needs.
const connections = new Map<string, Promise<Connection>>();
const open: Connection[] = [];
function connection(kind: Client, role: string): Promise<Connection> {
  const name = `${kind}/${role}`;
  let opened = connections.get(name);
  if (opened === undefined) {
    opened = connect(kind).then((made) => {
      open.push(made);
      return made;
    });
    connections.set(name, opened);
  }
  return opened;
}

// The caches made here, closed with the connections.
const caches: { cacheClose(): Promise<void> }[] = [];
function kept<T extends { cacheClose(): Promise<void> }>(cache: T): T {
  caches.push(cache);
  return cache;
}

// `deno bench` has no hook after the last case, and ends the process right
// after it without waiting for open sockets, so everything is closed on
// unload, where nothing can be awaited: each cache starts closing its
// subscription, and each client drops its connection at once (node-redis
// `destroy()`, ioredis `disconnect()`); the subscriptions' own connections
// end with the process.
globalThis.addEventListener("unload", () => {
  for (const cache of caches) void cache.cacheClose().catch(() => {});
  for (const made of open) made.drop();
});

type Load = (key: number) => Promise<number>;

function load(key: number): Promise<number> {
  return Promise.resolve(key);
}

/** `load`, counting its runs in `runs`. */
function counting(runs: { count: number }): Load {
  return (key) => {
    runs.count++;
    return load(key);
  };
}

function register(
  name: string,
  options: Omit<Deno.BenchDefinition, "name" | "fn" | "ignore">,
  fn: (b: Deno.BenchContext) => Promise<void>,
): void {
  CASES.push(name);
  Deno.bench(name, { ...options, ignore }, fn);
}

// Setup runs in the first iteration rather than at load time, as in
// peers_bench.ts.
function lazily<T>(
  setup: () => Promise<T>,
  body: (state: T, b: Deno.BenchContext) => Promise<void>,
): (b: Deno.BenchContext) => Promise<void> {
  let state: T | undefined;
  let ready = false;
  return async (b) => {
    if (!ready) {
      state = await setup();
      ready = true;
    }
    await body(state!, b);
  };
}

// --- local hit: 1,000 warm number keys, with and without a store ------------

/** BATCH awaited calls cycling over KEYS keys. */
function cycling(): (call: Load) => Promise<void> {
  let key = 0;
  return async (call) => {
    for (let i = 0; i < BATCH; i++) {
      key = key === KEYS - 1 ? 0 : key + 1;
      await call(key);
    }
  };
}

async function warmed(call: Load): Promise<Load> {
  const keys = Array.from({ length: KEYS }, (_, key) => key);
  await Promise.all(keys.map((key) => call(key)));
  return call;
}

const hitCases: [string, () => Promise<Load>][] = [
  [
    "no store",
    () => warmed(alruCache(load, { maxSize: KEYS, ttl: HOUR })),
  ],
  ...CLIENTS.map((kind): [string, () => Promise<Load>] => [
    `redisStore (${kind})`,
    async () => {
      const store = (await connection(kind, "main")).store(namespace());
      return warmed(kept(alruCache(load, { maxSize: KEYS, ttl: HOUR, store })));
    },
  ]),
];
for (const [name, make] of hitCases) {
  register(
    `local hit: ${name}`,
    { group: "local hit", baseline: name === "no store" },
    lazily(make, cycling()),
  );
}

// --- local hit on an object argument ------------------------------------------

// Without a store an object argument is its own key (the same object hits);
// with one, equal objects share their store key's encoding, so a hit encodes
// the argument. The client cannot matter to a hit, so node-redis alone.

interface User {
  id: number;
}

function loadUser(user: User): Promise<number> {
  return Promise.resolve(user.id);
}

/** The same 1,000 objects on every pass. */
const users: User[] = Array.from({ length: KEYS }, (_, id) => ({ id }));

type UserCache = (user: User) => Promise<number>;

function sameObjects(cached: UserCache): Load {
  return (key) => cached(users[key]);
}

function equalNewObjects(cached: UserCache): Load {
  return (key) => cached({ id: key });
}

async function userStore() {
  return (await connection("node-redis", "main")).store(namespace());
}

const objectHitCases: [string, () => Promise<Load>][] = [
  [
    "no store, the same objects",
    () =>
      warmed(sameObjects(alruCache(loadUser, { maxSize: KEYS, ttl: HOUR }))),
  ],
  [
    "no store, key: (user) => user.id, equal new objects",
    () =>
      warmed(equalNewObjects(alruCache(loadUser, {
        maxSize: KEYS,
        ttl: HOUR,
        key: (user: User) => user.id,
      }))),
  ],
  [
    "redisStore, the same objects",
    async () =>
      warmed(sameObjects(kept(alruCache(loadUser, {
        maxSize: KEYS,
        ttl: HOUR,
        store: await userStore(),
      })))),
  ],
  [
    "redisStore, equal new objects",
    async () =>
      warmed(equalNewObjects(kept(alruCache(loadUser, {
        maxSize: KEYS,
        ttl: HOUR,
        store: await userStore(),
      })))),
  ],
  [
    "redisStore, key: (user) => user.id, equal new objects",
    async () =>
      warmed(equalNewObjects(kept(alruCache(loadUser, {
        maxSize: KEYS,
        ttl: HOUR,
        key: (user: User) => user.id,
        store: await userStore(),
      })))),
  ],
];
for (const [name, make] of objectHitCases) {
  register(
    `object hit: ${name}`,
    { group: "object hit", baseline: name === "no store, the same objects" },
    lazily(make, cycling()),
  );
}

// --- a value another cache wrote: each call a local miss that finds it -------

/**
 * The keys of the next batch: BATCH keys that no cache in this process has
 * seen yet, written to the store by a second cache on a connection of its
 * own before the timed part.
 */
class Written {
  readonly namespace = namespace();
  #next = 0;
  #writer: Load | undefined;

  async batch(): Promise<number[]> {
    this.#writer ??= kept(alruCache(load, {
      maxSize: BATCH,
      ttl: TEN_MINUTES,
      store: (await connection("node-redis", "writer")).store(this.namespace),
    }));
    const keys = Array.from({ length: BATCH }, () => this.#next++);
    await Promise.all(keys.map((key) => this.#writer!(key)));
    // Each write is announced on the namespace's channel, to the writer's
    // subscription and the reader's alike, both in this process; waiting
    // here lets those messages arrive before the timed part rather than
    // in it (another process's writes would arrive spread out).
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    return keys;
  }

  /** Where the store keeps `key`'s value (generation 0: never cleared). */
  redisKey(key: number): string {
    return `${this.namespace}:v:${encodeKey([key])}`;
  }
}

for (const kind of CLIENTS) {
  const group = `from Redis (${kind})`;
  register(
    `${group}: raw GET`,
    { group, baseline: true, ...REDIS_RUN },
    lazily(async () => ({
      written: new Written(),
      client: await connection(kind, "main"),
    }), async ({ written, client }, b) => {
      const keys = (await written.batch()).map((key) => written.redisKey(key));
      b.start();
      for (const key of keys) {
        if (await client.get(key) === null) throw new Error("not written");
      }
      b.end();
    }),
  );
  // What the store adds to the GET, without the cache around it: one
  // script that reads the namespace's generation and the value (or takes
  // the lease), and its reply unwrapped.
  register(
    `${group}: redisStore readOrLease alone`,
    { group, ...REDIS_RUN },
    lazily(async () => {
      const written = new Written();
      const client = await connection(kind, "main");
      return { written, store: client.store(written.namespace) };
    }, async ({ written, store }, b) => {
      const keys = (await written.batch()).map((key) => encodeKey([key]));
      b.start();
      for (const key of keys) {
        const found = await store.readOrLease(key, 10_000);
        if (found.status !== "value") throw new Error("not written");
      }
      b.end();
    }),
  );
  register(
    `${group}: alruCache, value in Redis`,
    { group, ...REDIS_RUN },
    lazily(async () => {
      const written = new Written();
      const store = (await connection(kind, "main")).store(written.namespace);
      const runs = { count: 0 };
      // Each key is read once; evicting the oldest local copies keeps the
      // local tier's size steady over the run.
      const call = kept(alruCache(counting(runs), {
        maxSize: KEYS,
        ttl: HOUR,
        store,
      }));
      return { written, call, runs };
    }, async ({ written, call, runs }, b) => {
      const keys = await written.batch();
      b.start();
      for (const key of keys) await call(key);
      b.end();
      if (runs.count !== 0) throw new Error("the reader computed a value");
    }),
  );
  register(
    `${group}: alruCache, nobody has it yet`,
    { group, ...REDIS_RUN },
    lazily(async () => {
      const store = (await connection(kind, "main")).store(namespace());
      let next = 0;
      const runs = { count: 0 };
      return {
        call: kept(alruCache(counting(runs), {
          maxSize: KEYS,
          ttl: TEN_MINUTES,
          store,
        })),
        keys: () => Array.from({ length: BATCH }, () => next++),
        runs,
      };
    }, async ({ call, keys, runs }, b) => {
      const batch = keys();
      runs.count = 0;
      b.start();
      for (const key of batch) await call(key);
      b.end();
      if (runs.count !== BATCH) throw new Error("a value was not computed");
    }),
  );
}
