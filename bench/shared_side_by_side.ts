/**
 * The shared tier side by side with bentocache (memory L1, Redis L2 and its
 * Redis bus) and async-cache-dedupe (Redis storage), each on connections of
 * its own to one throwaway `redis-server`, in four cases:
 *
 * - **stampede**: `shared_stampede.ts`'s round at 1, 2, 4 and 8 processes:
 *   how often `fn` ran across the fleet, and the calls' p50 and p99.
 * - **warm**: a value another client wrote, read where the local tier has
 *   never seen its key, against one raw `GET` of the very bytes the library
 *   stored, on a client of the same kind; paired rounds in this process (the
 *   variants in an order shuffled anew each round, each ratio taken within
 *   its round; the median over the rounds).
 * - **invalidate**: two processes hold the same keys; A bumps a key's version
 *   (kept in Redis, read by `fn`), invalidates the key, and the moment the
 *   promise resolves tells B over a socket of their own, and B calls for the
 *   key: how many of B's answers are the old version. As a control, as many
 *   keys again told to B as the invalidation starts, without waiting.
 * - **outage**: two processes call fresh keys on a schedule (B a little after
 *   A, so that B can read what A wrote) while the server is stopped and
 *   started again on the same port: the calls that failed or hung, the
 *   latency during the outage, and how long after the server's return every
 *   key runs `fn` once across the two again.
 *
 * Not a `deno bench` file: it prints one Markdown table per case. It starts
 * its own servers (and a server per library for the outage, which it stops
 * and restarts), so it needs no `REDIS_URL`:
 *
 * ```sh
 * deno run --config bench/deno.json --allow-all bench/shared_side_by_side.ts
 * ```
 *
 * `--case=stampede|warm|invalidate|outage` (a comma-separated list; all by
 * default) and `--only=NAME` (a part of a library's name) choose what runs;
 * `--help` lists the sizes and their defaults.
 *
 * @module
 */
import {
  redisCommand,
  type RedisServer,
  restartServer,
  startRedis,
  stopServer,
} from "../tools/redis.ts";
import { round as stampedeRound, type RoundResult } from "./shared_stampede.ts";
import {
  fixed,
  LIBRARIES,
  type Library,
  listOption,
  makeShared,
  median,
  now,
  openIoredis,
  option,
  quantile,
  quartiles,
  readyThenGo,
  selected,
  SHARED_LIBRARIES,
  SHORT_NAMES,
  sleep,
  startFleet,
} from "./shared_fleet.ts";
import { shuffle } from "./rounds.ts";

const CASES = ["stampede", "warm", "invalidate", "outage"] as const;
type CaseName = typeof CASES[number];

const TTL_MS = 60_000;

const HELP =
  `shared_side_by_side.ts [--case=stampede,warm,invalidate,outage] [--only=NAME]
  stampede:   --processes=1,2,4,8 --stampede-rounds=1 --calls=100 --keys=20 --fn-ms=50
  warm:       --warm-rounds=21 --batch=100
  invalidate: --invalidate-keys=50 --invalidate-rounds=3
  outage:     --outage-keys=3 --tick-ms=200 --stagger-ms=100 --before-ms=1500
              --outage-ms=3000 --after-ms=5000 --drain-ms=15000 --fn-ms=50`;

// --- the children: invalidate and outage --------------------------------------

interface InvalidateConfig {
  case: "invalidate";
  role: "A" | "B";
  library: Library;
  url: string;
  namespace: string;
  keys: number;
}

/** What A reports: one row per key; B, no rows. */
interface InvalidateReport {
  /**
   * B's, for alruCache: keys B still held locally 200 ms after its last
   * call, of those it held when called (a notice that never arrived).
   */
  stillHeld?: string[];
  answers: {
    key: string;
    /** B told as the invalidation started, not once it resolved. */
    early: boolean;
    /** The version A set before invalidating. */
    expected: number;
    /** The version B's call answered with. */
    version: number;
    invalidateMs: number;
    /** B's call, from B's side. */
    callMs: number;
    /** Whether B's local tier still held the key when B called (alruCache). */
    held?: boolean;
  }[];
}

