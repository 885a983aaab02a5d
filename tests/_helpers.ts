/** Shared test helpers. Not part of the published module. */

import assert from "node:assert/strict";
import { CACHE } from "../cached_function.ts";
import {
  alruCache,
  type AlruCacheOptions,
  type CacheInfo,
  type CacheParameters,
  type Clock,
  ManualClock,
} from "../mod.ts";

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
  /** Needed only where {@linkcode Expected} names present or absent keys. */
  cacheContains?(...args: never[]): boolean;
}

export interface Expected {
  hits: number;
  misses: number;
  currSize: number;
  tasks: number;
  /** 128 unless given. */
  maxSize?: number;
  /** false unless given. */
  closed?: boolean;
  /** Timers scheduled on the clock given to {@linkcode checkLru}. */
  pending?: number;
  /** Argument lists that must have an entry. */
  present?: unknown[][];
  /** Argument lists that must have none. */
  absent?: unknown[][];
}

/**
 * Checks the counters, the size, the in-flight count and whether the cache
 * is closed, then the entries named present or absent and, with `clock`, the
 * timers pending on it.
 */
export function checkLru(
  cached: Inspectable,
  expected: Expected,
  clock?: ManualClock,
): void {
  const info = cached.cacheInfo();
  const parameters = cached.cacheParameters();
  assert.deepEqual(
    {
      hits: info.hits,
      misses: info.misses,
      maxSize: info.maxSize,
      currSize: info.currSize,
      tasks: parameters.tasks,
      closed: parameters.closed,
    },
    {
      hits: expected.hits,
      misses: expected.misses,
      maxSize: expected.maxSize ?? 128,
      currSize: expected.currSize,
      tasks: expected.tasks,
      closed: expected.closed ?? false,
    },
  );
  assert.ok(parameters.tasks <= info.currSize, "tasks never exceed currSize");
  const contains = (args: unknown[]) => {
    assert.ok(cached.cacheContains, "cacheContains, to look for entries");
    return cached.cacheContains(...args as never[]);
  };
  for (const args of expected.present ?? []) {
    assert.equal(contains(args), true, `contains ${args}`);
  }
  for (const args of expected.absent ?? []) {
    assert.equal(contains(args), false, `lacks ${args}`);
  }
  if (expected.pending !== undefined) {
    assert.ok(clock, "a clock to count pending timers on");
    assert.equal(clock.pending, expected.pending, "timers pending");
  }
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

/**
 * Makes the cache behind `cached` check that it is whole each time it is
 * about to call user code, through its one door to it: the check the rule
 * "user code runs only when the cache is whole" is made of.
 */
export function checkEachEntryToUserCode(cached: object): void {
  const cache = (cached as {
    [CACHE]?: { checkEachEntryToUserCode(): void };
  })[CACHE];
  assert.ok(cache !== undefined, "not a function made by alruCache");
  cache.checkEachEntryToUserCode();
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
 * or in the macrotask after it. If `body` fails, its error says which
 * rejections went unhandled too.
 */
export async function withoutUnhandledRejections(
  body: () => Promise<void>,
): Promise<void> {
  const unhandled = recordUnhandledRejections();
  let failure: { error: unknown } | undefined;
  try {
    await body();
  } catch (error) {
    failure = { error };
  }
  try {
    await flush();
    await macrotask();
  } finally {
    unhandled.stop();
  }
  const report = `unhandled rejections: ${
    unhandled.reasons.map(String).join(", ")
  }`;
  if (failure !== undefined) {
    if (unhandled.reasons.length > 0 && failure.error instanceof Error) {
      failure.error.message += `\n(and ${report})`;
    }
    throw failure.error;
  }
  assert.deepEqual(unhandled.reasons, [], report);
}

/**
 * Waits for one turn of the event loop, in which unhandled rejections are
 * reported and finalisers run.
 */
export function macrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** `globalThis.gc`; fails unless the test runs with `--v8-flags=--expose-gc`. */
export function requireGc(): () => void {
  const gc = (globalThis as { gc?: () => void }).gc;
  assert.ok(gc, "run with --v8-flags=--expose-gc");
  return gc;
}

/**
 * Watches objects for their collection: register each under a name, drop
 * every other reference to them, then ask which are still uncollected.
 */
export class FinalizationWatch {
  readonly #watched: string[] = [];
  readonly #finalised = new Set<string>();
  readonly #registry = new FinalizationRegistry<string>((name) => {
    this.#finalised.add(name);
  });

  /** Watches `target` under `name`. */
  watch(target: object, name: string): void {
    this.#registry.register(target, name);
    this.#watched.push(name);
  }

  /**
   * Collects garbage, a round at a time (finalisers run as tasks of their
   * own, after a collection), until every watched object was finalised or 50
   * rounds have passed; returns the names of those that were not.
   */
  async uncollected(): Promise<string[]> {
    const gc = requireGc();
    const left = () =>
      this.#watched.filter((name) => !this.#finalised.has(name));
    for (let round = 0; round < 50 && left().length > 0; round++) {
      gc();
      await macrotask();
    }
    return left();
  }
}

