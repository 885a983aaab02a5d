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
import { redisCommand, type RedisServer, startRedis } from "../tools/redis.ts";
import {
  LIBRARIES,
  type Library,
  makeShared,
  median,
  option,
  quantile,
  readyThenGo,
  selected,
  sleep,
  startFleet,
} from "./shared_fleet.ts";

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

async function child(config: ChildConfig): Promise<void> {
  const cached = await makeShared(
    config.library,
    config.url,
    config.namespace,
    work(config),
    TTL_MS,
  );
  await cached.call("warm-up");
  await readyThenGo();

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

/** One round of the stampede, for one library. */
export interface RoundResult {
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

/** The size of a stampede. */
export interface StampedeSettings {
  processes: number;
  /** Concurrent calls per key in each process. */
  calls: number;
  keys: number;
  fnMs: number;
}

/**
 * One round: `settings.processes` processes of this file, each set up, then
 * all told to go at once; resolves with the runs counted in Redis and the
 * calls' latencies. A namespace of its own, so rounds never meet.
 */
export async function round(
  library: Library,
  url: string,
  settings: StampedeSettings,
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
  const { children } = await startFleet<ChildReport>(
    import.meta.url,
    Array.from({ length: settings.processes }, () => config),
    library,
  );
  const start = performance.now();
  await Promise.all(children.map((child) => child.go()));
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

async function parent(args: string[]): Promise<void> {
  const rounds = option(args, "rounds", 3);
  const settings = {
    processes: option(args, "processes", 4),
    calls: option(args, "calls", 100),
    keys: option(args, "keys", 20),
    fnMs: option(args, "fn-ms", 50),
  };
  const libraries = selected(args, LIBRARIES);

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