interface OutageConfig {
  case: "outage";
  library: Library;
  url: string;
  namespace: string;
  /** 0 calls at each tick's start, 1 `staggerMs` later. */
  index: number;
  keys: number;
  tickMs: number;
  staggerMs: number;
  fnMs: number;
  drainMs: number;
}

/** When the parent tells the outage fleet to go: epoch milliseconds. */
interface OutageGo {
  start: number;
  end: number;
}

interface OutageReport {
  calls: {
    tick: number;
    start: number;
    /** Milliseconds to the answer; null if none came within the drain. */
    ms: number | null;
    error?: string;
  }[];
  /** Each run of `fn`: its key's tick. */
  runs: number[];
  /** Unhandled rejections seen in the process, the first few. */
  unhandled: string[];
}

type ChildConfig = InvalidateConfig | OutageConfig;

function versionsKey(namespace: string): string {
  return `${namespace}:versions`;
}

/** Reads lines from a socket, one at a time. */
function socketLines(conn: Deno.Conn): () => Promise<string> {
  const reader = conn.readable.pipeThrough(new TextDecoderStream())
    .getReader();
  let rest = "";
  return async () => {
    let end: number;
    while ((end = rest.indexOf("\n")) === -1) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the socket closed");
      rest += value;
    }
    const line = rest.slice(0, end);
    rest = rest.slice(end + 1);
    return line;
  };
}

/** Closes a socket the other side may have closed already. */
function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* closed with its stream */ }
}

async function writeLine(conn: Deno.Conn, line: string): Promise<void> {
  const bytes = new TextEncoder().encode(`${line}\n`);
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/**
 * `key0`… are told to B once their invalidation resolved; `early0`…, the
 * control, as it starts.
 */
function invalidateKeys(count: number): string[] {
  return ["key", "early"].flatMap((prefix) =>
    Array.from({ length: count }, (_, i) => `${prefix}${i}`)
  );
}

/**
 * A and B cache the same `fn`, which reads the key's version from Redis.
 * B listens on a port of its own; A connects once the parent says go.
 * A warms every key, then B does (so that B's copies are B's own, read after
 * A's writes); then, for each key, A bumps the version, invalidates, sends
 * the key, and B calls for it and answers with what it got.
 */
async function invalidateChild(config: InvalidateConfig): Promise<void> {
  const cached = await makeShared(
    config.library,
    config.url,
    config.namespace,
    async (key: string) => ({
      key,
      version: Number(
        await redisCommand(
          config.url,
          "HGET",
          versionsKey(config.namespace),
          key,
        ) ?? 0,
      ),
    }),
    TTL_MS,
  );
  await cached.call("warm-up");
  const keys = invalidateKeys(config.keys);
  const report: InvalidateReport = { answers: [] };
  if (config.role === "B") {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    await readyThenGo({ port: listener.addr.port });
    const conn = await listener.accept();
    listener.close();
    conn.setNoDelay(true);
    const next = socketLines(conn);
    const heldWhenCalled: string[] = [];
    for (;;) {
      const line = await next();
      if (line === "done") {
        await sleep(200);
        report.stillHeld = heldWhenCalled.filter((key) => cached.holds!(key));
        break;
      }
      if (line === "warm") {
        for (const key of keys) await cached.call(key);
        // A second pass: every key is a local hit now.
        for (const key of keys) await cached.call(key);
        await writeLine(conn, "warmed");
        continue;
      }
      const held = cached.holds?.(line);
      if (held && line.startsWith("key")) heldWhenCalled.push(line);
      const start = performance.now();
      const value = await cached.call(line);
      const callMs = performance.now() - start;
      await writeLine(
        conn,
        JSON.stringify({ version: value.version, callMs, held }),
      );
    }
    closeQuietly(conn);
  } else {
    const { port } = await readyThenGo<{ port: number }>();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    const next = socketLines(conn);
    for (const key of keys) await cached.call(key);
    for (const key of keys) await cached.call(key);
    await writeLine(conn, "warm");
    if (await next() !== "warmed") throw new Error("B did not warm");
    // What the warming announced (writes, reads) has arrived everywhere.
    await sleep(50);
    for (const key of keys) {
      const early = key.startsWith("early");
      const expected = Number(
        await redisCommand(
          config.url,
          "HINCRBY",
          versionsKey(config.namespace),
          key,
          1,
        ),
      );
      const start = performance.now();
      const invalidating = cached.invalidate(key);
      // The control: B told as the invalidation starts.
      if (!early) await invalidating;
      const invalidateMs = performance.now() - start;
      await writeLine(conn, key);
      const { version, callMs, held } = JSON.parse(await next());
      await invalidating;
      report.answers.push({
        key,
        early,
        expected,
        version,
        invalidateMs,
        callMs,
        held,
      });
    }
    await writeLine(conn, "done");
    closeQuietly(conn);
  }
  await cached.close();
  console.log(JSON.stringify(report));
}

/**
 * Calls `keys` fresh keys every `tickMs`, from `go.start` to `go.end`,
 * without waiting for earlier calls (so a call that hangs delays no other),
 * the second process `staggerMs` after the first; then waits at most
 * `drainMs` for the calls still out.
 */
async function outageChild(config: OutageConfig): Promise<void> {
  const report: OutageReport = { calls: [], runs: [], unhandled: [] };
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    if (report.unhandled.length < 5) {
      report.unhandled.push(String(event.reason));
    } else if (report.unhandled.length === 5) report.unhandled.push("…");
  });
  const tickOf = (key: string) => Number(key.slice(1, key.indexOf(":")));
  const cached = await makeShared(
    config.library,
    config.url,
    config.namespace,
    async (key: string) => {
      if (key.startsWith("t")) report.runs.push(tickOf(key));
      await sleep(config.fnMs);
      return { key };
    },
    TTL_MS,
  );
  await cached.call(`warm-up:${config.index}`);
  const go = await readyThenGo<OutageGo>();
  const pending: Promise<void>[] = [];
  for (let tick = 0;; tick++) {
    const at = go.start + tick * config.tickMs +
      config.index * config.staggerMs;
    if (at >= go.end) break;
    await sleep(Math.max(0, at - now()));
    for (let k = 0; k < config.keys; k++) {
      const key = `t${tick}:${k}`;
      const row: OutageReport["calls"][number] = {
        tick,
        start: now(),
        ms: null,
      };
      report.calls.push(row);
      pending.push(
        cached.call(key).then(
          (value) => {
            row.ms = now() - row.start;
            if (value?.key !== key) {
              row.error = `answered ${JSON.stringify(value)}`;
            }
          },
          (error) => {
            row.ms = now() - row.start;
            row.error = String(error);
          },
        ),
      );
    }
  }
  await Promise.race([Promise.all(pending), sleep(config.drainMs)]);
  console.log(JSON.stringify(report));
  // A library still stuck on its connections must not keep the process.
  await Promise.race([cached.close().catch(() => {}), sleep(2_000)]);
  Deno.exit(0);
}

