/**
 * The runs of one cache's function: work entered for a miss or attached to
 * an entry as a refresh, the callers that wait on it, and what it settles
 * into. A settlement is a boundary of the cache: what to keep is read first
 * (`shouldCache`, the `ttl` and `errorTtl` functions, the clock, all user
 * code), while the entry still runs and can be joined; then the local tier
 * makes the change and settles the callers; last, the effects it set off are
 * drained.
 *
 * @module
 */

import type { Effects } from "./effects.ts";
import { abandonedError } from "./errors.ts";
import {
  type Flight,
  type FlightEvents,
  InflightRegistry,
} from "./inflight.ts";
import type { KeepPolicy } from "./keeping.ts";
import type { Clock } from "./clock.ts";
import { Loads } from "./loads.ts";
import { Deadlines } from "./deadlines.ts";
import {
  FORCED,
  isMiss,
  LocalTier,
  type LocalTierParts,
  MISS,
  SHARED_MISS,
} from "./local_tier.ts";
import { NO_SLOT } from "./policy.ts";
import type { SharedOutcome } from "./shared_tier.ts";
import type { UserCode } from "./user_code.ts";

/** How a cache's runs behave, from its options. */
export interface RunSettings {
  /** The cache's name, for the error of work abandoned by a close. */
  name: string;
  maxSize: number;
  /** Absent when values are not weighed. */
  maxWeight: number | undefined;
  /** Absent when nothing about an outcome is decided. */
  keeping: KeepPolicy | undefined;
  /** Whether onEvent watches. */
  watched: boolean;
  hasStore: boolean;
  /** The clock in effect, which times loads. */
  clock: () => Clock;
  softTimeout: number | undefined;
  hardTimeout: number | undefined;
  /** The `signal` option: callers that time out may abandon their work. */
  signal: boolean;
}

