/**
 * One process of a fleet in the shared-tier tests, spawned by harness.ts
 * with `Deno.execPath()`. It opens its own client (or KV database), makes
 * one cached function on a shared store, and then does what the parent asks,
 * one JSON command per line on stdin, answering with one JSON line per
 * command on stdout. The parent starts the processes first and sends the
 * work after they all said "ready", so that their calls really overlap
 * instead of being spread over each process's start-up.
 *
 * The cached function announces each run on stdout ("fnStart", so that the
 * parent can kill a leader in the middle of one), counts it in the store's
 * server when asked (Redis `HINCRBY` over a connection of its own, KV
 * `sum`), waits `fnMs`, and returns a value with a random nonce: every
 * caller of a key must get the nonce of the single run that computed it.
 *
 * Nothing here catches unhandled rejections: one ends the process with a
 * non-zero status and the error on stderr, which fails the parent's test.
 */

import { alruCache } from "../../mod.ts";
import type { CacheStore } from "../../store.ts";
import { redisCommand } from "../../tools/redis.ts";
import { type Backend, connect, sleep, wallClock } from "./clients.ts";

/** How a worker is set up; given as its one argument, as JSON. */
export interface WorkerConfig {
  backend: Backend;
  /** The Redis URL, or the KV database file. */
  target: string;
  namespace: string;
  ttl: number;
  lease?: number;
  storeTimeout?: number;
  localTtl?: number;
  breakerThreshold?: number;
  breakerCooldown?: number;
  /** How long each run of the function takes. */
  fnMs: number;
  /** Where each run is counted besides this process's memory. */
  counter?: { key: string };
}

/** What the function returns. */
export interface Computed {
  key: string;
  nonce: string;
  pid: number;
}

/** One call's outcome as the worker reports it. */
export type CallOutcome =
  | { ok: true; value: Computed; ms: number }
  | { ok: false; error: { name: string; message: string }; ms: number };

/** A command from the parent; `id` comes back in the reply. */
export type Command =
  | { id: number; op: "call"; keys: string[] }
  | { id: number; op: "invalidate"; key: string }
  | { id: number; op: "clear" }
  | { id: number; op: "contains"; keys: string[] }
  | { id: number; op: "watch"; keys: string[]; timeoutMs: number }
  | { id: number; op: "stats" }
  | { id: number; op: "ping" }
  | { id: number; op: "exit" };

const config = JSON.parse(Deno.args[0]) as WorkerConfig;
let runs = 0;

function emit(message: Record<string, unknown>): void {
  console.log(JSON.stringify(message));
}

const connection = await connect(config.backend, config.target);

async function countRun(key: string): Promise<void> {
  if (config.counter === undefined) return;
  if (connection.kv !== undefined) {
    await connection.kv.atomic()
      .sum(["alru-tests", "runs", config.counter.key, key], 1n)
      .commit();
  } else {
    // Its own connection: the count must not depend on the client under test.
    await redisCommand(config.target, "HINCRBY", config.counter.key, key, 1);
  }
}

async function compute(key: string): Promise<Computed> {
  runs++;
  emit({ type: "fnStart", key, at: wallClock() });
  await countRun(key);
  await sleep(config.fnMs);
  return { key, nonce: crypto.randomUUID(), pid: Deno.pid };
}

// What the store did wrong, with how long it took, for the parent's
// failure messages: storeErrors says how many, not why.
const storeFailures: string[] = [];
const storeTimeout = config.storeTimeout ?? 250;

// A plain object that forwards to the store (whose methods need it as
// `this`: its fields are private) and notes every failure.
function watched(store: CacheStore): CacheStore {
  const note = <T>(method: string, result: Promise<T>): Promise<T> => {
    const started = performance.now();
    const ms = () => (performance.now() - started).toFixed(0);
    result.then(
      () => {
        if (method !== "wait" && performance.now() - started > storeTimeout) {
          storeFailures.push(`${method} took ${ms()} ms`);
        }
      },
      (error) =>
        storeFailures.push(`${method} failed after ${ms()} ms: ${error}`),
    );
    return result;
  };
  return {
    notifies: store.notifies,
    readOrLease: (...args) => note("readOrLease", store.readOrLease(...args)),
    wait: (...args) => note("wait", store.wait(...args)),
    write: (...args) => note("write", store.write(...args)),
    renew: (...args) => note("renew", store.renew(...args)),
    release: (...args) => note("release", store.release(...args)),
    delete: (...args) => note("delete", store.delete(...args)),
    clear: (...args) => note("clear", store.clear(...args)),
    subscribe: (listener, onError) =>
      note(
        "subscribe",
        store.subscribe(listener, (error) => {
          storeFailures.push(`the subscription failed: ${error}`);
          onError(error);
        }),
      ),
  };
}

