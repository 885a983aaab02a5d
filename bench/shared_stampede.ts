/**
 * A stampede on a fleet: PROCESSES processes start CALLS concurrent calls for
 * each of KEYS keys at the same moment, on caches that share one Redis
 * server, with a function that takes FN_MS and counts its runs in Redis.
 * For each library it prints how often the function ran across the fleet
 * and the latency of the calls (p50, p99, from each call's start to its
 * answer), round by round.
 *
 * Not a `deno bench` file: a run takes a few seconds of real time per round,
 * and what it measures is counts and latencies across processes, not time
 * per call. Run it by hand, with a throwaway server:
 *
 * ```sh
 * deno run --allow-all tools/redis.ts -- deno run --config bench/deno.json --allow-all bench/shared_stampede.ts
 * ```
 *
 * Options: `--rounds=N` (default 3), `--processes=N` (4), `--calls=N` (100),
 * `--keys=N` (20), `--fn-ms=N` (50), `--only=NAME` (a library's name, or a
 * part of it). Without `REDIS_URL` it starts a server of its own through
 * tools/redis.ts and stops it at the end.
 *
 * Each process is this file again, run with `--child` and its settings as
 * JSON: it opens its own connections, makes its cache, makes one call on a
 * key of its own so that every connection is open, says "ready" on stdout,
 * and waits for "go" on stdin, which the parent sends to every process once
 * all are ready.
 */
import { once } from "node:events";
import { alruCache } from "../mod.ts";
import { redisStore } from "../redis.ts";
import { redisCommand, type RedisServer, startRedis } from "../tools/redis.ts";

/** A library under the stampede, as the processes set it up. */
const LIBRARIES = [
  "alruCache + redisStore (node-redis)",
  "alruCache + redisStore (ioredis)",
  "bentocache (memory L1 + Redis L2 + Redis bus)",
  "async-cache-dedupe (Redis storage)",
  "alruCache without a store (for scale)",
] as const;
type Library = typeof LIBRARIES[number];

/** What a child is told, as its one argument after `--child`. */
interface ChildConfig {
  library: Library;
  url: string;
  /** Prefix of this round's keys, channels and counter; new every round. */
  namespace: string;
  calls: number;
  keys: number;
  fnMs: number;
}

/** What a child reports when its calls are done. */
interface ChildReport {
  /** Milliseconds from each call's start to its answer. */
  latencies: number[];
  /** Calls that rejected, or answered with another key's value. */
  failures: string[];
}

const TTL_MS = 60_000;

// --- the child: one process of the fleet -------------------------------------

