/**
 * The cache behind one wrapped function: the call protocol and its counters.
 * The entries live in an {@linkcode EntryTable}, their deadlines in an
 * {@linkcode ExpiryQueue}, running work in an {@linkcode InflightRegistry}.
 *
 * User code (the function, the key function, the clock, the random source,
 * thenables, abort listeners, `console`) is called only while the cache is
 * whole: inputs a change needs are read before it starts, the change itself
 * is plain bookkeeping, and what it sets off that calls user code (aborting
 * abandoned work's signal, arming or cancelling the expiry timer) is queued
 * and run after it. Any of that user code may call the cache again.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import {
  EntryTable,
  FAILED,
  RUNNING,
  SHARED,
  STALE,
  STALE_SHARED,
  VALUE,
} from "./entries.ts";
import { abandonedError, CacheClosedError } from "./errors.ts";
import {
  type Flight,
  type FlightEvents,
  InflightRegistry,
} from "./inflight.ts";
import { ABSENT, ArgumentsKey, ArgumentsKeys } from "./key.ts";
import { KeepPolicy } from "./keeping.ts";
import { NO_SLOT, type Slot } from "./lru.ts";
import {
  type CacheEvent,
  type CacheEventType,
  type CloseOptions,
  closeWaitOf,
  type ResolvedOptions,
} from "./options.ts";
import { SchedulerGuard } from "./scheduler_guard.ts";
import { jsonSerializer } from "./serializer.ts";
import { type SharedOutcome, SharedTier, type StoreEvent } from "./store.ts";
import { encodeKey, encodeKeyOf } from "./store_key.ts";
import {
  EncodedKey,
  isPlainPrimitive,
  isPrimitiveList,
  SharedKeys,
} from "./shared_keys.ts";
import { type Fallback, Fallbacks, type Timing } from "./stale.ts";
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

/** Counters since creation or the last clear, as `cacheStats()` reports them. */
export interface CacheStats {
  /** Calls answered from an entry: fresh, in flight, stale or a kept failure. */
  hits: number;
  /** Calls that ran the function. */
  misses: number;
  /** Hits answered with a stale value. */
  staleHits: number;
  /** Hits answered with a kept failure. */
  errorHits: number;
  /** Refreshes started, in the background or by `cacheRefresh`. */
  refreshes: number;
  /** Refreshes that rejected. */
  refreshFailures: number;
  /** Entries dropped to keep within `maxSize`. */
  evictions: number;
  /** Entries whose time ran out. */
  expirations: number;
  /** Entries removed by `cacheInvalidate`. */
  invalidations: number;
  /** With a `store` only: store operations that failed or timed out. */
  storeErrors?: number;
}

// What a flight's work was started for.
const MISS = 0;
// A stale hit's refresh: its failure may be kept.
const BACKGROUND = 1;
// cacheRefresh's run: its failure is never kept nor answered with a stale value.
const FORCED = 2;
// A miss that goes through the shared tier: its work resolves with a
// SharedOutcome, not with the value.
const SHARED_MISS = 3;

function isMiss(purpose: number): boolean {
  return purpose === MISS || purpose === SHARED_MISS;
}

type Effect =
  | { controller: AbortController; reason: unknown; event?: undefined }
  | { event: CacheEvent };

function listOf(arity: number, first: unknown, second: unknown): unknown[] {
  return arity === 1 ? [first] : arity === 0 ? [] : [first, second];
}

/** An LRU cache of the outcomes of one async function. */
export class AsyncLruCache<R> {
  // One set of handlers for every cache, so that the work's reactions call
  // the same functions whichever cache they belong to.
  static readonly #flightEvents: FlightEvents<
    AsyncLruCache<unknown>,
    unknown
  > = {
    fulfilled: (cache, flight, value) => cache.#fulfilled(flight, value),
    rejected: (cache, flight, reason) => cache.#rejected(flight, reason),
    deserted: (cache, flight, reason) => cache.#deserted(flight, reason),
  };

  readonly #fn: (...args: unknown[]) => unknown;
  readonly #name: string;
  readonly #maxSize: number;
  readonly #ttl: number | undefined;
  readonly #jitter: number | undefined;
  readonly #key: ((...args: unknown[]) => unknown) | undefined;
  readonly #passSignal: boolean;
  // Absent when nothing about an outcome is decided: no ttl, no shouldCache,
  // no kept failures, no stale values.
  readonly #keeping: KeepPolicy | undefined;
  readonly #staleWhileRevalidate: number;
  readonly #staleIfError: number;
  readonly #onEvent: ((event: CacheEvent) => void) | undefined;
  // Absent without a store.
  readonly #shared: SharedTier | undefined;
  readonly #sharedKeys: SharedKeys | undefined;
  // The longest life of anything the local tier keeps for a key, stale
  // values, fallbacks and kept failures included: localTtl with a store that
  // cannot tell this process of other processes' invalidations, so that they
  // reach it within that bound; otherwise Infinity.
  readonly #localTtl: number = Infinity;

  readonly #entries: EntryTable<Flight<R>>;
  readonly #argumentsKeys = new ArgumentsKeys();
  readonly #inflight: InflightRegistry<R, AsyncLruCache<R>>;
  #expiry: ExpiryQueue | undefined = undefined;
  // Per slot, the times of settled entries that may go stale or keep a
  // failure; made only for a cache that does either.
  #timings: (Timing | undefined)[] | undefined = undefined;
  readonly #fallbacks: Fallbacks | undefined;
  // Failed runs whose callers got a fallback instead, with the failure.
  readonly #answeredWithFallback:
    | WeakMap<Flight<R>, { reason: unknown }>
    | undefined;
  // Binds a cache on the default clock to the global timers; absent for an
  // explicit clock, which is never re-checked.
  readonly #guard: SchedulerGuard | undefined;

  #hits = 0;
  #misses = 0;
  #staleHits = 0;
  #errorHits = 0;
  #refreshes = 0;
  #refreshFailures = 0;
  #evictions = 0;
  #expirations = 0;
  #invalidations = 0;
  #storeErrors = 0;
  #closed = false;
  // Set by a close without wait: work started after it is abandoned at once.
  #abandoning = false;

