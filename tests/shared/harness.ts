/**
 * The parent's side of the cross-process tests: spawns worker.ts as real OS
 * processes (`Deno.execPath()`, never Web Workers, so that nothing is shared
 * but the store), talks to them over their stdin and stdout, and makes sure
 * that every process, pipe and temporary file is gone when a test ends,
 * failed or not, so that Deno's sanitizers stay on.
 *
 * Every wait on a child is bounded: a hang fails the test with the child's
 * stderr instead of stalling the run.
 */

import assert from "node:assert/strict";
import type { CallOutcome, Computed, WorkerConfig } from "./worker.ts";
import { type Backend, connect, type Connection, within } from "./clients.ts";
import { redisCommand, redisUrl } from "../../tools/redis.ts";

export type { CallOutcome, Computed, WorkerConfig } from "./worker.ts";

// Deno runs a module from its file URL; the config wants a path.
const WORKER = new URL("./worker.ts", import.meta.url).href;
const CONFIG = decodeURIComponent(
  new URL("../../deno.json", import.meta.url).pathname,
);
const START_MS = 30_000;
const REPLY_MS = 15_000;
const EXIT_MS = 10_000;

type Message = { type: string; [field: string]: unknown };
type Reply = Record<string, unknown>;

/** One running worker.ts. */
export class WorkerProcess {
  readonly name: string;
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pending = new Map<number, (reply: Reply) => void>();
  readonly #listeners = new Set<(message: Message) => void>();
  readonly #stdout: Promise<void>;
  readonly #stderr: Promise<void>;
  #stderrText = "";
  #nextId = 1;
  #exited = false;
  readonly status: Promise<Deno.CommandStatus>;