/** The running work of one cache. */
export class Runs<R> {
  // One set of handlers for every cache, so that the work's reactions call
  // the same functions whichever cache they belong to.
  static readonly #events: FlightEvents<Runs<unknown>, unknown> = {
    fulfilled: (runs, flight, value) => runs.#fulfilled(flight, value),
    rejected: (runs, flight, reason) => runs.#rejected(flight, reason),
    deserted: (runs, flight, reason) => runs.#deserted(flight, reason),
  };

  /** The work in flight and its callers. */
  readonly registry: InflightRegistry<R, Runs<R>>;
  /** The entries the work fills. */
  readonly tier: LocalTier<R>;
  /** The calls of the function, counted, timed and traced. */
  readonly loads: Loads;
  /** The callers' and runs' deadlines; absent without the timeouts. */
  readonly deadlines: Deadlines | undefined;
  readonly #user: UserCode;
  readonly #effects: Effects;
  readonly #name: string;
  readonly #keeping: KeepPolicy | undefined;
  readonly #needsArguments: boolean;
  readonly #watched: boolean;
  readonly #weighs: boolean;
  // Failed runs whose callers got a fallback instead, with the failure.
  readonly #answeredWithFallback = new WeakMap<Flight<R>, unknown>();
  #closed = false;
  // Set by a close without wait: work started after it is abandoned at once.
  #abandoning = false;

  constructor(
    parts: Omit<LocalTierParts<R>, "inflight">,
    user: UserCode,
    settings: RunSettings,
  ) {
    this.registry = new InflightRegistry(
      this,
      // The handlers are the same for every R.
      Runs.#events as FlightEvents<Runs<R>, R>,
    );
    this.tier = new LocalTier({ ...parts, inflight: this.registry }, settings);
    this.loads = new Loads(user, this.tier.counters, {
      name: settings.name,
      clock: settings.clock,
      shown: (found, args) => this.tier.shown(found, args).shown,
    });
    if (
      settings.hardTimeout !== undefined || settings.softTimeout !== undefined
    ) {
      this.deadlines = this.#deadlinesOf(settings);
    }
    this.#user = user;
    this.#effects = parts.effects;
    this.#name = settings.name;
    this.#keeping = settings.keeping;
    this.#needsArguments = settings.keeping?.needsArguments === true;
    this.#watched = settings.watched;
    this.#weighs = settings.maxWeight !== undefined;
  }

  /**
   * Enters the work a miss's function just started, `result`, as a new entry
   * under `found` (interned now, from `args` when it was not found), and
   * joins the caller. On a closed cache the work gets no entry and shares
   * the fate of the work that close abandoned or waits for.
   */
  admit(
    result: unknown,
    controller: AbortController | undefined,
    found: unknown,
    args: ArrayLike<unknown> | undefined,
    signal: AbortSignal | undefined,
    purpose: typeof MISS | typeof SHARED_MISS,
    storeKey: string | undefined,
  ): Promise<R> {
    const flight = this.registry.start(controller);
    flight.purpose = purpose;
    // A shared miss's work is the shared tier's, which times its own load.
    if (purpose === MISS) this.#loaded(flight);
    if (this.#closed) {
      this.registry.orphan(flight);
      this.tier.record("miss", this.tier.shown(found, args ?? [found]));
    } else {
      if (this.#needsArguments) flight.args = Array.from(args!);
      this.tier.enter(found, args, flight, storeKey);
    }
    const promise = this.join(flight, signal);
    if (this.deadlines !== undefined && !this.#closed) this.#started(flight);
    if (this.#abandoning) {
      this.tier.abandon(flight, abandonedError(this.#name));
    } else if (
      signal !== undefined && !flight.settled &&
      this.registry.isDeserted(flight)
    ) {
      // The caller gave up while the function ran, and nobody else waits.
      this.tier.abandon(flight, signal.reason);
    }
    // Last, once the cache is whole: a thenable's `then` may call the cache.
    this.#user.watch(this.registry, flight, result);
    return promise;
  }

  /**
   * Records a refresh whose function just returned `result`. Returns the
   * promise of `cacheRefresh`'s caller (`purpose` FORCED), joined before
   * anything can settle the work.
   */
  refresh(
    result: unknown,
    controller: AbortController | undefined,
    found: unknown,
    args: ArrayLike<unknown>,
    purpose: number,
  ): Promise<R> | undefined {
    const flight = this.registry.start(controller);
    flight.purpose = purpose;
    this.#loaded(flight);
    const waiting = purpose === FORCED
      ? this.join(flight, undefined)
      : undefined;
    if (this.#closed) {
      this.tier.record("refresh", this.tier.shown(found, args));
      this.registry.orphan(flight);
      if (this.#abandoning) {
        this.tier.abandon(flight, abandonedError(this.#name));
      }
    } else {
      if (this.#needsArguments) flight.args = Array.from(args);
      this.tier.attachRefresh(found, args, flight);
    }
    this.#user.watch(this.registry, flight, result);
    return waiting;
  }

  /**
   * `cacheRefresh` joining `flight`, a run in flight: it is never answered
   * with a stale value, so if the run's failure is answered with a
   * fallback, its caller gets the failure.
   */
  joinForRefresh(flight: Flight<R>): Promise<R> {
    const promise = this.join(flight, undefined);
    if (
      this.tier.lifetimes.fallbacks === undefined || flight.purpose === FORCED
    ) {
      return promise;
    }
    return promise.then((value) => {
      if (!this.#answeredWithFallback.has(flight)) return value;
      throw this.#answeredWithFallback.get(flight);
    });
  }

  /**
   * The promise of a caller waiting on unsettled `flight`, through
   * `signal` if it gave one: with a hard deadline, when the cache has one.
   */
  join(flight: Flight<R>, signal: AbortSignal | undefined): Promise<R> {
    const deadlines = this.deadlines;
    if (deadlines === undefined) return this.registry.join(flight, signal);
    return deadlines.wait(this.registry, flight, flight.key, signal);
  }

  /**
   * A hit on running `flight`: past its soft deadline, a stale hit answered
   * with the last good value while it lasts; else a caller that joins it.
   */
  joinRunning(flight: Flight<R>, signal: AbortSignal | undefined): Promise<R> {
    const deadlines = this.deadlines;
    if (deadlines === undefined) return this.registry.join(flight, signal);
    if (deadlines.pastSoft(flight)) {
      const fallbacks = this.tier.lifetimes.fallbacks!;
      const key = flight.key;
      const fallback = fallbacks.has(key)
        ? fallbacks.peek(key, this.#user.now(this.tier.lifetimes.expiry!))
        : undefined;
      if (fallback !== undefined) {
        this.tier.record("stale", key);
        return Promise.resolve(fallback.value as R);
      }
    }
    return this.join(flight, signal);
  }

  // A miss's run just started: it gets a soft deadline if its key has a
  // last good value.
  #started(flight: Flight<R>): void {
    const key = flight.key;
    if (this.tier.lifetimes.fallbacks?.has(key) !== true) return;
    let now: number;
    try {
      now = this.#user.now(this.tier.lifetimes.expiry!);
    } catch (error) {
      this.#user.reportClockFailure(error);
      return;
    }
    // The clock may have settled the run.
    if (!flight.settled) this.deadlines!.started(flight, key, now);
  }

  #deadlinesOf(settings: RunSettings): Deadlines {
    const lifetimes = this.tier.lifetimes;
    return new Deadlines({
      name: settings.name,
      softTimeout: settings.softTimeout,
      hardTimeout: settings.hardTimeout,
      abandons: settings.signal,
    }, {
      now: () => this.#user.now(lifetimes.expiry!),
      clockFailed: (error) => this.#user.reportClockFailure(error),
      nearest: (time) => lifetimes.expiry?.setOther(time),
      sync: () => this.#effects.drain(),
      fallback: (key, now) => lifetimes.fallbacks?.peek(key, now),
      stale: (key) => this.tier.record("stale", key),
      abort: (controller, reason) => this.#user.abort(controller, reason),
    });
  }

  /**
   * The cache closes: work started from now on gets no entry. Without
   * `wait`, every unsettled run is abandoned, its callers rejected with an
   * `AbortError`, and so is every run started later.
   */
  close(wait: boolean): void {
    this.#closed = true;
    this.deadlines?.dropSoft();
    if (wait) return;
    this.#abandoning = true;
    for (const flight of this.#unsettled()) {
      this.tier.abandon(flight, abandonedError(this.#name));
    }
  }

  /** Resolves once every run unsettled now has settled, however. */
  async whenSettled(): Promise<void> {
    // A turn first: work that a function running now starts, by closing its
    // own cache, is registered by then.
    await null;
    await this.registry.whenSettled(this.#unsettled());
  }

  // Every run not settled yet: those of entries, and the orphans.
  #unsettled(): Flight<R>[] {
    return [
      ...this.tier.entries.runningWork(),
      ...this.registry.orphans(),
    ];
  }

  // The load the function's call just started is `flight`'s work.
  #loaded(flight: Flight<R>): void {
    flight.startedAt = this.loads.startedAt;
    flight.trace = this.loads.trace;
  }

  // A boundary: the work of `flight` resolved.
  #fulfilled(flight: Flight<R>, value: R): void {
    this.loads.finish(flight.startedAt, false);
    if (flight.settled) return;
    if (this.#keeping === undefined && flight.purpose === MISS) {
      const slot = flight.slot;
      if (slot !== NO_SLOT) this.tier.entries.settle(slot, value);
      this.registry.resolve(flight, value);
    } else {
      this.#fulfilledKept(flight, value);
    }
    this.#effects.drain();
  }

  // Work whose value may be kept for a time, or not at all, or that
  // refreshes an entry, resolved.
  #fulfilledKept(flight: Flight<R>, value: R): void {
    const closed = this.#closed;
    const lifetimes = this.tier.lifetimes;
    let lifetime = Infinity;
    let now = 0;
    let weight = 0;
    try {
      if (flight.purpose === SHARED_MISS) {
        // The shared tier has decided, and gives the value as the store has
        // it with its own lifetime (all of it for the writer, what is left
        // of it in the store for a reader); a local copy may live less.
        const outcome = value as unknown as SharedOutcome;
        value = outcome.value as R;
        if (!closed) lifetime = Math.min(outcome.lifetime, lifetimes.localTtl);
        if (flight.slot !== NO_SLOT && lifetime > 0 && !closed) {
          now = this.#user.now(lifetimes.expiry!);
        }
      } else if (flight.slot !== NO_SLOT && this.#keeping !== undefined) {
        const args = flight.args ?? [];
        // Entries of a closed cache never expire; shouldCache still decides
        // whether they are kept.
        lifetime = closed
          ? (this.#user.keeps(value, args) ? Infinity : 0)
          : Math.min(this.#user.lifetimeOf(value, args), lifetimes.localTtl);
        if (
          !closed && lifetime > 0 &&
          (lifetime !== Infinity || lifetimes.keepsPast)
        ) {
          now = this.#user.now(lifetimes.expiry!);
        }
      }
    } catch (error) {
      // A value that cannot be judged or timed is not kept, nor is the entry
      // it was to refresh.
      if (!flight.settled) this.tier.dropRun(flight, error);
      return;
    }
    // Last: only a value about to be kept is weighed. The weigher's failure
    // is reported, not thrown, and comes back as -1.
    if (
      this.#weighs && flight.slot !== NO_SLOT && lifetime > 0 &&
      !flight.settled
    ) {
      weight = this.#user.weightOf(value, flight.args ?? []);
    }
    if (!flight.settled) {
      this.tier.keepValue(flight, value, lifetime, now, weight);
    }
  }

  // A boundary: the work of `flight` rejected.
  #rejected(flight: Flight<R>, reason: unknown): void {
    this.loads.finish(flight.startedAt, true);
    if (flight.settled) return;
    if (
      this.#keeping === undefined && flight.purpose === MISS &&
      !this.tier.watching()
    ) {
      this.tier.counters.runFailures++;
      this.tier.dropRun(flight, reason);
    } else {
      this.#rejectedKept(flight, reason);
    }
    this.#effects.drain();
  }

  // Work that may leave a kept failure, a fallback or a refreshed entry
  // behind, or whose failure is watched, rejected.
  #rejectedKept(flight: Flight<R>, reason: unknown): void {
    const purpose = flight.purpose;
    const lifetimes = this.tier.lifetimes;
    const keeping = this.#keeping;
    let lifetime = 0;
    let now = 0;
    let clockRead = false;
    let error = reason;
    if (
      flight.slot !== NO_SLOT && purpose !== FORCED && keeping !== undefined
    ) {
      try {
        if (keeping.keepsFailures) {
          lifetime = Math.min(
            this.#user.failureLifetimeOf(reason, flight.args ?? []),
            lifetimes.localTtl,
          );
        }
        // A stale hit's refresh may have become the key's run, which falls
        // back as a miss does.
        if (
          !this.#closed &&
          ((lifetime > 0 && lifetime !== Infinity) ||
            lifetimes.fallbacks?.has(flight.key) === true)
        ) {
          now = this.#user.now(lifetimes.expiry!);
          clockRead = true;
        }
      } catch (thrown) {
        lifetime = 0;
        error = thrown;
      }
    }
    if (flight.settled) return;
    const fallback = error === reason && clockRead
      ? lifetimes.fallbacks?.peek(flight.key, now)
      : undefined;
    if (this.#closed) lifetime = 0;
    if (this.tier.failRun(flight, reason, error, lifetime, now, fallback)) {
      this.#answeredWithFallback.set(flight, reason);
    }
  }

  // A boundary: every caller of `flight` left through its signal. A
  // refresh, even one that became its key's run, only closing stops.
  #deserted(flight: Flight<R>, reason: unknown): void {
    if (flight.settled || !isMiss(flight.purpose)) return;
    this.tier.abandon(flight, reason);
    this.#effects.drain();
  }
}