// --- case: stampede -------------------------------------------------------------

async function stampedeCase(
  url: string,
  libraries: Library[],
  args: string[],
): Promise<string> {
  const sizes = listOption(args, "processes", [1, 2, 4, 8]);
  const rounds = option(args, "stampede-rounds", 1);
  const settings = {
    calls: option(args, "calls", 100),
    keys: option(args, "keys", 20),
    fnMs: option(args, "fn-ms", 50),
  };
  const cells = new Map<Library, string[]>();
  for (const library of libraries) {
    const row: string[] = [];
    for (const processes of sizes) {
      const results: RoundResult[] = [];
      for (let i = 0; i < rounds; i++) {
        const result = await stampedeRound(library, url, {
          ...settings,
          processes,
        });
        results.push(result);
        progress(
          `stampede, ${library}, ${processes} processes: runs ${result.runs}, ` +
            `p50 ${fixed(result.p50)} ms, p99 ${fixed(result.p99)} ms` +
            (result.failures.length === 0
              ? ""
              : `; ${result.failures.length} failures, the first: ` +
                result.failures[0]),
        );
      }
      const runs = [...new Set(results.map((r) => r.runs))].join(", ");
      const failures = results.reduce((n, r) => n + r.failures.length, 0);
      row.push(
        `${runs} (${fixed(median(results.map((r) => r.p50)))} / ` +
          `${fixed(median(results.map((r) => r.p99)))})` +
          (failures === 0 ? "" : `, ${failures} failed`),
      );
    }
    cells.set(library, row);
  }
  return [
    `Stampede: ${settings.calls} concurrent calls × ${settings.keys} keys in ` +
    `each process, fn ${settings.fnMs} ms; fn runs across the fleet ` +
    `(p50 / p99 ms${rounds > 1 ? `, median of ${rounds} rounds` : ""}); ` +
    `runs = ${settings.keys} means once per key across the fleet.`,
    "",
    `| library | ${
      sizes.map((n) => `${n} process${n === 1 ? "" : "es"}`).join(" | ")
    } |`,
    `| --- | ${sizes.map(() => "---:").join(" | ")} |`,
    ...[...cells].map(([library, row]) =>
      `| ${SHORT_NAMES[library]} | ${row.join(" | ")} |`
    ),
  ].join("\n");
}

