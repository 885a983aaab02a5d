/**
 * The options of `alruBatch`: every option of `alruCache`, acting per key,
 * and the two that shape batches, `maxBatchSize` and `batchDelay`.
 *
 * @module
 */

import { describe } from "./errors.ts";
import { rejectUnknownOptions } from "./option_names.ts";
import {
  type AlruCacheOptions,
  OPTION_NAMES,
  type ResolvedOptions,
  resolveOptions,
} from "./options.ts";

/**
 * Options of `alruBatch`: those of `alruCache`, each acting per key (a
 * function that takes `args` gets `[key]`), and two of its own.
 *
 * @typeParam K A key, the argument of the batched function.
 * @typeParam V What a key's value resolves to.
 */
export interface AlruBatchOptions<K = unknown, V = unknown>
  extends AlruCacheOptions<[K], V> {
  /**
   * The most keys one call of `load` gets; a batch that reaches it is sent
   * at once and the next key opens another. `Infinity` or `null` means no
   * bound.
   *
   * @default {Infinity}
   */
  maxBatchSize?: number | null;
  /**
   * Milliseconds a batch stays open for more keys, on the cache's clock,
   * before `load` is called. `0` (or `null`) sends it once the current
   * macrotask's microtasks have run, so that keys asked for by any chain of
   * awaits in that macrotask share it.
   *
   * @default {0}
   */
  batchDelay?: number | null;
}

/** The options of `alruBatch` after validation. */
export interface ResolvedBatchOptions {
  /**
   * The cache's options; `signal` is always true, for each key's work, and
   * a store's reads are gathered per turn.
   */
  cache: ResolvedOptions;
  /** Whether `load` takes the batch's signal. */
  signal: boolean;
  maxBatchSize: number;
  batchDelay: number;
}

const BATCH_OPTION_NAMES: readonly string[] = [
  ...OPTION_NAMES,
  "maxBatchSize",
  "batchDelay",
];

function maxBatchSizeOf(value: unknown): number {
  if (value === undefined || value === null) return Infinity;
  if (typeof value !== "number") {
    throw new TypeError(
      `alruBatch option "maxBatchSize" must be a number, Infinity or null; received ${
        describe(value)
      }`,
    );
  }
  if (value !== Infinity && !(Number.isInteger(value) && value >= 1)) {
    throw new RangeError(
      `alruBatch option "maxBatchSize" must be a positive integer, Infinity or null; received ${value}`,
    );
  }
  return value;
}

function batchDelayOf(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== "number") {
    throw new TypeError(
      `alruBatch option "batchDelay" must be a number; received ${
        describe(value)
      }`,
    );
  }
  if (!(value >= 0) || value === Infinity) {
    throw new RangeError(
      `alruBatch option "batchDelay" must be a finite, non-negative number of milliseconds; received ${value}`,
    );
  }
  return value;
}

/**
 * Checks the options of `alruBatch` and applies the defaults; throws on the
 * first bad option, naming it.
 */
export function resolveBatchOptions(options: unknown): ResolvedBatchOptions {
  if (options === undefined) options = {};
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `alruBatch options must be an object; received ${describe(options)}`,
    );
  }
  rejectUnknownOptions(options, BATCH_OPTION_NAMES);
  const { maxBatchSize, batchDelay, ...rest } = options as AlruBatchOptions;
  const cache = resolveOptions(rest);
  const signal = cache.signal;
  cache.signal = true;
  cache.readsMany = true;
  return {
    cache,
    signal,
    maxBatchSize: maxBatchSizeOf(maxBatchSize),
    batchDelay: batchDelayOf(batchDelay),
  };
}
