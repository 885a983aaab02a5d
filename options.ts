/**
 * The options of `alruCache` and their validation.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import { describe } from "./errors.ts";
import { rejectUnknownOptions } from "./option_names.ts";
import { type StoreOptions, storeOptionsOf } from "./store_options.ts";
import { type WatchOptions, watchOptionsOf } from "./watch_options.ts";
import type { CacheEvent } from "./stats.ts";
import type { CacheStore } from "./store.ts";

/**
 * Options of {@linkcode alruCache}. All are optional. Any other own
 * enumerable key, such as a misspelt name, is rejected with a `TypeError`.
 *
 * @typeParam A The wrapped function's parameters.
 * @typeParam R What the wrapped function's result resolves to.
 */
export interface AlruCacheOptions<
  A extends unknown[] = unknown[],
  R = unknown,
> {
  /**
   * Most entries kept, in-flight ones included. `Infinity` or `null` means
   * unbounded; `0` keeps nothing, so every call runs the function.
   *
   * @default {128}
   */
  maxSize?: number | null;
  /**
   * Milliseconds an entry lives after its call settles successfully, plus
   * any `jitter`: `0` without jitter drops it as it settles, which still
   * shares concurrent calls. Unset, `null` or `Infinity` means entries never
   * expire. A function takes the lifetime from the value (a token's expiry,
   * say), jitter added, and its `0` drops the entry at once; it must return
   * a non-negative number, or those callers reject with a `RangeError`.
   */
  ttl?: number | null | ((value: R, args: A) => number);
  /**
   * Milliseconds of random extra lifetime, uniform in `[0, jitter)` and drawn
   * per entry, so that entries made together do not all expire together.
   * Finite, and needs `ttl`.
   */
  jitter?: number | null;
  /**
   * Derives the cache key from a call's arguments; keys are compared with
   * SameValueZero. By default one argument is its own key and longer or
   * shorter lists are compared position by position.
   */
  key?(...args: A): unknown;
  /**
   * Where time and timers come from, such as a {@linkcode ManualClock} in
   * tests. A cache given a clock is bound to it for good.
   *
   * @default {the runtime's timers, unref'd}
   */
  clock?: Clock;
  /**
   * Source of uniform random numbers in `[0, 1)` for jitter, and for the
   * `"tinylfu"` policy's hash seed and rare random admissions.
   *
   * @default {Math.random for jitter; crypto.getRandomValues for the policy}
   */
  random?: () => number;
  /**
   * Which entry goes when the cache is full: `"lru"`, the least recently
   * used (Python's choice); or `"tinylfu"`, W-TinyLFU, which admits a new
   * entry into a full cache only if it has been asked for more often than
   * the entry it would displace, so that one-off keys and scans do not flush
   * popular ones.
   *
   * @default {"lru"}
   */
  policy?: "lru" | "tinylfu";
  /**
   * Whether the function takes an `AbortSignal` for the shared work, as an
   * argument after the caller's. It aborts when every caller waiting on the
   * work has aborted before it settled, or when the cache is closed without
   * waiting. Keys are made from the caller's arguments only.
   *
   * @default {false}
   */
  signal?: boolean;
  /**
   * Asked once when a run of the function succeeds, refreshes included:
   * `false` drops the entry after its callers get the value. A throw drops
   * it too, and rejects those callers with the error.
   */
  shouldCache?(value: R, args: A): boolean;
  /**
   * Milliseconds a rejection is kept, or a function of the reason that says
   * so. While kept, calls for the key are hits that reject with the same
   * reason, and no run starts. `0` keeps nothing.
   *
   * @default {0}
   */
  errorTtl?: number | null | ((error: unknown, args: A) => number);
  /**
   * Milliseconds an entry stays, stale, after its lifetime ends. A call for
   * a stale entry resolves at once with its value and starts one refresh in
   * the background, which every call during it shares. Needs `ttl`.
   */
  staleWhileRevalidate?: number | null;
  /**
   * Milliseconds after its lifetime ends during which a value still answers
   * the callers of a run that fails to replace it. Needs `ttl`.
   */
  staleIfError?: number | null;
  /**
   * Told of each step of each counter of `cacheStats()`, one event per step
   * (see {@linkcode CacheEvent}): hits, misses, stale and error hits,
   * refreshes and their failures, failed runs, evictions, expiries,
   * invalidations and store errors. Called synchronously, once the cache is
   * whole; it may call the cache. If it throws, the error is reported once
   * per cache through `console.error`, and the call goes on.
   */
  onEvent?(event: CacheEvent): void;
  /**
   * Most total weight of the entries held, as `weigher` weighs their values;
   * needs `weigher`. Past it, entries are evicted least recently used first,
   * passing over those that weigh nothing (in flight, kept failures), each
   * counted in `evictions`. A value heavier than `maxWeight` is delivered but
   * not kept. `Infinity` tracks weights and evicts nothing for them; `null`
   * is unset. With a store, it bounds this process's entries only.
   */
  maxWeight?: number | null;
  /**
   * The weight of a value about to be kept: called once per value a miss,
   * a refresh or a store read keeps, after `shouldCache` and `ttl`. It must
   * return a finite number `>= 0`; if it throws or returns anything else,
   * the value is still delivered but not kept, and the first such failure is
   * reported through `console.error`. Needs `maxWeight`.
   */
  weigher?(value: R, args: A): number;
  /**
   * A store shared with other processes (see `redisStore` in `./redis` and
   * `kvStore` in `./kv`): a key missing here is read from it, or computed
   * once across every process that shares it. Needs `ttl`. With a store,
   * keys are strings (see `key`), values pass through `serialize`, and
   * `cacheInvalidate` and `cacheClear` return promises.
   */
  store?: CacheStore;
  /**
   * Milliseconds a process holds a key's lease while it computes the value;
   * renewed while the function runs. Needs `store`.
   *
   * @default {10000}
   */
  lease?: number;
  /**
   * Milliseconds each store operation may take before the call goes on
   * without the store. Needs `store`.
   *
   * @default {250}
   */
  storeTimeout?: number;
  /**
   * Most milliseconds a process keeps its copy of a shared value when the
   * store cannot tell it of other processes' invalidations. Needs `store`.
   *
   * @default {1000}
   */
  localTtl?: number;
  /**
   * Consecutive store failures (errors or timeouts) after which the circuit
   * breaker opens: calls stop asking the store, and go straight to this
   * process's entries and the function, until `breakerCooldown` has passed.
   * `Infinity` never opens it. Needs `store`.
   *
   * @default {5}
   */
  breakerThreshold?: number;
  /**
   * Milliseconds the open circuit breaker waits before it lets one call try
   * the store again; the breaker closes when the store answers, and stays
   * open for another cool-down when it does not. Needs `store`.
   *
   * @default {5000}
   */
  breakerCooldown?: number;
  /**
   * Turns a value into the text the store keeps; throws a `TypeError` for a
   * value it cannot keep. Needs `store`.
   *
   * @default {JSON, with undefined kept}
   */
  serialize?(value: R): string;
  /**
   * Turns the store's text back into a value, which is served as it is.
   * Needs `store`.
   *
   * @default {JSON, with undefined kept}
   */
  deserialize?(text: string): unknown;
  /**
   * Names the cache in `cacheParameters()`, its events, its traces and its
   * errors' messages. Not empty.
   *
   * @default {the function's name, else "anonymous"}
   */
  name?: string;
  /**
   * Milliseconds after which the callers of a miss still waiting get the
   * key's last good value (its `staleIfError` fallback), while the run goes
   * on and stores its value when it comes. Needs `staleIfError`; less than
   * `hardTimeout`.
   */
  softTimeout?: number | null;
  /**
   * Most milliseconds a caller waits on running work, from its own call;
   * then it alone rejects with a `DOMException` named `"TimeoutError"`. The
   * work goes on for the others; with `signal: true`, its signal aborts once
   * no caller waits any more.
   */
  hardTimeout?: number | null;
}

