/**
 * What a cache keeps of a run's outcome, and for how long: the options that
 * look at a value (`shouldCache`, `ttl` as a function, jitter) or at a
 * rejection (`errorTtl`). Each of them is user code; the cache asks before it
 * changes anything, and checks its entry again afterwards.
 *
 * @module
 */

import { describe } from "./errors.ts";
import type { ResolvedOptions } from "./options.ts";

type ValueCallback = (value: unknown, args: unknown[]) => unknown;
type ErrorCallback = (error: unknown, args: unknown[]) => unknown;

function isDuration(value: unknown): value is number {
  return typeof value === "number" && value >= 0;
}

/** Decides from each outcome whether it is kept, and for how long. */
export class KeepPolicy {
  readonly #ttl: number | undefined;
  readonly #ttlOf: ValueCallback | undefined;
  readonly #jitter: number;
  readonly #random: () => number;
  readonly #shouldCache: ValueCallback | undefined;
  readonly #errorTtl: number;
  readonly #errorTtlOf: ErrorCallback | undefined;
  readonly #weigher: ValueCallback | undefined;

  constructor(options: ResolvedOptions) {
    this.#ttl = options.ttl;
    this.#ttlOf = options.ttlOf;
    this.#jitter = options.jitter ?? 0;
    this.#random = options.random;
    this.#shouldCache = options.shouldCache;
    this.#errorTtl = options.errorTtl ?? 0;
    this.#errorTtlOf = options.errorTtlOf;
    this.#weigher = options.weigher;
  }

  /** Whether kept values are weighed. */
  get weighs(): boolean {
    return this.#weigher !== undefined;
  }

  /** Whether values are kept for a limited time. */
  get timed(): boolean {
    return this.#ttl !== undefined || this.#ttlOf !== undefined;
  }

  /** Whether rejections may be kept. */
  get keepsFailures(): boolean {
    return this.#errorTtl > 0 || this.#errorTtlOf !== undefined;
  }

  /** Whether deciding needs the arguments of the call that started the work. */
  get needsArguments(): boolean {
    return this.#ttlOf !== undefined || this.#shouldCache !== undefined ||
      this.#errorTtlOf !== undefined || this.#weigher !== undefined;
  }

  /**
   * How long `value`, just produced for `args`, is kept, in ms: `0` or less
   * for not at all, `Infinity` for ever. Calls `shouldCache`, the `ttl`
   * function and the random source, as set.
   *
   * @throws What `shouldCache` or the `ttl` function throws; a `RangeError`
   * if the `ttl` function or the random source returns a bad number.
   */
  lifetimeOf(value: unknown, args: readonly unknown[]): number {
    if (!this.keeps(value, args)) return 0;
    let ttl: number;
    if (this.#ttlOf === undefined) {
      ttl = this.#ttl ?? Infinity;
    } else {
      const result = this.#ttlOf(value, args as unknown[]);
      if (!isDuration(result)) {
        throw new RangeError(
          `alruCache option "ttl" is a function that must return a non-negative number of milliseconds; it returned ${
            describe(result)
          }`,
        );
      }
      ttl = result;
    }
    // A ttl function's 0 drops the entry; a configured ttl of 0 still gets
    // jitter, as it always has.
    if (this.#jitter === 0 || (ttl === 0 && this.#ttlOf !== undefined)) {
      return ttl;
    }
    const fraction = this.#random();
    if (!(fraction >= 0 && fraction < 1)) {
      throw new RangeError(
        `alruCache option "random" must return a number in [0, 1); it returned ${fraction}`,
      );
    }
    return ttl + fraction * this.#jitter;
  }

  /**
   * Whether `value`, just produced for `args`, may be kept at all: asks
   * `shouldCache`, if set.
   *
   * @throws What `shouldCache` throws.
   */
  keeps(value: unknown, args: readonly unknown[]): boolean {
    return this.#shouldCache === undefined ||
      Boolean(this.#shouldCache(value, args as unknown[]));
  }

  /**
   * What the weigher says `value`, about to be kept for `args`, weighs:
   * unchecked, since a bad weight is reported, not thrown.
   *
   * @throws What the weigher throws.
   */
  weightOf(value: unknown, args: readonly unknown[]): unknown {
    return this.#weigher!(value, args as unknown[]);
  }

  /**
   * How long `reason`, why the work for `args` rejected, is kept, in ms: `0`
   * for not at all. Calls the `errorTtl` function, if set.
   *
   * @throws {RangeError} Naming `errorTtl`, with `reason` as its cause, if
   * the function throws or returns a bad number.
   */
  failureLifetimeOf(reason: unknown, args: readonly unknown[]): number {
    if (this.#errorTtlOf === undefined) return this.#errorTtl;
    let result: unknown;
    try {
      result = this.#errorTtlOf(reason, args as unknown[]);
    } catch (error) {
      throw new RangeError(
        `alruCache option "errorTtl" is a function that threw (${
          describe(error)
        }) instead of returning a number of milliseconds`,
        { cause: reason },
      );
    }
    if (!isDuration(result)) {
      throw new RangeError(
        `alruCache option "errorTtl" is a function that must return a non-negative number of milliseconds; it returned ${
          describe(result)
        }`,
        { cause: reason },
      );
    }
    return result;
  }
}
