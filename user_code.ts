/**
 * The one door from a cache to code that is not its own: the wrapped
 * function, the key function, the options that judge outcomes, the clock,
 * the random source (through the options that draw jitter), `onEvent`,
 * thenables, abort listeners and the store. Any of it may call the cache
 * back, so the cache goes through here only while its state is whole: it
 * reads what a change needs first, then makes the change, which calls
 * nothing, and leaves what the change sets off to its effects queue.
 *
 * Every method here calls user code. A check given to
 * {@linkcode UserCode.checkEachEntry} runs before each of them, which is how
 * the tests prove the rule rather than trust it.
 *
 * @module
 */

import {
  eventsChannel,
  type TraceContext,
  traceSettlement,
} from "./channels.ts";
import type { Clock } from "./clock.ts";
import { describe } from "./errors.ts";
import type { KeepPolicy } from "./keeping.ts";
import type { Flight, InflightRegistry } from "./inflight.ts";
import type { CacheEvent } from "./stats.ts";
import type { Serializer } from "./store.ts";
import type { ExpiryQueue } from "./ttl.ts";

/** The user code of one cache. */
export class UserCode {
  readonly #fn: (...args: unknown[]) => unknown;
  readonly #name: string;
  readonly #key: ((...args: unknown[]) => unknown) | undefined;
  readonly #keeping: KeepPolicy | undefined;
  readonly #onEvent: ((event: CacheEvent) => void) | undefined;
  #check: (() => void) | undefined = undefined;
  // The last clock handed out through clock(), and the clock it enters.
  #doorClock: Clock | undefined = undefined;
  #doorClockOf: Clock | undefined = undefined;
  #eventFailureReported = false;
  #clockFailureReported = false;
  #weigherFailureReported = false;

  constructor(
    fn: (...args: unknown[]) => unknown,
    name: string,
    parts: {
      key: ((...args: unknown[]) => unknown) | undefined;
      keeping: KeepPolicy | undefined;
      onEvent: ((event: CacheEvent) => void) | undefined;
    },
  ) {
    this.#fn = fn;
    this.#name = name;
    this.#key = parts.key;
    this.#keeping = parts.keeping;
    this.#onEvent = parts.onEvent;
  }

  /** Runs `check` before each call of user code from now on. For tests. */
  checkEachEntry(check: () => void): void {
    this.#check = check;
  }

