/**
 * Leak soak: pushes many calls through caches and checks that nothing piles
 * up. Three checks, each exported for `tests/soak_test.ts`, which runs them at
 * a tenth of the scale:
 *
 * 1. Distinct keys: 1,000,000 keys through a cache of 1,000 entries with a
 *    ttl on a {@linkcode ManualClock}, time moving 1 ms per key so that
 *    entries both expire and are evicted. The heap after GC at the end stays
 *    within 10% of the heap after GC at 100,000 keys.
 * 2. Rejections: 100,000 keys whose calls reject leave no entry, and the key
 *    objects and rejection reasons are all collected while the cache lives.
 * 3. One long-lived AbortSignal across 100,000 `withSignal` calls: every
 *    listener added to it is removed again, and the heap stays flat.
 *
 * Run with `deno task soak` (full scale) or `deno task soak 0.1` (a tenth).
 * Needs `--v8-flags=--expose-gc`. Prints the numbers; exits with 1 if a check
 * fails.
 *
 * @module
 */

import { alruCache, ManualClock } from "../mod.ts";

const MB = 1024 * 1024;

/** What every check returns: its numbers, and what went wrong (if anything). */
export interface CheckResult {
  /** The check's name. */
  name: string;
  /** Measurements, for printing. */
  numbers: Record<string, number | string | boolean>;
  /** One line per failed expectation; empty when the check passed. */
  failures: string[];
  /** Wall-clock time the check took, in milliseconds. */
  elapsedMs: number;
}

/**
 * How much the heap may grow between the baseline and the end: the larger of
 * `ratio` of the baseline and `minimumBytes`.
 */
export interface HeapTolerance {
  /** Allowed growth as a fraction of the baseline heap, e.g. `0.1`. */
  ratio: number;
  /** Allowed growth in bytes whatever the baseline, e.g. 1 MB. */
  minimumBytes: number;
  /**
   * What `ratio` applies to. `"process"`: the whole heap at the baseline.
   * `"check"`: only what the check added to it, the baseline minus the heap
   * before the check began; use it where the process holds much that is not
   * the cache's (under `deno test`, the Node compatibility layer that
   * `node:assert` loads makes the heap about 80 MB, and 10% of it would hide
   * a leak of 8 MB).
   */
  relativeTo: "process" | "check";
}

function requireGc(): () => void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== "function") {
    throw new Error(
      "globalThis.gc is missing: run with --v8-flags=--expose-gc",
    );
  }
  return gc;
}

function macrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * The heap in use after garbage collection. One `gc()` can leave garbage
 * behind (weak collections are cleared in a later cycle, finalisers and
 * promise reactions run as tasks of their own), so this collects several
 * times with a turn of the event loop in between, and returns the lowest of
 * a few readings.
 */
export async function settledHeapUsed(): Promise<number> {
  const gc = requireGc();
  let lowest = Infinity;
  for (let reading = 0; reading < 3; reading++) {
    for (let round = 0; round < 3; round++) {
      gc();
      await macrotask();
    }
    gc();
    lowest = Math.min(lowest, Deno.memoryUsage().heapUsed);
  }
  return lowest;
}

function heapVerdict(
  failures: string[],
  what: string,
  heaps: { start: number; baseline: number; final: number },
  tolerance: HeapTolerance,
): number {
  const { start, baseline, final } = heaps;
  const base = tolerance.relativeTo === "process" ? baseline : baseline - start;
  const allowed = Math.max(
    Math.max(base, 0) * tolerance.ratio,
    tolerance.minimumBytes,
  );
  if (final > baseline + allowed) {
    failures.push(
      `${what}: heap grew from ${mib(baseline)} to ${
        mib(final)
      }, more than the ${mib(allowed)} allowed`,
    );
  }
  return allowed;
}

function checkBaselineAt(baselineAt: number, total: number): void {
  if (!(baselineAt >= 1 && baselineAt < total)) {
    throw new RangeError(
      `baselineAt must be at least 1 and less than ${total}; received ${baselineAt}`,
    );
  }
}

function mib(bytes: number): string {
  return `${(bytes / MB).toFixed(2)} MiB`;
}

/** A small seeded PRNG (mulberry32), so that every run draws the same numbers. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options of {@linkcode checkDistinctKeys}. */
export interface DistinctKeysOptions {
  /** How many distinct keys go through the cache. */
  keys: number;
  /** After how many keys the baseline heap is read. */
  baselineAt: number;
  /** Allowed heap growth from the baseline to the end. */
  tolerance: HeapTolerance;
}

