/**
 * How long each entry lives, and what it turns into as its times pass: a
 * fresh value goes stale (with `staleWhileRevalidate`), a stale value goes,
 * perhaps leaving its last good value behind as a fallback (`staleIfError`);
 * a kept failure (`errorTtl`) goes at its end; a failed refresh blocks new
 * ones for a while. The deadlines live in one {@linkcode ExpiryQueue}, served
 * by one host timer.
 *
 * Everything here is plain bookkeeping on the entry table and its own state:
 * the decisions that call user code (`shouldCache`, the `ttl` and `errorTtl`
 * functions, the clock's `now()`) are made by the cache first, and given here
 * as numbers.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import type { TimerUpkeep } from "./effects.ts";
import {
  type EntryTable,
  FAILED,
  type Placed,
  SHARED,
  VALUE,
} from "./entries.ts";
import type { Slot } from "./policy.ts";
import { ExpiryQueue } from "./ttl.ts";

/** A last good value, and until when it may answer a failed run's callers. */
export interface Fallback {
  /** The value. */
  readonly value: unknown;
  /** When its `staleIfError` window ends, in the clock's milliseconds. */
  readonly until: number;
}

/**
 * The times of one settled entry of a cache that serves stale values or keeps
 * failures. Each is an absolute time in the clock's milliseconds.
 */
export interface Timing {
  /** The value, for a fallback once the entry goes; unused for a kept failure. */
  readonly value: unknown;
  /** When the value's lifetime ends (`Infinity`: never). */
  freshUntil: number;
  /**
   * When the entry goes: the end of a stale entry's window, or of a kept
   * failure. Unused while the value is fresh.
   */
  until: number;
  /** Until when a failed refresh keeps a stale entry from starting another; 0 for none. */
  blockedUntil: number;
  /** Why that refresh failed: what callers get once the stale value is gone. */
  reason: unknown;
  /** For a kept failure: the last good value its callers get instead. */
  fallback: Fallback | undefined;
  /**
   * When the entry goes whatever its state, its value's stale window and
   * fallback included: `localTtl` after it was made, for a cache whose store
   * cannot notify; `Infinity` otherwise.
   */
  readonly heldUntil: number;
}

/**
 * The last good values of entries whose lifetime has ended, by key, oldest
 * first, at most `limit` of them. A value whose window has ended is dropped
 * when it is looked up or when a newer one is kept.
 */
export class Fallbacks {
  readonly #limit: number;
  readonly #values = new Map<unknown, Fallback>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** How many values are kept. */
  get size(): number {
    return this.#values.size;
  }

  /** Whether a value is kept for `key`, in its window or not. */
  has(key: unknown): boolean {
    return this.#values.has(key);
  }

