/**
 * What the shared-tier benches that run across processes have in common
 * (`shared_stampede.ts`, `shared_side_by_side.ts`): the libraries under test,
 * each set up the same way in every process over connections of its own; the
 * child processes and the lines they exchange with the parent; and the small
 * statistics the tables print.
 *
 * A child is a bench file run again with `--child` and its settings as JSON.
 * It sets itself up, prints `ready` (and, after a space, JSON the parent may
 * need, such as a port), and waits for a line `go` (with JSON after a space
 * when the parent has something to say) on its stdin; when done, it prints
 * its report as one line of JSON and exits.
 *
 * @module
 */
import { once } from "node:events";
import { alruCache } from "../mod.ts";
import { redisStore } from "../redis.ts";
export { median, quartiles } from "./rounds.ts";

/** A library under test, as every process sets it up. */
export const LIBRARIES = [
  "alruCache + redisStore (node-redis)",
  "alruCache + redisStore (ioredis)",
  "bentocache (memory L1 + Redis L2 + Redis bus)",
  "async-cache-dedupe (Redis storage)",
  "alruCache without a store (for scale)",
] as const;
export type Library = typeof LIBRARIES[number];

/** The libraries that share values through Redis: all but the last. */
export const SHARED_LIBRARIES: readonly Library[] = LIBRARIES.slice(0, 4);

/** Short names for the tables. */
export const SHORT_NAMES: Record<Library, string> = {
  "alruCache + redisStore (node-redis)": "alruCache + redisStore (node-redis)",
  "alruCache + redisStore (ioredis)": "alruCache + redisStore (ioredis)",
  "bentocache (memory L1 + Redis L2 + Redis bus)": "bentocache",
  "async-cache-dedupe (Redis storage)": "async-cache-dedupe",
  "alruCache without a store (for scale)": "alruCache without a store",
};

/** The libraries `--only=NAME` picks (a part of a name, case-insensitive). */
export function selected(
  args: string[],
  from: readonly Library[] = LIBRARIES,
): Library[] {
  const only = args.find((arg) => arg.startsWith("--only="))?.slice(7);
  const chosen = from.filter((name) =>
    only === undefined || name.toLowerCase().includes(only.toLowerCase())
  );
  if (chosen.length === 0) {
    throw new Error(`--only=${only} names none of: ${from.join("; ")}`);
  }
  return chosen;
}

/** A cached function of one library, and what it can do besides calls. */
export interface Shared<V> {
  call(key: string): Promise<V>;
  /**
   * Drops the key's value, here and as far as the library reaches:
   * alruCache's `cacheInvalidate`, bentocache's `delete`, async-cache-dedupe's
   * `clear(name, key)`.
   */
  invalidate(key: string): Promise<unknown>;
  /** Whether the local tier holds `key` (alruCache only). */
  holds?(key: string): boolean;
  close(): Promise<void>;
}

/** An ioredis client, connected, and how to close it. */
export async function openIoredis(url: string) {
  // The named export: under Deno's npm interop the default export's types
  // do not resolve to the class.
  const { Redis } = await import("ioredis");
  const client = new Redis(url);
  client.on("error", () => {});
  await once(client, "ready");
  return {
    client,
    async close() {
      // quit() resolves on the reply, before the socket has closed.
      if (client.status === "end") return;
      const ended = once(client, "end");
      await client.quit();
      await ended;
    },
  };
}

/**
 * `fn` cached by `library`, on connections of its own to `url`, with its
 * keys under `namespace` and a lifetime of `ttlMs`; every library's other
 * options are its defaults.
 */
