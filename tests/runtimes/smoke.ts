/**
 * The smoke that every runtime the README names runs against the module: on
 * Bun this source runs as it is; for Node and Chromium, tsc compiles it
 * against the per-file build, with its imports of `../../mod.ts`,
 * `../../redis.ts` and `../../memory.ts` turned into the package's own names
 * (see `build.ts`).
 *
 * It must run wherever the module does, so it uses only the language and the
 * web APIs (timers, AbortController, performance): no `node:assert`, and no
 * runtime's own globals. Every check reports
 * instead of throwing, so that one broken behaviour does not hide the others,
 * and the Deno test compares the names that ran with {@linkcode CHECK_NAMES},
 * so that a check that silently did not run also fails.
 *
 * @module
 */

import {
  alruBatch,
  alruCache,
  CacheClosedError,
  cacheOf,
  ManualClock,
} from "../../mod.ts";
import { memoryStore } from "../../memory.ts";
import { redisStore } from "../../redis.ts";

/** What a runtime reports of one check. */
export interface CheckResult {
  name: string;
  ok: boolean;
  /** Why it failed, with the stack where the runtime gives one. */
  detail?: string;
}

// Real timers, so the ttl is short and the wait for its expiry is bounded:
// a timer that never fires fails the check instead of hanging the runtime.
const REAL_TTL_MS = 100;
const REAL_EXPIRY_LIMIT_MS = 3_000;
// Timers may fire a millisecond or so before their delay on some runtimes.
const EARLY_TOLERANCE_MS = 5;

class Mismatch extends Error {
  override name = "Mismatch";
}

function show(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "number" && Object.is(value, -0)) return "-0";
  if (typeof value === "number" && !Number.isFinite(value)) {
    return String(value);
  }
  try {
    return JSON.stringify(
      value,
      (_key, item) =>
        typeof item === "number" && !Number.isFinite(item)
          ? String(item)
          : item,
    ) ?? String(value);
  } catch {
    return String(value);
  }
}

// Object.is on primitives and identity, walking arrays and plain objects:
// the values compared here are counters, lists and option records.
function same(actual: unknown, expected: unknown): boolean {
  if (Object.is(actual, expected)) return true;
  if (
    typeof actual !== "object" || actual === null ||
    typeof expected !== "object" || expected === null ||
    Array.isArray(actual) !== Array.isArray(expected) ||
    Object.getPrototypeOf(actual) !== Object.getPrototypeOf(expected)
  ) return false;
  const actualKeys = Object.keys(actual);
  const expectedKeys = Object.keys(expected);
  return actualKeys.length === expectedKeys.length &&
    expectedKeys.every((key) =>
      same(
        (actual as Record<string, unknown>)[key],
        (expected as Record<string, unknown>)[key],
      )
    );
}

function expect(actual: unknown, expected: unknown, what: string): void {
  if (!same(actual, expected)) {
    throw new Mismatch(
      `${what}: expected ${show(expected)}, got ${show(actual)}`,
    );
  }
}