/** Options after validation, with defaults applied. */
export interface ResolvedOptions extends StoreOptions, WatchOptions {
  maxSize: number;
  ttl: number | undefined;
  jitter: number | undefined;
  key: ((...args: unknown[]) => unknown) | undefined;
  clock: Clock | undefined;
  random: () => number;
  /** The `random` option as given: the policy draws from it only then. */
  givenRandom: (() => number) | undefined;
  /** `undefined` when not given, which is `"lru"`. */
  policy: "lru" | "tinylfu" | undefined;
  signal: boolean;
  ttlOf: ((value: unknown, args: unknown[]) => unknown) | undefined;
  shouldCache: ((value: unknown, args: unknown[]) => unknown) | undefined;
  errorTtl: number | undefined;
  errorTtlOf: ((error: unknown, args: unknown[]) => unknown) | undefined;
  staleWhileRevalidate: number | undefined;
  staleIfError: number | undefined;
  onEvent: ((event: CacheEvent) => void) | undefined;
  maxWeight: number | undefined;
  weigher: ((value: unknown, args: unknown[]) => unknown) | undefined;
  serialize: ((value: unknown) => string) | undefined;
  deserialize: ((text: string) => unknown) | undefined;
  /**
   * Whether a store's reads of a turn are gathered into one call of its
   * `readOrLeaseMany`: set by `alruBatch`, never an option.
   */
  readsMany: boolean;
}