export async function makeShared<V>(
  library: Library,
  url: string,
  namespace: string,
  fn: (key: string) => Promise<V>,
  ttlMs: number,
): Promise<Shared<V>> {
  // alruCache with redisStore on `client`, which `closeClient` closes.
  const alruOn = (
    client: object,
    closeClient: () => Promise<unknown>,
  ): Shared<V> => {
    const cached = alruCache(fn, {
      ttl: ttlMs,
      store: redisStore(client, { namespace }),
    });
    return {
      call: cached,
      invalidate: (key) => cached.cacheInvalidate(key),
      holds: (key) => cached.cacheContains(key),
      async close() {
        await cached.cacheClose();
        await closeClient();
      },
    };
  };
  switch (library) {
    case "alruCache + redisStore (node-redis)": {
      const { createClient } = await import("redis");
      const client = createClient({ url });
      client.on("error", () => {});
      await client.connect();
      return alruOn(client, () => client.close());
    }
    case "alruCache + redisStore (ioredis)": {
      const redis = await openIoredis(url);
      return alruOn(redis.client, () => redis.close());
    }
    case "bentocache (memory L1 + Redis L2 + Redis bus)": {
      const { BentoCache, bentostore } = await import("bentocache");
      const { memoryDriver } = await import("bentocache/drivers/memory");
      const { redisDriver, redisBusDriver } = await import(
        "bentocache/drivers/redis"
      );
      const { hostname, port } = new URL(url);
      const connection = { host: hostname, port: Number(port) };
      const bento = new BentoCache({
        default: "shared",
        prefix: namespace,
        stores: {
          shared: bentostore()
            .useL1Layer(memoryDriver({ maxItems: 1_000 }))
            .useL2Layer(redisDriver({ connection }))
            .useBus(redisBusDriver({ connection })),
        },
      });
      return {
        call: (key) =>
          bento.getOrSet({ key, ttl: ttlMs, factory: () => fn(key) }),
        invalidate: (key) => bento.delete({ key }),
        close: () => bento.disconnectAll(),
      };
    }
    case "async-cache-dedupe (Redis storage)": {
      const { createCache } = await import("async-cache-dedupe");
      const redis = await openIoredis(url);
      // Its keys are the function's name and the arguments: the name
      // carries the namespace.
      const name = `load_${namespace.replaceAll(/\W/g, "_")}`;
      const cache = createCache({
        ttl: Math.ceil(ttlMs / 1_000),
        storage: { type: "redis", options: { client: redis.client } },
      }).define(name, fn);
      const call =
        (cache as unknown as Record<string, Shared<V>["call"]>)[name];
      return {
        call,
        invalidate: (key) => cache.clear(name, key),
        close: () => redis.close(),
      };
    }
    case "alruCache without a store (for scale)": {
      const cached = alruCache(fn, { ttl: ttlMs });
      return {
        call: cached,
        invalidate: (key) => Promise.resolve(cached.cacheInvalidate(key)),
        close: () => cached.cacheClose(),
      };
    }
  }
}

// --- the child's side ---------------------------------------------------------

/**
 * In a child: prints `ready` (with `info` as JSON after a space, if given)
 * and resolves with what the parent's `go` line carries (undefined for a
 * bare `go`).
 */
export async function readyThenGo<T = undefined>(info?: unknown): Promise<T> {
  const lines = Deno.stdin.readable
    .pipeThrough(new TextDecoderStream())
    .getReader();
  console.log(info === undefined ? "ready" : `ready ${JSON.stringify(info)}`);
  let input = "";
  let end: number;
  while ((end = input.indexOf("\n")) === -1) {
    const { value, done } = await lines.read();
    if (done) throw new Error("stdin closed before go");
    input += value;
  }
  await lines.cancel();
  const line = input.slice(0, end);
  if (line === "go") return undefined as T;
  if (!line.startsWith("go ")) throw new Error(`expected go, got ${line}`);
  return JSON.parse(line.slice(3)) as T;
}

/**
 * Milliseconds since the epoch, to a fraction: comparable across the
 * processes of one machine.
 */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// --- the parent's side --------------------------------------------------------

/** Reads `stream` line by line into `onLine`; resolves at its end. */
export async function eachLine(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let end: number;
    while ((end = rest.indexOf("\n")) !== -1) {
      onLine(rest.slice(0, end));
      rest = rest.slice(end + 1);
    }
  }
  if (rest !== "") onLine(rest);
}

