/**
 * The cache behind one wrapped function: the call protocol. A call is a hit
 * on an entry (fresh, in flight, stale or a kept failure), or a miss that
 * runs the function and enters its work; work settles into a kept value, a
 * kept failure, or nothing; entries leave by eviction, expiry, invalidation
 * and clearing. The parts it drives each do one job: running work and its
 * settlement (`runs.ts`), the changes to the entries (`local_tier.ts`, over
 * `entries.ts`, `keying.ts` and `lifetimes.ts`), the door to user code
 * (`user_code.ts`), the effects queue (`effects.ts`) and the shared tier
 * (`shared_link.ts`).
 *
 * User code is reached only through {@linkcode UserCode}, and only while the
 * cache is whole: each operation reads its inputs first (the key, the
 * function's result, what to keep and for how long, the time), then makes
 * its change, which calls nothing, and queues what the change sets off.
 * The queue is drained at the cache's boundaries: the end of each public
 * method, of each settlement of work, of the timer's callback, and of each
 * store notice. Any user code may call the cache again.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import type { Effects } from "./effects.ts";
import {
  type EntryTable,
  FAILED,
  RUNNING,
  SHARED,
  STALE,
  STALE_SHARED,
  VALUE,
} from "./entries.ts";
import { eventsHeard } from "./channels.ts";
import { CacheClosedError } from "./errors.ts";
import type { Flight } from "./inflight.ts";
import { KeepPolicy } from "./keeping.ts";
import { listOf, type Loads } from "./loads.ts";
import type { ArgumentsKeys } from "./key.ts";
import { ABSENT, isPlainPrimitive } from "./keying.ts";
import {
  BACKGROUND,
  CallKey,
  FORCED,
  isStale,
  type LocalTier,
  localTierParts,
  MISS,
  SHARED_MISS,
} from "./local_tier.ts";
import {
  type CloseOptions,
  closeWaitOf,
  type ResolvedOptions,
} from "./options.ts";
import { parametersOf } from "./parameters.ts";
import type { Slot } from "./policy.ts";
import { SchedulerGuard } from "./scheduler_guard.ts";
import { linkSettingsOf, SharedLink } from "./shared_link.ts";
import { Runs } from "./runs.ts";
import type {
  CacheInfo,
  CacheParameters,
  CacheStats,
  Counters,
} from "./stats.ts";
import { UserCode } from "./user_code.ts";

/** An LRU cache of the outcomes of one async function. */
export class AsyncLruCache<R> {
  readonly #name: string;
  readonly #options: ResolvedOptions;
  readonly #needsArguments: boolean;
  // Whether onEvent watches: then every hit takes the slow path.
  readonly #watched: boolean;
  readonly #user: UserCode;
  readonly #runs: Runs<R>;
  readonly #loads: Loads;
  readonly #tier: LocalTier<R>;
  // The parts the hot paths use, held here to save a load.
  readonly #entries: EntryTable<Flight<R>>;
  readonly #argumentLists: ArgumentsKeys | undefined;
  readonly #counters: Counters;
  readonly #effects: Effects;
  // Absent without a store.
  readonly #shared: SharedLink | undefined;
  // Binds a cache on the default clock to the global timers; absent for an
  // explicit clock, which is never re-checked.
  readonly #guard: SchedulerGuard | undefined;
  #clock: Clock | undefined = undefined;
  #closed = false;

