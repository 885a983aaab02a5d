/**
 * An LRU cache for async functions, ported from Python's `async-lru`.
 *
 * Wrap an async function with {@linkcode alruCache}: concurrent calls with the
 * same arguments run it once, results are kept in a bounded LRU, entries can
 * expire after a ttl with jitter, and the cache can be inspected, invalidated,
 * cleared and closed.
 *
 * @example Concurrent calls share one run
 * ```ts
 * import { alruCache } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * let runs = 0;
 * const getUser = alruCache(async (id: number) => {
 *   runs++;
 *   return { id, name: `user ${id}` };
 * }, { maxSize: 32 });
 *
 * const users = await Promise.all([getUser(1), getUser(1), getUser(1)]);
 * assert.equal(runs, 1);
 * assert.equal(users[0], users[2]);
 * assert.deepEqual(getUser.cacheInfo(), {
 *   hits: 2,
 *   misses: 1,
 *   maxSize: 32,
 *   currSize: 1,
 * });
 * ```
 *
 * @module
 */

import {
  AsyncLruCache,
  type CacheInfo,
  type CacheParameters,
  type CloseOptions,
} from "./cache.ts";
import { type AlruCacheOptions, resolveOptions } from "./options.ts";

export type { Clock } from "./clock.ts";
export { ManualClock } from "./clock.ts";
export { CacheClosedError } from "./errors.ts";
export type { AlruCacheOptions } from "./options.ts";
export type { CacheInfo, CacheParameters, CloseOptions } from "./cache.ts";

/**
 * A function wrapped by {@linkcode alruCache}: it takes the same arguments,
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
   * work's own signal aborts (see {@linkcode AlruCacheOptions.signal}). An
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

/**
 * Wraps an async function (or any function returning a value, a promise or a
 * thenable) in an LRU cache.
 *
 * Calls with equal arguments share one entry: while its work runs, later
 * callers join it; once it resolves, they get its value. Rejections are never
 * cached. See {@linkcode AlruCacheOptions} for the bound, ttl, jitter, keys
 * and clock.
 *
 * @example Expiry, driven by a manual clock
 * ```ts
 * import { alruCache, ManualClock } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const getRate = alruCache(async (currency: string) => currency.length, {
 *   ttl: 60_000,
 *   clock,
 * });
 * await getRate("EUR");
 * assert.equal(getRate.cacheContains("EUR"), true);
 * clock.advance(60_000);
 * assert.equal(getRate.cacheContains("EUR"), false);
 * ```
 *
 * @example A function that takes the shared work's signal
 * ```ts
 * import { alruCache } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const started: AbortSignal[] = [];
 * const load = alruCache((id: string, signal: AbortSignal) => {
 *   started.push(signal);
 *   return new Promise<string>(() => {}); // think of a slow fetch(url, { signal })
 * }, { signal: true });
 *
 * const first = new AbortController();
 * const second = new AbortController();
 * const calls = [
 *   load.withSignal(first.signal, "a"),
 *   load.withSignal(second.signal, "a"),
 * ];
 * first.abort();
 * assert.equal(started[0].aborted, false); // the second caller still waits
 * second.abort();
 * assert.equal(started[0].aborted, true); // nobody waits: the work stops
 * await Promise.allSettled(calls);
 * assert.equal(load.cacheContains("a"), false);
 * ```
 *
 * @typeParam A The parameters of `fn`, without the trailing signal when
 * `options.signal` is `true`.
 * @typeParam R What `fn`'s result resolves to.
 * @param fn The function to cache.
 * @param options How many entries to keep, how long, and how keys are made.
 * @returns The cached function.
 * @throws {TypeError} If `fn` is not a function or an option has the wrong type.
 * @throws {RangeError} If a numeric option is out of range.
 */
export function alruCache<A extends unknown[], R>(
  fn: (...args: [...A, AbortSignal]) => R,
  options: AlruCacheOptions<A> & { signal: true },
): CachedFunction<A, Awaited<R>, (...args: [...A, AbortSignal]) => R>;
/**
 * Wraps an async function in an LRU cache; see the overload above.
 *
 * @typeParam A The parameters of `fn`.
 * @typeParam R What `fn`'s result resolves to.
 * @param fn The function to cache.
 * @param options How many entries to keep, how long, and how keys are made.
 * @returns The cached function.
 */
export function alruCache<A extends unknown[], R>(
  fn: (...args: A) => R,
  options?: AlruCacheOptions<A> & { signal?: false },
): CachedFunction<A, Awaited<R>, (...args: A) => R>;
export function alruCache<A extends unknown[], R>(
  fn: (...args: A) => R,
  options?: AlruCacheOptions<A>,
): CachedFunction<A, Awaited<R>, (...args: A) => R> {
  if (typeof fn !== "function") {
    throw new TypeError(
      `alruCache needs a function to wrap; received ${
        fn === null ? "null" : typeof fn
      }`,
    );
  }
  const cache = new AsyncLruCache<Awaited<R>>(
    fn as (...args: unknown[]) => unknown,
    resolveOptions(options),
  );
  const argumentKeys = cache.usesArgumentKeys;

  const call = function (this: unknown, ...args: unknown[]) {
    return cache.call(this, args);
  };
  // Hits of up to two arguments read `arguments` by index and forward it
  // untouched otherwise, so that V8 never materialises it: such a hit
  // allocates nothing.
  const cached = function (this: unknown): Promise<Awaited<R>> {
    if (argumentKeys && arguments.length <= 2) {
      const promise = cache.hit(arguments.length, arguments[0], arguments[1]);
      if (promise !== undefined) return promise;
    }
    return call.apply(this, arguments as unknown as unknown[]);
  } as CachedFunction<A, Awaited<R>, (...args: A) => R>;

  Object.defineProperties(cached, {
    name: { value: fn.name, configurable: true },
    length: { value: fn.length, configurable: true },
    wrapped: { value: fn, enumerable: true },
    cacheInfo: { value: () => cache.info(), enumerable: true },
    cacheParameters: { value: () => cache.parameters(), enumerable: true },
    cacheContains: {
      value: (...args: A) => cache.contains(args),
      enumerable: true,
    },
    cacheInvalidate: {
      value: (...args: A) => cache.invalidate(args),
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
          ? cache.call(undefined, args, signal)
          : Promise.reject(
            new TypeError(
              `withSignal needs an AbortSignal as its first argument; received ${
                signal === null ? "null" : typeof signal
              }`,
            ),
          ),
      enumerable: true,
    },
  });
  // Runtimes without explicit resource management lack the symbol.
  if (typeof Symbol.asyncDispose === "symbol") {
    Object.defineProperty(cached, Symbol.asyncDispose, {
      value: () => cache.close(),
    });
  }
  return cached;
}
