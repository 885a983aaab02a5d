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
import { EntryTable, RUNNING, SHARED, VALUE } from "./entries.ts";
import { abandonedError, CacheClosedError } from "./errors.ts";
import {
  type Flight,
  type FlightEvents,
  InflightRegistry,
} from "./inflight.ts";
import { ABSENT, ArgumentsKeys } from "./key.ts";
import { NO_SLOT, type Slot } from "./lru.ts";
import {
  type CloseOptions,
  closeWaitOf,
  type ResolvedOptions,
} from "./options.ts";
import { SchedulerGuard } from "./scheduler_guard.ts";
import { ExpiryQueue, Lifetime } from "./ttl.ts";

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
  readonly #lifetime: Lifetime | undefined;
  readonly #key: ((...args: unknown[]) => unknown) | undefined;
  readonly #passSignal: boolean;

  readonly #entries: EntryTable<Flight<R>>;
  readonly #argumentsKeys = new ArgumentsKeys();
  readonly #inflight: InflightRegistry<R, AsyncLruCache<R>>;
  #expiry: ExpiryQueue | undefined = undefined;
  // Binds a cache on the default clock to the global timers; absent for an
  // explicit clock, which is never re-checked.
  readonly #guard: SchedulerGuard | undefined;

  #hits = 0;
  #misses = 0;
  #closed = false;
  // Set by a close without wait: work started after it is abandoned at once.
  #abandoning = false;

  // Effects of changes already made, waiting for the cache to be whole.
  #aborts: { controller: AbortController; reason: unknown }[] = [];
  #runningEffects = false;
  #clockFailureReported = false;

  constructor(fn: (...args: unknown[]) => unknown, options: ResolvedOptions) {
    this.#fn = fn;
    this.#name = fn.name || "anonymous";
    this.#maxSize = options.maxSize;
    // A miss adds its entry before it evicts: one slot more than maxSize.
    this.#entries = new EntryTable(options.maxSize + 1);
    this.#ttl = options.ttl;
    this.#jitter = options.jitter;
    if (options.ttl !== undefined) {
      this.#lifetime = new Lifetime(
        options.ttl,
        options.jitter,
        options.random,
      );
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
    if (this.#closed) return this.call(thisArg, listOf(arity, first, second));
    const key = arity === 1
      ? first
      : this.#argumentsKeys.findShort(arity, first, second);
    if (key !== ABSENT) {
      const slot = this.#entries.find(key);
      if (slot !== undefined) return this.#hit(slot, undefined);
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
      if (slot !== undefined) return this.#hit(slot, signal);
    }
    return this.#miss(thisArg, args, key, signal);
  }

  /** Whether an entry, settled or in flight, exists for `args`. */
  contains(thisArg: unknown, args: ArrayLike<unknown>): boolean {
    const key = this.#keyOf(thisArg, args);
    return key !== ABSENT && this.#entries.has(key);
  }

  /** Removes the entry for `args`; says whether there was one. */
  invalidate(thisArg: unknown, args: ArrayLike<unknown>): boolean {
    const key = this.#keyOf(thisArg, args);
    const slot = key === ABSENT ? undefined : this.#entries.find(key);
    if (slot === undefined) return false;
    this.#removeEntry(slot);
    this.#afterChange();
    return true;
  }

  /** Drops every entry and resets the counters; running work is detached, not stopped. */
  clear(): void {
    this.#clearEntries();
    this.#afterChange();
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
    return this.#whenSettled();
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
    const expiry = this.#expiry;
    if (expiry === undefined) return;
    expiry.assertConsistent((slot) => {
      const kind = this.#entries.kind(slot);
      if (
        this.#entries.find(this.#entries.key(slot)) !== slot ||
        (kind !== VALUE && kind !== SHARED)
      ) {
        throw new Error(`slot ${slot} waits to expire but holds no value`);
      }
    });
    if (this.#closed && expiry.size > 0) {
      throw new Error("a closed cache still times entries");
    }
  }

  // Counts a hit, promotes the entry and hands out its outcome.
  #hit(slot: Slot, signal: AbortSignal | undefined): Promise<R> {
    this.#hits++;
    this.#entries.touch(slot);
    const kind = this.#entries.kind(slot);
    if (kind === SHARED) return this.#entries.outcome(slot) as Promise<R>;
    if (kind === RUNNING) {
      return this.#inflight.join(
        this.#entries.outcome(slot) as Flight<R>,
        signal,
      );
    }
    return this.#share(slot);
  }

  // The first hit since the entry in `slot` settled: it makes the promise
  // that this and every later hit hand out. Making it reads a `then` the
  // value may have gained, which is user code: the entry is looked at again.
  #share(slot: Slot): Promise<R> {
    const value = this.#entries.outcome(slot);
    const promise = Promise.resolve(value as R);
    if (
      this.#entries.kind(slot) === VALUE &&
      this.#entries.outcome(slot) === value
    ) {
      this.#entries.share(slot, promise);
    }
    return promise;
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
    if (this.#guard !== undefined) this.#checkScheduler();
    let result: unknown;
    let controller: AbortController | undefined;
    try {
      if (this.#passSignal) {
        controller = new AbortController();
        const withSignal = Array.from(args);
        withSignal.push(controller.signal);
        result = this.#fn.apply(thisArg, withSignal);
      } else {
        result = this.#fn.apply(thisArg, args as unknown[]);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#admit(result, controller, key, args, signal);
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
      key === ABSENT ? listOf(arity, first, second) : undefined,
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
  ): Promise<R> {
    if (this.#closed) return this.#startAfterClose(result, controller, signal);
    if (key === ABSENT) key = this.#argumentsKeys.intern(args!);
    const flight = this.#inflight.start(controller);
    const displaced = this.#entries.add(key, flight);
    if (displaced !== undefined) this.#inflight.orphan(displaced);
    while (this.#entries.size > this.#maxSize) {
      this.#removeEntry(this.#entries.oldest);
    }
    this.#misses++;
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
    const slot = flight.slot;
    if (slot !== NO_SLOT) {
      if (this.#lifetime !== undefined) {
        this.#fulfilledTimed(flight, value, this.#lifetime);
        return;
      }
      this.#entries.settle(slot, value);
    }
    this.#inflight.resolve(flight, value);
    this.#afterChange();
  }

  // The work of a timed entry resolved. The lifetime is drawn first, while
  // the entry still runs and can be joined, since the random source and the
  // clock may call the cache; the entry is looked at again afterwards.
  #fulfilledTimed(flight: Flight<R>, value: R, lifetimes: Lifetime): void {
    let lifetime = Infinity;
    let now = 0;
    try {
      if (!this.#closed) {
        lifetime = lifetimes.draw();
        if (lifetime > 0 && lifetime !== Infinity) now = this.#expiry!.now();
      }
    } catch (error) {
      // An entry whose lifetime cannot be known is not kept.
      this.#rejected(flight, error);
      return;
    }
    if (flight.settled) return;
    const slot = flight.slot;
    if (slot !== NO_SLOT) {
      this.#entries.settle(slot, value);
      if (lifetime <= 0) this.#removeEntry(slot);
      // Entries of a closed cache never expire.
      else if (lifetime !== Infinity && !this.#closed) {
        this.#expiry!.schedule(slot, now + lifetime);
      }
    }
    this.#inflight.resolve(flight, value);
    this.#afterChange();
  }

  #rejected(flight: Flight<R>, reason: unknown): void {
    if (flight.settled) return;
    if (flight.slot !== NO_SLOT) this.#dropEntry(flight.slot);
    this.#inflight.reject(flight, reason);
    this.#afterChange();
  }

  #deserted(flight: Flight<R>, reason: unknown): void {
    if (flight.settled) return;
    this.#abandon(flight, reason);
    this.#afterChange();
  }

  // Rejects the callers of unsettled `flight`, drops its entry, and queues
  // the abort of its signal.
  #abandon(flight: Flight<R>, reason: unknown): void {
    if (flight.slot !== NO_SLOT) this.#dropEntry(flight.slot);
    const controller = this.#inflight.reject(flight, reason);
    if (controller !== undefined) this.#aborts.push({ controller, reason });
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

  // Removes every entry due at or before `time`.
  #removeDue(expiry: ExpiryQueue, time: number): void {
    for (
      let slot = expiry.takeDue(time);
      slot !== NO_SLOT;
      slot = expiry.takeDue(time)
    ) {
      this.#removeEntry(slot);
    }
  }

  // Removes the entry in `slot`. Its work, if still in flight, goes on
  // without it, kept by the registry as an orphan.
  #removeEntry(slot: Slot): void {
    if (this.#entries.kind(slot) === RUNNING) {
      this.#inflight.orphan(this.#entries.outcome(slot) as Flight<R>);
    }
    this.#dropEntry(slot);
  }

  // Removes the entry in `slot`, whose work, if in flight, the caller is
  // about to settle. The entry goes first: settling may call user code.
  #dropEntry(slot: Slot): void {
    const key = this.#entries.remove(slot);
    if (this.#key === undefined) this.#argumentsKeys.release(key);
    this.#expiry?.cancel(slot);
  }

  #clearEntries(): void {
    for (const flight of this.#entries.runningWork()) {
      this.#inflight.orphan(flight);
    }
    this.#entries.clear();
    this.#argumentsKeys.clear();
    this.#expiry?.clear();
    this.#hits = this.#misses = 0;
  }

  // Runs the effects of the change just made, if it left any.
  #afterChange(): void {
    if (
      this.#aborts.length !== 0 ||
      (this.#expiry !== undefined && this.#expiry.timerOutOfDate)
    ) {
      this.#runEffects();
    }
  }

  // Aborts abandoned work's signals and brings the expiry timer in line with
  // the entries. Both call user code, which may change the cache again; the
  // loop runs what such a change leaves too. A call made while it runs only
  // queues.
  #runEffects(): void {
    if (this.#runningEffects) return;
    this.#runningEffects = true;
    try {
      for (;;) {
        const abort = this.#aborts.shift();
        if (abort !== undefined) {
          abort.controller.abort(abort.reason);
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
    if (this.#lifetime === undefined) return;
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