  constructor(name: string, config: WorkerConfig) {
    this.name = name;
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--unstable-kv",
        "--config",
        CONFIG,
        WORKER,
        JSON.stringify(config),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    this.status = this.#child.status.then((status) => {
      this.#exited = true;
      return status;
    });
    this.#stdout = this.#readLines(this.#child.stdout, (line) => {
      let message: Message;
      try {
        message = JSON.parse(line);
      } catch {
        this.#stderrText += `[stdout] ${line}\n`;
        return;
      }
      if (message.type === "reply") {
        const resolve = this.#pending.get(message.id as number);
        this.#pending.delete(message.id as number);
        resolve?.(message);
      }
      for (const listener of this.#listeners) listener(message);
    });
    this.#stderr = this.#readLines(this.#child.stderr, (line) => {
      this.#stderrText += `${line}\n`;
    });
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** What the child wrote to stderr so far. */
  get stderr(): string {
    return this.#stderrText;
  }

  /** Calls `listener` with every message until the returned stop is called. */
  listen(listener: (message: Message) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves with the first message of `type` that `accept` takes. */
  next(
    type: string,
    accept: (message: Message) => boolean = () => true,
    timeoutMs = REPLY_MS,
  ): Promise<Message> {
    const { promise, resolve } = Promise.withResolvers<Message>();
    const listener = (message: Message) => {
      if (message.type === type && accept(message)) resolve(message);
    };
    this.#listeners.add(listener);
    return this.#bounded(
      timeoutMs,
      `a "${type}" message`,
      promise.finally(() => this.#listeners.delete(listener)),
    );
  }

  /** Sends a command and resolves with its reply; fails if the op threw. */
  async request(
    op: string,
    body: Record<string, unknown> = {},
    timeoutMs = REPLY_MS,
  ): Promise<Reply> {
    const id = this.#nextId++;
    const { promise, resolve } = Promise.withResolvers<Reply>();
    this.#pending.set(id, resolve);
    await this.#stdin.write(
      new TextEncoder().encode(JSON.stringify({ id, op, ...body }) + "\n"),
    );
    const reply = await this.#bounded(timeoutMs, `the reply to ${op}`, promise)
      .finally(() => this.#pending.delete(id));
    if (typeof reply.failed === "string") {
      throw new Error(`${this.name}: ${op} failed: ${reply.failed}`);
    }
    return reply;
  }

  /** Whether the test killed it. */
  killed = false;

  /** Sends SIGKILL, as a crash would, and waits for the process to end. */
  async kill(): Promise<void> {
    this.killed = true;
    if (!this.#exited) this.#child.kill("SIGKILL");
    await this.status;
  }

  /**
   * What went wrong with the store in this process, for a failed test's
   * message: how many store errors, and each failure the worker saw.
   */
  async diagnose(): Promise<string> {
    if (this.#exited) return "";
    try {
      const { stats, storeFailures } = await this.request("stats", {}, 2_000);
      const errors = (stats as { storeErrors: number }).storeErrors;
      const failures = storeFailures as string[];
      if (errors === 0 && failures.length === 0) return "";
      return `${this.name} (pid ${this.pid}): storeErrors ${errors}; ${
        failures.slice(0, 5).join("; ")
      }${failures.length > 5 ? ` (and ${failures.length - 5} more)` : ""}`;
    } catch (error) {
      return `${this.name}: no stats (${(error as Error).message})`;
    }
  }

  /**
   * Asks the worker to close its cache and its client, then checks that it
   * ended by itself with status 0: nothing left running (a timer, a
   * connection the cache opened) and no unhandled rejection.
   */
  async exit(): Promise<void> {
    // Closing a cache and a client takes milliseconds; a hang there is a
    // failure, not a reason to wait long.
    await this.request("exit", {}, 5_000);
    await this.#stdin.close();
    const status = await this.#bounded(EXIT_MS, "exit", this.status);
    await Promise.all([this.#stdout, this.#stderr]);
    assert.equal(
      status.code,
      0,
      `${this.name} exited with ${status.code}; stderr:\n${this.stderr}`,
    );
  }

  /** Ends the process however it is, for a test's finally. */
  async dispose(): Promise<void> {
    await this.#stdin.close().catch(() => {});
    if (!this.#exited) {
      // A last chance to end by itself, then a kill.
      const ended = await within(200, "end", this.status).then(
        () => true,
        () => false,
      );
      if (!ended) this.#child.kill("SIGKILL");
    }
    await this.status;
    await Promise.all([this.#stdout, this.#stderr]);
  }

  #bounded<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
    const exited = this.status.then(() => {
      throw new Error(
        `${this.name} (pid ${this.pid}) exited while the test waited for ${what}; stderr:\n${this.stderr}`,
      );
    });
    exited.catch(() => {});
    return within(ms, `${this.name}: ${what}`, Promise.race([work, exited]))
      .catch((error) => {
        if (this.#exited) throw error;
        throw new Error(`${error.message}; stderr:\n${this.stderr}`);
      });
  }

  async #readLines(
    stream: ReadableStream<Uint8Array>,
    onLine: (line: string) => void,
  ): Promise<void> {
    let buffered = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        onLine(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
      }
    }
    if (buffered !== "") onLine(buffered);
  }
}

/**
 * The processes of one test. `start` waits until every one is ready, so
 * that the test's work, sent afterwards, overlaps for real; `dispose` ends
 * whatever is left.
 */
export class Fleet {
  readonly workers: WorkerProcess[] = [];

  /** Spawns one worker per config, all at once, and waits for them all. */
  async start(...configs: WorkerConfig[]): Promise<WorkerProcess[]> {
    const started = configs.map((config, i) => {
      const worker = new WorkerProcess(
        `worker ${this.workers.length + i + 1}`,
        config,
      );
      return worker;
    });
    this.workers.push(...started);
    await Promise.all(started.map((w) => w.next("ready", undefined, START_MS)));
    return started;
  }

  /** Exits every worker not killed and checks each ended cleanly. */
  async exitAll(): Promise<void> {
    await Promise.all(
      this.workers.filter((w) => !w.killed).map((w) => w.exit()),
    );
  }

  /** Ends every worker, for a finally. */
  async dispose(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.dispose()));
  }
}

/** The first message of `type` from any of `workers`, bounded. */
export function firstOf(
  workers: WorkerProcess[],
  type: string,
  timeoutMs = REPLY_MS,
): Promise<{ worker: WorkerProcess; message: Message }> {
  const { promise, resolve } = Promise.withResolvers<
    { worker: WorkerProcess; message: Message }
  >();
  const stops = workers.map((worker) =>
    worker.listen((message) => {
      if (message.type === type) resolve({ worker, message });
    })
  );
  return within(timeoutMs, `a "${type}" message from any worker`, promise)
    .finally(() => stops.forEach((stop) => stop()));
}

/** Values of a "call" reply, failing with the first error among them. */
export function valuesOf(reply: Reply): Computed[] {
  return (reply.results as CallOutcome[]).map(
    (outcome) => {
      if (!outcome.ok) {
        throw new Error(
          `a call failed: ${outcome.error.name}: ${outcome.error.message}`,
        );
      }
      return outcome.value;
    },
  );
}

/** A namespace no other test or run uses. */
export function freshNamespace(test: string): string {
  return `alru-shared-test:${test}:${crypto.randomUUID()}`;
}

/** A temporary KV database file, and its removal (with its -wal/-shm). */
export async function tempKv(): Promise<
  { path: string; remove(): Promise<void> }
> {
  const dir = await Deno.makeTempDir({ prefix: "async-lru-kv-" });
  return {
    path: `${dir}/shared.sqlite`,
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}

/** The p-th percentile (0..100) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

/** Where one test's shared tier lives, and how to read its run counts. */
export interface Place {
  readonly backend: Backend;
  /** The Redis URL, or the KV database file. */
  readonly target: string;
  /** Runs of the function per key, as the workers counted them under `counter`. */
  runs(counter: string): Promise<Map<string, number>>;
  /** Removes what the test left (the KV file); Redis keys leave with their namespace. */
  cleanup(): Promise<void>;
}

/**
 * The shared Redis server at `REDIS_URL` (a missing one fails the test with
 * how to run it, never skips it), or a fresh KV database file.
 */
export async function place(backend: Backend, url?: string): Promise<Place> {
  if (backend !== "kv") {
    const target = url ?? redisUrl();
    return {
      backend,
      target,
      async runs(counter) {
        const flat = await redisCommand(target, "HGETALL", counter) as string[];
        const runs = new Map<string, number>();
        for (let i = 0; i < flat.length; i += 2) {
          runs.set(flat[i], Number(flat[i + 1]));
        }
        return runs;
      },
      cleanup: () => Promise.resolve(),
    };
  }
  const file = await tempKv();
  // Created here, before the processes open it: SQLite refuses ("database
  // is locked") a second process that opens a new file while the first
  // creates its tables, and opening is the user's part, not the store's.
  (await Deno.openKv(file.path)).close();
  return {
    backend,
    target: file.path,
    async runs(counter) {
      const kv = await Deno.openKv(file.path);
      try {
        const runs = new Map<string, number>();
        const prefix = ["alru-tests", "runs", counter];
        for await (const entry of kv.list<Deno.KvU64>({ prefix })) {
          runs.set(String(entry.key[prefix.length]), Number(entry.value.value));
        }
        return runs;
      } finally {
        kv.close();
      }
    },
    cleanup: file.remove,
  };
}

/** A worker config on `where`, with a test's settings. */
export function configFor(
  where: Place,
  settings: Omit<WorkerConfig, "backend" | "target">,
): WorkerConfig {
  return { backend: where.backend, target: where.target, ...settings };
}

/** The sum of a run-count map. */
export function total(runs: Map<string, number>): number {
  let sum = 0;
  for (const n of runs.values()) sum += n;
  return sum;
}

/**
 * Runs a cross-process test on `backend`: `body` starts its processes in
 * the fleet; afterwards every one not killed must exit cleanly. A failure's
 * message gets what the processes saw go wrong with the store, and the
 * processes and files are gone whatever happens.
 */
export async function withFleet(
  backend: Backend,
  body: (fleet: Fleet, where: Place) => Promise<void>,
  url?: string,
): Promise<void> {
  const where = await place(backend, url);
  const fleet = new Fleet();
  try {
    await body(fleet, where);
    await fleet.exitAll();
  } catch (error) {
    const notes = (await Promise.all(fleet.workers.map((w) => w.diagnose())))
      .filter(Boolean);
    if (error instanceof Error && notes.length > 0) {
      error.message += `\nstore trouble in the processes:\n${notes.join("\n")}`;
    }
    throw error;
  } finally {
    await fleet.dispose();
    await where.cleanup();
  }
}

/**
 * Opens `count` connections to `backend` in this process, as that many
 * processes would have them (the shared Redis server, or one temporary KV
 * file), and closes them and removes the file after `body`, failed or not.
 */
export async function withConnections(
  backend: Backend,
  count: number,
  body: (connections: Connection[], where: Place) => Promise<void>,
): Promise<void> {
  const where = await place(backend);
  const connections: Connection[] = [];
  try {
    for (let i = 0; i < count; i++) {
      connections.push(await connect(backend, where.target));
    }
    await body(connections, where);
  } finally {
    for (const connection of connections) await connection.close();
    await where.cleanup();
  }
}

/**
 * Waits until `count` connections listen on a Redis namespace's channel, so
 * that a test of how an invalidation travels does not also race the
 * processes' subscriptions (which a test of its own covers).
 */
export async function listening(
  url: string,
  namespace: string,
  count: number,
): Promise<void> {
  const deadline = performance.now() + 5_000;
  for (;;) {
    const [, subscribers] = await redisCommand(
      url,
      "PUBSUB",
      "NUMSUB",
      `${namespace}:events`,
    ) as [string, number];
    if (subscribers >= count) return;
    if (performance.now() > deadline) {
      throw new Error(
        `${subscribers} of ${count} processes listen on ${namespace} after 5 s`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