// --- case: warm read against a raw GET ------------------------------------------

/** A reader and a writer of one library, and a raw GET of the same kind. */
interface WarmSubject {
  library: Library;
  /** The client kind of the raw GET. */
  client: "node-redis" | "ioredis";
  /** Writes `key` through the library, on the writer's own connections. */
  write(key: string): Promise<unknown>;
  /** Reads `key` through the reader, whose local tier has never seen it. */
  read(key: string): Promise<unknown>;
  /** A raw GET on a client of the same kind. */
  get(redisKey: string): Promise<string | null>;
  /** The batch of keys written last. */
  keys: string[];
  /** Where the library keeps a key in Redis (found by a probe). */
  redisKey(key: string): string;
  /** Runs of the reader's `fn`: none, if every read found the value. */
  readerRuns(): number;
  close(): Promise<void>;
}

interface WarmValue {
  key: string;
  name: string;
  tags: string[];
}

function warmValue(key: string): WarmValue {
  return { key, name: `the value of ${key}`, tags: ["a", "b", "c"] };
}

async function warmSubject(
  library: Library,
  url: string,
): Promise<WarmSubject> {
  const namespace = `warm:${crypto.randomUUID()}`;
  let runs = 0;
  const reader = await makeShared(library, url, namespace, (key: string) => {
    runs++;
    return Promise.resolve(warmValue(key));
  }, TTL_MS);
  const writer = await makeShared(
    library,
    url,
    namespace,
    (key: string) => Promise.resolve(warmValue(key)),
    TTL_MS,
  );
  const closers = [reader.close, writer.close];
  let get: WarmSubject["get"];
  let client: WarmSubject["client"];
  if (library === "alruCache + redisStore (node-redis)") {
    const { createClient } = await import("redis");
    const raw = createClient({ url });
    raw.on("error", () => {});
    await raw.connect();
    get = (key) => raw.get(key);
    client = "node-redis";
    closers.push(() => raw.close());
  } else {
    const raw = await openIoredis(url);
    get = (key) => raw.client.get(key);
    client = "ioredis";
    closers.push(raw.close);
  }
  return {
    library,
    client,
    write: writer.call,
    read: reader.call,
    get,
    keys: [],
    redisKey: (key) => key,
    readerRuns: () => runs,
    async close() {
      for (const close of closers) await close();
    },
  };
}

/** Keys of one length, so that a probe's Redis key is every key's template. */
function warmKey(batch: number, index: number): string {
  return `k${String(batch).padStart(5, "0")}${String(index).padStart(4, "0")}`;
}

/**
 * Where the library keeps `probe` in Redis, as a template for every key of
 * the same length: found with `KEYS`, once, before any timed part.
 */
async function redisKeyTemplate(
  url: string,
  subject: WarmSubject,
  probe: string,
): Promise<(key: string) => string> {
  await subject.write(probe);
  const found = await redisCommand(url, "KEYS", `*${probe}*`) as string[];
  if (found.length !== 1) {
    throw new Error(
      `${subject.library}: expected one Redis key holding ${probe}, ` +
        `found ${JSON.stringify(found)}`,
    );
  }
  const [before, after] = found[0].split(probe);
  return (key) => `${before}${key}${after}`;
}

let batches = 0;

/** A fresh batch of keys for every subject, written by its writer. */
async function writeBatches(
  subjects: WarmSubject[],
  size: number,
): Promise<void> {
  const number = batches++;
  for (const subject of subjects) {
    const keys = Array.from({ length: size }, (_, i) => warmKey(number, i));
    await Promise.all(keys.map((key) => subject.write(key)));
    subject.keys = keys;
  }
  // The writes' announcements (alruCache's and bentocache's bus) reach the
  // readers in this process before the timed part, not in it.
  await sleep(5);
}