/** A cached function of one library, and how to close what it opened. */
interface Cached {
  call(key: string): Promise<{ key: string }>;
  close(): Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The function every library caches: it counts its run in Redis (over a
 * connection of its own, so no library's client is involved), then takes
 * `fnMs`. The warm-up key is not counted.
 */
function work(config: ChildConfig): (key: string) => Promise<{ key: string }> {
  return async (key) => {
    if (key !== "warm-up") {
      await redisCommand(
        config.url,
        "HINCRBY",
        `${config.namespace}:runs`,
        key,
        1,
      );
    }
    await sleep(config.fnMs);
    return { key };
  };
}

async function openIoredis(url: string) {
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

async function makeCached(config: ChildConfig): Promise<Cached> {
  const fn = work(config);
  switch (config.library) {
    case "alruCache + redisStore (node-redis)": {
      const { createClient } = await import("redis");
      const client = createClient({ url: config.url });
      client.on("error", () => {});
      await client.connect();
      const cached = alruCache(fn, {
        ttl: TTL_MS,
        store: redisStore(client, { namespace: config.namespace }),
      });
      return {
        call: cached,
        async close() {
          await cached.cacheClose();
          await client.close();
        },
      };
    }
    case "alruCache + redisStore (ioredis)": {
      const redis = await openIoredis(config.url);
      const cached = alruCache(fn, {
        ttl: TTL_MS,
        store: redisStore(redis.client, { namespace: config.namespace }),
      });
      return {
        call: cached,
        async close() {
          await cached.cacheClose();
          await redis.close();
        },
      };
    }
    case "bentocache (memory L1 + Redis L2 + Redis bus)": {
      const { BentoCache, bentostore } = await import("bentocache");
      const { memoryDriver } = await import("bentocache/drivers/memory");
      const { redisDriver, redisBusDriver } = await import(
        "bentocache/drivers/redis"
      );
      const { hostname, port } = new URL(config.url);
      const connection = { host: hostname, port: Number(port) };
      const bento = new BentoCache({
        default: "shared",
        prefix: config.namespace,
        stores: {
          shared: bentostore()
            .useL1Layer(memoryDriver({ maxItems: 1_000 }))
            .useL2Layer(redisDriver({ connection }))
            .useBus(redisBusDriver({ connection })),
        },
      });
      return {
        call: (key) =>
          bento.getOrSet({ key, ttl: TTL_MS, factory: () => fn(key) }),
        close: () => bento.disconnectAll(),
      };
    }
    case "async-cache-dedupe (Redis storage)": {
      const { createCache } = await import("async-cache-dedupe");
      const redis = await openIoredis(config.url);
      // Its keys are the function's name and the arguments: the name
      // carries the round's namespace.
      const name = `load_${config.namespace.replaceAll(/\W/g, "_")}`;
      const cache = createCache({
        ttl: TTL_MS / 1_000,
        storage: { type: "redis", options: { client: redis.client } },
      }).define(name, fn);
      const call = (cache as unknown as Record<string, Cached["call"]>)[name];
      return { call, close: () => redis.close() };
    }
    case "alruCache without a store (for scale)": {
      const cached = alruCache(fn, { ttl: TTL_MS });
      return { call: cached, close: () => cached.cacheClose() };
    }
  }
}

async function child(config: ChildConfig): Promise<void> {
  const cached = await makeCached(config);
  await cached.call("warm-up");
  const lines = Deno.stdin.readable
    .pipeThrough(new TextDecoderStream())
    .getReader();
  console.log("ready");
  let input = "";
  while (!input.includes("go\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error("stdin closed before go");
    input += value;
  }
  await lines.cancel();

  const report: ChildReport = { latencies: [], failures: [] };
  const calls: Promise<void>[] = [];
  for (let i = 0; i < config.calls; i++) {
    for (let k = 0; k < config.keys; k++) {
      const key = `k${k}`;
      const start = performance.now();
      calls.push(
        cached.call(key).then(
          (value) => {
            report.latencies.push(performance.now() - start);
            if (value?.key !== key) {
              report.failures.push(`${key} gave ${JSON.stringify(value)}`);
            }
          },
          (error) => void report.failures.push(`${key}: ${error}`),
        ),
      );
    }
  }
  await Promise.all(calls);
  await cached.close();
  console.log(JSON.stringify(report));
}

// --- the parent: the fleet, the rounds, the table ----------------------------

interface RoundResult {
  library: Library;
  runs: number;
  /** Runs of the key that ran most often. */
  mostPerKey: number;
  calls: number;
  failures: string[];
  p50: number;
  p99: number;
  /** From "go" to the last process's report, ms. */
  wall: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Reads `stream` line by line into `onLine`; resolves at its end. */
async function eachLine(
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

async function round(
  library: Library,
  url: string,
  settings: Omit<ChildConfig, "library" | "url" | "namespace"> & {
    processes: number;
  },
): Promise<RoundResult> {
  const namespace = `stampede:${crypto.randomUUID()}`;
  const config: ChildConfig = {
    library,
    url,
    namespace,
    calls: settings.calls,
    keys: settings.keys,
    fnMs: settings.fnMs,
  };
  const children = Array.from({ length: settings.processes }, () => {
    const process = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--config",
        new URL("./deno.json", import.meta.url).pathname,
        new URL(import.meta.url).pathname,
        "--child",
        JSON.stringify(config),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const ready = Promise.withResolvers<void>();
    let report: ChildReport | undefined;
    let stderr = "";
    const reading = Promise.all([
      eachLine(process.stdout, (line) => {
        if (line === "ready") ready.resolve();
        else if (line.startsWith("{")) report = JSON.parse(line);
      }),
      eachLine(process.stderr, (line) => void (stderr += `${line}\n`)),
    ]);
    const done = Promise.all([process.status, reading]).then(([status]) => {
      if (!status.success || report === undefined) {
        throw new Error(
          `${library}: a process failed (${status.code}):\n${stderr}`,
        );
      }
      return report;
    });
    // A process that dies before it is ready fails the round there.
    done.catch(ready.reject);
    return { process, ready: ready.promise, done };
  });
  try {
    await Promise.all(children.map((child) => child.ready));
  } catch (error) {
    for (const { process } of children) {
      try {
        process.kill();
      } catch { /* it has exited */ }
    }
    await Promise.allSettled(children.map((child) => child.done));
    throw error;
  }
  const go = new TextEncoder().encode("go\n");
  const start = performance.now();
  await Promise.all(children.map(async ({ process }) => {
    const writer = process.stdin.getWriter();
    await writer.write(go);
    await writer.close();
  }));
  const reports = await Promise.all(children.map((child) => child.done));
  const wall = performance.now() - start;

  const counted = await redisCommand(url, "HVALS", `${namespace}:runs`);
  const perKey = (counted as string[]).map(Number);
  const latencies = reports.flatMap((report) => report.latencies)
    .sort((a, b) => a - b);
  return {
    library,
    runs: perKey.reduce((sum, runs) => sum + runs, 0),
    mostPerKey: Math.max(0, ...perKey),
    calls: latencies.length,
    failures: reports.flatMap((report) => report.failures),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    wall,
  };
}

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

function option(args: string[], name: string, fallback: number): number {
  const given = args.find((arg) => arg.startsWith(`--${name}=`));
  if (given === undefined) return fallback;
  const value = Number(given.slice(name.length + 3));
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`--${name} takes a positive integer; received ${given}`);
  }
  return value;
}

async function parent(args: string[]): Promise<void> {
  const rounds = option(args, "rounds", 3);
  const settings = {
    processes: option(args, "processes", 4),
    calls: option(args, "calls", 100),
    keys: option(args, "keys", 20),
    fnMs: option(args, "fn-ms", 50),
  };
  const only = args.find((arg) => arg.startsWith("--only="))?.slice(7);
  const libraries = LIBRARIES.filter((name) =>
    only === undefined || name.includes(only)
  );

  let server: RedisServer | undefined;
  let url = Deno.env.get("REDIS_URL");
  if (url === undefined) {
    server = await startRedis();
    url = server.url;
  }
  try {
    console.log(
      `${settings.processes} processes × ${settings.calls} concurrent calls × ` +
        `${settings.keys} keys, fn ${settings.fnMs} ms; ${rounds} rounds; ` +
        `Deno ${Deno.version.deno}\n`,
    );
    const summary: string[] = [];
    for (const library of libraries) {
      const results: RoundResult[] = [];
      for (let i = 0; i < rounds; i++) {
        const result = await round(library, url, settings);
        results.push(result);
        console.log(
          `${library}, round ${i + 1}: runs ${result.runs} ` +
            `(at most ${result.mostPerKey} for one key), ` +
            `${result.calls} calls, p50 ${result.p50.toFixed(1)} ms, ` +
            `p99 ${result.p99.toFixed(1)} ms, all done in ` +
            `${result.wall.toFixed(0)} ms` +
            (result.failures.length === 0
              ? ""
              : `; ${result.failures.length} failures, the first: ` +
                result.failures[0]),
        );
      }
      summary.push(
        `| ${library} | ${results.map((r) => r.runs).join(", ")} | ` +
          `${median(results.map((r) => r.p50)).toFixed(1)} | ` +
          `${median(results.map((r) => r.p99)).toFixed(1)} |`,
      );
    }
    console.log(
      "\n| library | fn runs, each round | p50 ms (median) | p99 ms (median) |",
    );
    console.log("| --- | ---: | ---: | ---: |");
    for (const line of summary) console.log(line);
  } finally {
    await server?.stop();
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "--child") {
    await child(JSON.parse(Deno.args[1]));
  } else {
    await parent(Deno.args);
  }
}
