/**
 * The callable face of `alruBatch`: a function of one key that answers from
 * an {@linkcode AsyncLruCache} whose runs are the keys of batches, carries
 * the cache's methods, and asks for many keys at once with `many`.
 *
 * @module
 */

import { AsyncLruCache } from "./cache.ts";
import { type AlruBatchOptions, resolveBatchOptions } from "./batch_options.ts";
import { Batcher } from "./batcher.ts";
import {
  CACHE,
  type CachedFunction,
  type SharedCachedFunction,
} from "./cached_function.ts";
import { abandonedError, CacheClosedError, describe } from "./errors.ts";
import { type CloseOptions, closeWaitOf } from "./options.ts";
import type { CacheParameters } from "./stats.ts";

/**
 * What `load` may resolve to: the values of its keys in their order, or a
 * `Map` from key to value. A value that is an `Error` rejects only its key.
 *
 * @typeParam V A key's value.
 */
export type BatchResult<V> =
  | Iterable<V | Error | PromiseLike<V>>
  | ReadonlyMap<unknown, V | Error | PromiseLike<V>>;

/**
 * The function `alruBatch` batches: it loads many keys at once and returns
 * (or resolves to) their values in the order of `keys`, or a `Map` from key
 * to value. It is called with `this` undefined, and with the batch's
 * `AbortSignal` as its second argument only when the option `signal` is
 * `true`.
 *
 * @typeParam K A key.
 * @typeParam V A key's value.
 */
export type BatchLoad<K, V> = (
  keys: K[],
  signal: AbortSignal,
) => BatchResult<V> | PromiseLike<BatchResult<V>>;

/**
 * The value of one key given what `load` returns, `R`: the `Map`'s values
 * or the iterable's items, awaited, without the `Error`s that reject keys.
 *
 * @typeParam R What `load` returns.
 */
export type BatchValue<R> = Awaited<R> extends ReadonlyMap<unknown, infer T>
  ? Exclude<Awaited<T>, Error>
  : Awaited<R> extends Iterable<infer T> ? Exclude<Awaited<T>, Error>
  : never;

/** {@linkcode CacheParameters}, with the bounds of a batch. */
export interface BatchParameters extends CacheParameters {
  /** The most keys in one call of `load`; `Infinity` when unbounded. */
  maxBatchSize: number;
  /** Milliseconds a batch stays open. */
  batchDelay: number;
}

/**
 * A function made by `alruBatch`: it answers for one key from the cache,
 * and gathers the keys it misses into calls of `load`. It carries the
 * methods of a cached function, each taking one key, and `many`.
 *
 * @typeParam K A key.
 * @typeParam V A key's value.
 */
export interface BatchedFunction<K, V> extends
  Omit<
    CachedFunction<[key: K], V, BatchLoad<K, V>>,
    "cacheParameters"
  > {
  /** The value of `key`: a hit, a key in flight joined, or a key batched. */
  (key: K): Promise<V>;
  /**
   * The values of `keys`, in their order, as that many calls made at once
   * would get them: keys not cached go into batches together. Rejects with
   * the first key's failure, as `Promise.all` does; never throws.
   */
  many(keys: Iterable<K>): Promise<V[]>;
  /** The configuration, with `maxBatchSize` and `batchDelay`. */
  cacheParameters(): BatchParameters;
}

/**
 * A function made by `alruBatch` with a `store`: as
 * {@linkcode BatchedFunction}, but invalidating and clearing reach the store
 * and return promises.
 *
 * @typeParam K A key.
 * @typeParam V A key's value.
 */
export interface SharedBatchedFunction<K, V> extends
  Omit<
    SharedCachedFunction<[key: K], V, BatchLoad<K, V>>,
    "cacheParameters"
  > {
  /** The value of `key`: a hit, a key in flight joined, or a key batched. */
  (key: K): Promise<V>;
  /** See {@linkcode BatchedFunction.many}. */
  many(keys: Iterable<K>): Promise<V[]>;
  /** The configuration, with `maxBatchSize` and `batchDelay`. */
  cacheParameters(): BatchParameters;
}

/**
 * The key of a batched function's {@linkcode Batcher}, for tests that check
 * it from inside; not exported from `mod.ts`.
 */
export const BATCHER: unique symbol = Symbol("alruBatch batcher");

function isAbortSignal(value: unknown): value is AbortSignal {
  return typeof value === "object" && value !== null &&
    typeof (value as AbortSignal).aborted === "boolean" &&
    typeof (value as AbortSignal).addEventListener === "function";
}

function isIterable(value: unknown): value is Iterable<unknown> {
  return value !== null && value !== undefined &&
    typeof (value as Iterable<unknown>)[Symbol.iterator] === "function";
}

