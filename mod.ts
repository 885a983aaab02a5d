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
  isCachedFunction,
  type SharedCachedFunction,
} from "./cached_function.ts";
import type { CacheStore } from "./store.ts";
import {
  type AlruCacheDecorator,
  type CachedMethod,
  decorateMethod,
  isDecoratorContext,
  isLegacyDecoratorCall,
  legacyDecoratorError,
} from "./method.ts";
import { describe } from "./errors.ts";
import { type AlruCacheOptions, resolveOptions } from "./options.ts";
import type { AlruBatchOptions } from "./batch_options.ts";
import {
  type BatchedFunction,
  type BatchLoad,
  type BatchResult,
  type BatchValue,
  createBatchedFunction,
  type SharedBatchedFunction,
} from "./batched_function.ts";

export type { Clock } from "./clock.ts";
export { ManualClock } from "./clock.ts";
export { CacheClosedError } from "./errors.ts";
export type { AlruCacheOptions } from "./options.ts";
export type {
  CacheEvent,
  CacheEventType,
  CacheInfo,
  CacheParameters,
  CacheStats,
} from "./stats.ts";
export type { CloseOptions } from "./options.ts";
export type {
  CachedFunction,
  SharedCachedFunction,
} from "./cached_function.ts";
export { UnacknowledgedNoticeError } from "./store.ts";
export type {
  CacheStore,
  NoticeOptions,
  ReadOrLease,
  Serializer,
  StoredValue,
  StoreEvent,
  StoreLease,
  StoreSubscription,
} from "./store.ts";
export type { AlruCacheDecorator, CachedMethod } from "./method.ts";
export type { AlruBatchOptions } from "./batch_options.ts";
export type {
  BatchedFunction,
  BatchLoad,
  BatchParameters,
  BatchResult,
  BatchValue,
  SharedBatchedFunction,
} from "./batched_function.ts";

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
 * @throws {TypeError} If `fn` is not a function, or an option is unknown or
 * has the wrong type.
 * @throws {RangeError} If a numeric option is out of range.
 */
export function alruCache<A extends unknown[], R>(
  fn: (...args: [...A, AbortSignal]) => R,
  options: AlruCacheOptions<NoInfer<A>, NoInfer<Awaited<R>>> & {
    signal: true;
    store: CacheStore;
  },
): SharedCachedFunction<A, Awaited<R>, (...args: [...A, AbortSignal]) => R>;
/**
 * Wraps an async function in an LRU cache whose function takes the shared
 * work's signal; see the overload above.
 *
 * @typeParam A The parameters of `fn`, without the trailing signal.
 * @typeParam R What `fn`'s result resolves to.
 * @param fn The function to cache.
 * @param options How many entries to keep, how long, and how keys are made.
 * @returns The cached function.
 */
export function alruCache<A extends unknown[], R>(
  fn: (...args: [...A, AbortSignal]) => R,
  options: AlruCacheOptions<NoInfer<A>, NoInfer<Awaited<R>>> & {
    signal: true;
  },
): CachedFunction<A, Awaited<R>, (...args: [...A, AbortSignal]) => R>;
/**
 * Wraps an async function in an LRU cache backed by a store that other
 * processes share (see the `store` option): invalidating and clearing return
 * promises.
 *
 * @typeParam A The parameters of `fn`.
 * @typeParam R What `fn`'s result resolves to.
 * @param fn The function to cache.
 * @param options How many entries to keep, how long, and the store.
 * @returns The cached function.
 */
export function alruCache<A extends unknown[], R>(
  fn: (...args: A) => R,
  options: AlruCacheOptions<NoInfer<A>, NoInfer<Awaited<R>>> & {
    store: CacheStore;
  },
): SharedCachedFunction<A, Awaited<R>, (...args: A) => R>;
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
  options?: AlruCacheOptions<NoInfer<A>, NoInfer<Awaited<R>>>,
): CachedFunction<A, Awaited<R>, (...args: A) => R>;
/**
 * Decorates a class method, `@alruCache` without options: each instance (or,
 * for a static method, the class) gets its own cache on first use. This is a
 * TC39 standard decorator; TypeScript's legacy `experimentalDecorators` are
 * refused with a `TypeError` when the class is defined.
 *
 * @example A cached method
 * ```ts
 * import { alruCache, cacheOf } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * class Users {
 *   loads = 0;
 *
 *   @alruCache
 *   async byId(id: number): Promise<string> {
 *     this.loads++;
 *     return `user ${id}`;
 *   }
 * }
 *
 * const users = new Users();
 * await users.byId(1);
 * await users.byId(1);
 * assert.equal(users.loads, 1);
 * assert.equal(cacheOf(users.byId).cacheInfo().hits, 1);
 * assert.equal(cacheOf(new Users().byId).cacheInfo().hits, 0);
 * ```
 *
 * @typeParam This The class (for a static method, the constructor) type.
 * @typeParam A The method's parameters.
 * @typeParam R The method's return type.
 * @param method The method being decorated.
 * @param context The decorator context; only public methods are accepted.
 * @returns The cached method.
 * @throws {TypeError} If the member is not a public method, or if called as
 * a legacy (`experimentalDecorators`) decorator.
 */
