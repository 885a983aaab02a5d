/**
 * The cache behind one wrapped function: entries in slots, a key index, the
 * recency list, expiry and in-flight work, and the counters.
 *
 * @module
 */

import { grownLength } from "./capacity.ts";
import { type Clock, SystemClock } from "./clock.ts";
import { abandonedError, CacheClosedError } from "./errors.ts";
import {
  type Flight,
  type FlightObserver,
  InflightRegistry,
} from "./inflight.ts";
import { ABSENT, ArgumentsKeys } from "./key.ts";
import { RecencyList } from "./lru.ts";
import type { ResolvedOptions } from "./options.ts";
import { ExpiryQueue } from "./ttl.ts";

/** Hit and miss counts and sizes, as `cacheInfo()` reports them. */
export interface CacheInfo {
  /** Calls answered from an entry, in-flight entries included. */
  hits: number;
  /** Calls that ran the function. */
  misses: number;
  /** The configured bound; `Infinity` when unbounded. */
  maxSize: number;
  /** Entries held now, in-flight ones included. */
  currSize: number;
}

/** The configuration and state flags, as `cacheParameters()` reports them. */
export interface CacheParameters {
  /** The configured bound; `Infinity` when unbounded. */
  maxSize: number;
  /** The configured ttl in milliseconds, `undefined` when unset. */
  ttl: number | undefined;
  /** The configured jitter in milliseconds, `undefined` when unset. */
  jitter: number | undefined;
  /** Entries whose work is still in flight. */
  tasks: number;
  /** Whether `cacheClose()` has been called. */
  closed: boolean;
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

// What a slot's outcome is.
const FREE = 0;
const RUNNING = 1;
const VALUE = 2;
const SHARED = 3;
const INITIAL_SLOTS = 16;

const SCHEDULER_CHANGE_WARNING =
  "alruCache detected a scheduler change (the global timer functions were replaced, as when fake timers are installed or removed) and cleared the cache of";

function listOf(arity: number, first: unknown, second: unknown): unknown[] {
  return arity === 1 ? [first] : arity === 0 ? [] : [first, second];
}

function sameValueZero(a: unknown, b: unknown): boolean {
  return a === b || (a !== a && b !== b);
}

/** An LRU cache of the outcomes of one async function. */
export class AsyncLruCache<R> implements FlightObserver<R> {
  readonly #fn: (...args: unknown[]) => unknown;
  readonly #name: string;
  readonly #maxSize: number;
  readonly #ttl: number | undefined;
  readonly #jitter: number | undefined;
  readonly #random: () => number;
  readonly #key: ((...args: unknown[]) => unknown) | undefined;
  readonly #passSignal: boolean;

  readonly #index = new Map<unknown, number>();
  readonly #list: RecencyList;
  readonly #argumentsKeys = new ArgumentsKeys();
  readonly #inflight: InflightRegistry<R> = new InflightRegistry<R>(this);
  // Per slot: the key, and the outcome, whose kind #kinds tells: the work
  // while it runs, then its value, and from the first hit on the promise
  // that hits hand out. An entry nobody asks for again holds no promise.
  #keys: unknown[] = [];
  #outcomes: unknown[] = [];
  #kinds = new Uint8Array(INITIAL_SLOTS);
  #expiry: ExpiryQueue | undefined = undefined;

  // The global setTimeout the cache is bound to; null for an explicit clock,
  // which is never re-checked, and undefined before the first call.
  #boundSetTimeout: unknown;
  #warnedSchedulerChange = false;

  #hits = 0;
  #misses = 0;
  #tasks = 0;
  #closed = false;
  // Set by a close without wait: work started after it is abandoned at once.
  #abandoning = false;

  constructor(fn: (...args: unknown[]) => unknown, options: ResolvedOptions) {
    this.#fn = fn;
    this.#name = fn.name || "anonymous";
    this.#maxSize = options.maxSize;
    // A miss adds its entry before it evicts: one slot more than maxSize.
    this.#list = new RecencyList(options.maxSize + 1);
    this.#ttl = options.ttl;
    this.#jitter = options.jitter;
    this.#random = options.random;
    this.#key = options.key;
    this.#passSignal = options.signal;
    if (options.clock !== undefined) {
      this.#boundSetTimeout = null;
      this.#useClock(options.clock);
    }
  }