/** What a call followed by {@linkcode track} or {@linkcode attempt} has done. */
export type Outcome<T> =
  | { state: "pending" }
  | { state: "fulfilled"; value: T }
  | { state: "rejected"; reason: unknown }
  /** The call threw instead of returning a promise. */
  | { state: "threw"; error: unknown };

/** A call's outcome, as it is now. */
export interface Tracked<T> {
  readonly outcome: Outcome<T>;
}

/** Follows a promise without ever leaving its rejection unhandled. */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const box: { outcome: Outcome<T> } = { outcome: { state: "pending" } };
  promise.then(
    (value) => {
      box.outcome = { state: "fulfilled", value };
    },
    (reason) => {
      box.outcome = { state: "rejected", reason };
    },
  );
  return box;
}

/**
 * Makes a call and tracks it; a call that throws synchronously, or returns
 * something other than a promise, is recorded as `threw` rather than ending
 * the test.
 */
export function attempt<T>(call: () => Promise<T>): Tracked<T> {
  let promise: Promise<T>;
  try {
    promise = call();
  } catch (error) {
    return { outcome: { state: "threw", error } };
  }
  if (!(promise instanceof Promise)) {
    return {
      outcome: {
        state: "threw",
        error: new TypeError(`the call returned ${String(promise)}`),
      },
    };
  }
  return track(promise);
}

/** Checks that the call fulfilled with `value` itself (`Object.is`). */
export function assertFulfilled<T>(
  tracked: Tracked<T>,
  value: T,
  message?: string,
): void {
  assert.deepEqual(tracked.outcome, { state: "fulfilled", value }, message);
  if (tracked.outcome.state === "fulfilled") {
    assert.ok(Object.is(tracked.outcome.value, value), message);
  }
}

/** Checks that the call rejected with `reason` itself (`Object.is`). */
export function assertRejected(
  tracked: Tracked<unknown>,
  reason: unknown,
  message?: string,
): void {
  assert.equal(tracked.outcome.state, "rejected", message);
  if (tracked.outcome.state === "rejected") {
    assert.ok(
      Object.is(tracked.outcome.reason, reason),
      `${message ?? "rejection"}: expected ${String(reason)}, got ${
        String(tracked.outcome.reason)
      }`,
    );
  }
}

/** Checks that the call rejected with a DOMException named AbortError. */
export function assertAbortError(
  tracked: Tracked<unknown>,
  message?: string,
): void {
  assert.equal(tracked.outcome.state, "rejected", message);
  if (tracked.outcome.state === "rejected") {
    const reason = tracked.outcome.reason;
    assert.ok(reason instanceof DOMException, message);
    assert.equal(reason.name, "AbortError", message);
  }
}

/** What {@linkcode watchListeners} counts. */
export interface ListenerCount {
  /** Listeners on the signal now. */
  readonly count: number;
  /** Listeners ever added. */
  readonly added: number;
  /** The most listeners there were at once. */
  readonly peak: number;
}

type Listener = EventListenerOrEventListenerObject;

/**
 * Counts the listeners on `signal` from now on, including `once` listeners,
 * which leave on their own when the signal aborts.
 */