  constructor(fn: (...args: unknown[]) => unknown, options: ResolvedOptions) {
    this.#name = options.name ?? (fn.name || "anonymous");
    this.#options = options;
    const keeping = options.ttl !== undefined || options.ttlOf !== undefined ||
        options.shouldCache !== undefined || options.errorTtl !== undefined ||
        options.errorTtlOf !== undefined || options.weigher !== undefined
      ? new KeepPolicy(options)
      : undefined;
    this.#needsArguments = keeping?.needsArguments === true;
    this.#watched = options.onEvent !== undefined;
    const user = new UserCode(fn, this.#name, {
      key: options.key,
      keeping,
      onEvent: options.onEvent,
    });
    this.#user = user;
    const store = options.store;
    const parts = localTierParts<R>(options, user, keeping, {
      onTimer: () => this.#expireDue(),
      sync: () => this.#syncTimer(),
    });
    const { entries, keying } = parts;
    this.#effects = parts.effects;
    this.#runs = new Runs<R>(
      parts,
      user,
      {
        name: this.#name,
        maxSize: options.maxSize,
        maxWeight: options.maxWeight,
        keeping,
        watched: this.#watched,
        hasStore: store !== undefined,
        clock: () => this.#currentClock(),
        softTimeout: options.softTimeout,
        hardTimeout: options.hardTimeout,
        signal: options.signal,
      },
    );
    this.#tier = this.#runs.tier;
    this.#loads = this.#runs.loads;
    this.#entries = entries;
    this.#argumentLists = keying.argumentLists;
    this.#counters = this.#tier.counters;
    if (store !== undefined) {
      const clock = () => this.#currentClock();
      this.#shared = new SharedLink(
        store,
        linkSettingsOf(options, { user, clock }),
        {
          storeCleared: () => this.#drained(this.#tier.dropAll()),
          storeDeleted: (key) => this.#drained(this.#tier.storeDeleted(key)),
          storeGap: () => this.#drained(this.#tier.storeGap()),
          breakerChanged: (open) =>
            this.#drained(
              this.#tier.record(
                open ? "breakerOpen" : "breakerClose",
                undefined,
              ),
            ),
          storeFailed: (storeKey, error, shown) =>
            this.#storeFailed(storeKey, error, shown),
        },
      );
    }
    if (options.clock !== undefined) this.#useClock(options.clock);
    else this.#guard = new SchedulerGuard();
  }

  /** Whether calls of up to two arguments may take {@linkcode callShort}. */
  get usesArgumentKeys(): boolean {
    return this.#argumentLists !== undefined;
  }

  /**
   * Answers a plain call (no signal) of `arity` arguments, at most two, given
   * one by one so that the caller gathers no array; a hit on an entry that
   * has been hit before allocates nothing. Only for argument keys.
   */
  callShort(
    thisArg: unknown,
    arity: number,
    first: unknown,
    second: unknown,
  ): Promise<R> {
    if (!this.#closed) {
      const key = arity === 1
        ? first
        : this.#argumentLists!.findShort(arity, first, second);
      const slot = key === ABSENT ? undefined : this.#entries.find(key);
      if (slot !== undefined) {
        // A plain hit sets nothing off: nothing to drain.
        const promise = this.#hit(slot, undefined);
        if (promise !== undefined) return promise;
      }
      return this.#answerShort(thisArg, arity, first, second, key, slot);
    }
    return this.call(thisArg, listOf(arity, first, second));
  }

  // A short call that is not a plain hit: a stale or watched hit on `slot`,
  // or a miss on `key`. On a miss the function gets the arguments as they
  // are, and an argument list is built only to intern a new key. One method
  // that does it all, too large for V8 to inline (past 460 bytes of
  // bytecode), so that warm-up misses never crowd callShort's plain hit out
  // of its callers' inlining budget.
  #answerShort(
    thisArg: unknown,
    arity: number,
    first: unknown,
    second: unknown,
    key: unknown,
    slot: Slot | undefined,
  ): Promise<R> {
    if (slot !== undefined && this.#entries.kind(slot) <= SHARED) {
      return this.#drained(this.#watchedHit(slot, undefined));
    }
    const args = arity === 1 ? undefined : listOf(arity, first, second);
    if (slot !== undefined) {
      return this.#drained(
        this.#slowHit(slot, thisArg, args ?? [first], undefined),
      );
    }
    if (this.#shared !== undefined) {
      // With a store, objects are keyed by their encoding, never as they
      // are: looked up as they are, they miss, and go through call().
      return isPlainPrimitive(first) && isPlainPrimitive(second)
        ? this.#drained(this.#miss(thisArg, args ?? [first], key, undefined))
        : this.call(thisArg, args ?? [first]);
    }
    const guard = this.#guard;
    if (guard !== undefined && guard.changed()) this.#rebind();
    const controller = this.#options.signal ? new AbortController() : undefined;
    let result: unknown;
    try {
      result = this.#loads.runShort(thisArg, arity, first, second, controller);
    } catch (error) {
      return this.#drained(Promise.reject(error));
    }
    return this.#drained(
      this.#runs.admit(
        result,
        controller,
        key,
        args ?? (this.#needsArguments ? [first] : undefined),
        undefined,
        MISS,
        undefined,
      ),
    );
  }

  /**
   * Answers a call with `args` made on `thisArg`. A caller that gives
   * `signal` stops waiting when it aborts; see `InflightRegistry.join`.
   */
  call(
    thisArg: unknown,
    args: ArrayLike<unknown>,
    signal?: AbortSignal,
  ): Promise<R> {
    if (this.#closed) return this.#rejectClosed();
    if (signal !== undefined && signal.aborted) {
      return Promise.reject(signal.reason);
    }
    let key: unknown;
    try {
      key = this.#tier.keying.find(thisArg, args);
    } catch (error) {
      return Promise.reject(error);
    }
    // The key function may have closed the cache.
    if (this.#closed) return this.#rejectClosed();
    if (key !== ABSENT) {
      const slot = this.#entries.find(key);
      if (slot !== undefined) {
        return this.#hit(slot, signal) ??
          this.#drained(this.#slowHit(slot, thisArg, args, signal));
      }
    }
    return this.#drained(this.#miss(thisArg, args, key, signal));
  }

  /**
   * Runs the function for `args` now, even when a fresh entry exists, and
   * stores its value as the key's entry; joins a run for the key already in
   * flight. Its failure leaves the entry as it was. Counts neither a hit nor
   * a miss.
   */
  refresh(thisArg: unknown, args: ArrayLike<unknown>): Promise<R> {
    if (this.#closed) return this.#rejectClosed();
    let key: unknown;
    try {
      key = this.#tier.keying.find(thisArg, args);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#guard !== undefined) this.#checkScheduler();
    if (this.#closed) return this.#drained(this.#rejectClosed());
    const slot = key === ABSENT ? undefined : this.#entries.find(key);
    if (slot !== undefined) {
      const running = this.#entries.kind(slot) === RUNNING
        ? this.#entries.outcome(slot) as Flight<R>
        : this.#entries.refreshOf(slot);
      if (running !== undefined) {
        return this.#drained(this.#runs.joinForRefresh(running));
      }
    }
    const controller = this.#newController();
    let result: unknown;
    try {
      result = this.#loads.run(thisArg, args, controller, key, "refresh");
    } catch (error) {
      return this.#drained(Promise.reject(error));
    }
    return this.#drained(
      this.#runs.refresh(result, controller, key, args, FORCED)!,
    );
  }

  /** Whether an entry, settled or in flight, exists for `args`. */
  contains(thisArg: unknown, args: ArrayLike<unknown>): boolean {
    const key = this.#tier.keying.find(thisArg, args);
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
    const keying = this.#tier.keying;
    if (this.#shared === undefined) {
      const key = keying.find(thisArg, args);
      return this.#drained(key !== ABSENT && this.#tier.invalidate(key));
    }
    let storeKey: string;
    let shown: CallKey;
    let removed: boolean;
    try {
      const key = keying.find(thisArg, args);
      storeKey = keying.storeKeyOf(key, args);
      shown = this.#tier.shown(key, args);
      removed = key !== ABSENT && this.#tier.invalidate(key);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#effects.drain();
    return this.#shared.invalidate(storeKey, shown).then((stored) =>
      removed || stored
    );
  }

  /**
   * Drops every entry and resets the counters; running work is detached, not
   * stopped. With a store, also clears the namespace there and tells the
   * other processes; the promise resolves once they have been told.
   */
  clear(): void | Promise<void> {
    this.#tier.dropAll(true);
    this.#runs.deadlines?.dropSoft();
    this.#counters.reset();
    this.#effects.drain();
    return this.#shared?.clear();
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
    this.#tier.lifetimes.close();
    this.#runs.close(wait);
    this.#effects.drain();
    const settled = this.#runs.whenSettled();
    if (this.#shared === undefined) return settled;
    return Promise.all([settled, this.#shared.close()]).then(() => {});
  }

  info(): CacheInfo {
    return {
      hits: this.#counters.hits,
      misses: this.#counters.misses,
      maxSize: this.#options.maxSize,
      currSize: this.#entries.size,
    };
  }

  parameters(): CacheParameters {
    return parametersOf(this.#options, {
      name: this.#name,
      tasks: this.#entries.running,
      closed: this.#closed,
      currWeight: this.#entries.weight,
    });
  }

  stats(): CacheStats {
    return this.#counters.stats(this.#shared !== undefined);
  }

  /**
   * Throws if the cache is not whole: its parts disagree, it holds more than
   * `maxSize` entries, an entry waits to expire that is not settled, or a
   * closed cache still times entries. For tests.
   */
  assertConsistent(): void {
    this.#tier.assertConsistent(this.#closed);
  }

  /**
   * Runs {@linkcode assertConsistent}, and `also` when given, before each
   * call of user code. For tests.
   */
  checkEachEntryToUserCode(also?: () => void): void {
    this.#user.checkEachEntry(() => {
      this.assertConsistent();
      also?.();
    });
  }

  // The end of a boundary: what the change set off runs, now that the cache
  // is whole.
  #drained<T>(result: T): T {
    this.#effects.drain();
    return result;
  }

  #rejectClosed(): Promise<never> {
    return Promise.reject(new CacheClosedError(this.#name));
  }

  #newController(): AbortController | undefined {
    return this.#options.signal ? new AbortController() : undefined;
  }

  // Counts a hit, promotes the entry and hands out its outcome. Leaves to
  // #slowHit, by returning undefined, a hit that is watched or whose entry
  // is stale or a kept failure.
  #hit(slot: Slot, signal: AbortSignal | undefined): Promise<R> | undefined {
    const kind = this.#entries.kind(slot);
    if (kind > SHARED || this.#watched || eventsHeard()) return undefined;
    this.#counters.hits++;
    this.#entries.touch(slot);
    if (kind === SHARED) return this.#entries.outcome(slot) as Promise<R>;
    if (kind === RUNNING) return this.#joinRunning(slot, signal);
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
    const entries = this.#entries;
    const tier = this.#tier;
    const kind = entries.kind(slot);
    if (kind <= SHARED) return this.#watchedHit(slot, signal);
    const key = entries.key(slot);
    tier.record("hit", key);
    entries.touch(slot);
    if (kind === FAILED) {
      // The fallback lives among the fallbacks, which may have let it go.
      const fallback = tier.lifetimes.timing(slot)!.fallback;
      if (fallback !== undefined && tier.lifetimes.fallbacks!.has(key)) {
        tier.record("stale", key);
        return Promise.resolve(fallback.value as R);
      }
      tier.record("errorHit", key);
      return Promise.reject(entries.outcome(slot));
    }
    if (isStale(kind)) {
      tier.record("stale", key);
      const promise = kind === STALE_SHARED
        ? entries.outcome(slot) as Promise<R>
        : this.#share(slot);
      // Sharing the value may have run user code, which may have changed
      // the entry.
      if (
        entries.find(key) === slot && isStale(entries.kind(slot)) &&
        entries.refreshOf(slot) === undefined &&
        tier.lifetimes.timing(slot)!.blockedUntil === 0
      ) {
        this.#startBackgroundRefresh(thisArg, args, key);
      }
      return promise;
    }
    return this.#share(slot);
  }

  // A hit on a fresh or running entry while someone listens: a plain hit
  // that tells of itself.
  #watchedHit(slot: Slot, signal: AbortSignal | undefined): Promise<R> {
    const entries = this.#entries;
    this.#tier.record("hit", entries.key(slot));
    entries.touch(slot);
    const kind = entries.kind(slot);
    return kind === SHARED
      ? entries.outcome(slot) as Promise<R>
      : kind === RUNNING
      ? this.#joinRunning(slot, signal)
      : this.#share(slot);
  }

  // A hit on the running work in `slot`.
  #joinRunning(slot: Slot, signal: AbortSignal | undefined): Promise<R> {
    const flight = this.#entries.outcome(slot) as Flight<R>;
    return this.#runs.joinRunning(flight, signal);
  }

  // The first hit since the entry in `slot` settled: it makes the promise
  // that this and every later hit hand out. Making it reads a `then` the
  // value may have gained, which is user code: the entry is looked at again.
  #share(slot: Slot): Promise<R> {
    const value = this.#entries.outcome(slot);
    const promise = this.#user.promiseOf(value) as Promise<R>;
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
    const controller = this.#newController();
    let result: unknown;
    try {
      result = this.#loads.run(thisArg, args, controller, key, "refresh");
    } catch (error) {
      // The caller has its stale value; the failure is the refresh's.
      result = Promise.reject(error);
    }
    this.#runs.refresh(result, controller, key, args, BACKGROUND);
  }

  #miss(
    thisArg: unknown,
    args: ArrayLike<unknown>,
    key: unknown,
    signal: AbortSignal | undefined,
  ): Promise<R> {
    if (this.#guard !== undefined) this.#checkScheduler();
    const controller = this.#newController();
    if (this.#shared !== undefined) {
      return this.#sharedMiss(
        thisArg,
        Array.from(args),
        key,
        controller,
        signal,
      );
    }
    let result: unknown;
    try {
      result = this.#loads.run(thisArg, args, controller, key, "miss");
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#runs.admit(
      result,
      controller,
      key,
      args,
      signal,
      MISS,
      undefined,
    );
  }

  // A miss with a store: the work is the shared tier's run, which calls the
  // function only if this process is to compute the key.
  #sharedMiss(
    thisArg: unknown,
    args: unknown[],
    key: unknown,
    controller: AbortController | undefined,
    signal: AbortSignal | undefined,
  ): Promise<R> {
    const storeKey = this.#tier.keying.storeKeyOf(key, args);
    // The run hears of the work's abort (an abandonment's effect) through
    // the work's own signal, and then lets its lease go.
    const result = this.#shared!.miss(
      storeKey,
      () => this.#loads.runDetached(thisArg, args, controller, key),
      (value) => this.#user.lifetimeOf(value, args),
      controller?.signal,
    );
    return this.#runs.admit(
      result,
      controller,
      key,
      args,
      signal,
      SHARED_MISS,
      storeKey,
    );
  }

  // A boundary: the expiry timer fired, and what is due moves on.
  #expireDue(): void {
    if (this.#guard !== undefined && this.#guard.changed()) {
      this.#rebind();
    } else {
      const expiry = this.#tier.lifetimes.expiry!;
      let now: number;
      let clockFailure: { error: unknown } | undefined;
      try {
        now = this.#user.now(expiry);
      } catch (error) {
        // The fired timer still proves its own deadline.
        now = expiry.provenTime;
        clockFailure = { error };
      }
      this.#tier.expire(expiry, now);
      this.#runs.deadlines?.fire(now);
      if (clockFailure !== undefined) {
        this.#user.reportClockFailure(clockFailure.error);
      }
    }
    this.#effects.drain();
  }

  // The timer upkeep of the effects queue: brings the expiry timer in line
  // with the deadlines, on the clock now in effect.
  #syncTimer(): void {
    const expiry = this.#tier.lifetimes.expiry!;
    if (this.#guard !== undefined && this.#guard.changed()) {
      this.#rebind();
      return;
    }
    try {
      this.#user.syncTimer(expiry);
    } catch (error) {
      // Entries that no timer will expire are not kept.
      if (!expiry.armed) this.#tier.expire(expiry, Infinity);
      this.#user.reportClockFailure(error);
    }
  }

  // A boundary: the store failed or timed out; the call it concerned went
  // on without it.
  #storeFailed(
    storeKey: string | undefined,
    error: unknown,
    shown: unknown,
  ): void {
    const local = storeKey === undefined
      ? undefined
      : this.#tier.keying.localKeyOf(storeKey);
    this.#tier.record(
      "storeError",
      shown ?? local ?? new CallKey(storeKey),
      error,
    );
    this.#effects.drain();
  }

  // The clock in effect, bound now if the cache has not needed one yet.
  #currentClock(): Clock {
    if (this.#clock === undefined) {
      this.#useClock(this.#guard!.rebind(this.#name));
    }
    return this.#clock!;
  }

  #useClock(clock: Clock): void {
    this.#clock = clock;
    this.#tier.lifetimes.useClock(clock);
  }

  #checkScheduler(): void {
    if (this.#guard!.changed()) this.#rebind();
  }

  // Binds to the global timers now in effect, starting over if the cache was
  // bound to others.
  #rebind(): void {
    const clock = this.#guard!.rebind(this.#name);
    this.#tier.dropAll(true);
    this.#counters.reset();
    this.#useClock(clock);
  }
}