  // Effects of changes already made, waiting for the cache to be whole.
  #effects: Effect[] = [];
  #runningEffects = false;
  #clockFailureReported = false;
  #eventFailureReported = false;

  constructor(fn: (...args: unknown[]) => unknown, options: ResolvedOptions) {
    this.#fn = fn;
    this.#name = fn.name || "anonymous";
    this.#maxSize = options.maxSize;
    // A miss adds its entry before it evicts: one slot more than maxSize.
    this.#entries = new EntryTable(options.maxSize + 1);
    this.#ttl = options.ttl;
    this.#jitter = options.jitter;
    this.#staleWhileRevalidate = options.staleWhileRevalidate ?? 0;
    this.#staleIfError = options.staleIfError ?? 0;
    if (
      options.ttl !== undefined || options.ttlOf !== undefined ||
      options.shouldCache !== undefined || options.errorTtl !== undefined ||
      options.errorTtlOf !== undefined
    ) {
      this.#keeping = new KeepPolicy(options);
      if (this.#keepsPast) this.#timings = [];
    }
    if (this.#staleIfError > 0) {
      this.#fallbacks = new Fallbacks(this.#maxSize);
      this.#answeredWithFallback = new WeakMap();
    }
    this.#onEvent = options.onEvent;
    if (options.store !== undefined) {
      this.#shared = new SharedTier(options.store, {
        lease: options.lease,
        storeTimeout: options.storeTimeout,
        serializer: {
          serialize: options.serialize ?? jsonSerializer.serialize,
          deserialize: options.deserialize ?? jsonSerializer.deserialize,
        },
        onError: (key, error) => this.#storeFailed(key, error),
      });
      this.#sharedKeys = new SharedKeys();
      if (!options.store.notifies) this.#localTtl = options.localTtl;
    }
    this.#key = options.key;
    this.#passSignal = options.signal;
    this.#inflight = new InflightRegistry(
      this,
      // The handlers are the same for every R.
      AsyncLruCache.#flightEvents as FlightEvents<AsyncLruCache<R>, R>,
    );
    if (options.clock !== undefined) this.#useClock(options.clock);
    else this.#guard = new SchedulerGuard();
  }

  /** Whether keys come from the arguments themselves rather than a `key` option. */
  get usesArgumentKeys(): boolean {
    return this.#key === undefined;
  }

  // Whether entries may outlive their lifetime as stale values or fallbacks,
  // or failures be kept: then settled entries have timings.
  get #keepsPast(): boolean {
    return this.#staleWhileRevalidate > 0 || this.#staleIfError > 0 ||
      this.#keeping?.keepsFailures === true;
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
    // With a store, objects are keyed by their encoding, never as they are:
    // looked up as they are, they miss, and #missShort sends them to call().
    if (this.#closed) return this.call(thisArg, listOf(arity, first, second));
    const key = arity === 1
      ? first
      : this.#argumentsKeys.findShort(arity, first, second);
    if (key !== ABSENT) {
      const slot = this.#entries.find(key);
      if (slot !== undefined) {
        return this.#hit(slot, undefined) ??
          this.#slowHit(
            slot,
            thisArg,
            listOf(arity, first, second),
            undefined,
          );
      }
    }
    return this.#missShort(thisArg, arity, first, second, key);
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
    let key: unknown;
    try {
      key = this.#keyOf(thisArg, args);
    } catch (error) {
      return Promise.reject(error);
    }
    // The key function may have closed the cache.
    if (this.#closed) {
      return Promise.reject(new CacheClosedError(this.#name));
    }
    if (key !== ABSENT) {
      const slot = this.#entries.find(key);
      if (slot !== undefined) {
        return this.#hit(slot, signal) ??
          this.#slowHit(slot, thisArg, args, signal);
      }
    }
    return this.#miss(thisArg, args, key, signal);
  }

  /**
   * Runs the function for `args` now, even when a fresh entry exists, and
   * stores its value as the key's entry; joins a run for the key already in
   * flight. Its failure leaves the entry as it was. Counts neither a hit nor
   * a miss.
   */
  refresh(thisArg: unknown, args: ArrayLike<unknown>): Promise<R> {
    if (this.#closed) {
      return Promise.reject(new CacheClosedError(this.#name));
    }
    let key: unknown;
    try {
      key = this.#keyOf(thisArg, args);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#guard !== undefined) this.#checkScheduler();
    if (this.#closed) {
      return Promise.reject(new CacheClosedError(this.#name));
    }
    const slot = key === ABSENT ? undefined : this.#entries.find(key);
    if (slot !== undefined) {
      const running = this.#entries.kind(slot) === RUNNING
        ? this.#entries.outcome(slot) as Flight<R>
        : this.#entries.refreshOf(slot);
      if (running !== undefined) return this.#joinForRefresh(running);
    }
    const controller = this.#passSignal ? new AbortController() : undefined;
    let result: unknown;
    try {
      result = this.#callFn(thisArg, args, controller);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#startRun(result, controller, key, args, FORCED)!;
  }

  // cacheRefresh joins a run in flight, but is never answered with a stale
  // value: if the run's failure is answered with a fallback, its caller gets
  // the failure.
  #joinForRefresh(flight: Flight<R>): Promise<R> {
    const promise = this.#inflight.join(flight, undefined);
    if (this.#fallbacks === undefined || !isMiss(flight.purpose)) {
      return promise;
    }
    return promise.then((value) => {
      const failure = this.#answeredWithFallback!.get(flight);
      if (failure !== undefined) throw failure.reason;
      return value;
    });
  }

  /** Whether an entry, settled or in flight, exists for `args`. */
  contains(thisArg: unknown, args: ArrayLike<unknown>): boolean {
    const key = this.#keyOf(thisArg, args);
    return key !== ABSENT && this.#entries.has(key);
  }

  /**
   * Removes the entry for `args`; says whether there was one. With a store,
   * also drops the key there and tells the other processes: the promise
   * resolves once they have been told, and says whether this process or the
   * store had the key.
   */
  invalidate(
    thisArg: unknown,
    args: ArrayLike<unknown>,
  ): boolean | Promise<boolean> {
    if (this.#shared === undefined) return this.#invalidateLocal(thisArg, args);
    let key: string;
    let removed: boolean;
    try {
      const local = this.#keyOf(thisArg, args);
      key = local === ABSENT ? encodeKey(args) : this.#storeKeyOf(local);
      removed = this.#invalidateLocal(thisArg, args, local);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#shared.invalidate(key).then(
      (stored) => removed || stored,
      (error) => {
        this.#storeFailed(key, error);
        throw error;
      },
    );
  }

  #invalidateLocal(
    thisArg: unknown,
    args: ArrayLike<unknown>,
    key = this.#keyOf(thisArg, args),
  ): boolean {
    if (key === ABSENT) return false;
    if (this.#fallbacks?.delete(key) === true && !this.#entries.has(key)) {
      this.#releaseKey(key);
    }
    const slot = this.#entries.find(key);
    if (slot === undefined) return false;
    this.#removeEntry(slot);
    this.#invalidations++;
    this.#emit("invalidate", key);
    this.#afterChange();
    return true;
  }

  /**
   * Drops every entry and resets the counters; running work is detached, not
   * stopped. With a store, also clears the namespace there and tells the
   * other processes; the promise resolves once they have been told.
   */
  clear(): void | Promise<void> {
    this.#clearEntries();
    this.#afterChange();
    if (this.#shared === undefined) return;
    return this.#shared.clear().catch((error) => {
      this.#storeFailed(undefined, error);
      throw error;
    });
  }

  /** Closes the cache; see {@linkcode CloseOptions}. */
  close(options?: CloseOptions): Promise<void> {
    let wait: boolean;
    try {
      wait = closeWaitOf(options);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#closed = true;
    this.#expiry?.clear();
    if (!wait) {
      this.#abandoning = true;
      for (const flight of this.#unsettled()) {
        this.#abandon(flight, abandonedError(this.#name));
      }
    }
    this.#afterChange();
    if (this.#shared === undefined) return this.#whenSettled();
    return Promise.all([this.#whenSettled(), this.#shared.close()]).then(
      () => {},
    );
  }

  info(): CacheInfo {
    return {
      hits: this.#hits,
      misses: this.#misses,
      maxSize: this.#maxSize,
      currSize: this.#entries.size,
    };
  }

  parameters(): CacheParameters {
    return {
      maxSize: this.#maxSize,
      ttl: this.#ttl,
      jitter: this.#jitter,
      tasks: this.#entries.running,
      closed: this.#closed,
    };
  }

  stats(): CacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      staleHits: this.#staleHits,
      errorHits: this.#errorHits,
      refreshes: this.#refreshes,
      refreshFailures: this.#refreshFailures,
      evictions: this.#evictions,
      expirations: this.#expirations,
      invalidations: this.#invalidations,
      ...(this.#shared === undefined ? {} : { storeErrors: this.#storeErrors }),
    };
  }

  /**
   * Throws if the cache is not whole: its parts disagree, it holds more than
   * `maxSize` entries, an entry waits to expire that is not settled, or a
   * closed cache still times entries. For tests.
   */
  assertConsistent(): void {
    this.#entries.assertConsistent();
    for (const flight of this.#inflight.assertConsistent()) {
      if (flight.slot !== NO_SLOT) {
        throw new Error(`orphaned work still fills slot ${flight.slot}`);
      }
    }
    for (const flight of this.#entries.runningWork()) {
      if (flight.settled || flight.index !== -1) {
        throw new Error(
          `the work in slot ${flight.slot} is settled or orphaned`,
        );
      }
    }
    if (this.#entries.size > this.#maxSize) {
      throw new Error(
        `${this.#entries.size} entries held, more than maxSize ${this.#maxSize}`,
      );
    }
    if ((this.#fallbacks?.size ?? 0) > this.#maxSize) {
      throw new Error(`more than maxSize ${this.#maxSize} fallbacks kept`);
    }
    const expiry = this.#expiry;
    if (expiry === undefined) return;
    expiry.assertConsistent((slot) => {
      const kind = this.#entries.kind(slot);
      if (
        this.#entries.find(this.#entries.key(slot)) !== slot ||
        kind === RUNNING
      ) {
        throw new Error(`slot ${slot} waits to expire but holds no value`);
      }
      if (this.#timings !== undefined && this.#timings[slot] === undefined) {
        throw new Error(`slot ${slot} waits to expire but has no times`);
      }
    });
    if (this.#closed && expiry.size > 0) {
      throw new Error("a closed cache still times entries");
    }
  }

  // Counts a hit, promotes the entry and hands out its outcome. Leaves to
  // #slowHit, by returning undefined, a hit that is watched or whose entry
  // is stale or a kept failure.
  #hit(slot: Slot, signal: AbortSignal | undefined): Promise<R> | undefined {
    const kind = this.#entries.kind(slot);
    if (kind > SHARED || this.#onEvent !== undefined) return undefined;
    this.#hits++;
    this.#entries.touch(slot);
    if (kind === SHARED) return this.#entries.outcome(slot) as Promise<R>;
    if (kind === RUNNING) {
      return this.#inflight.join(
        this.#entries.outcome(slot) as Flight<R>,
        signal,
      );
    }
    return this.#share(slot);
  }

  // A hit that #hit left: an entry that is stale or a kept failure, or any
  // hit while onEvent watches.
  #slowHit(
    slot: Slot,
    thisArg: unknown,
    args: ArrayLike<unknown>,
    signal: AbortSignal | undefined,
  ): Promise<R> {
    const kind = this.#entries.kind(slot);
    const key = this.#entries.key(slot);
    this.#hits++;
    this.#entries.touch(slot);
    let promise: Promise<R>;
    if (kind === FAILED) {
      // The fallback lives in the store, which may have let it go.
      const fallback = this.#timings![slot]!.fallback;
      if (fallback !== undefined && this.#fallbacks!.has(key)) {
        this.#staleHits++;
        this.#emit("stale", key);
        promise = Promise.resolve(fallback.value as R);
      } else {
        this.#errorHits++;
        this.#emit("hit", key);
        promise = Promise.reject(this.#entries.outcome(slot));
      }
    } else if (kind === STALE || kind === STALE_SHARED) {
      this.#staleHits++;
      this.#emit("stale", key);
      promise = kind === STALE_SHARED
        ? this.#entries.outcome(slot) as Promise<R>
        : this.#share(slot);
      this.#afterChange();
      // onEvent may have changed the entry.
      const kindNow = this.#entries.find(key) === slot
        ? this.#entries.kind(slot)
        : undefined;
      if (
        (kindNow === STALE || kindNow === STALE_SHARED) &&
        this.#entries.refreshOf(slot) === undefined &&
        this.#timings![slot]!.blockedUntil === 0
      ) {
        this.#startBackgroundRefresh(thisArg, args, key);
      }
      return promise;
    } else {
      this.#emit("hit", key);
      promise = kind === SHARED
        ? this.#entries.outcome(slot) as Promise<R>
        : kind === RUNNING
        ? this.#inflight.join(this.#entries.outcome(slot) as Flight<R>, signal)
        : this.#share(slot);
    }
    this.#afterChange();
    return promise;
  }

  // The first hit since the entry in `slot` settled: it makes the promise
  // that this and every later hit hand out. Making it reads a `then` the
  // value may have gained, which is user code: the entry is looked at again.
  #share(slot: Slot): Promise<R> {
    const value = this.#entries.outcome(slot);
    const promise = Promise.resolve(value as R);
    const kind = this.#entries.kind(slot);
    if (
      (kind === VALUE || kind === STALE) &&
      this.#entries.outcome(slot) === value
    ) {
      this.#entries.share(slot, promise);
    }
    return promise;
  }

  // A stale hit on `key` starts its refresh; every later stale hit shares it.
  #startBackgroundRefresh(
    thisArg: unknown,
    args: ArrayLike<unknown>,
    key: unknown,
  ): void {
    const controller = this.#passSignal ? new AbortController() : undefined;
    let result: unknown;
    try {
      result = this.#callFn(thisArg, args, controller);
    } catch (error) {
      // The caller has its stale value; the failure is the refresh's.
      result = Promise.reject(error);
    }
    this.#startRun(result, controller, key, args, BACKGROUND);
  }

  // Records a refresh whose function has just returned `result`: attached to
  // the key's entry, or as a new entry when there is none. Work that meets
  // another run of the key, started by the function itself, goes on
  // detached. Returns the promise of a caller that waits for it, if one does:
  // it joins before anything can settle the work.
  #startRun(
    result: unknown,
    controller: AbortController | undefined,
    key: unknown,
    args: ArrayLike<unknown>,
    purpose: number,
  ): Promise<R> | undefined {
    const flight = this.#inflight.start(controller);
    flight.purpose = purpose;
    const waiting = purpose === FORCED
      ? this.#inflight.join(flight, undefined)
      : undefined;
    this.#refreshes++;
    if (this.#closed) {
      this.#inflight.orphan(flight);
      if (this.#abandoning) this.#abandon(flight, abandonedError(this.#name));
    } else {
      if (key === ABSENT) key = this.#intern(args);
      flight.key = key;
      if (this.#keeping?.needsArguments === true) {
        flight.args = Array.from(args);
      }
      const slot = this.#entries.find(key);
      if (slot === undefined) {
        this.#entries.add(key, flight);
        this.#sharedKeys?.remember(this.#storeKeyOf(key), key);
        this.#evictOverflow();
      } else if (
        this.#entries.kind(slot) !== RUNNING &&
        this.#entries.refreshOf(slot) === undefined
      ) {
        this.#entries.startRefresh(slot, flight);
      } else {
        this.#inflight.orphan(flight);
      }
      this.#emit("refresh", key);
    }
    this.#afterChange();
    this.#inflight.watch(flight, result);
    return waiting;
  }

  #keyOf(thisArg: unknown, args: ArrayLike<unknown>): unknown {
    if (this.#shared !== undefined) {
      if (this.#key !== undefined) {
        return encodeKeyOf(this.#key.apply(thisArg, args as unknown[]));
      }
      if (!isPrimitiveList(args)) {
        return this.#sharedKeys!.find(encodeKey(args)) ?? ABSENT;
      }
    }
    if (this.#key !== undefined) {
      return this.#key.apply(thisArg, args as unknown[]);
    }
    return args.length === 1 ? args[0] : this.#argumentsKeys.find(args);
  }

  // Runs the function on `args`, and on the work's signal when it takes one.
  #callFn(
    thisArg: unknown,
    args: ArrayLike<unknown>,
    controller: AbortController | undefined,
  ): unknown {
    if (controller === undefined) {
      return this.#fn.apply(thisArg, args as unknown[]);
    }
    const withSignal = Array.from(args);
    withSignal.push(controller.signal);
    return this.#fn.apply(thisArg, withSignal);
  }

  #miss(
    thisArg: unknown,
    args: ArrayLike<unknown>,
    key: unknown,
    signal: AbortSignal | undefined,
  ): Promise<R> {
    if (this.#guard !== undefined) this.#checkScheduler();
    const controller = this.#passSignal ? new AbortController() : undefined;
    if (this.#shared !== undefined) {
      return this.#sharedMiss(thisArg, args, key, controller, signal);
    }
    let result: unknown;
    try {
      result = this.#callFn(thisArg, args, controller);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#admit(result, controller, key, args, signal);
  }

  // A miss with a store: the work is the shared tier's run, which calls the
  // function only if this process is to compute the key.
  #sharedMiss(
    thisArg: unknown,
    args: ArrayLike<unknown>,
    key: unknown,
    controller: AbortController | undefined,
    signal: AbortSignal | undefined,
  ): Promise<R> {
    const shared = this.#shared!;
    shared.listen((event) => this.#storeChanged(event));
    const argList = Array.from(args);
    // The store is user code: the key is interned by #admit, after it.
    const storeKey = key === ABSENT
      ? encodeKey(argList)
      : this.#storeKeyOf(key);
    // The run hears of the work's abort (#abandon's effect) through the
    // work's own signal, and then lets its lease go.
    const result = shared.run(
      storeKey,
      () => this.#callFn(thisArg, argList, controller),
      (value) => this.#keeping!.lifetimeOf(value, argList),
      controller?.signal,
    );
    return this.#admit(
      result,
      controller,
      key,
      argList,
      signal,
      SHARED_MISS,
      storeKey,
    );
  }

  // Another process changed the store: the local copies it concerns go.
  #storeChanged(event: StoreEvent): void {
    if (event.type === "clear") {
      this.#dropAllEntries();
    } else {
      const local = this.#sharedKeys!.localKeyOf(event.key);
      const slot = local === undefined ? undefined : this.#entries.find(local);
      if (slot !== undefined) this.#removeEntry(slot);
    }
    this.#afterChange();
  }

  // The local key of new entry for `args`, whose key is not interned yet.
  #intern(args: ArrayLike<unknown>): unknown {
    return this.#shared !== undefined && !isPrimitiveList(args)
      ? this.#sharedKeys!.intern(encodeKey(args), args)
      : this.#argumentsKeys.intern(args);
  }

  // The store key of the entry whose local key is `key`.
  #storeKeyOf(key: unknown): string {
    if (this.#key !== undefined) return key as string;
    if (key instanceof EncodedKey) return key.text;
    if (key instanceof ArgumentsKey) return encodeKey(key.args);
    return encodeKey([key]);
  }

  // The store failed or timed out; the call it concerned went on without it.
  #storeFailed(key: string | undefined, _error: unknown): void {
    this.#storeErrors++;
    this.#emit(
      "error",
      key === undefined ? undefined : this.#sharedKeys!.localKeyOf(key) ?? key,
    );
    this.#afterChange();
  }

  // A plain call's miss on at most two arguments: the function gets them
  // as they are, and an argument list is built only to intern a new key.
  #missShort(
    thisArg: unknown,
    arity: number,
    first: unknown,
    second: unknown,
    key: unknown,
  ): Promise<R> {
    if (this.#guard !== undefined) this.#checkScheduler();
    if (this.#shared !== undefined) {
      if (!isPlainPrimitive(first) || !isPlainPrimitive(second)) {
        return this.call(thisArg, listOf(arity, first, second));
      }
      return this.#sharedMiss(
        thisArg,
        listOf(arity, first, second),
        key,
        this.#passSignal ? new AbortController() : undefined,
        undefined,
      );
    }
    const fn = this.#fn;
    let result: unknown;
    let controller: AbortController | undefined;
    try {
      if (this.#passSignal) {
        controller = new AbortController();
        const signal = controller.signal;
        result = arity === 1
          ? fn.call(thisArg, first, signal)
          : arity === 0
          ? fn.call(thisArg, signal)
          : fn.call(thisArg, first, second, signal);
      } else {
        result = arity === 1
          ? fn.call(thisArg, first)
          : arity === 0
          ? fn.call(thisArg)
          : fn.call(thisArg, first, second);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#admit(
      result,
      controller,
      key,
      key === ABSENT || this.#keeping?.needsArguments === true
        ? listOf(arity, first, second)
        : undefined,
      undefined,
    );
  }

  // Enters the work `fn` started as a new entry under `key`, which, when
  // ABSENT, is interned from `args` now that `fn` has run.
  #admit(
    result: unknown,
    controller: AbortController | undefined,
    key: unknown,
    args: ArrayLike<unknown> | undefined,
    signal: AbortSignal | undefined,
    purpose = MISS,
    storeKey?: string,
  ): Promise<R> {
    if (this.#closed) return this.#startAfterClose(result, controller, signal);
    if (key === ABSENT) key = this.#intern(args!);
    const flight = this.#inflight.start(controller);
    flight.key = key;
    flight.purpose = purpose;
    if (this.#keeping?.needsArguments === true) flight.args = Array.from(args!);
    const displaced = this.#entries.add(key, flight);
    this.#sharedKeys?.remember(storeKey ?? this.#storeKeyOf(key), key);
    if (displaced !== undefined) this.#inflight.orphan(displaced);
    this.#evictOverflow();
    this.#misses++;
    if (this.#onEvent !== undefined) this.#emit("miss", key);
    const promise = this.#inflight.join(flight, signal);
    // The caller gave up while the function ran, and nobody else waits.
    if (
      signal !== undefined && !flight.settled &&
      this.#inflight.isDeserted(flight)
    ) {
      this.#abandon(flight, signal.reason);
    }
    this.#afterChange();
    // Last, once the cache is whole: a thenable's `then` may call the cache.
    this.#inflight.watch(flight, result);
    return promise;
  }

  // Drops least recently used entries while there are more than maxSize.
  #evictOverflow(): void {
    while (this.#entries.size > this.#maxSize) {
      const slot = this.#entries.oldest;
      if (this.#onEvent !== undefined) {
        this.#emit("evict", this.#entries.key(slot));
      }
      this.#evictions++;
      this.#removeEntry(slot);
    }
  }

  // The function closed its own cache while it ran: its work gets no entry,
  // and shares the fate of the work that close abandoned or waits for.
  #startAfterClose(
    result: unknown,
    controller: AbortController | undefined,
    signal: AbortSignal | undefined,
  ): Promise<R> {
    const flight = this.#inflight.start(controller);
    this.#inflight.orphan(flight);
    this.#misses++;
    const promise = this.#inflight.join(flight, signal);
    if (this.#abandoning) this.#abandon(flight, abandonedError(this.#name));
    this.#afterChange();
    this.#inflight.watch(flight, result);
    return promise;
  }

  #fulfilled(flight: Flight<R>, value: R): void {
    if (flight.settled) return;
    if (this.#keeping !== undefined || flight.purpose !== MISS) {
      this.#fulfilledKept(flight, value);
      return;
    }
    const slot = flight.slot;
    if (slot !== NO_SLOT) this.#entries.settle(slot, value);
    this.#inflight.resolve(flight, value);
    this.#afterChange();
  }

  // Work whose value may be kept for a time, or not at all, or that
  // refreshes an entry, resolved. What to keep is decided first, while the
  // entry still runs and can be joined, since the options that decide and
  // the clock may call the cache; the entry is looked at again afterwards.
  #fulfilledKept(flight: Flight<R>, value: R): void {
    let lifetime = Infinity;
    let now = 0;
    if (flight.purpose === SHARED_MISS) {
      // The shared tier has decided, and gives the value as the store has it
      // with its own lifetime (all of it for the writer, what is left of it
      // in the store for a reader); a local copy may live less.
      const outcome = value as unknown as SharedOutcome;
      value = outcome.value as R;
      if (!this.#closed) lifetime = Math.min(outcome.lifetime, this.#localTtl);
      if (flight.slot !== NO_SLOT && lifetime > 0 && !this.#closed) {
        try {
          now = this.#expiry!.now();
        } catch (error) {
          this.#dropEntry(flight.slot);
          this.#inflight.reject(flight, error);
          this.#afterChange();
          return;
        }
        if (flight.settled) return;
      }
    } else if (flight.slot !== NO_SLOT && this.#keeping !== undefined) {
      try {
        // Entries of a closed cache never expire; shouldCache still decides
        // whether they are kept.
        lifetime = this.#closed
          ? (this.#keeping.keeps(value, flight.args ?? []) ? Infinity : 0)
          : Math.min(
            this.#keeping.lifetimeOf(value, flight.args ?? []),
            this.#localTtl,
          );
        if (
          !this.#closed &&
          lifetime > 0 &&
          (lifetime !== Infinity || this.#timings !== undefined)
        ) {
          now = this.#expiry!.now();
        }
      } catch (error) {
        // A value that cannot be judged is not kept, nor is the entry it
        // was to refresh.
        if (flight.settled) return;
        const slot = flight.slot;
        if (slot !== NO_SLOT) {
          if (this.#entries.kind(slot) !== RUNNING) {
            this.#entries.endRefresh(slot);
          }
          this.#dropEntry(slot);
        }
        this.#inflight.reject(flight, error);
        this.#afterChange();
        return;
      }
    }
    if (flight.settled) return;
    const slot = flight.slot;
    if (slot !== NO_SLOT) {
      if (this.#entries.kind(slot) === RUNNING) {
        this.#entries.settle(slot, value);
      } else {
        this.#entries.endRefresh(slot);
        this.#entries.replace(slot, value);
      }
      this.#keep(slot, value, lifetime, now);
    }
    this.#inflight.resolve(flight, value);
    this.#afterChange();
  }

  // Times the value just stored in `slot` to live `lifetime` ms from `now`,
  // or drops it at once.
  #keep(slot: Slot, value: unknown, lifetime: number, now: number): void {
    if (lifetime <= 0) {
      this.#removeEntry(slot);
      return;
    }
    // A newer good value replaces the fallback; the entry holds the key.
    this.#fallbacks?.delete(this.#entries.key(slot));
    const freshUntil = now + lifetime;
    if (this.#timings !== undefined) {
      this.#timings[slot] = {
        value,
        freshUntil,
        until: Infinity,
        blockedUntil: 0,
        reason: undefined,
        fallback: undefined,
        heldUntil: now + this.#localTtl,
      };
    }
    const expiry = this.#expiry;
    expiry?.cancel(slot);
    // Entries of a closed cache never expire.
    if (this.#closed) return;
    if (lifetime !== Infinity) expiry!.schedule(slot, freshUntil);
  }

  #rejected(flight: Flight<R>, reason: unknown): void {
    if (flight.settled) return;
    if (
      this.#keeping !== undefined || flight.purpose !== MISS ||
      this.#onEvent !== undefined
    ) {
      this.#rejectedKept(flight, reason);
      return;
    }
    if (flight.slot !== NO_SLOT) this.#dropEntry(flight.slot);
    this.#inflight.reject(flight, reason);
    this.#afterChange();
  }

  // Work that may leave a kept failure, a fallback or a refreshed entry
  // behind, or whose failure is watched, rejected. As for a value, what to
  // keep is decided before anything changes.
  #rejectedKept(flight: Flight<R>, reason: unknown): void {
    const purpose = flight.purpose;
    let failureLifetime = 0;
    let now = 0;
    let clockRead = false;
    let fallback: Fallback | undefined;
    let error = reason;
    if (
      flight.slot !== NO_SLOT && purpose !== FORCED &&
      this.#keeping !== undefined
    ) {
      try {
        if (this.#keeping.keepsFailures) {
          failureLifetime = Math.min(
            this.#keeping.failureLifetimeOf(reason, flight.args ?? []),
            this.#localTtl,
          );
        }
        if (
          !this.#closed &&
          ((failureLifetime > 0 && failureLifetime !== Infinity) ||
            (isMiss(purpose) && this.#fallbacks?.has(flight.key) === true))
        ) {
          now = this.#expiry!.now();
          clockRead = true;
        }
      } catch (thrown) {
        failureLifetime = 0;
        error = thrown;
      }
    }
    if (flight.settled) return;
    const slot = flight.slot;
    if (slot !== NO_SLOT) {
      if (this.#entries.kind(slot) === RUNNING) {
        const keepFailure = isMiss(purpose) && failureLifetime > 0 &&
          !this.#closed;
        const fallbacks = this.#fallbacks;
        if (
          isMiss(purpose) && error === reason && clockRead &&
          fallbacks !== undefined
        ) {
          fallback = fallbacks.peek(flight.key, now);
        }
        if (keepFailure) {
          this.#keepFailure(slot, reason, now, failureLifetime, fallback);
        } else {
          this.#dropEntry(slot);
        }
      } else {
        this.#entries.endRefresh(slot);
        if (
          purpose === BACKGROUND && failureLifetime > 0 && !this.#closed &&
          this.#timings !== undefined
        ) {
          const timing = this.#timings[slot]!;
          timing.blockedUntil = now + failureLifetime;
          timing.reason = reason;
          this.#reschedule(slot, timing);
        }
      }
    }
    if (!isMiss(purpose)) this.#refreshFailures++;
    this.#emit("error", flight.key);
    if (fallback !== undefined) {
      this.#answeredWithFallback!.set(flight, { reason });
      this.#inflight.resolve(flight, fallback.value as R);
    } else {
      this.#inflight.reject(flight, error);
    }
    this.#afterChange();
  }

  // Turns the entry in `slot`, whose work rejected with `reason`, into a kept
  // failure until `now + lifetime`, answering with `fallback` while it lasts.
  #keepFailure(
    slot: Slot,
    reason: unknown,
    now: number,
    lifetime: number,
    fallback: Fallback | undefined,
  ): void {
    this.#entries.fail(slot, reason);
    const timing: Timing = {
      value: undefined,
      freshUntil: -Infinity,
      until: now + lifetime,
      blockedUntil: 0,
      reason,
      fallback,
      heldUntil: now + this.#localTtl,
    };
    this.#timings![slot] = timing;
    this.#reschedule(slot, timing);
  }

  // Schedules `slot` for its next change of state, as `timing` says.
  #reschedule(slot: Slot, timing: Timing): void {
    const expiry = this.#expiry!;
    expiry.cancel(slot);
    if (this.#closed) return;
    const kind = this.#entries.kind(slot);
    let next: number;
    if (kind === VALUE || kind === SHARED) {
      next = timing.freshUntil;
    } else {
      next = timing.until;
      if (timing.blockedUntil !== 0 && timing.blockedUntil < next) {
        next = timing.blockedUntil;
      }
      if (timing.fallback !== undefined && timing.fallback.until < next) {
        next = timing.fallback.until;
      }
    }
    if (next !== Infinity) expiry.schedule(slot, next);
  }

  #deserted(flight: Flight<R>, reason: unknown): void {
    if (flight.settled) return;
    this.#abandon(flight, reason);
    this.#afterChange();
  }

  // Rejects the callers of unsettled `flight`, takes it out of its entry,
  // and queues the abort of its signal. A refresh leaves the entry it
  // refreshed; any other work's entry goes.
  #abandon(flight: Flight<R>, reason: unknown): void {
    if (flight.slot !== NO_SLOT) this.#removeSettling(flight);
    const controller = this.#inflight.reject(flight, reason);
    if (controller !== undefined) {
      this.#effects.push({ controller, reason });
    }
  }

  // Takes `flight`, about to settle, out of its slot: a refresh leaves its
  // entry, the entry's own work takes it along.
  #removeSettling(flight: Flight<R>): void {
    const slot = flight.slot;
    if (this.#entries.kind(slot) === RUNNING) this.#dropEntry(slot);
    else this.#entries.endRefresh(slot);
  }

  // The expiry timer fired: what is due goes.
  #expireDue(): void {
    if (this.#guard !== undefined && this.#guard.changed()) {
      this.#rebind();
      return;
    }
    const expiry = this.#expiry!;
    let now: number;
    let clockFailure: { error: unknown } | undefined;
    try {
      now = expiry.now();
    } catch (error) {
      // The fired timer still proves its own deadline.
      now = expiry.provenTime;
      clockFailure = { error };
    }
    this.#removeDue(expiry, now);
    if (clockFailure !== undefined) {
      this.#reportClockFailure(clockFailure.error);
    }
    this.#afterChange();
  }

  // Moves every entry due at or before `time` on: it goes, or, where it may
  // go stale or keeps a failure, it changes state.
  #removeDue(expiry: ExpiryQueue, time: number): void {
    for (
      let slot = expiry.takeDue(time);
      slot !== NO_SLOT;
      slot = expiry.takeDue(time)
    ) {
      if (this.#timings === undefined) this.#expire(slot, undefined);
      else this.#advance(slot, time);
    }
  }

  // The entry in `slot`, of a cache that keeps the past, is due at `time`.
  #advance(slot: Slot, time: number): void {
    const timing = this.#timings![slot]!;
    const kind = this.#entries.kind(slot);
    if (kind === VALUE || kind === SHARED) {
      if (timing.freshUntil > time) return this.#reschedule(slot, timing);
      if (this.#staleWhileRevalidate > 0) {
        this.#entries.makeStale(slot);
        timing.until = Math.min(
          timing.freshUntil + this.#staleWhileRevalidate,
          timing.heldUntil,
        );
      } else {
        timing.until = timing.freshUntil;
      }
    }
    if (timing.blockedUntil !== 0 && timing.blockedUntil <= time) {
      timing.blockedUntil = 0;
    }
    if (timing.fallback !== undefined && timing.fallback.until <= time) {
      timing.fallback = undefined;
    }
    if (timing.until > time) return this.#reschedule(slot, timing);
    // A kept failure's fallback is already in the store.
    let fallback: Fallback | undefined;
    if (kind !== FAILED && this.#staleIfError > 0) {
      const until = Math.min(
        timing.freshUntil + this.#staleIfError,
        timing.heldUntil,
      );
      if (until > time) fallback = { value: timing.value, until };
    }
    if (kind !== FAILED && timing.blockedUntil !== 0) {
      // The value's time is over, but the failure of its refresh is still
      // kept: the entry stays as that failure.
      const key = this.#entries.key(slot);
      if (fallback !== undefined) this.#keepFallback(key, fallback, time);
      this.#expirations++;
      this.#emit("expire", key);
      this.#entries.replaceWithFailure(slot, timing.reason);
      timing.until = timing.blockedUntil;
      timing.blockedUntil = 0;
      timing.fallback = fallback;
      this.#reschedule(slot, timing);
      return;
    }
    this.#expire(slot, fallback === undefined ? undefined : { fallback, time });
  }

  // The entry in `slot` goes because its time ran out, leaving `kept` behind
  // as its key's fallback.
  #expire(
    slot: Slot,
    kept: { fallback: Fallback; time: number } | undefined,
  ): void {
    const key = this.#entries.key(slot);
    if (kept !== undefined) this.#keepFallback(key, kept.fallback, kept.time);
    this.#expirations++;
    this.#emit("expire", key);
    this.#removeEntry(slot);
  }

  // Removes the entry in `slot`. Its work and its refresh, if in flight, go
  // on without it, kept by the registry as orphans.
  #removeEntry(slot: Slot): void {
    if (this.#entries.kind(slot) === RUNNING) {
      this.#inflight.orphan(this.#entries.outcome(slot) as Flight<R>);
    }
    const refresh = this.#entries.refreshOf(slot);
    if (refresh !== undefined) {
      this.#entries.endRefresh(slot);
      this.#inflight.orphan(refresh);
    }
    this.#dropEntry(slot);
  }

  // Removes the entry in `slot`, whose work, if in flight, the caller is
  // about to settle. The entry goes first: settling may call user code.
  #dropEntry(slot: Slot): void {
    const key = this.#entries.remove(slot);
    this.#sharedKeys?.forget(this.#storeKeyOf(key), key);
    this.#releaseKey(key);
    this.#expiry?.cancel(slot);
    if (this.#timings !== undefined) this.#timings[slot] = undefined;
  }

  // Keeps `fallback` for `key` at `time`, letting go of the keys of the
  // fallbacks it pushes out.
  #keepFallback(key: unknown, fallback: Fallback, time: number): void {
    for (const dropped of this.#fallbacks!.set(key, fallback, time)) {
      if (!this.#entries.has(dropped)) this.#releaseKey(dropped);
    }
  }

  // Lets an interned argument list go once neither an entry nor a fallback
  // holds it.
  #releaseKey(key: unknown): void {
    if (this.#key !== undefined || this.#fallbacks?.has(key) === true) return;
    if (this.#sharedKeys !== undefined && key instanceof EncodedKey) {
      this.#sharedKeys.release(key);
    } else {
      this.#argumentsKeys.release(key);
    }
  }

  #clearEntries(): void {
    this.#dropAllEntries();
    this.#hits =
      this.#misses =
      this.#staleHits =
      this.#errorHits =
        0;
    this.#refreshes = this.#refreshFailures = this.#evictions = 0;
    this.#expirations = this.#invalidations = this.#storeErrors = 0;
  }

  // Drops every entry and fallback; the counters stay.
  #dropAllEntries(): void {
    for (const flight of this.#entries.runningWork()) {
      this.#inflight.orphan(flight);
    }
    this.#entries.clear();
    this.#argumentsKeys.clear();
    this.#sharedKeys?.clear();
    this.#expiry?.clear();
    this.#fallbacks?.clear();
    if (this.#timings !== undefined) this.#timings = [];
  }

  // Queues an event for onEvent, if there is one.
  #emit(type: CacheEventType, key: unknown): void {
    if (this.#onEvent === undefined) return;
    let shown = key;
    if (this.#key === undefined) {
      if (key instanceof ArgumentsKey) shown = key.args;
      else if (key instanceof EncodedKey) {
        shown = key.args.length === 1 ? key.args[0] : key.args;
      }
    }
    this.#effects.push({ event: { type, key: shown } });
  }

  // Runs the effects of the change just made, if it left any.
  #afterChange(): void {
    if (
      this.#effects.length !== 0 ||
      (this.#expiry !== undefined && this.#expiry.timerOutOfDate)
    ) {
      this.#runEffects();
    }
  }

  // Aborts abandoned work's signals, tells onEvent what happened and brings
  // the expiry timer in line with the entries. All of it calls user code,
  // which may change the cache again; the loop runs what such a change
  // leaves too. A call made while it runs only queues.
  #runEffects(): void {
    if (this.#runningEffects) return;
    this.#runningEffects = true;
    try {
      for (;;) {
        const effect = this.#effects.shift();
        if (effect !== undefined) {
          if (effect.event === undefined) {
            effect.controller.abort(effect.reason);
          } else {
            this.#tell(effect.event);
          }
          continue;
        }
        const expiry = this.#expiry;
        if (expiry === undefined || !expiry.timerOutOfDate) return;
        if (this.#guard !== undefined && this.#guard.changed()) {
          this.#rebind();
          continue;
        }
        try {
          expiry.syncTimer();
        } catch (error) {
          // Entries that no timer will expire are not kept.
          if (!expiry.armed) this.#removeDue(expiry, Infinity);
          this.#reportClockFailure(error);
        }
      }
    } finally {
      this.#runningEffects = false;
    }
  }

  // An onEvent that throws is the user's to fix; the call goes on, and the
  // failure is reported once.
  #tell(event: CacheEvent): void {
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

  // A clock that throws is the user's to fix; the cache goes on without the
  // entries it could not time, and says so once.
  #reportClockFailure(error: unknown): void {
    if (this.#clockFailureReported) return;
    this.#clockFailureReported = true;
    console.error(
      `alruCache's clock failed for ${this.#name}; the entries it could not time were dropped, and the cache goes on. Later clock failures of this cache are not reported.`,
      error,
    );
  }

  // Waits a turn first: work that a function running now starts, by closing
  // its own cache, is registered by then.
  async #whenSettled(): Promise<void> {
    await null;
    await this.#inflight.whenSettled(this.#unsettled());
  }

  // Every flight not settled yet: those of entries, and the orphans.
  #unsettled(): Flight<R>[] {
    return [...this.#entries.runningWork(), ...this.#inflight.orphans()];
  }

  #useClock(clock: Clock): void {
    const keeping = this.#keeping;
    if (keeping === undefined || !(keeping.timed || keeping.keepsFailures)) {
      return;
    }
    if (this.#expiry === undefined) {
      this.#expiry = new ExpiryQueue(clock, () => this.#expireDue(), {
        capacityLimit: this.#maxSize + 1,
      });
    } else {
      this.#expiry.rebind(clock);
    }
  }

  #checkScheduler(): void {
    if (this.#guard!.changed()) this.#rebind();
  }

  // Binds to the global timers now in effect, starting over if the cache was
  // bound to others.
  #rebind(): void {
    const clock = this.#guard!.rebind(this.#name);
    this.#clearEntries();
    this.#useClock(clock);
    this.#afterChange();
  }
}