/**
 * Check 1: distinct keys through a bounded cache with a ttl. Every key is
 * called twice at once (a miss, then a hit joining the work in flight), with
 * three kinds of key in turn: a number, an object (both one-argument keys)
 * and a pair of arguments (an interned argument-list key). The clock moves
 * 1 ms per key and entries live 900 to 1,100 ms, so with 1,000 entries at
 * most, some entries expire and others are evicted.
 */
export async function checkDistinctKeys(
  options: DistinctKeysOptions,
): Promise<CheckResult> {
  const started = performance.now();
  const failures: string[] = [];
  const start = await settledHeapUsed();
  const maxSize = 1_000;
  const clock = new ManualClock();
  const cached = alruCache(
    async (key: unknown, second?: unknown) => {
      await Promise.resolve();
      // A value of a few hundred bytes, so that a retained entry shows.
      return { key, second, payload: new Array(16).fill(0) };
    },
    { maxSize, ttl: 900, jitter: 200, random: seededRandom(1), clock },
  );

  checkBaselineAt(options.baselineAt, options.keys);
  let expired = 0;
  let evicted = 0;
  let baseline = NaN;
  let peakSize = 0;
  for (let i = 0; i < options.keys; i++) {
    const before = cached.cacheInfo().currSize;
    clock.advance(1);
    const after = cached.cacheInfo().currSize;
    expired += before - after;
    if (after === maxSize) evicted++;

    const kind = i % 3;
    let pair: [unknown, unknown];
    if (kind === 0) pair = await Promise.all([cached(i), cached(i)]);
    else if (kind === 1) {
      const key = { i };
      pair = await Promise.all([cached(key), cached(key)]);
    } else {
      const name = `key ${i}`;
      pair = await Promise.all([cached(name, i), cached(name, i)]);
    }
    if (pair[0] !== pair[1]) {
      failures.push(`key ${i}: the two callers got different values`);
      break;
    }
    peakSize = Math.max(peakSize, cached.cacheInfo().currSize);
    if (i + 1 === options.baselineAt) baseline = await settledHeapUsed();
  }
  const final = await settledHeapUsed();

  const info = cached.cacheInfo();
  const expect = (what: string, actual: number, expected: number) => {
    if (actual !== expected) {
      failures.push(`${what}: expected ${expected}, got ${actual}`);
    }
  };
  expect("misses", info.misses, options.keys);
  expect("hits", info.hits, options.keys);
  expect(
    "expired + evicted + currSize",
    expired + evicted + info.currSize,
    options.keys,
  );
  if (peakSize > maxSize) failures.push(`currSize reached ${peakSize}`);
  if (expired === 0) failures.push("no entry expired");
  if (evicted === 0) failures.push("no entry was evicted");
  const allowed = heapVerdict(
    failures,
    "distinct keys",
    { start, baseline, final },
    options.tolerance,
  );

  // Nothing is left behind once the cache is cleared.
  cached.cacheClear();
  if (clock.pending !== 0) {
    failures.push(`${clock.pending} timers left after cacheClear()`);
  }

  return {
    name: "distinct keys",
    numbers: {
      keys: options.keys,
      baselineAt: options.baselineAt,
      heapBefore: mib(start),
      heapAtBaseline: mib(baseline),
      heapAtEnd: mib(final),
      growth: mib(final - baseline),
      allowed: mib(allowed),
      expired,
      evicted,
      currSize: info.currSize,
      hits: info.hits,
      misses: info.misses,
    },
    failures,
    elapsedMs: performance.now() - started,
  };
}

/** Options of {@linkcode checkRejections}. */
export interface RejectionsOptions {
  /** How many keys, each with its own key object and rejection reason. */
  keys: number;
  /** Most rounds of `gc()` and a turn of the event loop to wait for finalisers. */
  maxRounds?: number;
}

/**
 * Check 2: keys whose calls reject. Each key is a fresh object, called twice
 * at once (both callers must get the same reason), in turn as a one-argument
 * key and as the first of two arguments. The cache is unbounded and has a
 * ttl, so only the rule "rejections are never cached" can empty it. The key
 * objects and reasons are registered with a FinalizationRegistry and must all
 * be collected while the cache is still alive.
 */
