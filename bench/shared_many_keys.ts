/**
 * Thousands of keys at once across a fleet: PROCESSES processes ask for the
 * same KEYS keys, each once, on caches that share one Redis namespace, with a
 * function that takes FN_MIN to FN_MAX ms (drawn per run). Each round is
 * either **leader** (one process asks for every key first and has begun
 * computing them all before the others ask) or **together** (every process
 * asks at the same moment). For each client (node-redis, ioredis) it prints
 * how often the function ran across the fleet against the number of keys,
 * the store errors the caches counted, how many keys were served more than
 * one value, the script calls the server ran, and the wall time from the
 * first "go" to the last process done.
 *
 * Not a `deno bench` file: a round takes seconds of real time and measures
 * counts across processes. Run it by hand:
 *
 * ```sh
 * deno run --config bench/deno.json --allow-all bench/shared_many_keys.ts
 * ```
 *
 * Options: `--processes=N` (8), `--keys=N` (3000), `--fn-min=N` (50),
 * `--fn-max=N` (200), `--rounds=N` (3 per mode and client), `--mode=leader`
 * or `--mode=together` (both), `--only=node-redis` or `--only=ioredis`
 * (both). Without `REDIS_URL` it starts a server of its own through
 * tools/redis.ts and stops it at the end.
 *
 * Each process is this file again, run with `--child` and its settings as
 * JSON: it opens its client, makes its cache, reads one key of its own so
 * that the subscriber connection is open, says "ready", and waits for "go"
 * on stdin. Runs are counted in each process and summed by the parent, so
 * that counting them costs the server nothing.
 */
import { alruCache } from "../mod.ts";
import { redisStore } from "../redis.ts";
import { redisCommand, type RedisServer, startRedis } from "../tools/redis.ts";
import { median } from "./rounds.ts";
import { eachLine, openIoredis, sleep } from "./shared_fleet.ts";

type Client = "node-redis" | "ioredis";
type Mode = "leader" | "together";

interface ChildConfig {
  client: Client;
  url: string;
  namespace: string;
  keys: number;
  fnMin: number;
  fnMax: number;
  /** Says "leading" once its function has begun on every key. */
  leads: boolean;
}

interface ChildReport {
  /** The keys this process computed. */
  ran: string[];
  /** Each key's value, by the nonce of the run that made it. */
  nonces: string[];
  storeErrors: number;
  /** The first few store errors, for the table's notes. */
  errors: string[];
  /** Calls that rejected. */
  failures: number;
  /** From "go" to the last answer, ms. */
  ms: number;
}

// --- the child: one process of the fleet -------------------------------------

async function openClient(client: Client, url: string) {
  if (client === "node-redis") {
    const { createClient } = await import("redis");
    const redis = createClient({ url });
    redis.on("error", () => {});
    await redis.connect();
    return { client: redis, close: async () => void await redis.close() };
  }
  return await openIoredis(url);
}

async function child(config: ChildConfig): Promise<void> {
  const connection = await openClient(config.client, config.url);
  const ran: string[] = [];
  const errors: string[] = [];
  let started = 0;
  let leading = () => {};
  const cached = alruCache(async (key: string) => {
    if (key !== "warm-up") {
      ran.push(key);
      if (++started === config.keys) leading();
    }
    const span = config.fnMax - config.fnMin;
    await sleep(config.fnMin + Math.random() * span);
    return { key, nonce: crypto.randomUUID() };
  }, {
    maxSize: config.keys + 1,
    ttl: 600_000,
    store: redisStore(connection.client, { namespace: config.namespace }),
    onEvent(event) {
      if (event.type === "storeError" && errors.length < 3) {
        errors.push(String((event as { error?: unknown }).error));
      }
    },
  });
  await cached("warm-up");
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
  if (config.leads) leading = () => console.log("leading");

  const start = performance.now();
  const keys = Array.from({ length: config.keys }, (_, i) => `k${i}`);
  let failures = 0;
  const values = await Promise.all(keys.map((key) =>
    cached(key).then(
      (value) => value.key === key ? value.nonce : `wrong: ${value.key}`,
      () => (failures++, "failed"),
    )
  ));
  const report: ChildReport = {
    ran,
    nonces: values,
    storeErrors: cached.cacheStats().storeErrors,
    errors,
    failures,
    ms: performance.now() - start,
  };
  await cached.cacheClose();
  await connection.close();
  console.log(JSON.stringify(report));
}

// --- the parent: the fleet, the rounds, the table ----------------------------

interface RoundResult {
  runs: number;
  storeErrors: number;
  errors: string[];
  failures: number;
  /** Keys whose callers got more than one value across the fleet. */
  split: number;
  /** EVALSHA calls the server ran during the round. */
  scripts: number;
  wall: number;
}

async function scriptCalls(url: string): Promise<number> {
  const stats = String(await redisCommand(url, "INFO", "commandstats"));
  const evalsha = /cmdstat_evalsha:calls=(\d+)/.exec(stats);
  return evalsha === null ? 0 : Number(evalsha[1]);
}