  /** The `key` option's result for a call of `args` on `thisArg`. */
  key(thisArg: unknown, args: ArrayLike<unknown>): unknown {
    if (this.#check !== undefined) this.#check();
    return this.#key!.apply(thisArg, args as unknown[]);
  }

  /** Runs the function on `args`, and on the work's signal when it takes one. */
  run(
    thisArg: unknown,
    args: ArrayLike<unknown>,
    controller: AbortController | undefined,
  ): unknown {
    if (this.#check !== undefined) this.#check();
    if (controller === undefined) {
      return this.#fn.apply(thisArg, args as unknown[]);
    }
    const withSignal = Array.from(args);
    withSignal.push(controller.signal);
    return this.#fn.apply(thisArg, withSignal);
  }

  /**
   * {@linkcode run} for `arity` arguments, at most two, given one by one so
   * that no argument list is built.
   */
  runShort(
    thisArg: unknown,
    arity: number,
    first: unknown,
    second: unknown,
    controller: AbortController | undefined,
  ): unknown {
    if (this.#check !== undefined) this.#check();
    const fn = this.#fn;
    if (controller === undefined) {
      return arity === 1
        ? fn.call(thisArg, first)
        : arity === 0
        ? fn.call(thisArg)
        : fn.call(thisArg, first, second);
    }
    const signal = controller.signal;
    return arity === 1
      ? fn.call(thisArg, first, signal)
      : arity === 0
      ? fn.call(thisArg, signal)
      : fn.call(thisArg, first, second, signal);
  }

  /**
   * Watches the work `fn` started: reading a thenable's `then` runs its
   * code, which may call the cache.
   */
  watch<R, O>(
    registry: InflightRegistry<R, O>,
    flight: Flight<R>,
    result: unknown,
  ): void {
    if (this.#check !== undefined) this.#check();
    const trace = flight.trace as TraceContext | undefined;
    registry.watch(
      flight,
      trace === undefined ? result : traceSettlement(result, trace),
    );
  }

  /**
   * A promise of `value`, as the first hit on a settled entry makes it:
   * reading a `then` the value may have gained runs its code.
   */
  promiseOf(value: unknown): Promise<unknown> {
    if (this.#check !== undefined) this.#check();
    return Promise.resolve(value);
  }

  /**
   * What `result` yields, in order, or `undefined` when it is not iterable:
   * reading its iterator and iterating it run its code, which may throw.
   */
  items(result: unknown): unknown[] | undefined {
    if (this.#check !== undefined) this.#check();
    if (
      result === null ||
      (typeof result !== "object" && typeof result !== "function") ||
      typeof (result as Iterable<unknown>)[Symbol.iterator] !== "function"
    ) {
      return undefined;
    }
    return Array.from(result as Iterable<unknown>);
  }

  /** See {@linkcode KeepPolicy.lifetimeOf}: `shouldCache`, the `ttl` function, jitter. */
  lifetimeOf(value: unknown, args: readonly unknown[]): number {
    if (this.#check !== undefined) this.#check();
    return this.#keeping!.lifetimeOf(value, args);
  }

  /** See {@linkcode KeepPolicy.keeps}: `shouldCache`. */
  keeps(value: unknown, args: readonly unknown[]): boolean {
    if (this.#check !== undefined) this.#check();
    return this.#keeping!.keeps(value, args);
  }

  /** See {@linkcode KeepPolicy.failureLifetimeOf}: the `errorTtl` function. */
  failureLifetimeOf(reason: unknown, args: readonly unknown[]): number {
    if (this.#check !== undefined) this.#check();
    return this.#keeping!.failureLifetimeOf(reason, args);
  }

  /**
   * The weight of `value`, about to be kept for `args`: the weigher's
   * result, or -1 if it threw or gave anything but a finite number `>= 0`.
   * A weight decides memory, never what a caller gets, so a failing weigher
   * is the user's to fix: the cache reports the first failure and goes on.
   */
  weightOf(value: unknown, args: readonly unknown[]): number {
    if (this.#check !== undefined) this.#check();
    let weight: unknown;
    let failure: unknown;
    try {
      weight = this.#keeping!.weightOf(value, args);
      if (
        typeof weight === "number" && weight >= 0 && weight !== Infinity
      ) {
        return weight;
      }
      failure = new RangeError(
        `alruCache option "weigher" must return a finite, non-negative number; it returned ${
          describe(weight)
        }`,
      );
    } catch (error) {
      failure = error;
    }
    if (!this.#weigherFailureReported) {
      this.#weigherFailureReported = true;
      console.error(
        `alruCache's weigher failed for ${this.#name}; the value was delivered but not kept, and the cache goes on. Later weigher failures of this cache are not reported.`,
        failure,
      );
    }
    return -1;
  }

  /**
   * The clock's `now()`, for timing a load: `NaN` if the clock throws or
   * gives anything but a finite number, which loses the load its time only.
   * `clock` gives the clock, bound first if need be.
   */
  timeOf(clock: () => Clock): number {
    if (this.#check !== undefined) this.#check();
    try {
      const now = clock().now();
      return typeof now === "number" && now - now === 0 ? now : NaN;
    } catch {
      return NaN;
    }
  }

  /** The time deadlines are measured from: the clock's `now()`. */
  now(expiry: ExpiryQueue): number {
    if (this.#check !== undefined) this.#check();
    return expiry.now();
  }

  /** Brings the expiry timer in line: the clock's `setTimeout` and `clearTimeout`. */
  syncTimer(expiry: ExpiryQueue): void {
    if (this.#check !== undefined) this.#check();
    expiry.syncTimer();
  }

  /** Aborts the signal of abandoned work: its listeners run. */
  abort(controller: AbortController, reason: unknown): void {
    if (this.#check !== undefined) this.#check();
    controller.abort(reason);
  }

  /**
   * Tells `onEvent` of `event`, then the events channel's subscribers. An
   * `onEvent` that throws is the user's to fix: the cache goes on, and
   * reports the first failure; the channel reports its subscribers' own.
   */
  tell(event: CacheEvent): void {
    if (this.#check !== undefined) this.#check();
    if (this.#onEvent !== undefined) this.#tellOnEvent(event);
    // Publishing on a channel nobody hears does nothing: no check needed.
    eventsChannel?.publish(event);
  }

  #tellOnEvent(event: CacheEvent): void {
    try {
      this.#onEvent!(event);
    } catch (error) {
      if (this.#eventFailureReported) return;
      this.#eventFailureReported = true;
      console.error(
        `alruCache's onEvent threw for ${this.#name}; the cache goes on. Later onEvent failures of this cache are not reported.`,
        error,
      );
    }
  }

  /**
   * `clock` with each method entered through this door, for the parts that
   * keep a clock of their own (the shared tier's timers). Made once per
   * clock.
   */
  clock(clock: Clock): Clock {
    if (this.#doorClockOf !== clock) {
      this.#doorClockOf = clock;
      this.#doorClock = {
        now: () => {
          if (this.#check !== undefined) this.#check();
          return clock.now();
        },
        setTimeout: (callback, delay) => {
          if (this.#check !== undefined) this.#check();
          return clock.setTimeout(callback, delay);
        },
        clearTimeout: (handle) => {
          if (this.#check !== undefined) this.#check();
          clock.clearTimeout(handle);
        },
      };
    }
    return this.#doorClock!;
  }

  /** `serializer` with each method entered through this door. */
  serializer(serializer: Serializer): Serializer {
    return {
      serialize: (value) => {
        if (this.#check !== undefined) this.#check();
        return serializer.serialize(value);
      },
      deserialize: (text) => {
        if (this.#check !== undefined) this.#check();
        return serializer.deserialize(text);
      },
    };
  }

  /**
   * Starts a store operation. A store that throws instead of rejecting must
   * not throw through the cache: the throw becomes the rejection.
   */
  store<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#check !== undefined) this.#check();
    try {
      return operation();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A clock that throws is the user's to fix; the cache goes on without the
   * entries it could not time, and says so once.
   */
  reportClockFailure(error: unknown): void {
    if (this.#clockFailureReported) return;
    this.#clockFailureReported = true;
    console.error(
      `alruCache's clock failed for ${this.#name}; the entries it could not time were dropped, and the cache goes on. Later clock failures of this cache are not reported.`,
      error,
    );
  }
}