/** A child process of the fleet, seen from the parent. */
export interface Child<R> {
  /** What the child printed after `ready`, parsed, once it is ready. */
  ready: Promise<unknown>;
  /** Sends `go`, with `message` as JSON if given, and closes its stdin. */
  go(message?: unknown): Promise<void>;
  /** The child's report, once it has exited well. */
  done: Promise<R>;
  kill(): void;
}

/**
 * Runs `module` again as a child, with `--child` and `config` as JSON, under
 * bench/deno.json (the config that maps the peers).
 */
export function spawnChild<R>(
  module: string | URL,
  config: unknown,
  label: string,
): Child<R> {
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--config",
      new URL("./deno.json", import.meta.url).pathname,
      new URL(module).pathname,
      "--child",
      JSON.stringify(config),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const ready = Promise.withResolvers<unknown>();
  let report: R | undefined;
  let stderr = "";
  const reading = Promise.all([
    eachLine(process.stdout, (line) => {
      if (line === "ready") ready.resolve(undefined);
      else if (line.startsWith("ready ")) {
        ready.resolve(JSON.parse(line.slice(6)));
      } else if (line.startsWith("{")) report = JSON.parse(line);
      else if (line.trim() !== "") console.error(`[${label}] ${line}`);
    }),
    eachLine(process.stderr, (line) => void (stderr += `${line}\n`)),
  ]);
  const done = Promise.all([process.status, reading]).then(([status]) => {
    if (!status.success || report === undefined) {
      throw new Error(
        `${label}: a process failed (${status.code}):\n${stderr}`,
      );
    }
    return report;
  });
  // A process that dies before it is ready fails there.
  done.catch(ready.reject);
  return {
    ready: ready.promise,
    async go(message) {
      const line = message === undefined
        ? "go\n"
        : `go ${JSON.stringify(message)}\n`;
      const writer = process.stdin.getWriter();
      await writer.write(new TextEncoder().encode(line));
      await writer.close();
    },
    done,
    kill() {
      try {
        process.kill();
      } catch { /* it has exited */ }
    },
  };
}

/**
 * Starts a child for each config and resolves once all are ready, with what
 * each said; if one fails first, ends them all and rejects.
 */
export async function startFleet<R>(
  module: string | URL,
  configs: unknown[],
  label: string,
): Promise<{ children: Child<R>[]; infos: unknown[] }> {
  const children = configs.map((config) =>
    spawnChild<R>(module, config, label)
  );
  try {
    const infos = await Promise.all(children.map((child) => child.ready));
    return { children, infos };
  } catch (error) {
    for (const child of children) child.kill();
    await Promise.allSettled(children.map((child) => child.done));
    throw error;
  }
}

// --- statistics and options ---------------------------------------------------

/** The value at quantile `q` of ascending `sorted` (NaN when empty). */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** The positive integer given as `--name=N`, or `fallback`. */
export function option(args: string[], name: string, fallback: number): number {
  const given = args.find((arg) => arg.startsWith(`--${name}=`));
  if (given === undefined) return fallback;
  const value = Number(given.slice(name.length + 3));
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`--${name} takes a positive integer; received ${given}`);
  }
  return value;
}

/** The list of positive integers given as `--name=A,B,C`, or `fallback`. */
export function listOption(
  args: string[],
  name: string,
  fallback: number[],
): number[] {
  const given = args.find((arg) => arg.startsWith(`--${name}=`));
  if (given === undefined) return fallback;
  const values = given.slice(name.length + 3).split(",").map(Number);
  if (values.some((value) => !Number.isInteger(value) || value < 1)) {
    throw new Error(`--${name} takes positive integers; received ${given}`);
  }
  return values;
}

/** A number for a table: `digits` decimals, or "–" for NaN. */
export function fixed(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "–";
}
