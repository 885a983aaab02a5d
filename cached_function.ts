/**
 * The callable face of a cache: a function with the wrapped function's
 * parameters that answers from an {@linkcode AsyncLruCache}, and carries the
 * cache's methods.
 *
 * @module
 */

import { AsyncLruCache } from "./cache.ts";
import type { CacheInfo, CacheParameters, CacheStats } from "./stats.ts";
import { describe } from "./errors.ts";
import type { CloseOptions, ResolvedOptions } from "./options.ts";

/**
 * A function wrapped by `alruCache`: it takes the same arguments,
 * always returns a promise, and carries the cache's methods.
 *
 * @typeParam A The parameters.
 * @typeParam R What the returned promise resolves to.
 * @typeParam F The wrapped function's type.
 */
export interface CachedFunction<
  A extends unknown[],
  R,
  F = (...args: A) => R | PromiseLike<R>,
> extends AsyncDisposable {
  /** Answers from the cache, or runs the wrapped function on a miss. */
  (...args: A): Promise<R>;
  /**
   * Like a plain call, but this caller stops waiting when `signal` aborts:
   * its promise rejects with `signal.reason`, and every other caller is
   * unaffected. When every caller waiting on the same work has stopped, the
   * work's own signal aborts (see the `signal` option). An
   * already-aborted signal rejects at once, without running or counting
   * anything. `this` is passed on as by {@linkcode cacheContains}.
   */
  withSignal(signal: AbortSignal, ...args: A): Promise<R>;
  /** Hits, misses, the bound and the number of entries. */
  cacheInfo(): CacheInfo;
  /** The configuration, in-flight entries and whether the cache is closed. */
  cacheParameters(): CacheParameters;
  /**
   * Whether an entry, settled or in flight, exists for these arguments.
   * Changes neither counters nor recency.
   *
   * The key is derived as a call derives it. The `key` option gets the
   * instance as `this` for a decorated method; for a plain function it gets
   * the `this` this method is called with, as a call would pass its own
   * (`cached.cacheContains.call(obj, ...args)`), and none when called as
   * `cached.cacheContains(...args)`.
   */
  cacheContains(...args: A): boolean;
  /**
   * Removes the entry for these arguments; says whether there was one.
   * Running work is not stopped: its callers still get its outcome. The key
   * is derived as by {@linkcode cacheContains}.
   */
  cacheInvalidate(...args: A): boolean;
  /**
   * Runs the wrapped function for these arguments now, even when a fresh
   * entry exists, and stores its value as their entry, creating one if
   * needed. Joins a run for the same key already in flight. A failure
   * leaves the entry as it was and is neither kept nor answered with a stale
   * value. Counts neither a hit nor a miss. The key is derived as by
   * {@linkcode cacheContains}.
   */
  cacheRefresh(...args: A): Promise<R>;
  /**
   * Counters since creation or the last clear: hits and misses (as
   * {@linkcode cacheInfo} has them), stale hits, error hits, refreshes and
   * their failures, evictions, expirations and invalidations.
   */
  cacheStats(): CacheStats;
  /** Drops every entry, resets the counters and cancels expiry timers. */
  cacheClear(): void;
  /**
   * Closes the cache: every later call rejects with a `CacheClosedError` and
   * expiry timers are cancelled. Without `wait`, in-flight work is abandoned
   * and its callers reject with an `AbortError`; with `wait: true` the
   * promise resolves once that work has settled.
   */
  cacheClose(options?: CloseOptions): Promise<void>;
  /** The function that was wrapped. */
  readonly wrapped: F;
  /** Closes the cache without waiting, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A function wrapped by `alruCache` with a `store`: as
 * {@linkcode CachedFunction}, but invalidating and clearing reach the store
 * and the other processes, so they return promises, and `cacheStats()`
 * counts store errors.
 *
 * @typeParam A The parameters.
 * @typeParam R What the returned promise resolves to.
 * @typeParam F The wrapped function's type.
 */
export interface SharedCachedFunction<
  A extends unknown[],
  R,
  F = (...args: A) => R | PromiseLike<R>,
> extends
  Omit<
    CachedFunction<A, R, F>,
    "cacheInvalidate" | "cacheClear" | "cacheStats"
  > {
  /** Answers from the cache or the store, or runs the wrapped function. */
  (...args: A): Promise<R>;
  /**
   * Drops the entry for these arguments here and in the store, and tells the
   * other processes. Resolves once they have been told, with whether this
   * process or the store had the key; rejects if the store fails (the local
   * drop stands).
   */
  cacheInvalidate(...args: A): Promise<boolean>;
  /**
   * Drops every entry here, resets the counters, and makes every key of the
   * namespace unreachable in the store. Resolves once the other processes
   * have been told; rejects if the store fails (the local clear stands).
   */
  cacheClear(): Promise<void>;
  /** As {@linkcode CachedFunction.cacheStats}, with the store errors counted. */
  cacheStats(): Required<CacheStats>;
}

function isAbortSignal(value: unknown): value is AbortSignal {
  return typeof value === "object" && value !== null &&
    typeof (value as AbortSignal).aborted === "boolean" &&
    typeof (value as AbortSignal).addEventListener === "function";
}

const cachedFunctions = new WeakSet<object>();

/**
 * The key of a cached function's {@linkcode AsyncLruCache}, for tests that
 * check the cache's consistency from inside; not exported from `mod.ts`.
 */
export const CACHE: unique symbol = Symbol("alruCache cache");

/** Whether `value` was made by {@linkcode createCachedFunction}. */
export function isCachedFunction(
  value: unknown,
): value is CachedFunction<unknown[], unknown> {
  return typeof value === "function" && cachedFunctions.has(value);
}

/** How {@linkcode createCachedFunction} builds a cached function. */
export interface CachedFunctionSettings {
  /** Validated options of the cache. */
  options: ResolvedOptions;
  /**
   * The `this` of every call of `fn`, when the cached function belongs to
   * one object; otherwise each call passes its own `this` through.
   */
  receiver?: object;
}

/** Makes a cache for `fn` and the function that answers from it. */
export function createCachedFunction<A extends unknown[], R, F>(
  fn: F & ((...args: A) => unknown),
  settings: CachedFunctionSettings,
): CachedFunction<A, R, F> {
  const cache = new AsyncLruCache<R>(
    fn as (...args: unknown[]) => unknown,
    settings.options,
  );
  const argumentKeys = cache.usesArgumentKeys;
  const receiver = settings.receiver;

  const callWithList = function (this: unknown, ...args: unknown[]) {
    return cache.call(receiver ?? this, args);
  };
  // Calls of up to two arguments read `arguments` by index and forward it
  // untouched otherwise, so that V8 never materialises it: such a call builds
  // no argument list. Kept this small so that V8 inlines the hit path whole.
  const cached = function (this: unknown): Promise<R> {
    if (argumentKeys && arguments.length <= 2) {
      return cache.callShort(
        receiver ?? this,
        arguments.length,
        arguments[0],
        arguments[1],
      );
    }
    return callWithList.apply(this, arguments as unknown as unknown[]);
  } as CachedFunction<A, R, F>;
  // The receiver a call on `self` would pass: a method's object, or the
  // `this` of a plain function's cache method unless it is the function
  // itself (`cached.cacheContains(...)`).
  const receiverFor = (self: unknown): unknown =>
    receiver ?? (self === cached ? undefined : self);

  Object.defineProperties(cached, {
    name: { value: fn.name, configurable: true },
    length: { value: fn.length, configurable: true },
    wrapped: { value: fn, enumerable: true },
    cacheInfo: { value: () => cache.info(), enumerable: true },
    cacheParameters: { value: () => cache.parameters(), enumerable: true },
    cacheContains: {
      value: function (this: unknown, ...args: A) {
        return cache.contains(receiverFor(this), args);
      },
      enumerable: true,
    },
    cacheInvalidate: {
      value: function (this: unknown, ...args: A) {
        return cache.invalidate(receiverFor(this), args);
      },
      enumerable: true,
    },
    cacheRefresh: {
      value: function (this: unknown, ...args: A) {
        return cache.refresh(receiverFor(this), args);
      },
      enumerable: true,
    },
    cacheStats: { value: () => cache.stats(), enumerable: true },
    cacheClear: { value: () => cache.clear(), enumerable: true },
    cacheClose: {
      value: (closeOptions?: CloseOptions) => cache.close(closeOptions),
      enumerable: true,
    },
    withSignal: {
      value: function (this: unknown, signal: AbortSignal, ...args: A) {
        return isAbortSignal(signal)
          ? cache.call(receiverFor(this), args, signal)
          : Promise.reject(
            new TypeError(
              `withSignal needs an AbortSignal as its first argument; received ${
                describe(signal)
              }`,
            ),
          );
      },
      enumerable: true,
    },
  });
  Object.defineProperty(cached, CACHE, { value: cache });
  // Runtimes without explicit resource management lack the symbol.
  if (typeof Symbol.asyncDispose === "symbol") {
    Object.defineProperty(cached, Symbol.asyncDispose, {
      value: () => cache.close(),
    });
  }
  cachedFunctions.add(cached);
  return cached;
}