function spawn(config: ChildConfig) {
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--config",
      new URL("../deno.json", import.meta.url).pathname,
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
  const leading = Promise.withResolvers<void>();
  let report: ChildReport | undefined;
  let stderr = "";
  const reading = Promise.all([
    eachLine(process.stdout, (line) => {
      if (line === "ready") ready.resolve();
      else if (line === "leading") leading.resolve();
      else if (line.startsWith("{")) report = JSON.parse(line);
    }),
    eachLine(process.stderr, (line) => void (stderr += `${line}\n`)),
  ]);
  const done = Promise.all([process.status, reading]).then(([status]) => {
    if (!status.success || report === undefined) {
      throw new Error(`a process failed (${status.code}):\n${stderr}`);
    }
    return report;
  });
  done.catch(ready.reject);
  done.catch(leading.reject);
  const go = async () => {
    const writer = process.stdin.getWriter();
    await writer.write(new TextEncoder().encode("go\n"));
    await writer.close();
  };
  return { process, ready: ready.promise, leading: leading.promise, done, go };
}

async function round(
  client: Client,
  mode: Mode,
  url: string,
  settings: { processes: number; keys: number; fnMin: number; fnMax: number },
): Promise<RoundResult> {
  const namespace = `many-keys:${crypto.randomUUID()}`;
  const children = Array.from(
    { length: settings.processes },
    (_, i) =>
      spawn({
        client,
        url,
        namespace,
        keys: settings.keys,
        fnMin: settings.fnMin,
        fnMax: settings.fnMax,
        leads: mode === "leader" && i === 0,
      }),
  );
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
  const scriptsBefore = await scriptCalls(url);
  const start = performance.now();
  if (mode === "leader") {
    const [leader, ...others] = children;
    await leader.go();
    await leader.leading;
    await Promise.all(others.map((child) => child.go()));
  } else {
    await Promise.all(children.map((child) => child.go()));
  }
  const reports = await Promise.all(children.map((child) => child.done));
  const wall = performance.now() - start;
  const scripts = await scriptCalls(url) - scriptsBefore;

  let split = 0;
  for (let k = 0; k < settings.keys; k++) {
    const seen = new Set(reports.map((report) => report.nonces[k]));
    if (seen.size > 1) split++;
  }
  return {
    runs: reports.reduce((sum, report) => sum + report.ran.length, 0),
    storeErrors: reports.reduce((sum, report) => sum + report.storeErrors, 0),
    errors: reports.flatMap((report) => report.errors).slice(0, 3),
    failures: reports.reduce((sum, report) => sum + report.failures, 0),
    split,
    scripts,
    wall,
  };
}

function option(args: string[], name: string, fallback: number): number {
  const given = args.find((arg) => arg.startsWith(`--${name}=`));
  if (given === undefined) return fallback;
  const value = Number(given.slice(name.length + 3));
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`--${name} takes a whole number; received ${given}`);
  }
  return value;
}

async function parent(args: string[]): Promise<void> {
  const rounds = option(args, "rounds", 3);
  const settings = {
    processes: option(args, "processes", 8),
    keys: option(args, "keys", 3_000),
    fnMin: option(args, "fn-min", 50),
    fnMax: option(args, "fn-max", 200),
  };
  const only = args.find((arg) => arg.startsWith("--only="))?.slice(7);
  const onlyMode = args.find((arg) => arg.startsWith("--mode="))?.slice(7);
  const clients = (["node-redis", "ioredis"] as const).filter((client) =>
    only === undefined || client === only
  );
  const modes = (["leader", "together"] as const).filter((mode) =>
    onlyMode === undefined || mode === onlyMode
  );

  let server: RedisServer | undefined;
  let url = Deno.env.get("REDIS_URL");
  if (url === undefined) {
    server = await startRedis();
    url = server.url;
  }
  try {
    console.log(
      `${settings.processes} processes × ${settings.keys} keys, fn ` +
        `${settings.fnMin} to ${settings.fnMax} ms; ${rounds} rounds; ` +
        `Deno ${Deno.version.deno}\n`,
    );
    const summary: string[] = [];
    for (const client of clients) {
      for (const mode of modes) {
        const results: RoundResult[] = [];
        for (let i = 0; i < rounds; i++) {
          const result = await round(client, mode, url, settings);
          results.push(result);
          console.log(
            `${client}, ${mode}, round ${i + 1}: runs ${result.runs} of ` +
              `${settings.keys} keys, store errors ${result.storeErrors}, ` +
              `keys served two values ${result.split}, failed calls ` +
              `${result.failures}, script calls ${result.scripts}, ` +
              `${result.wall.toFixed(0)} ms` +
              (result.errors.length === 0
                ? ""
                : `; the first errors: ${result.errors.join("; ")}`),
          );
        }
        summary.push(
          `| ${client} | ${mode} | ${
            results.map((r) => r.runs).join(", ")
          } | ` +
            `${results.map((r) => r.storeErrors).join(", ")} | ` +
            `${median(results.map((r) => r.scripts)).toFixed(0)} | ` +
            `${median(results.map((r) => r.wall)).toFixed(0)} |`,
        );
      }
    }
    console.log(
      `\n| client | mode | fn runs (${settings.keys} keys), each round | ` +
        "store errors, each round | script calls (median) | wall ms (median) |",
    );
    console.log("| --- | --- | ---: | ---: | ---: | ---: |");
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
