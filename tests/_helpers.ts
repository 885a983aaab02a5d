/** Shared test helpers. Not part of the published module. */

import assert from "node:assert/strict";
import { CACHE } from "../cached_function.ts";
import type { CacheInfo, CacheParameters, Clock, ManualClock } from "../mod.ts";

/**
 * Lets every pending promise reaction run. Cache bookkeeping and callers'
 * continuations take a few microtask turns; this drains them without touching
 * any timer, real or fake.
 */
export async function flush(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
}

/** A promise with its settle functions, for driving a wrapped function by hand. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** Makes a {@linkcode Deferred}. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** What {@linkcode checkLru} reads: a cached function or method. */
export interface Inspectable {
  cacheInfo(): CacheInfo;
  cacheParameters(): CacheParameters;
}

export interface Expected {
  hits: number;
  misses: number;
  currSize: number;
  tasks: number;
  maxSize?: number;
}

/** Checks the counters, the size and the in-flight count; maxSize defaults to 128. */
export function checkLru(cached: Inspectable, expected: Expected): void {
  const info = cached.cacheInfo();
  assert.deepEqual(
    {
      hits: info.hits,
      misses: info.misses,
      maxSize: info.maxSize,
      currSize: info.currSize,
      tasks: cached.cacheParameters().tasks,
    },
    { maxSize: 128, ...expected },
  );
}

/** Resolves with the reason `promise` rejects with; fails if it fulfils. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (reason) {
    return reason;
  }
  assert.fail("expected the promise to reject");
}

/**
 * Throws unless the cache behind `cached` is whole: its index, recency list,
 * slot arrays, expiry queue, timer and counters agree.
 */
export function assertWhole(cached: object): void {
  const cache = (cached as { [CACHE]?: { assertConsistent(): void } })[CACHE];
  assert.ok(cache !== undefined, "not a function made by alruCache");
  cache.assertConsistent();
}

/** What a {@linkcode hookedClock} calls before each of its methods. */
export interface ClockHooks {
  now?(): void;
  setTimeout?(): void;
  clearTimeout?(): void;
}

/**
 * A clock on `clock` that first calls the hook for each method, which may
 * call the cache, throw, or both.
 */
export function hookedClock(clock: ManualClock, hooks: ClockHooks): Clock {
  return {
    now() {
      hooks.now?.();
      return clock.now();
    },
    setTimeout(callback, delay) {
      hooks.setTimeout?.();
      return clock.setTimeout(callback, delay);
    },
    clearTimeout(handle) {
      hooks.clearTimeout?.();
      clock.clearTimeout(handle);
    },
  };
}

/** Runs `hook` the first time the returned function is called, then nothing. */
export function once(hook: () => void): () => void {
  let pending: (() => void) | undefined = hook;
  return () => {
    const run = pending;
    pending = undefined;
    run?.();
  };
}

/**
 * Records the calls of `console[method]` for the length of `body`, keeping
 * them off the test output.
 */
export async function withConsole(
  method: "warn" | "error",
  body: (calls: unknown[][]) => Promise<void>,
): Promise<void> {
  const original = console[method];
  const calls: unknown[][] = [];
  console[method] = (...args: unknown[]) => {
    calls.push(args);
  };
  try {
    await body(calls);
  } finally {
    console[method] = original;
  }
}

/** {@linkcode withConsole} for `console.error`. */
export function withErrors(
  body: (errors: unknown[][]) => Promise<void>,
): Promise<void> {
  return withConsole("error", body);
}

/**
 * Starts recording the reasons of promise rejections that go unhandled;
 * `stop()` ends it.
 */
export function recordUnhandledRejections(): {
  readonly reasons: unknown[];
  stop(): void;
} {
  const reasons: unknown[] = [];
  const onUnhandled = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    reasons.push(event.reason);
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  return {
    reasons,
    stop: () =>
      globalThis.removeEventListener("unhandledrejection", onUnhandled),
  };
}

/**
 * Runs `body` and fails if a promise rejection goes unhandled while it runs
 * or in the macrotask after it.
 */
export async function withoutUnhandledRejections(
  body: () => Promise<void>,
): Promise<void> {
  const unhandled = recordUnhandledRejections();
  try {
    await body();
    await flush();
    await new Promise((resolve) => setTimeout(resolve, 0));
  } finally {
    unhandled.stop();
  }
  assert.deepEqual(unhandled.reasons, [], "unhandled rejections");
}

/** What {@linkcode runCommand} reports of a finished process. */
export interface CommandRun {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** Runs `command` with `args` to its end, killing it after `killAfterMs`. */
export async function runCommand(
  command: string,
  args: string[],
  options: { cwd?: string; killAfterMs: number },
): Promise<CommandRun> {
  const controller = new AbortController();
  const killer = setTimeout(() => controller.abort(), options.killAfterMs);
  const started = performance.now();
  try {
    const output = await new Deno.Command(command, {
      args,
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      signal: output.signal,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
      elapsedMs: performance.now() - started,
    };
  } finally {
    clearTimeout(killer);
  }
}

/** The counters of `cacheStats()`, by name. */
export const STAT_NAMES = [
  "hits",
  "misses",
  "staleHits",
  "errorHits",
  "refreshes",
  "refreshFailures",
  "evictions",
  "expirations",
  "invalidations",
] as const;

/** The counters of `cacheStats()`. */
export type Stats = Record<typeof STAT_NAMES[number], number>;

/** Every counter 0. */
export const ZERO_STATS: Stats = Object.fromEntries(
  STAT_NAMES.map((name) => [name, 0]),
) as Stats;

/** The counters `cached.cacheStats()` reports, and no other field. */
export function statsOf(cached: { cacheStats(): Stats }): Stats {
  const stats = cached.cacheStats();
  return Object.fromEntries(
    STAT_NAMES.map((name) => [name, stats[name]]),
  ) as Stats;
}

/** Compares all nine counters; those not given must be 0. */
export function assertStats(
  cached: { cacheStats(): Stats },
  expected: Partial<Stats>,
): void {
  assert.deepEqual(statsOf(cached), { ...ZERO_STATS, ...expected });
}
