/**
 * The callable face of a cache: a function with the wrapped function's
 * parameters that answers from an {@linkcode AsyncLruCache}, and carries the
 * cache's methods.
 *
 * @module
 */

import {
  AsyncLruCache,
  type CacheInfo,
  type CacheParameters,
  type CloseOptions,
} from "./cache.ts";
import { describe, type ResolvedOptions } from "./options.ts";

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
   * anything.
   */
  withSignal(signal: AbortSignal, ...args: A): Promise<R>;
  /** Hits, misses, the bound and the number of entries. */
  cacheInfo(): CacheInfo;
  /** The configuration, in-flight entries and whether the cache is closed. */
  cacheParameters(): CacheParameters;
  /**
   * Whether an entry, settled or in flight, exists for these arguments.
   * Changes neither counters nor recency.
   */
  cacheContains(...args: A): boolean;
  /**
   * Removes the entry for these arguments; says whether there was one.
   * Running work is not stopped: its callers still get its outcome.
   */
  cacheInvalidate(...args: A): boolean;
  /** Drops every entry, resets hits and misses and cancels expiry timers. */
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

  const call = function (this: unknown, ...args: unknown[]) {
    return cache.call(receiver ?? this, args);
  };
  // Calls of up to two arguments read `arguments` by index and forward it
  // untouched otherwise, so that V8 never materialises it: such a call builds
  // no argument list.
  const cached = function (this: unknown): Promise<R> {
    if (argumentKeys && arguments.length <= 2) {
      return cache.callShort(
        receiver ?? this,
        arguments.length,
        arguments[0],
        arguments[1],
      );
    }
    return call.apply(this, arguments as unknown as unknown[]);
  } as CachedFunction<A, R, F>;

  Object.defineProperties(cached, {
    name: { value: fn.name, configurable: true },
    length: { value: fn.length, configurable: true },
    wrapped: { value: fn, enumerable: true },
    cacheInfo: { value: () => cache.info(), enumerable: true },
    cacheParameters: { value: () => cache.parameters(), enumerable: true },
    cacheContains: {
      value: (...args: A) => cache.contains(receiver, args),
      enumerable: true,
    },
    cacheInvalidate: {
      value: (...args: A) => cache.invalidate(receiver, args),
      enumerable: true,
    },
    cacheClear: { value: () => cache.clear(), enumerable: true },
    cacheClose: {
      value: (closeOptions?: CloseOptions) => cache.close(closeOptions),
      enumerable: true,
    },
    withSignal: {
      value: (signal: AbortSignal, ...args: A) =>
        isAbortSignal(signal)
          ? cache.call(receiver, args, signal)
          : Promise.reject(
            new TypeError(
              `withSignal needs an AbortSignal as its first argument; received ${
                describe(signal)
              }`,
            ),
          ),
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