export async function checkRejections(
  options: RejectionsOptions,
): Promise<CheckResult> {
  const started = performance.now();
  const gc = requireGc();
  const failures: string[] = [];
  const collected = { key: 0, reason: 0 };
  const registry = new FinalizationRegistry<"key" | "reason">((kind) => {
    collected[kind]++;
  });
  const clock = new ManualClock();
  const cached = alruCache(
    async (key: { i: number }, _tag?: string) => {
      await Promise.resolve();
      throw new Error(`rejected ${key.i}`);
    },
    { maxSize: Infinity, ttl: 60_000, clock },
  );

  // In a function of its own, so that no local of the loop outlives it.
  await (async () => {
    for (let i = 0; i < options.keys; i++) {
      const key = { i };
      const calls = i % 2 === 0
        ? [cached(key), cached(key)]
        : [cached(key, "tag"), cached(key, "tag")];
      const outcomes = await Promise.allSettled(calls);
      const [first, second] = outcomes.map((outcome) =>
        outcome.status === "rejected" ? outcome.reason : undefined
      );
      if (!(first instanceof Error) || first !== second) {
        failures.push(`key ${i}: the callers did not get one same reason`);
        return;
      }
      registry.register(key, "key");
      registry.register(first, "reason");
    }
  })();

  const info = cached.cacheInfo();
  const tasks = cached.cacheParameters().tasks;
  if (info.currSize !== 0) failures.push(`currSize is ${info.currSize}`);
  if (tasks !== 0) failures.push(`${tasks} tasks still in flight`);
  if (info.misses !== options.keys || info.hits !== options.keys) {
    failures.push(`hits ${info.hits}, misses ${info.misses}`);
  }
  if (clock.pending !== 0) failures.push(`${clock.pending} timers pending`);

  const maxRounds = options.maxRounds ?? 50;
  let rounds = 0;
  while (
    rounds < maxRounds &&
    (collected.key < options.keys || collected.reason < options.keys)
  ) {
    rounds++;
    gc();
    await macrotask();
  }
  if (collected.key !== options.keys) {
    failures.push(
      `${
        options.keys - collected.key
      } of ${options.keys} key objects not collected after ${rounds} rounds`,
    );
  }
  if (collected.reason !== options.keys) {
    failures.push(
      `${
        options.keys - collected.reason
      } of ${options.keys} rejection reasons not collected after ${rounds} rounds`,
    );
  }
  // The cache is still alive here: what was collected was not held by it.
  const stillEmpty = cached.cacheInfo().currSize === 0;

  return {
    name: "rejections",
    numbers: {
      keys: options.keys,
      currSize: info.currSize,
      tasks,
      hits: info.hits,
      misses: info.misses,
      keysCollected: collected.key,
      reasonsCollected: collected.reason,
      gcRounds: rounds,
      cacheAliveAndEmpty: stillEmpty,
    },
    failures,
    elapsedMs: performance.now() - started,
  };
}

/** Options of {@linkcode checkLongLivedSignal}. */
export interface LongLivedSignalOptions {
  /** How many `withSignal` calls, made in pairs for one key at a time. */
  calls: number;
  /** After how many calls the baseline heap is read. */
  baselineAt: number;
  /** Allowed heap growth from the baseline to the end. */
  tolerance: HeapTolerance;
}

/**
 * Check 3: one AbortSignal, never aborted while the calls run, given to every
 * `withSignal` call. Its `addEventListener` and `removeEventListener` are
 * wrapped to count listeners. Keys are drawn from 1,500 in a cache of 1,000
 * with `signal: true`, so calls are misses (with eviction), joins of work in
 * flight and hits on settled entries. Every listener added must be removed by
 * the end, a settled hit adds none, and the heap stays flat.
 */