export function alruCache<This, A extends unknown[], R>(
  method: (this: This, ...args: A) => R,
  context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => R>,
): CachedMethod<This, A, R>;
/**
 * Makes a method decorator with options, `@alruCache({ maxSize: 32 })` (or
 * `@alruCache()` for the defaults). The options are checked here, when the
 * class is defined. Like `@alruCache`, the decorator needs TC39 standard
 * decorators: called as a legacy (`experimentalDecorators`) decorator, it
 * throws a `TypeError`.
 *
 * @example
 * ```ts
 * import { alruCache, cacheOf } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * class Prices {
 *   @alruCache({ maxSize: 2, ttl: 60_000 })
 *   async of(item: string): Promise<number> {
 *     return item.length;
 *   }
 *
 *   @alruCache()
 *   static async currency(): Promise<string> {
 *     return "EUR";
 *   }
 * }
 *
 * const prices = new Prices();
 * assert.equal(await prices.of("tea"), 3);
 * assert.equal(cacheOf(prices.of).cacheParameters().maxSize, 2);
 * assert.equal(await Prices.currency(), "EUR");
 * await cacheOf(prices.of).cacheClose();
 * ```
 *
 * @typeParam V What the options' `ttl` and `shouldCache` functions take as
 * the value; the decorated method must resolve to it.
 * @param options How many entries to keep, how long, and how keys are made.
 * @returns A decorator for methods.
 * @throws {TypeError} If an option is unknown or has the wrong type.
 * @throws {RangeError} If a numeric option is out of range.
 */
export function alruCache<V = unknown>(
  options?: AlruCacheOptions<never[], V>,
): AlruCacheDecorator<V>;
export function alruCache(
  target?: unknown,
  optionsOrContext?: unknown,
): unknown {
  // Read by the checks below, a legacy call would pass a prototype as options
  // and cache nothing, or fail with a message about options.
  if (isLegacyDecoratorCall(arguments)) {
    throw legacyDecoratorError("@alruCache", arguments);
  }
  // Field decorators receive undefined: let decorateMethod say what to do.
  if (isDecoratorContext(optionsOrContext)) {
    return decorateMethod(
      target as (...args: unknown[]) => unknown,
      optionsOrContext,
      resolveOptions(undefined),
    );
  }
  if (typeof target === "function") {
    return createCachedFunction(target as (...args: unknown[]) => unknown, {
      options: resolveOptions(optionsOrContext),
    });
  }
  if (arguments.length === 0 || isPlainObject(target)) {
    const options = resolveOptions(target);
    return function (method: unknown, context: unknown) {
      if (isLegacyDecoratorCall(arguments)) {
        throw legacyDecoratorError("@alruCache(options)", arguments);
      }
      if (!isDecoratorContext(context)) {
        throw new TypeError(
          "alruCache(options) returns a decorator for class methods; to wrap a function, call alruCache(fn, options)",
        );
      }
      return decorateMethod(
        method as (...args: unknown[]) => unknown,
        context,
        options,
      );
    };
  }
  throw new TypeError(
    `alruCache needs a function to wrap, or options for a method decorator; received ${
      describe(target)
    }`,
  );
}