/** A library's read, or the raw GET beside it. */
interface Variant {
  subject: WarmSubject;
  raw: boolean;
}

/** µs per read of the subject's batch, one awaited read at a time. */
async function time({ subject, raw }: Variant): Promise<number> {
  const { keys, redisKey } = subject;
  const start = performance.now();
  if (raw) {
    for (const key of keys) {
      if (await subject.get(redisKey(key)) === null) {
        throw new Error(`${subject.library}: ${redisKey(key)} is absent`);
      }
    }
  } else {
    for (const key of keys) {
      const value = await subject.read(key) as WarmValue;
      if (value?.key !== key) {
        throw new Error(`${subject.library}: ${key} gave ${value}`);
      }
    }
  }
  return (performance.now() - start) * 1_000 / keys.length;
}

async function warmCase(
  url: string,
  libraries: Library[],
  args: string[],
): Promise<string> {
  const rounds = option(args, "warm-rounds", 21);
  const batch = option(args, "batch", 100);
  const subjects: WarmSubject[] = [];
  try {
    for (const library of libraries) {
      const subject = await warmSubject(library, url);
      subjects.push(subject);
      subject.redisKey = await redisKeyTemplate(
        url,
        subject,
        // A probe of each subject's own.
        warmKey(99_999, subjects.length),
      );
    }
    const variants: Variant[] = subjects.flatMap((subject) => [
      { subject, raw: false },
      { subject, raw: true },
    ]);
    // Two untimed rounds first, for the JIT and the connections.
    for (let i = 0; i < 2; i++) {
      await writeBatches(subjects, batch);
      for (const variant of variants) await time(variant);
    }
    const perRead = new Map<Variant, number[]>(variants.map((v) => [v, []]));
    const ratios = new Map<WarmSubject, number[]>(subjects.map((s) => [s, []]));
    for (let round = 0; round < rounds; round++) {
      await writeBatches(subjects, batch);
      const measured = new Map<Variant, number>();
      for (const variant of shuffle(variants)) {
        const us = await time(variant);
        measured.set(variant, us);
        perRead.get(variant)!.push(us);
      }
      for (const subject of subjects) {
        const [read, raw] = variants.filter((v) => v.subject === subject);
        ratios.get(subject)!.push(measured.get(read)! / measured.get(raw)!);
      }
    }
    for (const subject of subjects) {
      if (subject.readerRuns() !== 0) {
        throw new Error(
          `${subject.library}: the reader ran fn ${subject.readerRuns()} times`,
        );
      }
    }
    const lines = [
      `Warm read: a value another client wrote, the reader's local tier ` +
      `empty for it; ${rounds} paired rounds of ${batch} awaited reads per ` +
      `variant, the variants shuffled each round; µs per read (median) and ` +
      `the ratio to a raw GET of the same stored bytes, taken within each ` +
      `round (median, quartiles).`,
      "",
      "| library | raw `GET` µs (client) | read µs | read ÷ `GET` | quartiles |",
      "| --- | ---: | ---: | ---: | --- |",
    ];
    for (const subject of subjects) {
      const [read, raw] = variants.filter((v) => v.subject === subject);
      const [low, high] = quartiles(ratios.get(subject)!);
      lines.push(
        `| ${SHORT_NAMES[subject.library]} | ` +
          `${fixed(median(perRead.get(raw)!))} (${subject.client}) | ` +
          `${fixed(median(perRead.get(read)!))} | ` +
          `**${fixed(median(ratios.get(subject)!), 2)}** | ` +
          `${fixed(low, 2)}–${fixed(high, 2)} |`,
      );
      progress(
        `warm, ${subject.library}: ${fixed(median(perRead.get(read)!))} µs, ` +
          `GET ${fixed(median(perRead.get(raw)!))} µs`,
      );
    }
    return lines.join("\n");
  } finally {
    for (const subject of subjects) await subject.close();
  }
}

// --- case: invalidation seen by the next call -----------------------------------