  /** Whether keys come from the arguments themselves rather than a `key` option. */
  get usesArgumentKeys(): boolean {
    return this.#key === undefined;
  }

  /**
   * Answers a plain call (no signal) of `arity` arguments, at most two, given
   * one by one so that the caller never gathers them into an array; a hit on
   * an entry that has been hit before allocates nothing. Only for argument
   * keys.
   */
  callShort(
    thisArg: unknown,
    arity: number,
    first: unknown,
    second: unknown,
  ): Promise<R> {
    if (this.#closed || this.#schedulerChanged()) {
      return this.call(thisArg, listOf(arity, first, second));
    }
    const key = arity === 1
      ? first
      : this.#argumentsKeys.findShort(arity, first, second);
    if (key !== ABSENT) {
      const slot = this.#index.get(key);
      if (slot !== undefined) return this.#hit(slot, undefined);
    }
    return arity === 1 && !this.#passSignal
      ? this.#missOne(thisArg, first)
      : this.#miss(thisArg, listOf(arity, first, second), key, undefined);
  }

  /**
   * Answers a call with `args` made on `thisArg`. A caller that gives
   * `signal` stops waiting when it aborts; see {@linkcode InflightRegistry.join}.
   */
  call(
    thisArg: unknown,
    args: ArrayLike<unknown>,
    signal?: AbortSignal,
  ): Promise<R> {
    if (this.#closed) {
      return Promise.reject(new CacheClosedError(this.#name));
    }
    if (signal !== undefined && signal.aborted) {
      return Promise.reject(signal.reason);
    }
    if (this.#schedulerChanged()) this.#bindToCurrentScheduler();
    let key: unknown;
    try {
      key = this.#keyOf(thisArg, args);
    } catch (error) {
      return Promise.reject(error);
    }
    if (key !== ABSENT) {
      const slot = this.#index.get(key);
      if (slot !== undefined) return this.#hit(slot, signal);
    }
    return this.#miss(thisArg, args, key, signal);
  }

  /** Whether an entry, settled or in flight, exists for `args`. */
  contains(thisArg: unknown, args: ArrayLike<unknown>): boolean {
    const key = this.#keyOf(thisArg, args);
    return key !== ABSENT && this.#index.has(key);
  }

  /** Removes the entry for `args`; says whether there was one. */
  invalidate(thisArg: unknown, args: ArrayLike<unknown>): boolean {
    const key = this.#keyOf(thisArg, args);
    const slot = key === ABSENT ? undefined : this.#index.get(key);
    if (slot === undefined) return false;
    this.#remove(slot);
    return true;
  }

  /** Drops every entry and resets the counters. */
  clear(): void {
    // Work still in flight is detached, not stopped: its callers get its outcome.
    for (const slot of this.#list.slots()) {
      if (this.#kinds[slot] === RUNNING) {
        (this.#outcomes[slot] as Flight<R>).slot = -1;
      }
    }
    this.#index.clear();
    this.#argumentsKeys.clear();
    this.#list.clear();
    this.#expiry?.clear();
    this.#keys = [];
    this.#outcomes = [];
    this.#tasks = 0;
    this.#hits = this.#misses = 0;
  }

  /** Closes the cache; see {@linkcode CloseOptions}. */
  async close(options: CloseOptions = {}): Promise<void> {
    this.#closed = true;
    this.#expiry?.clear();
    if (!options.wait) {
      this.#abandoning = true;
      this.#inflight.abandonAll(() => abandonedError(this.#name));
    }
    await this.#inflight.whenSettled();
  }

  info(): CacheInfo {
    return {
      hits: this.#hits,
      misses: this.#misses,
      maxSize: this.#maxSize,
      currSize: this.#list.size,
    };
  }

  parameters(): CacheParameters {
    return {
      maxSize: this.#maxSize,
      ttl: this.#ttl,
      jitter: this.#jitter,
      tasks: this.#tasks,
      closed: this.#closed,
    };
  }

  /** Records the outcome of work whose entry may still be in the cache. */
  fulfilled(flight: Flight<R>, value: R): void {
    if (flight.slot === -1) return;
    let lifetime = this.#closed ? undefined : this.#ttl;
    // Unset or 0: no jitter, and no draw.
    if (lifetime !== undefined && this.#jitter) {
      try {
        lifetime += this.#draw() * this.#jitter;
      } catch (error) {
        // An entry that cannot expire is not kept.
        if (flight.slot !== -1) this.#remove(flight.slot);
        throw error;
      }
    }
    // The random source may have called the cache and dropped the entry.
    const slot = flight.slot;
    if (slot === -1) return;
    this.#settle(flight);
    this.#outcomes[slot] = value;
    this.#kinds[slot] = VALUE;
    if (lifetime === undefined || lifetime === Infinity) return;
    if (lifetime <= 0) {
      this.#remove(slot);
      return;
    }
    try {
      this.#expiry!.schedule(slot, lifetime);
    } catch (error) {
      if (this.#holdsValue(slot)) this.#remove(slot);
      throw error;
    }
    // The clock may have called the cache and dropped the entry meanwhile.
    if (!this.#holdsValue(slot)) this.#expiry!.cancel(slot);
  }

  /** Drops the entry of work that failed or was abandoned. */
  rejected(flight: Flight<R>, _reason: unknown): void {
    if (flight.slot !== -1) this.#remove(flight.slot);
  }

  // Whether the global timers differ from those a default-clock cache is
  // bound to (or the cache has not bound yet).
  #schedulerChanged(): boolean {
    return this.#boundSetTimeout !== null &&
      globalThis.setTimeout !== this.#boundSetTimeout;
  }

  // Counts a hit, promotes the entry and hands out its outcome.
  #hit(slot: number, signal: AbortSignal | undefined): Promise<R> {
    this.#hits++;
    this.#list.touch(slot);
    const kind = this.#kinds[slot];
    if (kind === SHARED) return this.#outcomes[slot] as Promise<R>;
    if (kind === RUNNING) {
      return this.#inflight.join(this.#outcomes[slot] as Flight<R>, signal);
    }
    return this.#share(slot);
  }

  // The first hit since the entry settled: it makes the promise that this
  // and every later hit hand out.
  #share(slot: number): Promise<R> {
    const promise = Promise.resolve(this.#outcomes[slot] as R);
    this.#outcomes[slot] = promise;
    this.#kinds[slot] = SHARED;
    return promise;
  }

  #draw(): number {
    const fraction = this.#random();
    if (!(fraction >= 0 && fraction < 1)) {
      throw new RangeError(
        `alruCache option "random" must return a number in [0, 1); it returned ${fraction}`,
      );
    }
    return fraction;
  }

  #keyOf(thisArg: unknown, args: ArrayLike<unknown>): unknown {
    if (this.#key !== undefined) {
      return this.#key.apply(thisArg, args as unknown[]);
    }
    return args.length === 1 ? args[0] : this.#argumentsKeys.find(args);
  }

  #miss(
    thisArg: unknown,
    args: ArrayLike<unknown>,
    key: unknown,
    signal: AbortSignal | undefined,
  ): Promise<R> {
    let result: unknown;
    let controller: AbortController | undefined;
    try {
      if (this.#passSignal) {
        controller = new AbortController();
        result = this.#fn.apply(thisArg, [
          ...Array.from(args),
          controller.signal,
        ]);
      } else {
        result = this.#fn.apply(thisArg, args as unknown[]);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#admit(result, controller, key, args, signal);
  }

  // A plain call's miss on one argument, which is its own key: the function
  // gets it as is, with no argument list built.
  #missOne(thisArg: unknown, argument: unknown): Promise<R> {
    let result: unknown;
    try {
      result = this.#fn.call(thisArg, argument);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#admit(result, undefined, argument, undefined, undefined);
  }

  // Enters the work `fn` started as a new entry under `key`, which, when
  // ABSENT, is interned from `args` now that `fn` has run.
  #admit(
    result: unknown,
    controller: AbortController | undefined,
    key: unknown,
    args: ArrayLike<unknown> | undefined,
    signal: AbortSignal | undefined,
  ): Promise<R> {
    if (this.#closed) return this.#startAfterClose(result, controller, signal);
    if (key === ABSENT) key = this.#argumentsKeys.intern(args!);
    const slot = this.#list.add();
    const flight = this.#inflight.start(slot, controller);
    this.#keys[slot] = key;
    this.#outcomes[slot] = flight;
    if (slot === this.#kinds.length) this.#growKinds();
    this.#kinds[slot] = RUNNING;
    this.#tasks++;
    const sizeBefore = this.#index.size;
    this.#index.set(key, slot);
    // The function may have called the cache with the same key while it ran;
    // the entry made then lost its index entry just now and must go too.
    if (this.#index.size === sizeBefore) this.#removeShadowed(key, slot);
    while (this.#list.size > this.#maxSize) this.#remove(this.#list.oldest);
    this.#misses++;
    const promise = this.#inflight.join(flight, signal);
    // Last, once the entry is whole: a thenable's `then` may call the cache.
    this.#inflight.watch(flight, result);
    return promise;
  }

  // The function closed its own cache while it ran: its work gets no entry,
  // and shares the fate of the work that close abandoned or waits for.
  #startAfterClose(
    result: unknown,
    controller: AbortController | undefined,
    signal: AbortSignal | undefined,
  ): Promise<R> {
    const flight = this.#inflight.start(-1, controller);
    const promise = this.#inflight.join(flight, signal);
    this.#inflight.watch(flight, result);
    this.#misses++;
    if (this.#abandoning) {
      this.#inflight.abandon(flight, abandonedError(this.#name));
    }
    return promise;
  }

  // Detaches attached work from its slot; the entry itself stays.
  #settle(flight: Flight<R>): void {
    flight.slot = -1;
    this.#tasks--;
  }

  #remove(slot: number): void {
    const key = this.#keys[slot];
    this.#index.delete(key);
    if (this.#key === undefined) this.#argumentsKeys.release(key);
    this.#forget(slot);
  }

  // Frees a slot whose key is already out of the index.
  #forget(slot: number): void {
    if (this.#kinds[slot] === RUNNING) {
      this.#settle(this.#outcomes[slot] as Flight<R>);
    }
    this.#keys[slot] = undefined;
    this.#outcomes[slot] = undefined;
    this.#kinds[slot] = FREE;
    this.#list.delete(slot);
    // Last, with the slot free: cancelling may call the clock, and the clock
    // may call the cache.
    this.#expiry?.cancel(slot);
  }

  // Whether `slot` holds a settled entry.
  #holdsValue(slot: number): boolean {
    const kind = this.#kinds[slot];
    return kind === VALUE || kind === SHARED;
  }