/** Makes the cache and the batcher for `load`, and the function of one key. */
export function createBatchedFunction<K, V>(
  load: BatchLoad<K, V>,
  options: AlruBatchOptions<K, V> | undefined,
): BatchedFunction<K, V> {
  if (typeof load !== "function") {
    throw new TypeError(
      `alruBatch needs a function that loads many keys; received ${
        describe(load)
      }`,
    );
  }
  const resolved = resolveBatchOptions(options);
  const name = load.name;
  const shownName = name || "anonymous";
  const keyOf = resolved.cache.key;
  const batcher = new Batcher(load as (keys: unknown[]) => unknown, {
    name: shownName,
    maxBatchSize: resolved.maxBatchSize,
    batchDelay: resolved.batchDelay,
    signal: resolved.signal,
    clock: resolved.cache.clock,
    key: keyOf,
  });
  // A `Map` from load is read by the `key` option's result, which the cache
  // has just asked for when it runs a key: told to the batcher, it is not
  // asked twice.
  if (keyOf !== undefined) {
    resolved.cache.key = function (this: unknown, arg: unknown) {
      const key = keyOf.call(this, arg);
      batcher.keyed(arg, key);
      return key;
    };
  }
  // Whether the call under way may leave: a run started for a caller with a
  // signal may be abandoned by its callers, and its key must hear of it. A
  // plain caller never leaves, so its run needs no listener; with a store
  // the run starts later, after the store's read, so every run listens.
  const hasStore = resolved.cache.store !== undefined;
  let leaving = false;
  const runKey = function (arg: unknown, signal: AbortSignal) {
    return batcher.request(arg, leaving || hasStore ? signal : undefined);
  };
  Object.defineProperty(runKey, "name", { value: name, configurable: true });
  const cache = new AsyncLruCache<V>(
    runKey as (...args: unknown[]) => unknown,
    resolved.cache,
  );
  const argumentKeys = cache.usesArgumentKeys;
  let closed = false;
  let abandoned = false;

  const batched = function (key: K): Promise<V> {
    return argumentKeys
      ? cache.callShort(undefined, 1, key, undefined)
      : cache.call(undefined, [key]);
  } as BatchedFunction<K, V>;
  const close = (closeOptions?: CloseOptions): Promise<void> => {
    let wait: boolean;
    try {
      wait = closeWaitOf(closeOptions);
    } catch (error) {
      return Promise.reject(error);
    }
    closed = true;
    // Once a close has abandoned the keys, a close with wait made from
    // inside it (by code its aborts run) sends no batch.
    if (!wait) abandoned = true;
    const closing = cache.close(closeOptions);
    batcher.close(!abandoned, abandonedError(shownName));
    return closing;
  };

  Object.defineProperties(batched, {
    name: { value: name, configurable: true },
    wrapped: { value: load, enumerable: true },
    cacheInfo: { value: () => cache.info(), enumerable: true },
    cacheParameters: {
      value: (): BatchParameters => ({
        ...cache.parameters(),
        maxBatchSize: resolved.maxBatchSize,
        batchDelay: resolved.batchDelay,
      }),
      enumerable: true,
    },
    cacheContains: {
      value: (key: K) => cache.contains(undefined, [key]),
      enumerable: true,
    },
    cacheInvalidate: {
      value: (key: K) => cache.invalidate(undefined, [key]),
      enumerable: true,
    },
    cacheRefresh: {
      value: (key: K) => cache.refresh(undefined, [key]),
      enumerable: true,
    },
    cacheStats: { value: () => cache.stats(), enumerable: true },
    cacheClear: { value: () => cache.clear(), enumerable: true },
    cacheClose: { value: close, enumerable: true },
    withSignal: {
      value: (signal: AbortSignal, key: K) => {
        if (!isAbortSignal(signal)) {
          return Promise.reject(
            new TypeError(
              `withSignal needs an AbortSignal as its first argument; received ${
                describe(signal)
              }`,
            ),
          );
        }
        const outer = leaving;
        leaving = true;
        try {
          return cache.call(undefined, [key], signal);
        } finally {
          leaving = outer;
        }
      },
      enumerable: true,
    },
    many: {
      value: (keys: Iterable<K>): Promise<V[]> => {
        if (closed) return Promise.reject(new CacheClosedError(shownName));
        if (!isIterable(keys)) {
          return Promise.reject(
            new TypeError(
              `many needs an iterable of keys; received ${describe(keys)}`,
            ),
          );
        }
        let list: K[];
        try {
          list = Array.from(keys);
        } catch (error) {
          return Promise.reject(error);
        }
        const values: Promise<V>[] = new Array(list.length);
        for (let i = 0; i < list.length; i++) values[i] = batched(list[i]);
        return Promise.all(values);
      },
      enumerable: true,
    },
  });
  Object.defineProperty(batched, CACHE, { value: cache });
  Object.defineProperty(batched, BATCHER, { value: batcher });
  if (typeof Symbol.asyncDispose === "symbol") {
    Object.defineProperty(batched, Symbol.asyncDispose, {
      value: () => close(),
    });
  }
  return batched;
}