async function invalidateCase(
  url: string,
  libraries: Library[],
  args: string[],
): Promise<string> {
  const keys = option(args, "invalidate-keys", 50);
  const rounds = option(args, "invalidate-rounds", 3);
  const lines = [
    `Invalidation seen by the next call: 2 processes hold the same keys; ` +
    `for each key A bumps its version (in Redis, where fn reads it), ` +
    `invalidates the key and, once that resolves, sends the key to B over a ` +
    `socket of their own; B calls for it at once. Old values B served, of ` +
    `${keys}${rounds > 1 ? ` (each of ${rounds} rounds)` : ""}; as a ` +
    `control, ${keys} more keys sent to B as the invalidation starts, ` +
    `without waiting for it; the p50 of A's invalidation (awaited) and of ` +
    `B's next call.`,
    "",
    "| library | old served, told once resolved | control: told at the start | invalidate p50 ms | B's next call p50 ms |",
    "| --- | ---: | ---: | ---: | ---: |",
  ];
  for (const library of libraries) {
    const old: number[] = [];
    const oldEarly: number[] = [];
    const invalidateMs: number[] = [];
    const callMs: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const base = {
        case: "invalidate" as const,
        library,
        url,
        namespace: `invalidate:${crypto.randomUUID()}`,
        keys,
      };
      const { children, infos } = await startFleet<InvalidateReport>(
        import.meta.url,
        [{ ...base, role: "A" }, { ...base, role: "B" }],
        library,
      );
      await Promise.all([children[1].go(), children[0].go(infos[1])]);
      const [report, fromB] = await Promise.all(
        children.map((child) => child.done),
      );
      const awaited = report.answers.filter((a) => !a.early);
      const stale = awaited.filter((a) => a.version < a.expected);
      const staleEarly = report.answers.filter((a) =>
        a.early && a.version < a.expected
      );
      old.push(stale.length);
      oldEarly.push(staleEarly.length);
      invalidateMs.push(...awaited.map((a) => a.invalidateMs));
      callMs.push(...awaited.map((a) => a.callMs));
      progress(
        `invalidate, ${library}: ${stale.length} of ${keys} old` +
          (stale.length === 0 ? "" : ` (${stale[0].key} first)`) +
          (stale.some((a) => a.held !== undefined)
            ? `, ${stale.filter((a) => a.held).length} held locally when ` +
              `called, ${fromB.stillHeld?.length} of them still 200 ms later`
            : "") +
          `; told at the start, ${staleEarly.length} old`,
      );
    }
    lines.push(
      `| ${SHORT_NAMES[library]} | **${old.join(", ")}** | ` +
        `${oldEarly.join(", ")} | ${fixed(median(invalidateMs), 2)} | ` +
        `${fixed(median(callMs), 2)} |`,
    );
  }
  return lines.join("\n");
}

// --- case: the server stopped and restarted -------------------------------------

interface OutageResult {
  library: Library;
  calls: number;
  failed: number;
  firstFailure?: string;
  hung: number;
  unhandled: string[];
  /** p50 before the stop: A's calls (which run fn), B's (which read). */
  p50Before: [number, number];
  /** Runs of fn per tick across both processes. */
  runsPerTick: number[];
  outageCalls: number;
  outageP50: number;
  outageP99: number;
  outageMax: number;
  /** Ticks before the stop whose keys each ran once, of all such ticks. */
  sharedBefore: [number, number];
  /** From the server's return to the first tick from which all share; null: never. */
  backToSharing: number | null;
  /** Ticks after the return that did not share. */
  unsharedAfter: number;
  /** Stop and restart, as the parent saw them, ms after the fleet's start. */
  stoppedAt: number;
  backAt: number;
}