export function watchListeners(signal: AbortSignal): ListenerCount {
  const live = new Map<Listener, EventListener>();
  let added = 0;
  let peak = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((
    type: string,
    listener: Listener,
    options?: boolean | AddEventListenerOptions,
  ) => {
    const known = live.get(listener);
    if (known !== undefined) {
      add(type, known, options);
      return;
    }
    const once = typeof options === "object" && options.once === true;
    const proxy: EventListener = (event) => {
      if (once) live.delete(listener);
      if (typeof listener === "function") listener.call(signal, event);
      else listener.handleEvent(event);
    };
    live.set(listener, proxy);
    added++;
    peak = Math.max(peak, live.size);
    add(type, proxy, options);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((
    type: string,
    listener: Listener,
    options?: boolean | EventListenerOptions,
  ) => {
    const proxy = live.get(listener);
    if (proxy === undefined) {
      remove(type, listener, options);
      return;
    }
    live.delete(listener);
    remove(type, proxy, options);
  }) as typeof signal.removeEventListener;
  return {
    get count() {
      return live.size;
    },
    get added() {
      return added;
    },
    get peak() {
      return peak;
    },
  };
}

/** The environment variable `name`, or undefined if unset or not readable. */
export function envVar(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env
  }
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
  "runFailures",
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

// The counter each event type steps, one to one.
const COUNTER_OF: Record<string, keyof Stats> = {
  hit: "hits",
  miss: "misses",
  stale: "staleHits",
  errorHit: "errorHits",
  refresh: "refreshes",
  refreshFailure: "refreshFailures",
  error: "runFailures",
  evict: "evictions",
  expire: "expirations",
  invalidate: "invalidations",
};

/** The counters that `events` step, counted by type. */
export function countersOfEvents(
  events: readonly { type: string }[],
): Stats {
  const counted = { ...ZERO_STATS };
  for (const { type } of events) counted[COUNTER_OF[type]]++;
  return counted;
}

/** Compares all ten counters; those not given must be 0. */
export function assertStats(
  cached: { cacheStats(): Stats },
  expected: Partial<Stats>,
): void {
  assert.deepEqual(statsOf(cached), { ...ZERO_STATS, ...expected });
}

/** A value of the functions that {@linkcode pendingRunsCache} wraps. */
export interface Version {
  version: number;
}

/** One run of the function {@linkcode pendingRunsCache} wraps. */
export interface PendingRun {
  key: string;
  /** The clock's time when it started. */
  at: number;
  /** Settles it; nothing else does. */
  settle: Deferred<Version>;
}

/** An event as {@linkcode pendingRunsCache} logs it. */
export interface SeenEvent {
  type: string;
  key: unknown;
}

/** An expected {@linkcode SeenEvent}, for the key "a" unless told. */
export const seen = (type: string, key: unknown = "a"): SeenEvent => ({
  type,
  key,
});

/**
 * A cache with `options` on a manual clock, over a function whose runs wait
 * for the test, and the log of its events: each assertion can then say
 * exactly when a run starts and what its callers get.
 */
export function pendingRunsCache(options: AlruCacheOptions<[string]>) {
  const clock = new ManualClock();
  const runs: PendingRun[] = [];
  const events: SeenEvent[] = [];
  const fn = (key: string): Promise<Version> => {
    const settle = deferred<Version>();
    runs.push({ key, at: clock.now(), settle });
    return settle.promise;
  };
  const onEvent = (event: { type: string; key: unknown }) => {
    events.push({ type: event.type, key: event.key });
  };
  /** Settles the newest run with `outcome`; `call` is made before it is read. */
  const answer = <T>(
    call: Promise<T>,
    outcome: Version | Error,
  ): Promise<T> => {
    const run = runs.at(-1)!;
    if (outcome instanceof Error) run.settle.reject(outcome);
    else run.settle.resolve(outcome);
    return call;
  };
  const cached = alruCache(fn, { ...options, clock, onEvent });
  return { cached, clock, runs, events, answer };
}

/**
 * A ManualClock that records the delay of every timer armed on it and fails
 * past ten of them, so that a timer re-armed in a loop fails the test
 * instead of hanging it.
 */
export class ArmingLogClock extends ManualClock {
  readonly delays: number[] = [];
  override setTimeout(callback: () => void, delay: number): number {
    this.delays.push(delay);
    if (this.delays.length > 10) {
      throw new Error(
        `${this.delays.length} timers armed: the timer re-arms in a loop`,
      );
    }
    return super.setTimeout(callback, delay);
  }
}