  // Slots are handed out in order, so the array never falls more than one
  // slot behind; like the recency list, it grows past maxSize + 1 only as
  // far as needed.
  #growKinds(): void {
    const length = this.#kinds.length;
    const kinds = new Uint8Array(
      grownLength(length, length + 1, this.#maxSize + 1),
    );
    kinds.set(this.#kinds);
    this.#kinds = kinds;
  }

  #removeShadowed(key: unknown, newSlot: number): void {
    for (const slot of this.#list.slots()) {
      if (slot !== newSlot && sameValueZero(this.#keys[slot], key)) {
        this.#forget(slot);
        return;
      }
    }
  }

  #useClock(clock: Clock): void {
    if (this.#ttl === undefined) return;
    if (this.#expiry === undefined) {
      this.#expiry = new ExpiryQueue(clock, (slot) => this.#remove(slot), {
        capacityLimit: this.#maxSize + 1,
      });
    } else {
      this.#expiry.rebind(clock);
    }
  }

  #bindToCurrentScheduler(): void {
    if (this.#boundSetTimeout !== undefined) {
      if (!this.#warnedSchedulerChange) {
        this.#warnedSchedulerChange = true;
        console.warn(
          `${SCHEDULER_CHANGE_WARNING} ${this.#name}. In-flight work is left to finish. This is expected only in tests.`,
        );
      }
      this.clear();
    }
    const clock = new SystemClock();
    this.#boundSetTimeout = globalThis.setTimeout;
    this.#useClock(clock);
  }
}