async function outageRun(
  library: Library,
  args: string[],
): Promise<OutageResult> {
  const settings = {
    keys: option(args, "outage-keys", 3),
    tickMs: option(args, "tick-ms", 200),
    staggerMs: option(args, "stagger-ms", 100),
    fnMs: option(args, "fn-ms", 50),
    drainMs: option(args, "drain-ms", 15_000),
  };
  const beforeMs = option(args, "before-ms", 1_500);
  const outageMs = option(args, "outage-ms", 3_000);
  const afterMs = option(args, "after-ms", 5_000);
  const server = await startRedis();
  try {
    const namespace = `outage:${crypto.randomUUID()}`;
    const configs: OutageConfig[] = [0, 1].map((index) => ({
      case: "outage",
      library,
      url: server.url,
      namespace,
      index,
      ...settings,
    }));
    const { children } = await startFleet<OutageReport>(
      import.meta.url,
      configs,
      library,
    );
    const start = now() + 100;
    const end = start + beforeMs + outageMs + afterMs;
    await Promise.all(children.map((child) => child.go({ start, end })));
    await sleep(start + beforeMs - now());
    const stoppedAt = now();
    await stopServer(server);
    await sleep(stoppedAt + outageMs - now());
    await restartServer(server);
    const backAt = now();
    const reports = await Promise.all(children.map((child) => child.done));
    return analyseOutage(library, reports, settings, {
      start,
      stoppedAt,
      backAt,
    });
  } finally {
    await server.stop();
  }
}

function analyseOutage(
  library: Library,
  reports: OutageReport[],
  settings: { keys: number; tickMs: number },
  times: { start: number; stoppedAt: number; backAt: number },
): OutageResult {
  const calls = reports.flatMap((report) => report.calls);
  const failed = calls.filter((call) => call.error !== undefined);
  const hung = calls.filter((call) => call.ms === null);
  const latencies = (from: number, to: number) =>
    calls.filter((call) => call.start >= from && call.start < to)
      .map((call) => call.ms ?? Infinity)
      .sort((a, b) => a - b);
  const p50Before = reports.map((report) =>
    quantile(
      report.calls.filter((call) => call.start < times.stoppedAt)
        .map((call) => call.ms ?? Infinity).sort((a, b) => a - b),
      0.5,
    )
  ) as [number, number];
  const during = latencies(times.stoppedAt, times.backAt);
  // Runs per tick across both processes; a tick shares when each of its
  // keys ran once and every call for it answered without error.
  const runs = new Map<number, number>();
  for (const tick of reports.flatMap((report) => report.runs)) {
    runs.set(tick, (runs.get(tick) ?? 0) + 1);
  }
  const ticks = Math.max(...calls.map((call) => call.tick)) + 1;
  const tickStart = (tick: number) => times.start + tick * settings.tickMs;
  const shares = (tick: number) =>
    runs.get(tick) === settings.keys &&
    calls.every((call) =>
      call.tick !== tick || (call.ms !== null && call.error === undefined)
    );
  const beforeTicks = Array.from({ length: ticks }, (_, tick) => tick)
    .filter((tick) => tickStart(tick) < times.stoppedAt - settings.tickMs);
  const afterTicks = Array.from({ length: ticks }, (_, tick) => tick)
    .filter((tick) => tickStart(tick) >= times.backAt);
  let from: number | null = null;
  for (let i = afterTicks.length - 1; i >= 0 && shares(afterTicks[i]); i--) {
    from = afterTicks[i];
  }
  return {
    library,
    calls: calls.length,
    failed: failed.length,
    firstFailure: failed[0]?.error,
    hung: hung.length,
    unhandled: reports.flatMap((report) => report.unhandled),
    p50Before,
    runsPerTick: Array.from(
      { length: ticks },
      (_, tick) => runs.get(tick) ?? 0,
    ),
    outageCalls: during.length,
    outageP50: quantile(during, 0.5),
    outageP99: quantile(during, 0.99),
    outageMax: during[during.length - 1] ?? NaN,
    sharedBefore: [beforeTicks.filter(shares).length, beforeTicks.length],
    backToSharing: from === null ? null : tickStart(from) - times.backAt,
    unsharedAfter: afterTicks.filter((tick) => !shares(tick)).length,
    stoppedAt: times.stoppedAt - times.start,
    backAt: times.backAt - times.start,
  };
}

