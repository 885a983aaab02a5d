/**
 * Leak soak: pushes many calls through caches and checks that nothing piles
 * up. ALRU_SOAK_SCALE sets how many: 1 is the full soak (1,000,000 distinct
 * keys, 100,000 rejecting keys, 100,000 calls with one long-lived signal),
 * which `deno task soak` runs; unset, the tests run at a tenth of that, as CI
 * does. Any scale from 0.0001 to 10 works. Needs `--v8-flags=--expose-gc`.
 *
 * Each test prints its numbers: the heap after garbage collection at the
 * baseline and at the end, and what it counted.
 */
import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import {
  envVar,
  FinalizationWatch,
  macrotask,
  requireGc,
  watchListeners,
} from "./_helpers.ts";

const SCALE = Number(envVar("ALRU_SOAK_SCALE") ?? 0.1);
if (!(SCALE >= 0.0001 && SCALE <= 10)) {
  throw new RangeError(
    `ALRU_SOAK_SCALE must be a number from 0.0001 to 10; received ${
      envVar("ALRU_SOAK_SCALE")
    }`,
  );
}

/** `n` at the soak's scale, at least 1. */
function scaled(n: number): number {
  return Math.max(1, Math.round(n * SCALE));
}

const MB = 1024 * 1024;

function mib(bytes: number): string {
  return `${(bytes / MB).toFixed(2)} MiB`;
}

function thousands(n: number): string {
  return n.toLocaleString("en-US");
}

/**
 * The heap in use after garbage collection. One `gc()` can leave garbage
 * behind (weak collections are cleared in a later cycle, finalisers and
 * promise reactions run as tasks of their own), so this collects several
 * times with a turn of the event loop in between, and returns the lowest of
 * a few readings.
 */
async function settledHeapUsed(): Promise<number> {
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

/**
 * Fails if the heap grew from the baseline to the end by more than 10% of
 * what the check itself held at the baseline (its heap then, minus the heap
 * before it began), or by 1 MB if that is more; returns what was allowed.
 * In practice the 1 MB decides.
 * - Not 10% of the whole heap: under `deno test` the process holds about
 *   80 MB that is not the cache's (the Node compatibility layer behind
 *   node:assert, the test runner), and 10% of it would let a leak of 8 MB
 *   pass.
 * - 1 MB of slack, because what a check holds (a few hundred kilobytes) is
 *   close to the noise of a run: compiled code, inline caches, a hash table
 *   between two sizes. Runs grow by under 0.1 MB.
 * - 1 MB still catches a leak: at a tenth of the scale 90,000 keys (9,000
 *   calls with a signal) go by after the baseline, so 1 MB is under 12 bytes
 *   per key (117 per call), less than any object a leak would keep (a
 *   listener left on the signal keeps a closure and a promise: about 600
 *   bytes); at full scale, ten times less.
 */
function assertHeapFlat(
  what: string,
  heaps: { start: number; baseline: number; final: number },
): number {
  const { start, baseline, final } = heaps;
  const allowed = Math.max(Math.max(baseline - start, 0) * 0.1, MB);
  assert.ok(
    final <= baseline + allowed,
    `${what}: heap grew from ${mib(baseline)} to ${mib(final)}, more than the ${
      mib(allowed)
    } allowed`,
  );
  return allowed;
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

const distinctKeys = scaled(1_000_000);
const distinctBaselineAt = scaled(100_000);

// Every key is called twice at once (a miss, then a hit joining the work in
// flight), with three kinds of key in turn: a number, an object (both
// one-argument keys) and a pair of arguments (an interned argument-list key).
// The clock moves 1 ms per key and entries live 900 to 1,100 ms, so with
// 1,000 entries at most, some entries expire and others are evicted.
Deno.test(
  `soak: ${
    thousands(distinctKeys)
  } distinct keys through 1,000 entries with a ttl keep the heap flat`,
  async () => {
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

    let expired = 0;
    let evicted = 0;
    let baseline = NaN;
    let peakSize = 0;
    for (let i = 0; i < distinctKeys; i++) {
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
      assert.equal(pair[0], pair[1], `key ${i}: the two callers' values`);
      peakSize = Math.max(peakSize, cached.cacheInfo().currSize);
      if (i + 1 === distinctBaselineAt) baseline = await settledHeapUsed();
    }
    const final = await settledHeapUsed();

    const info = cached.cacheInfo();
    console.log(
      `heap ${mib(start)} before, ${mib(baseline)} at ${
        thousands(distinctBaselineAt)
      } keys, ${
        mib(final)
      } at the end; ${expired} expired, ${evicted} evicted, ${info.currSize} left`,
    );
    assert.equal(info.misses, distinctKeys, "misses");
    assert.equal(info.hits, distinctKeys, "hits");
    assert.equal(expired + evicted + info.currSize, distinctKeys);
    assert.ok(peakSize <= maxSize, `currSize reached ${peakSize}`);
    assert.ok(expired > 0, "no entry expired");
    assert.ok(evicted > 0, "no entry was evicted");
    assertHeapFlat("distinct keys", { start, baseline, final });

    // Nothing is left behind once the cache is cleared.
    cached.cacheClear();
    assert.equal(clock.pending, 0, "timers left after cacheClear()");
  },
);

const rejectingKeys = scaled(100_000);

// Each key is a fresh object, called twice at once (both callers must get the
// same reason), in turn as a one-argument key and as the first of two
// arguments. The cache is unbounded and has a ttl, so only the rule
// "rejections are never cached" can empty it. The key objects and reasons
// must all be collected while the cache is still alive.
Deno.test(
  `soak: ${
    thousands(rejectingKeys)
  } rejecting keys leave no entry and nothing retained`,
  async () => {
    const finalisation = new FinalizationWatch();
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
      for (let i = 0; i < rejectingKeys; i++) {
        const key = { i };
        const calls = i % 2 === 0
          ? [cached(key), cached(key)]
          : [cached(key, "tag"), cached(key, "tag")];
        const [first, second] = (await Promise.allSettled(calls)).map((
          outcome,
        ) => outcome.status === "rejected" ? outcome.reason : undefined);
        assert.ok(
          first instanceof Error && first === second,
          `key ${i}: the callers did not get one same reason`,
        );
        finalisation.watch(key, `key ${i}`);
        finalisation.watch(first, `reason ${i}`);
      }
    })();

    const info = cached.cacheInfo();
    assert.equal(info.currSize, 0, "currSize");
    assert.equal(cached.cacheParameters().tasks, 0, "tasks in flight");
    assert.equal(info.misses, rejectingKeys, "misses");
    assert.equal(info.hits, rejectingKeys, "hits");
    assert.equal(clock.pending, 0, "timers pending");

    const uncollected = await finalisation.uncollected();
    console.log(
      `${2 * rejectingKeys - uncollected.length} of ${
        2 * rejectingKeys
      } key objects and reasons collected`,
    );
    assert.deepEqual(
      uncollected.slice(0, 10),
      [],
      `${uncollected.length} not collected, the first ten shown`,
    );
    // The cache is still alive here: what was collected was not held by it.
    assert.equal(cached.cacheInfo().currSize, 0);
  },
);

