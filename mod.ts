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
  type CachedFunction,
  createCachedFunction,
} from "./cached_function.ts";
import { type AlruCacheOptions, resolveOptions } from "./options.ts";

export type { Clock } from "./clock.ts";
export { ManualClock } from "./clock.ts";
export { CacheClosedError } from "./errors.ts";
export type { AlruCacheOptions } from "./options.ts";
export type { CacheInfo, CacheParameters, CloseOptions } from "./cache.ts";
export type { CachedFunction } from "./cached_function.ts";

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
  return createCachedFunction(fn, { options: resolveOptions(options) });
}