/** The reason `promise` rejects with; a fulfilment is a mismatch. */
async function rejectionOf(
  promise: Promise<unknown>,
  what: string,
): Promise<unknown> {
  try {
    const value = await promise;
    throw new Mismatch(`${what}: expected a rejection, got ${show(value)}`);
  } catch (reason) {
    if (reason instanceof Mismatch) throw reason;
    return reason;
  }
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

// Lets pending promise reactions run without touching a timer.
async function flush(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function info(cached: { cacheInfo(): object }): object {
  return { ...cached.cacheInfo() };
}

const CHECKS: ReadonlyArray<readonly [string, () => Promise<void> | void]> = [
  ["repeated arguments run the function once", async () => {
    let runs = 0;
    async function square(n: number): Promise<number> {
      runs++;
      return await Promise.resolve(n * n);
    }
    const cached = alruCache(square, { maxSize: 32 });
    expect(cached.name, "square", "the wrapper's name");
    expect(cached.wrapped, square, "wrapped");
    expect(await cached(2), 4, "first call");
    expect(await cached(2), 4, "second call");
    expect(await cached(3), 9, "another argument");
    expect(runs, 2, "runs");
    expect(
      info(cached),
      { hits: 1, misses: 2, maxSize: 32, currSize: 2 },
      "info",
    );
  }],

  ["concurrent calls share one run", async () => {
    let runs = 0;
    const work = deferred<{ loaded: boolean }>();
    const load = alruCache((_id: string) => {
      runs++;
      return work.promise;
    });
    const calls = Array.from({ length: 100 }, () => load("k"));
    expect(runs, 1, "runs while in flight");
    expect(load.cacheParameters().tasks, 1, "tasks while in flight");
    const value = { loaded: true };
    work.resolve(value);
    const results = await Promise.all(calls);
    expect(results.every((result) => result === value), true, "one value");
    expect(
      info(load),
      { hits: 99, misses: 1, maxSize: 128, currSize: 1 },
      "info",
    );
    expect(load.cacheParameters().tasks, 0, "tasks once settled");
  }],

  ["a rejection reaches every caller and is not cached", async () => {
    let runs = 0;
    const cached = alruCache(async (_n: number) => {
      runs++;
      await Promise.resolve();
      throw new Error(`failure ${runs}`);
    });
    const outcomes = await Promise.allSettled([cached(1), cached(1)]);
    const reasons = outcomes.map((outcome) =>
      outcome.status === "rejected" ? outcome.reason : outcome
    );
    expect(reasons[0] instanceof Error, true, "an Error");
    expect(reasons[1], reasons[0], "the same reason for both callers");
    await flush();
    expect(cached.cacheContains(1), false, "kept after failing");
    const again = await rejectionOf(cached(1), "the next call");
    expect((again as Error).message, "failure 2", "the next call runs again");
  }],

  ["the least recently used entry is evicted first", async () => {
    const cached = alruCache(async (n: number) => await Promise.resolve(n), {
      maxSize: 3,
    });
    for (const n of [3, 4, 5, 3, 2, 1]) await cached(n);
    const present = [1, 2, 3, 4, 5].filter((n) => cached.cacheContains(n));
    expect(present, [1, 2, 3], "entries left");
    await cached(100);
    expect(cached.cacheContains(3), false, "the least recent, 3, evicted");
    expect(
      info(cached),
      { hits: 1, misses: 6, maxSize: 3, currSize: 3 },
      "info",
    );
  }],

  ["keys: f() and f(undefined) differ, NaN is NaN, 0 is -0", async () => {
    let runs = 0;
    const cached = alruCache(async (...args: unknown[]) => {
      runs++;
      return await Promise.resolve(args.length);
    }, { maxSize: Infinity });
    expect(await cached(), 0, "f()");
    expect(await cached(undefined), 1, "f(undefined)");
    await cached(NaN);
    await cached(NaN);
    await cached(0);
    await cached(-0);
    await cached(1n);
    await cached("1");
    expect(runs, 6, "runs");
    const byId = alruCache(
      async (user: { id: number; name: string }) =>
        await Promise.resolve(user.name),
      { key: (user) => user.id },
    );
    expect(await byId({ id: 7, name: "first" }), "first", "by key");
    expect(await byId({ id: 7, name: "second" }), "first", "same key");
  }],

  ["ttl with jitter on a ManualClock", async () => {
    const clock = new ManualClock();
    const cached = alruCache(async (n: number) => await Promise.resolve(n), {
      ttl: 100,
      jitter: 200,
      random: () => 0.5,
      clock,
    });
    await cached(1);
    expect(clock.pending, 1, "timers pending");
    clock.advance(199);
    expect(cached.cacheContains(1), true, "present at 199 ms");
    clock.advance(1);
    expect(cached.cacheContains(1), false, "present at 200 ms");
    expect(clock.pending, 0, "timers pending after expiry");
  }],

  ["ttl on the runtime's own timers", async () => {
    let runs = 0;
    const cached = alruCache(async (n: number) => {
      runs++;
      return await Promise.resolve(n);
    }, { ttl: REAL_TTL_MS });
    const started = performance.now();
    await cached(1);
    expect(cached.cacheContains(1), true, "present at once");
    while (
      cached.cacheContains(1) &&
      performance.now() - started < REAL_EXPIRY_LIMIT_MS
    ) {
      await sleep(10);
    }
    const elapsed = performance.now() - started;
    expect(cached.cacheContains(1), false, `present after ${elapsed} ms`);
    if (elapsed < REAL_TTL_MS - EARLY_TOLERANCE_MS) {
      throw new Mismatch(`expired after ${elapsed} ms, before the ttl`);
    }
    await cached(1);
    expect(runs, 2, "runs once expired");
  }],

  ["cacheContains, cacheInvalidate and cacheClear", async () => {
    const clock = new ManualClock();
    const load = alruCache(
      async (id: string) => await Promise.resolve(`value ${id}`),
      { ttl: 60_000, clock },
    );
    await load("a");
    await load("b");
    expect(load.cacheContains("a"), true, "contains a");
    expect(load.cacheContains("zzz"), false, "contains zzz");
    expect(load.cacheInvalidate("a"), true, "invalidate a");
    expect(load.cacheInvalidate("a"), false, "invalidate a again");
    expect(load.cacheInfo().currSize, 1, "size");
    load.cacheClear();
    expect(
      info(load),
      { hits: 0, misses: 0, maxSize: 128, currSize: 0 },
      "info",
    );
    expect(clock.pending, 0, "timers pending after clear");
  }],

  [
    "withSignal: a caller that aborts leaves, the others keep waiting",
    async () => {
      const work = deferred<string>();
      const load = alruCache((_id: number) => work.promise);
      const caller = new AbortController();
      const leaving = load.withSignal(caller.signal, 1);
      const staying = load(1);
      caller.abort();
      const reason = await rejectionOf(leaving, "the caller that aborted");
      expect(reason, caller.signal.reason, "its reason");
      work.resolve("value");
      expect(await staying, "value", "the caller that stayed");
      const gone = new Error("aborted already");
      expect(
        await rejectionOf(load.withSignal(AbortSignal.abort(gone), 2), "late"),
        gone,
        "an aborted signal rejects at once",
      );
      expect(load.cacheContains(2), false, "nothing ran for it");
    },
  ],

  [
    "signal: true: the work's signal aborts when its last caller leaves",
    async () => {
      const signals: AbortSignal[] = [];
      const search = alruCache((_query: string, signal: AbortSignal) => {
        signals.push(signal);
        return new Promise<string>((_resolve, reject) => {
          signal.addEventListener("abort", () => reject(signal.reason));
        });
      }, { signal: true });
      const first = new AbortController();
      const second = new AbortController();
      const calls = [
        search.withSignal(first.signal, "cats"),
        search.withSignal(second.signal, "cats"),
      ];
      expect(signals.length, 1, "runs");
      first.abort();
      await rejectionOf(calls[0], "the first caller");
      expect(signals[0].aborted, false, "aborted with a caller left");
      second.abort();
      await rejectionOf(calls[1], "the second caller");
      expect(signals[0].aborted, true, "aborted once nobody waits");
      expect(search.cacheContains("cats"), false, "kept");
    },
  ],

  ["cacheClose abandons running work and refuses later calls", async () => {
    const load = alruCache((_id: number) => new Promise<string>(() => {}));
    const pending = load(1);
    await load.cacheClose();
    const abandoned = await rejectionOf(pending, "the running call");
    expect((abandoned as Error).name, "AbortError", "its error");
    const refused = await rejectionOf(load(2), "a later call");
    expect(refused instanceof CacheClosedError, true, "a CacheClosedError");
    expect(load.cacheParameters().closed, true, "closed");
  }],

  ["cacheClose with wait lets running work settle and keeps it", async () => {
    const work = deferred<string>();
    const load = alruCache((_id: string) => work.promise);
    const call = load("good");
    let closed = false;
    const closing = load.cacheClose({ wait: true }).then(() => {
      closed = true;
    });
    await flush();
    expect(closed, false, "closed before the work settled");
    work.resolve("value");
    expect(await call, "value", "the running call");
    await closing;
    expect(load.cacheContains("good"), true, "kept");
  }],

  [
    "Symbol.asyncDispose closes the cache where the runtime has it",
    async () => {
      const cached = alruCache(async (n: number) => await Promise.resolve(n));
      // Runtimes without explicit resource management have no symbol to
      // dispose with: the module leaves it out, and cacheClose remains.
      if (typeof Symbol.asyncDispose !== "symbol") return;
      await cached[Symbol.asyncDispose]();
      expect(cached.cacheParameters().closed, true, "closed");
    },
  ],

  ["a decorated method caches per instance", async () => {
    class Users {
      loads = 0;

      @alruCache
      async byId(id: number): Promise<string> {
        this.loads++;
        return await Promise.resolve(`user ${id}`);
      }

      @alruCache({ maxSize: 2 })
      static async currency(): Promise<string> {
        return await Promise.resolve("EUR");
      }
    }
    const users = new Users();
    expect(await users.byId(1), "user 1", "first call");
    expect(await users.byId(1), "user 1", "second call");
    expect(users.loads, 1, "loads");
    expect(cacheOf(users.byId).cacheInfo().hits, 1, "hits");
    const other = new Users();
    await other.byId(1);
    expect(other.loads, 1, "another instance has its own cache");
    expect(await Users.currency(), "EUR", "static method");
    expect(cacheOf(Users.currency).cacheInfo().maxSize, 2, "its options");
  }],

  ["the ./redis entry point checks its options", () => {
    const error = (() => {
      try {
        redisStore({}, { namespace: "" });
      } catch (error) {
        return error;
      }
    })();
    expect(error instanceof TypeError, true, "an empty namespace is refused");
  }],

  ["the ./memory entry point: two caches share one store", async () => {
    const clock = new ManualClock();
    const store = memoryStore({ clock });
    let runs = 0;
    const load = async (id: number) => {
      runs++;
      return await Promise.resolve({ id });
    };
    const here = alruCache(load, { ttl: 60_000, store, clock });
    const there = alruCache(load, { ttl: 60_000, store, clock });
    expect((await here(1)).id, 1, "computed here");
    expect((await there(1)).id, 1, "read there from the store");
    expect(runs, 1, "one run across both");
    expect(await here.cacheInvalidate(1), true, "invalidated");
    await clock.advanceAsync(0);
    expect(there.cacheContains(1), false, "the other cache heard it");
    await Promise.all([here.cacheClose(), there.cacheClose()]);
    expect(clock.pending, 0, "no timer left");
  }],

  [
    "alruBatch: keys asked for after awaits in one macrotask share a load",
    async () => {
      const loads: number[][] = [];
      const user = alruBatch((ids: number[]) => {
        loads.push(ids);
        return Promise.resolve(ids.map((id) => `user ${id}`));
      }, { maxBatchSize: 3 });
      const resolver = async (id: number, awaits: number) => {
        for (let i = 0; i < awaits; i++) await Promise.resolve();
        return await user(id);
      };
      const values = await Promise.all([resolver(1, 0), resolver(2, 50)]);
      expect(values, ["user 1", "user 2"], "values");
      expect(loads, [[1, 2]], "one load for both");
      await sleep(0);
      expect(await user.many([2, 3, 4, 5, 6]), [
        "user 2",
        "user 3",
        "user 4",
        "user 5",
        "user 6",
      ], "many");
      expect(loads, [[1, 2], [3, 4, 5], [6]], "a hit, then batches of 3");
      await user.cacheClose();
    },
  ],
];

/** The names of the checks, in the order {@linkcode smoke} runs them. */
export const CHECK_NAMES: readonly string[] = CHECKS.map(([name]) => name);

/** Runs every check in turn and reports each. */
export async function smoke(): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const [name, check] of CHECKS) {
    try {
      await check();
      results.push({ name, ok: true });
    } catch (error) {
      const detail = error instanceof Error
        ? error.stack?.includes(error.message)
          ? error.stack
          : `${error.name}: ${error.message}\n${error.stack ?? ""}`
        : show(error);
      results.push({ name, ok: false, detail });
    }
  }
  return results;
}