const cached = alruCache(compute, {
  maxSize: 10_000,
  ttl: config.ttl,
  store: watched(connection.store(config.namespace)),
  ...(config.lease === undefined ? {} : { lease: config.lease }),
  ...(config.storeTimeout === undefined
    ? {}
    : { storeTimeout: config.storeTimeout }),
  ...(config.localTtl === undefined ? {} : { localTtl: config.localTtl }),
  ...(config.breakerThreshold === undefined
    ? {}
    : { breakerThreshold: config.breakerThreshold }),
  ...(config.breakerCooldown === undefined
    ? {}
    : { breakerCooldown: config.breakerCooldown }),
});

async function call(key: string): Promise<CallOutcome> {
  const started = performance.now();
  try {
    const value = await cached(key);
    return { ok: true, value, ms: performance.now() - started };
  } catch (error) {
    const { name, message } = error instanceof Error
      ? error
      : { name: typeof error, message: String(error) };
    return {
      ok: false,
      error: { name, message },
      ms: performance.now() - started,
    };
  }
}

// Polls until each key has no local entry: the moment an invalidation (or
// the end of a local copy's life) reached this process, to the tick.
async function watch(
  keys: string[],
  timeoutMs: number,
): Promise<(number | null)[]> {
  const dropped: (number | null)[] = keys.map(() => null);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    let pending = 0;
    const now = wallClock();
    keys.forEach((key, i) => {
      if (dropped[i] !== null) return;
      if (cached.cacheContains(key)) pending++;
      else dropped[i] = now;
    });
    if (pending === 0 || performance.now() > deadline) return dropped;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

async function handle(command: Command): Promise<Record<string, unknown>> {
  switch (command.op) {
    case "call": {
      const started = wallClock();
      const results = await Promise.all(command.keys.map(call));
      return { results, started, ended: wallClock() };
    }
    case "invalidate": {
      const started = wallClock();
      const result = await cached.cacheInvalidate(command.key);
      return { result, started, ended: wallClock() };
    }
    case "clear": {
      const started = wallClock();
      await cached.cacheClear();
      return { started, ended: wallClock() };
    }
    case "contains":
      return { result: command.keys.map((key) => cached.cacheContains(key)) };
    case "watch":
      return { dropped: await watch(command.keys, command.timeoutMs) };
    case "stats":
      return {
        stats: cached.cacheStats(),
        info: cached.cacheInfo(),
        runs,
        storeFailures,
      };
    case "ping":
      return {};
    case "exit":
      // Each step is noted on stderr, which a failed test shows: a hang
      // says where it hangs.
      console.error("exit: closing the cache");
      await cached.cacheClose();
      // The cache never closes the user's client: it must still answer.
      console.error("exit: pinging through the user's client");
      await connection.ping();
      console.error("exit: closing the user's client");
      await connection.close();
      console.error("exit: done");
      return {};
  }
}

emit({ type: "ready", pid: Deno.pid });

// Commands run concurrently (a "watch" waits while an "invalidate" goes
// on); each reply carries its command's id.
const decoder = new TextDecoder();
let buffered = "";
const reader = Deno.stdin.readable.getReader();
let exiting = false;
while (!exiting) {
  const { value, done } = await reader.read();
  if (done) break;
  buffered += decoder.decode(value, { stream: true });
  let newline: number;
  while ((newline = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    if (line.trim() === "") continue;
    const command = JSON.parse(line) as Command;
    if (command.op === "exit") exiting = true;
    handle(command).then(
      (reply) => emit({ type: "reply", id: command.id, ...reply }),
      (error) =>
        emit({
          type: "reply",
          id: command.id,
          failed: error instanceof Error
            ? `${error.name}: ${error.message}`
            : String(error),
        }),
    );
  }
}
reader.releaseLock();
// After "exit" the process ends by itself once its reply is out: anything
// the cache left running (a timer, a subscriber connection) would keep it
// alive, and the parent would see it hang.