const signalCalls = scaled(100_000);
const signalBaselineAt = scaled(10_000);

// One AbortSignal, never aborted while the calls run, is given to every
// withSignal call. Keys are drawn from 1,500 in a cache of 1,000 with
// `signal: true`, so calls are misses (with eviction), joins of work in
// flight and hits on settled entries. Every listener added must be removed
// by the end, a settled hit adds none, and the heap stays flat.
Deno.test(
  `soak: one long-lived signal over ${
    thousands(signalCalls)
  } withSignal calls keeps no listener`,
  async () => {
    const start = await settledHeapUsed();
    const controller = new AbortController();
    const signal = controller.signal;
    const listeners = watchListeners(signal);

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
    for (let i = 0; i < signalCalls; i += 2) {
      const key = Math.floor(random() * 1_500);
      const [a, b] = await Promise.all([
        cached.withSignal(signal, key),
        cached.withSignal(signal, key),
      ]);
      assert.ok(a === b && a.n === key, `call ${i}: wrong or different values`);
      if (i < signalBaselineAt && signalBaselineAt <= i + 2) {
        baseline = await settledHeapUsed();
      }
    }
    const final = await settledHeapUsed();
    const info = cached.cacheInfo();

    console.log(
      `heap ${mib(start)} before, ${mib(baseline)} at ${
        thousands(signalBaselineAt)
      } calls, ${
        mib(final)
      } at the end; ${listeners.added} listeners added, at most ${listeners.peak} at once`,
    );
    assert.equal(listeners.count, 0, "listeners still attached");
    // One listener per caller waiting on work in flight; none for a hit on a
    // settled entry.
    assert.ok(
      listeners.added <= 2 * info.misses,
      `${listeners.added} listeners added for ${info.misses} misses`,
    );
    assert.equal(workAborted, 0, "runs that saw an abort");
    assertHeapFlat("long-lived signal", { start, baseline, final });

    // Aborting the signal after everything settled changes nothing.
    controller.abort();
    await macrotask();
    assert.equal(
      cached.cacheInfo().currSize,
      info.currSize,
      "entries removed by aborting the signal after the calls",
    );
    await cached.cacheClose();
  },
);