const DEFAULT_MAX_SIZE = 128;

/**
 * The names of the options of {@linkcode AlruCacheOptions}: the one list.
 * `satisfies` makes the compiler insist that it names exactly those options,
 * so a new option is accepted once it is declared there and added here.
 */
export const OPTION_NAMES: readonly string[] = Object.keys(
  {
    maxSize: true,
    ttl: true,
    jitter: true,
    key: true,
    clock: true,
    random: true,
    policy: true,
    signal: true,
    shouldCache: true,
    errorTtl: true,
    staleWhileRevalidate: true,
    staleIfError: true,
    onEvent: true,
    maxWeight: true,
    weigher: true,
    store: true,
    lease: true,
    storeTimeout: true,
    localTtl: true,
    breakerThreshold: true,
    breakerCooldown: true,
    serialize: true,
    deserialize: true,
    name: true,
    softTimeout: true,
    hardTimeout: true,
  } satisfies Record<keyof AlruCacheOptions, true>,
);

function optionalNumber(
  name: string,
  value: unknown,
  { finite }: { finite: boolean },
): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number") {
    throw new TypeError(
      `alruCache option "${name}" must be a number; received ${
        describe(value)
      }`,
    );
  }
  if (!(value >= 0) || (finite && value === Infinity)) {
    throw new RangeError(
      `alruCache option "${name}" must be a ${
        finite ? "finite, " : ""
      }non-negative number of milliseconds; received ${value}`,
    );
  }
  return value;
}

// Options that act on an entry's lifetime mean nothing without one.
function requireTtl(
  name: string,
  value: number | undefined,
  timed: boolean,
): void {
  if (value !== undefined && !timed) {
    throw new TypeError(
      `alruCache option "${name}" is set without "ttl" (${name} requires ttl); received ${name} ${value}`,
    );
  }
}

function optionalFunction<F>(name: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "function") {
    throw new TypeError(
      `alruCache option "${name}" must be a function; received ${
        describe(value)
      }`,
    );
  }
  return value as F;
}

function maxSizeOf(value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_SIZE;
  if (value === null) return Infinity;
  if (typeof value !== "number") {
    throw new TypeError(
      `alruCache option "maxSize" must be a number, Infinity or null; received ${
        describe(value)
      }`,
    );
  }
  if (value !== Infinity && !(Number.isInteger(value) && value >= 0)) {
    throw new RangeError(
      `alruCache option "maxSize" must be a non-negative integer, Infinity or null; received ${value}`,
    );
  }
  return value;
}

// A weight bound and its weigher mean nothing apart.
function weighingOf(
  given: Record<string, unknown>,
): Pick<ResolvedOptions, "maxWeight" | "weigher"> {
  const value = given.maxWeight ?? undefined;
  if (value !== undefined && typeof value !== "number") {
    throw new TypeError(
      `alruCache option "maxWeight" must be a number, Infinity or null; received ${
        describe(value)
      }`,
    );
  }
  if (value !== undefined && !(value >= 0)) {
    throw new RangeError(
      `alruCache option "maxWeight" must be a non-negative number, Infinity or null; received ${value}`,
    );
  }
  const weigher = optionalFunction<ResolvedOptions["weigher"]>(
    "weigher",
    given.weigher,
  );
  if ((value === undefined) !== (weigher === undefined)) {
    const [set, unset] = value === undefined
      ? ["weigher", "maxWeight"]
      : ["maxWeight", "weigher"];
    throw new TypeError(
      `alruCache option "${set}" is set without "${unset}" (${set} requires ${unset}); received ${set} ${
        describe(given[set])
      }`,
    );
  }
  return { maxWeight: value, weigher };
}

function clockOf(value: unknown): Clock | undefined {
  if (value === undefined) return undefined;
  const clock = value as Partial<Clock> | null;
  const missing = ["now", "setTimeout", "clearTimeout"].filter((method) =>
    typeof clock?.[method as keyof Clock] !== "function"
  );
  if (missing.length > 0) {
    throw new TypeError(
      `alruCache option "clock" must have the methods now, setTimeout and clearTimeout; received ${
        describe(value)
      } without ${missing.join(", ")}`,
    );
  }
  return value as Clock;
}

const POLICIES = ["lru", "tinylfu"] as const;