  /**
   * Keeps `fallback` for `key`, replacing any older one, and drops the
   * values whose window has ended by `now` and the oldest beyond the limit.
   * Returns the keys no longer kept, `key` excepted.
   */
  set(key: unknown, fallback: Fallback, now: number): unknown[] {
    const dropped: unknown[] = [];
    this.#values.delete(key);
    if (this.#limit === 0) return dropped;
    this.#values.set(key, fallback);
    for (const [oldKey, old] of this.#values) {
      if (old.until > now && this.#values.size <= this.#limit) break;
      this.#values.delete(oldKey);
      if (oldKey !== key) dropped.push(oldKey);
    }
    return dropped;
  }

  /** The value kept for `key`, if its window is still open at `now`. */
  peek(key: unknown, now: number): Fallback | undefined {
    const fallback = this.#values.get(key);
    return fallback !== undefined && fallback.until > now
      ? fallback
      : undefined;
  }

  /** Forgets the value kept for `key`; says whether there was one. */
  delete(key: unknown): boolean {
    return this.#values.delete(key);
  }

  /** Forgets every value. */
  clear(): void {
    this.#values.clear();
  }
}

/** What {@linkcode Lifetimes.advance} did to an entry that fell due. */
export type Advance = typeof STAYS | typeof EXPIRED | typeof GOES;
/** The entry changed state, or not yet, and waits for its next deadline. */
export const STAYS = 0;
/** The entry's value expired, but it stays as the failure of its refresh. */
export const EXPIRED = 1;
/** The entry's time is over: the owner removes it. */
export const GOES = 2;

/** What a cache's lifetimes depend on, from its options. */
export interface LifetimeSettings {
  /** Whether entries may expire or keep failures at all: then there is a timer. */
  timed: boolean;
  /** Whether failures may be kept (`errorTtl`). */
  keepsFailures: boolean;
  staleWhileRevalidate: number;
  staleIfError: number;
  /** The longest life of anything kept for a key; `Infinity` for no bound. */
  localTtl: number;
  maxSize: number;
}

/** The lifetimes of one cache's entries, and the upkeep of their timer. */
export class Lifetimes implements TimerUpkeep {
  readonly #entries: EntryTable<Placed>;
  readonly #timed: boolean;
  readonly #staleWhileRevalidate: number;
  readonly #staleIfError: number;
  readonly #localTtl: number;
  readonly #capacityLimit: number;
  readonly #onTimer: () => void;
  readonly #sync: () => void;
  readonly #release: (key: unknown) => void;
  #expiry: ExpiryQueue | undefined = undefined;
  // Per slot, the times of settled entries that may go stale or keep a
  // failure; made only for a cache that does either.
  #timings: (Timing | undefined)[] | undefined = undefined;
  #closed = false;
  /** The last good values, for `staleIfError`; absent without it. */
  readonly fallbacks: Fallbacks | undefined;

  /**
   * `hooks.onTimer` runs when the expiry timer fires, and `hooks.sync` when
   * the timer must be brought in line (it calls the clock); `hooks.release`
   * lets go of the key of a fallback that no entry holds once it is
   * dropped.
   */
  constructor(
    entries: EntryTable<Placed>,
    settings: LifetimeSettings,
    hooks: {
      onTimer: () => void;
      sync: () => void;
      release: (key: unknown) => void;
    },
  ) {
    this.#entries = entries;
    this.#timed = settings.timed || settings.keepsFailures;
    this.#staleWhileRevalidate = settings.staleWhileRevalidate;
    this.#staleIfError = settings.staleIfError;
    this.#localTtl = settings.localTtl;
    this.#capacityLimit = settings.maxSize + 1;
    this.#onTimer = hooks.onTimer;
    this.#sync = hooks.sync;
    this.#release = hooks.release;
    if (
      settings.staleWhileRevalidate > 0 || settings.staleIfError > 0 ||
      settings.keepsFailures
    ) {
      this.#timings = [];
    }
    if (settings.staleIfError > 0) {
      this.fallbacks = new Fallbacks(settings.maxSize);
    }
  }

  /** The deadlines, once a clock has been given; absent for an untimed cache. */
  get expiry(): ExpiryQueue | undefined {
    return this.#expiry;
  }

  /** Whether the expiry timer no longer matches the deadlines. */
  get timerOutOfDate(): boolean {
    return this.#expiry !== undefined && this.#expiry.timerOutOfDate;
  }

  /** Brings the expiry timer in line with the deadlines. */
  syncTimer(): void {
    this.#sync();
  }

  /** Whether settled entries have times: they may go stale or keep failures. */
  get keepsPast(): boolean {
    return this.#timings !== undefined;
  }

  /** The longest life of anything kept for a key. */
  get localTtl(): number {
    return this.#localTtl;
  }

  /** Times entries with `clock` from now on, forgetting every deadline. */
  useClock(clock: Clock): void {
    if (!this.#timed) return;
    if (this.#expiry === undefined) {
      this.#expiry = new ExpiryQueue(clock, this.#onTimer, {
        capacityLimit: this.#capacityLimit,
      });
    } else {
      this.#expiry.rebind(clock);
    }
  }

  /** The times of the settled entry in `slot`, for a cache that keeps the past. */
  timing(slot: Slot): Timing | undefined {
    return this.#timings?.[slot];
  }

  /**
   * Times the value just stored in `slot` to live `lifetime` ms (more than
   * 0) from `now`. Entries of a closed cache never expire.
   */
  keepValue(slot: Slot, value: unknown, lifetime: number, now: number): void {
    // A newer good value replaces the fallback; the entry holds the key.
    this.fallbacks?.delete(this.#entries.key(slot));
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
    if (this.#closed) return;
    if (lifetime !== Infinity) expiry!.schedule(slot, freshUntil);
  }

  /**
   * Turns the entry in `slot`, whose work rejected with `reason`, into a kept
   * failure until `now + lifetime`, answering with `fallback` while it lasts.
   */
  keepFailure(
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

  /**
   * Keeps the refresh of the entry in `slot`, which failed with `reason`,
   * from being tried again until `now + lifetime`.
   */
  blockRefresh(
    slot: Slot,
    reason: unknown,
    now: number,
    lifetime: number,
  ): void {
    const timing = this.#timings![slot]!;
    timing.blockedUntil = now + lifetime;
    timing.reason = reason;
    this.#reschedule(slot, timing);
  }

  /**
   * Moves the entry in `slot`, due at `time`, on: it goes stale, stays for
   * a later deadline, becomes the failure of its refresh (its value
   * expired), or goes. A value that goes within its `staleIfError` window
   * is kept as its key's fallback first.
   */
  advance(slot: Slot, time: number): Advance {
    const timing = this.#timings?.[slot];
    if (timing === undefined) return GOES;
    const entries = this.#entries;
    const kind = entries.kind(slot);
    if (kind === VALUE || kind === SHARED) {
      if (timing.freshUntil > time) {
        this.#reschedule(slot, timing);
        return STAYS;
      }
      if (this.#staleWhileRevalidate > 0) {
        entries.makeStale(slot);
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
    if (timing.until > time) {
      this.#reschedule(slot, timing);
      return STAYS;
    }
    // A kept failure's fallback is already kept.
    let fallback: Fallback | undefined;
    if (kind !== FAILED && this.#staleIfError > 0) {
      const until = Math.min(
        timing.freshUntil + this.#staleIfError,
        timing.heldUntil,
      );
      if (until > time) fallback = { value: timing.value, until };
    }
    if (fallback !== undefined) {
      this.#keepFallback(entries.key(slot), fallback, time);
    }
    if (kind === FAILED || timing.blockedUntil === 0) return GOES;
    // The value's time is over, but the failure of its refresh is still
    // kept: the entry stays as that failure.
    entries.replaceWithFailure(slot, timing.reason);
    timing.until = timing.blockedUntil;
    timing.blockedUntil = 0;
    timing.fallback = fallback;
    this.#reschedule(slot, timing);
    return EXPIRED;
  }

  /** Forgets the times of the entry in `slot`, which goes. */
  forget(slot: Slot): void {
    this.#expiry?.cancel(slot);
    if (this.#timings !== undefined) this.#timings[slot] = undefined;
  }

  /** Forgets every entry's times and every fallback. */
  clear(): void {
    this.#expiry?.clear();
    this.fallbacks?.clear();
    if (this.#timings !== undefined) this.#timings = [];
  }

  /** Stops timing: entries kept from now on never expire. */
  close(): void {
    this.#closed = true;
    this.#expiry?.clear();
  }

  // Keeps `fallback` for `key` at `time`, letting go of the keys of the
  // fallbacks it pushes out.
  #keepFallback(key: unknown, fallback: Fallback, time: number): void {
    for (const dropped of this.fallbacks!.set(key, fallback, time)) {
      if (!this.#entries.has(dropped)) this.#release(dropped);
    }
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
}