async function outageCase(
  libraries: Library[],
  args: string[],
): Promise<string> {
  const drainMs = option(args, "drain-ms", 15_000);
  const results: OutageResult[] = [];
  for (const library of libraries) {
    const result = await outageRun(library, args);
    results.push(result);
    progress(
      `outage, ${library}: ${result.calls} calls, ${result.failed} failed` +
        (result.firstFailure ? ` (${result.firstFailure})` : "") +
        `, ${result.hung} hung; during the outage p50 ` +
        `${fixed(result.outageP50)} ms, max ${fixed(result.outageMax)} ms; ` +
        `back to sharing ${
          result.backToSharing === null
            ? "never"
            : `${fixed(result.backToSharing, 0)} ms`
        } after the restart (stopped at ${fixed(result.stoppedAt, 0)} ms, ` +
        `back at ${fixed(result.backAt, 0)} ms); fn runs per tick: ` +
        result.runsPerTick.join(" ") +
        (result.unhandled.length === 0
          ? ""
          : `; unhandled rejections: ${result.unhandled.join(" | ")}`),
    );
  }
  const settings = {
    keys: option(args, "outage-keys", 3),
    tickMs: option(args, "tick-ms", 200),
    staggerMs: option(args, "stagger-ms", 100),
    fnMs: option(args, "fn-ms", 50),
  };
  const ms = (value: number) =>
    value === Infinity ? `> ${drainMs}` : fixed(value, 0);
  return [
    `The server stopped and restarted: 2 processes call ${settings.keys} ` +
    `fresh keys every ${settings.tickMs} ms (the second ` +
    `${settings.staggerMs} ms after the first), fn ${settings.fnMs} ms; the ` +
    `server is down for ${option(args, "outage-ms", 3_000)} ms. Failed: ` +
    `calls that rejected; hung: no answer within ${drainMs} ms. Before the ` +
    `stop A runs fn and B reads A's value; outage: the latency of the calls ` +
    `started while the server was down. Shared: ticks whose keys ` +
    `ran once across both processes, before the stop; back to sharing: from ` +
    `the server's return (answering PING) to the first tick from which every ` +
    `tick shares.`,
    "",
    "| library | calls | failed | hung | p50 before, A / B ms | outage p50 ms | outage p99 ms | outage max ms | shared before | back to sharing after ms |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...results.map((r) =>
      `| ${SHORT_NAMES[r.library]} | ${r.calls} | ${r.failed} | ${r.hung} | ` +
      `${ms(r.p50Before[0])} / ${ms(r.p50Before[1])} | ${ms(r.outageP50)} | ${
        ms(r.outageP99)
      } | ` +
      `${ms(r.outageMax)} | ${r.sharedBefore[0]} of ${r.sharedBefore[1]} | ` +
      `${r.backToSharing === null ? "never" : fixed(r.backToSharing, 0)} |`
    ),
  ].join("\n");
}

// --- the parent -------------------------------------------------------------------

function progress(line: string): void {
  console.error(line);
}

async function parent(args: string[]): Promise<void> {
  if (args.includes("--help")) {
    console.log(HELP);
    return;
  }
  const given = args.find((arg) => arg.startsWith("--case="))?.slice(7);
  const cases = given === undefined
    ? [...CASES]
    : given.split(",") as CaseName[];
  for (const name of cases) {
    if (!CASES.includes(name)) {
      throw new Error(`--case: ${name} is none of ${CASES.join(", ")}`);
    }
  }
  const shared = () => selected(args, SHARED_LIBRARIES);
  const started = performance.now();
  console.log(
    `Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, ` +
      `${new Date().toISOString().slice(0, 10)}\n`,
  );
  let server: RedisServer | undefined;
  try {
    for (const name of cases) {
      if (name !== "outage" && server === undefined) {
        server = await startRedis();
      }
      const url = server?.url ?? "";
      let table: string;
      switch (name) {
        case "stampede":
          // alruCache without a store runs once per key and process: the
          // scale the others are read against.
          table = await stampedeCase(url, selected(args, LIBRARIES), args);
          break;
        case "warm":
          table = await warmCase(url, shared(), args);
          break;
        case "invalidate":
          table = await invalidateCase(url, shared(), args);
          break;
        case "outage":
          table = await outageCase(shared(), args);
          break;
      }
      console.log(`${table}\n`);
    }
  } finally {
    await server?.stop();
  }
  progress(`done in ${fixed((performance.now() - started) / 1_000, 0)} s`);
}

if (import.meta.main) {
  if (Deno.args[0] === "--child") {
    const config = JSON.parse(Deno.args[1]) as ChildConfig;
    if (config.case === "invalidate") await invalidateChild(config);
    else await outageChild(config);
  } else {
    await parent(Deno.args);
  }
}