export async function checkLongLivedSignal(
  options: LongLivedSignalOptions,
): Promise<CheckResult> {
  const started = performance.now();
  const failures: string[] = [];
  const start = await settledHeapUsed();
  const controller = new AbortController();
  const signal = controller.signal;
  const live = new Set<unknown>();
  let adds = 0;
  let removes = 0;
  let peakLive = 0;
  const add = signal.addEventListener;
  const remove = signal.removeEventListener;
  signal.addEventListener = function (
    this: AbortSignal,
    ...args: Parameters<AbortSignal["addEventListener"]>
  ) {
    adds++;
    live.add(args[1]);
    peakLive = Math.max(peakLive, live.size);
    return add.apply(this, args);
  } as AbortSignal["addEventListener"];
  signal.removeEventListener = function (
    this: AbortSignal,
    ...args: Parameters<AbortSignal["removeEventListener"]>
  ) {
    if (live.delete(args[1])) removes++;
    return remove.apply(this, args);
  } as AbortSignal["removeEventListener"];

  let workAborted = 0;
  const cached = alruCache(
    async (n: number, work: AbortSignal) => {
      await Promise.resolve();
      if (work.aborted) workAborted++;
      return { n };
    },
    { maxSize: 1_000, signal: true },
  );
  const random = seededRandom(3);
  let baseline = NaN;
  checkBaselineAt(options.baselineAt, options.calls);
  for (let i = 0; i < options.calls; i += 2) {
    const key = Math.floor(random() * 1_500);
    const [a, b] = await Promise.all([
      cached.withSignal(signal, key),
      cached.withSignal(signal, key),
    ]);
    if (a !== b || a.n !== key) {
      failures.push(`call ${i}: wrong or different values`);
      break;
    }
    if (i < options.baselineAt && options.baselineAt <= i + 2) {
      baseline = await settledHeapUsed();
    }
  }
  const final = await settledHeapUsed();
  const info = cached.cacheInfo();

  if (live.size !== 0) failures.push(`${live.size} listeners still attached`);
  if (adds !== removes) failures.push(`${adds} adds but ${removes} removes`);
  // One listener per caller waiting on work in flight; none for a hit on a
  // settled entry.
  if (adds > 2 * info.misses) {
    failures.push(`${adds} listeners added for ${info.misses} misses`);
  }
  if (workAborted !== 0) failures.push(`${workAborted} runs saw an abort`);
  const allowed = heapVerdict(
    failures,
    "long-lived signal",
    { start, baseline, final },
    options.tolerance,
  );

  // Aborting the signal after everything settled changes nothing.
  const sizeBefore = info.currSize;
  controller.abort();
  await macrotask();
  if (cached.cacheInfo().currSize !== sizeBefore) {
    failures.push("aborting the signal after the calls removed entries");
  }
  await cached.cacheClose();

  return {
    name: "long-lived signal",
    numbers: {
      calls: 2 * Math.ceil(options.calls / 2),
      baselineAt: options.baselineAt,
      listenersAdded: adds,
      listenersRemoved: removes,
      peakListeners: peakLive,
      listenersAtEnd: live.size,
      hits: info.hits,
      misses: info.misses,
      heapBefore: mib(start),
      heapAtBaseline: mib(baseline),
      heapAtEnd: mib(final),
      growth: mib(final - baseline),
      allowed: mib(allowed),
    },
    failures,
    elapsedMs: performance.now() - started,
  };
}

/** Every check at `scale` (1 = full: 1,000,000 distinct keys). */
export async function runSoak(
  scale: number,
  tolerance: HeapTolerance,
  report: (result: CheckResult) => void = () => {},
): Promise<CheckResult[]> {
  const count = (n: number) => Math.max(1, Math.round(n * scale));
  const results: CheckResult[] = [];
  for (
    const check of [
      () =>
        checkDistinctKeys({
          keys: count(1_000_000),
          baselineAt: count(100_000),
          tolerance,
        }),
      () => checkRejections({ keys: count(100_000) }),
      () =>
        checkLongLivedSignal({
          calls: count(100_000),
          baselineAt: count(10_000),
          tolerance,
        }),
    ]
  ) {
    const result = await check();
    report(result);
    results.push(result);
  }
  return results;
}

/**
 * The heap tolerance of `deno task soak` at `scale`: 10% of the baseline
 * heap, which is about 4 MB in a plain `deno run`. Below full scale, at least
 * 1 MB too: the checks hold a few hundred kilobytes, close to the noise of a
 * run (compiled code, inline caches, a hash table between two sizes), and a
 * leak still shows: at a tenth of the scale 90,000 keys go by after the
 * baseline, so 1 MB is about 11 bytes per key, less than any object a leak
 * would keep.
 */
export function toleranceFor(scale: number): HeapTolerance {
  return {
    ratio: 0.1,
    minimumBytes: scale >= 1 ? 0 : MB,
    relativeTo: "process",
  };
}

/** Formats a result as lines of text. */
export function formatResult(result: CheckResult): string {
  const lines = [
    `${result.failures.length === 0 ? "ok  " : "FAIL"} ${result.name} (${
      Math.round(result.elapsedMs)
    } ms)`,
  ];
  for (const [name, value] of Object.entries(result.numbers)) {
    lines.push(`     ${name}: ${value}`);
  }
  for (const failure of result.failures) lines.push(`     ! ${failure}`);
  return lines.join("\n");
}

if (import.meta.main) {
  const scale = Deno.args.length > 0 ? Number(Deno.args[0]) : 1;
  if (!(scale > 0) || scale > 10) {
    console.error(
      `usage: deno run --v8-flags=--expose-gc tools/soak.ts [scale]; scale is a number in (0, 10], 1 by default; received ${
        Deno.args[0]
      }`,
    );
    Deno.exit(2);
  }
  const started = performance.now();
  console.log(`soak at scale ${scale}`);
  const results = await runSoak(
    scale,
    toleranceFor(scale),
    (result) => console.log(formatResult(result)),
  );
  const failed = results.filter((result) => result.failures.length > 0);
  console.log(
    `${failed.length === 0 ? "passed" : "FAILED"} in ${
      Math.round(performance.now() - started)
    } ms`,
  );
  if (failed.length > 0) Deno.exit(1);
}