function policyOf(value: unknown): ResolvedOptions["policy"] {
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    throw new TypeError(
      `alruCache option "policy" must be a string, "lru" or "tinylfu"; received ${
        describe(value)
      }`,
    );
  }
  if (!(POLICIES as readonly string[]).includes(value)) {
    throw new RangeError(
      `alruCache option "policy" must be "lru" or "tinylfu"; received ${
        describe(value)
      }`,
    );
  }
  return value as ResolvedOptions["policy"];
}

function signalOf(value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") {
    throw new TypeError(
      `alruCache option "signal" must be a boolean; received ${
        describe(value)
      }`,
    );
  }
  return value;
}

/** Checks `options` and applies the defaults; throws on the first bad option. */
export function resolveOptions(options: unknown): ResolvedOptions {
  if (options === undefined) options = {};
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `alruCache options must be an object; received ${describe(options)}`,
    );
  }
  // Before the values: a misspelt name is a likelier cause than a bad value.
  rejectUnknownOptions(options, OPTION_NAMES);
  const given = options as Record<string, unknown>;
  const maxSize = maxSizeOf(given.maxSize);
  // An infinite ttl means "never expire"; an infinite jitter would give a
  // draw of 0 a NaN lifetime and any other draw an endless one.
  const ttlOf = typeof given.ttl === "function"
    ? given.ttl as ResolvedOptions["ttlOf"]
    : undefined;
  const ttl = ttlOf === undefined
    ? optionalNumber("ttl", given.ttl, { finite: false })
    : undefined;
  const timed = ttl !== undefined || ttlOf !== undefined;
  const jitter = optionalNumber("jitter", given.jitter, { finite: true });
  requireTtl("jitter", jitter, timed);
  const errorTtlOf = typeof given.errorTtl === "function"
    ? given.errorTtl as ResolvedOptions["errorTtlOf"]
    : undefined;
  const errorTtl = errorTtlOf === undefined
    ? optionalNumber("errorTtl", given.errorTtl, { finite: false })
    : undefined;
  const staleWhileRevalidate = optionalNumber(
    "staleWhileRevalidate",
    given.staleWhileRevalidate,
    { finite: false },
  );
  requireTtl("staleWhileRevalidate", staleWhileRevalidate, timed);
  const staleIfError = optionalNumber("staleIfError", given.staleIfError, {
    finite: false,
  });
  requireTtl("staleIfError", staleIfError, timed);
  const { maxWeight, weigher } = weighingOf(given);
  const {
    store,
    lease,
    storeTimeout,
    localTtl,
    breakerThreshold,
    breakerCooldown,
  } = storeOptionsOf(given, timed);
  const serialize = optionalFunction<ResolvedOptions["serialize"]>(
    "serialize",
    given.serialize,
  );
  const deserialize = optionalFunction<ResolvedOptions["deserialize"]>(
    "deserialize",
    given.deserialize,
  );
  const givenRandom = optionalFunction<() => number>("random", given.random);
  const watch = watchOptionsOf(
    given,
    staleIfError !== undefined && staleIfError > 0,
  );
  return {
    ...watch,
    maxSize,
    ttl,
    ttlOf,
    jitter,
    errorTtl: errorTtl === 0 ? undefined : errorTtl,
    errorTtlOf,
    staleWhileRevalidate: staleWhileRevalidate === 0
      ? undefined
      : staleWhileRevalidate,
    staleIfError: staleIfError === 0 ? undefined : staleIfError,
    shouldCache: optionalFunction("shouldCache", given.shouldCache),
    onEvent: optionalFunction("onEvent", given.onEvent),
    maxWeight,
    weigher,
    store,
    lease,
    storeTimeout,
    localTtl,
    breakerThreshold,
    breakerCooldown,
    serialize,
    deserialize,
    key: optionalFunction("key", given.key),
    clock: clockOf(given.clock),
    random: givenRandom ?? Math.random,
    givenRandom,
    policy: policyOf(given.policy),
    signal: signalOf(given.signal),
    readsMany: false,
  };
}

/** Options of `cacheClose()`. */
export interface CloseOptions {
  /**
   * `true` waits for in-flight work and keeps its entries; `false` abandons
   * it, rejecting its callers with an `AbortError`.
   *
   * @default {false}
   */
  wait?: boolean;
}

/** Checks the options of `cacheClose()`; returns whether to wait. */
export function closeWaitOf(options: unknown): boolean {
  if (options === undefined) return false;
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `cacheClose options must be an object; received ${describe(options)}`,
    );
  }
  const wait = (options as CloseOptions).wait;
  if (wait !== undefined && typeof wait !== "boolean") {
    throw new TypeError(
      `cacheClose option "wait" must be a boolean; received ${describe(wait)}`,
    );
  }
  return wait ?? false;
}