function isPlainObject(value: unknown): value is object {
  if (typeof value !== "object" || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * The cache methods of a function made by {@linkcode alruCache}, typed. A
 * decorator cannot change a method's TypeScript type, so this is how
 * TypeScript code reaches `cacheInfo()` and the rest on a decorated method;
 * it works on cached functions too.
 *
 * @example
 * ```ts
 * import { alruCache, cacheOf } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * class Weather {
 *   @alruCache
 *   async forecast(city: string): Promise<string> {
 *     return `sunny in ${city}`;
 *   }
 * }
 *
 * const weather = new Weather();
 * await weather.forecast("Oslo");
 * assert.equal(cacheOf(weather.forecast).cacheContains("Oslo"), true);
 * assert.throws(() => cacheOf(() => 1), TypeError);
 * ```
 *
 * @typeParam A The function's parameters.
 * @typeParam R The function's return type.
 * @param cached A cached function, or a decorated method read from its object.
 * @returns The same function, typed with the cache's methods.
 * @throws {TypeError} If `cached` was not made by `alruCache`.
 */
export function cacheOf<A extends unknown[], R>(
  cached: (...args: A) => R,
): CachedFunction<A, Awaited<R>> {
  if (!isCachedFunction(cached)) {
    const name = typeof cached === "function" && cached.name
      ? cached.name
      : describe(cached);
    throw new TypeError(
      `cacheOf needs a function cached by alruCache, but ${name} is not cached. Decorate the method with @alruCache, or wrap the function with alruCache(fn, options).`,
    );
  }
  return cached as unknown as CachedFunction<A, Awaited<R>>;
}

/**
 * Batches the loading of single keys, with a cache under it: calls for keys
 * neither cached nor in flight, made in the same macrotask (including after
 * any number of awaits on settled promises), go into one call of `load`,
 * and each key is then an entry of its own, with every option of
 * {@linkcode alruCache} acting per key. Keys in flight are joined and cached
 * keys are hits, so a key is never loaded twice at once.
 *
 * `load(keys, signal?)` returns (or resolves to) the values in the order of
 * `keys`, or a `Map` from key to value; a value that is an `Error` rejects
 * only its key. See {@linkcode AlruBatchOptions} for `maxBatchSize` and
 * `batchDelay`.
 *
 * @example Two calls, one load; a hit and a miss in the next
 * ```ts
 * import { alruBatch } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const loads: number[][] = [];
 * const user = alruBatch(async (ids: number[]) => {
 *   loads.push(ids);
 *   return ids.map((id) => ({ id, name: `user ${id}` }));
 * }, { maxSize: 10_000, maxBatchSize: 100 });
 *
 * const [a, b] = await Promise.all([user(1), user(2)]);
 * assert.deepEqual(loads, [[1, 2]]);
 * const three = await user.many([1, 2, 3]);
 * assert.deepEqual(loads, [[1, 2], [3]]);
 * assert.equal(three[0], a);
 * assert.equal(three[1], b);
 * ```
 *
 * @typeParam K A key.
 * @typeParam R What `load` returns; a key's value is {@linkcode BatchValue}.
 * @param load Loads many keys at once.
 * @param options The options of {@linkcode alruCache}, per key, and the
 * bounds of a batch.
 * @returns The batched function of one key.
 * @throws {TypeError} If `load` is not a function, or an option is unknown
 * or has the wrong type.
 * @throws {RangeError} If a numeric option is out of range.
 */
export function alruBatch<
  K,
  R extends BatchResult<unknown> | PromiseLike<BatchResult<unknown>>,
>(
  load: (keys: K[], signal: AbortSignal) => R,
  options: AlruBatchOptions<NoInfer<K>, BatchValue<NoInfer<R>>> & {
    store: CacheStore;
  },
): SharedBatchedFunction<K, BatchValue<R>>;
/**
 * Batches the loading of single keys, with a cache under it; see the
 * overload above.
 *
 * @typeParam K A key.
 * @typeParam R What `load` returns; a key's value is {@linkcode BatchValue}.
 * @param load Loads many keys at once.
 * @param options The options of {@linkcode alruCache}, per key, and the
 * bounds of a batch.
 * @returns The batched function of one key.
 */
export function alruBatch<
  K,
  R extends BatchResult<unknown> | PromiseLike<BatchResult<unknown>>,
>(
  load: (keys: K[], signal: AbortSignal) => R,
  options?: AlruBatchOptions<NoInfer<K>, BatchValue<NoInfer<R>>>,
): BatchedFunction<K, BatchValue<R>>;
export function alruBatch(
  load: BatchLoad<unknown, unknown>,
  options?: AlruBatchOptions,
): BatchedFunction<unknown, unknown> | SharedBatchedFunction<unknown, unknown> {
  return createBatchedFunction(load, options);
}
