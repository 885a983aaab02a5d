/**
 * The entries of one cache in this process, and every change made to them:
 * entering new work, settling it into a kept value or a kept failure,
 * attaching refreshes, and removing entries by eviction, expiry,
 * invalidation, clearing and the store's notices. Each change counts what it
 * did and queues its events and aborts; none of it calls user code, which
 * the call protocol (`cache.ts`) reaches only before a change, to read what
 * the change needs, and after it, at a boundary, to drain the queue.
 *
 * @module
 */

import { Effects } from "./effects.ts";
import { EntryTable, RUNNING, STALE, STALE_SHARED } from "./entries.ts";
import type { Flight, InflightRegistry } from "./inflight.ts";
import type { KeepPolicy } from "./keeping.ts";
import {
  ABSENT,
  ArgumentKeying,
  type Keying,
  OptionKeying,
  StoreKeying,
} from "./keying.ts";
import { type Fallback, GOES, Lifetimes, STAYS } from "./lifetimes.ts";
import type { ResolvedOptions } from "./options.ts";
import { NO_SLOT, type Slot } from "./policy.ts";
import { policyOf } from "./eviction.ts";
import type { CacheEventType, Counters } from "./stats.ts";
import { CallKey, Recorder } from "./recorder.ts";
import type { ExpiryQueue } from "./ttl.ts";
import type { UserCode } from "./user_code.ts";

/** What a flight's work was started for: a miss. */
export const MISS = 0;
/** A stale hit's refresh: its failure may be kept. */
export const BACKGROUND = 1;
/** `cacheRefresh`'s run: its failure is never kept nor answered with a stale value. */
export const FORCED = 2;
/**
 * A miss that goes through the shared tier: its work resolves with the
 * shared tier's outcome, not with the value.
 */
export const SHARED_MISS = 3;

export { CallKey };

/** Whether work started for `purpose` is a miss's. */
export function isMiss(purpose: number): boolean {
  return purpose === MISS || purpose === SHARED_MISS;
}

/** Whether an entry of `kind` is stale. */
export function isStale(kind: number | undefined): boolean {
  return kind === STALE || kind === STALE_SHARED;
}

/** The parts a {@linkcode LocalTier} changes together. */
export interface LocalTierParts<R> {
  entries: EntryTable<Flight<R>>;
  inflight: InflightRegistry<R, unknown>;
  keying: Keying;
  lifetimes: Lifetimes;
  effects: Effects;
}

/**
 * The parts of a cache's local tier for `options`, whose user code is
 * `user`: the entries with their eviction policy, the keying, the lifetimes
 * and the effects queue. `hooks.onTimer` runs when the expiry timer fires,
 * `hooks.sync` when it must be brought in line.
 */
export function localTierParts<R>(
  options: ResolvedOptions,
  user: UserCode,
  keeping: KeepPolicy | undefined,
  hooks: { onTimer: () => void; sync: () => void },
): Omit<LocalTierParts<R>, "inflight"> {
  const store = options.store;
  // A miss adds its entry before it evicts: one slot more than maxSize.
  const slots = options.maxSize + 1;
  const entries = new EntryTable<Flight<R>>(policyOf(options), slots);
  const keying: Keying = store !== undefined
    ? new StoreKeying(options.key === undefined ? undefined : user)
    : options.key === undefined
    ? new ArgumentKeying()
    : new OptionKeying(user);
  const lifetimes = new Lifetimes(entries, {
    // Callers' deadlines share the expiry timer.
    timed: keeping?.timed === true || options.hardTimeout !== undefined,
    keepsFailures: keeping?.keepsFailures === true,
    staleWhileRevalidate: options.staleWhileRevalidate ?? 0,
    staleIfError: options.staleIfError ?? 0,
    // With a store that cannot tell this process of other processes'
    // invalidations, nothing is kept longer than localTtl, so that they
    // reach it within that bound.
    localTtl: store !== undefined && !store.notifies
      ? options.localTtl
      : Infinity,
    maxSize: options.maxSize,
  }, {
    ...hooks,
    // A fallback let go of was the last to hold its key.
    release: (key) => {
      keying.forget(key);
      keying.release(key);
    },
  });
  return { entries, keying, lifetimes, effects: new Effects(user, lifetimes) };
}

/** The entries of one cache and the changes made to them. */
export class LocalTier<R> {
  /** The entries, their kinds and their eviction order. */
  readonly entries: EntryTable<Flight<R>>;
  /** How calls map to keys. */
  readonly keying: Keying;
  /** The entries' times and the fallbacks. */
  readonly lifetimes: Lifetimes;
  /** What the cache has counted. */
  readonly counters: Counters;
  readonly #recorder: Recorder;
  readonly #inflight: InflightRegistry<R, unknown>;
  readonly #effects: Effects;
  readonly #maxSize: number;
  // Infinity when values are not weighed: no weight ever exceeds it.
  readonly #maxWeight: number;
  readonly #hasStore: boolean;

  constructor(
    parts: LocalTierParts<R>,
    settings: {
      name: string;
      maxSize: number;
      maxWeight: number | undefined;
      watched: boolean;
      hasStore: boolean;
    },
  ) {
    this.entries = parts.entries;
    this.keying = parts.keying;
    this.lifetimes = parts.lifetimes;
    this.#inflight = parts.inflight;
    this.#effects = parts.effects;
    this.#maxSize = settings.maxSize;
    this.#maxWeight = settings.maxWeight ?? Infinity;
    this.#hasStore = settings.hasStore;
    this.#recorder = new Recorder(parts.entries, parts.keying, parts.effects, {
      name: settings.name,
      watched: settings.watched,
    });
    this.counters = this.#recorder.counters;
  }

  /**
   * Counts one event of `type` about `key` (a key of this cache's keying, or
   * a call's arguments as {@linkcode shown} gives them), and queues it for
   * `onEvent` if it watches. `error` goes with a `"storeError"`.
   */
  record(type: CacheEventType, key: unknown, error?: unknown): void {
    this.#recorder.record(type, key, error);
  }

  /** See {@linkcode Recorder.watching}. */
  watching(): boolean {
    return this.#recorder.watching();
  }

  /**
   * What events show for a call of `args` whose key was `found`, when the
   * call has no entry whose key would show it.
   */
  shown(found: unknown, args: ArrayLike<unknown>): CallKey {
    return new CallKey(
      found !== ABSENT
        ? this.keying.display(found)
        : args.length === 1
        ? args[0]
        : Array.from(args),
    );
  }

  /**
   * Enters `flight`, a miss's work, as a new entry for the call of `args`
   * whose key was `found`, and evicts what no longer fits. `storeKey` is
   * the entry's store key, when known.
   */
  enter(
    found: unknown,
    args: ArrayLike<unknown> | undefined,
    flight: Flight<R>,
    storeKey: string | undefined,
  ): void {
    const key = this.keying.intern(found, args);
    flight.key = key;
    const displaced = this.entries.add(key, flight, true);
    if (this.#hasStore) this.keying.remember(key, storeKey);
    if (displaced !== undefined) this.#inflight.orphan(displaced);
    // Asked once for the miss and its evictions: they are hot.
    const watching = this.watching();
    this.#evictOverflow(watching);
    this.counters.misses++;
    if (watching) this.#recorder.tell("miss", key);
  }

  /**
   * Attaches `flight`, a refresh's work for the call of `args` whose key was
   * `found`, to the key's entry, or enters it as a new one. Work that meets
   * another run of the key goes on detached.
   */
  attachRefresh(
    found: unknown,
    args: ArrayLike<unknown>,
    flight: Flight<R>,
  ): void {
    const key = this.keying.intern(found, args);
    flight.key = key;
    const entries = this.entries;
    const slot = entries.find(key);
    if (slot === undefined) {
      entries.add(key, flight, false);
      if (this.#hasStore) this.keying.remember(key, undefined);
      this.#evictOverflow(this.watching());
    } else if (
      entries.kind(slot) !== RUNNING && entries.refreshOf(slot) === undefined
    ) {
      entries.startRefresh(slot, flight);
    } else {
      this.#inflight.orphan(flight);
    }
    this.record("refresh", key);
  }

  /**
   * Keeps `value`, what unsettled `flight`'s work resolved with, in its
   * entry (if it still has one) for `lifetime` ms from `now`, or not at all
   * when `lifetime` is 0 or less, and resolves the callers. `weight` is the
   * value's weight (0 when values are not weighed); -1, a weigher's
   * failure, keeps nothing and counts nothing.
   */
  keepValue(
    flight: Flight<R>,
    value: R,
    lifetime: number,
    now: number,
    weight: number,
  ): void {
    const slot = flight.slot;
    if (slot !== NO_SLOT) {
      if (this.entries.kind(slot) === RUNNING) {
        this.entries.settle(slot, value);
      } else {
        this.entries.endRefresh(slot);
        this.entries.replace(slot, value);
      }
      if (lifetime > 0 && weight >= 0) {
        this.lifetimes.keepValue(slot, value, lifetime, now);
        if (weight > 0) this.#weigh(slot, weight);
        else if (this.entries.weightOf(slot) > 0) {
          // A refresh's weightless value replaces a weighed one.
          this.entries.setWeight(slot, 0);
        }
      } else {
        this.removeEntry(slot);
      }
    }
    this.#inflight.resolve(flight, value);
  }

  /**
   * Rejects the callers of unsettled `flight` with `error`, and drops the
   * entry it filled, whether it ran or refreshed it. `error` is why its value
   * could not be kept (judging or timing it threw): for a refresh, a failed
   * one.
   */
  dropRun(flight: Flight<R>, error: unknown): void {
    const slot = flight.slot;
    if (slot !== NO_SLOT) {
      if (this.entries.kind(slot) !== RUNNING) this.entries.endRefresh(slot);
      this.dropEntry(slot);
    }
    if (!isMiss(flight.purpose)) this.record("refreshFailure", flight.key);
    this.#inflight.reject(flight, error);
  }

  /**
   * Settles unsettled `flight`, whose work rejected with `reason`: the entry
   * of a miss, or of a stale hit's refresh that became the key's run, becomes
   * a kept failure for `lifetime` ms from `now` (or goes); `cacheRefresh`'s
   * run never leaves one. A refresh beside a value leaves it, perhaps blocked
   * from refreshing again for `lifetime`. The callers get `fallback`'s value
   * if there is one, else `error` (`reason`, or what judging it threw).
   * Returns the fallback given.
   */
  failRun(
    flight: Flight<R>,
    reason: unknown,
    error: unknown,
    lifetime: number,
    now: number,
    fallback: Fallback | undefined,
  ): Fallback | undefined {
    const purpose = flight.purpose;
    const slot = flight.slot;
    if (slot === NO_SLOT) {
      fallback = undefined;
    } else if (this.entries.kind(slot) === RUNNING) {
      if (purpose === FORCED) fallback = undefined;
      if (purpose !== FORCED && lifetime > 0) {
        this.lifetimes.keepFailure(slot, reason, now, lifetime, fallback);
      } else {
        this.dropEntry(slot);
      }
    } else {
      fallback = undefined;
      this.entries.endRefresh(slot);
      if (purpose === BACKGROUND && lifetime > 0 && this.lifetimes.keepsPast) {
        this.lifetimes.blockRefresh(slot, reason, now, lifetime);
      }
    }
    this.record("error", flight.key);
    if (!isMiss(purpose)) this.record("refreshFailure", flight.key);
    if (fallback !== undefined) {
      this.#inflight.resolve(flight, fallback.value as R);
    } else {
      this.#inflight.reject(flight, error);
    }
    return fallback;
  }

  /**
   * Rejects the callers of unsettled `flight`, takes it out of its entry,
   * and queues the abort of its signal. A refresh leaves the entry it
   * refreshed; any other work's entry goes.
   */
  abandon(flight: Flight<R>, reason: unknown): void {
    const slot = flight.slot;
    if (slot !== NO_SLOT) {
      if (this.entries.kind(slot) === RUNNING) this.dropEntry(slot);
      else this.entries.endRefresh(slot);
    }
    const controller = this.#inflight.reject(flight, reason);
    if (controller !== undefined) this.#effects.abort(controller, reason);
  }

  /**
   * Moves every entry due at or before `time` on; those whose time is over
   * go.
   */
  expire(expiry: ExpiryQueue, time: number): void {
    for (
      let slot = expiry.takeDue(time);
      slot !== NO_SLOT;
      slot = expiry.takeDue(time)
    ) {
      const held = this.#recorder.heldValue(slot);
      const next = this.lifetimes.advance(slot, time);
      if (next === STAYS) continue;
      this.#recorder.recordLeaving("expire", this.entries.key(slot), held);
      if (next !== GOES) continue;
      if (this.entries.refreshOf(slot) === undefined) this.removeEntry(slot);
      else this.#refreshTakesOver(slot);
    }
  }

  // The entry in `slot` is over while its refresh runs: the refresh becomes
  // the key's run, which calls join as they join a miss's, and which settles
  // the entry as a miss's would. Its work was counted as a refresh, and stays
  // one: it is never abandoned by callers that leave.
  #refreshTakesOver(slot: Slot): void {
    this.lifetimes.forget(slot);
    this.entries.runRefresh(slot);
  }

  /** Removes the entry for `key` and forgets its fallback; says whether there was an entry. */
  invalidate(key: unknown): boolean {
    const slot = this.entries.find(key);
    const held = slot === undefined
      ? undefined
      : this.#recorder.heldValue(slot);
    const removed = this.#forgetKey(key);
    if (removed) this.#recorder.recordLeaving("invalidate", key, held);
    return removed;
  }

  /**
   * Another process invalidated `storeKey`: its local entry goes, and its
   * fallback, as with a local invalidation.
   */
  storeDeleted(storeKey: string): void {
    const local = this.keying.localKeyOf(storeKey);
    if (local !== undefined) this.#forgetKey(local);
  }

  // Removes the entry for `key` and forgets its fallback; says whether there
  // was an entry.
  #forgetKey(key: unknown): boolean {
    if (
      this.lifetimes.fallbacks?.delete(key) === true && !this.entries.has(key)
    ) {
      this.#letGo(key);
    }
    const slot = this.entries.find(key);
    if (slot === undefined) return false;
    this.removeEntry(slot);
    return true;
  }

  /**
   * The store's notifications were lost and are back: every entry and
   * fallback goes, since any of them may have been invalidated meanwhile.
   */
  storeGap(): void {
    this.dropAll();
    this.record("storeGap", undefined);
  }

  /**
   * Removes the entry in `slot`. Its work and its refresh, if in flight, go
   * on without it, kept by the registry as orphans.
   */
  removeEntry(slot: Slot): void {
    if (this.entries.kind(slot) === RUNNING) {
      this.#inflight.orphan(this.entries.outcome(slot) as Flight<R>);
    }
    const refresh = this.entries.refreshOf(slot);
    if (refresh !== undefined) {
      this.entries.endRefresh(slot);
      this.#inflight.orphan(refresh);
    }
    this.dropEntry(slot);
  }

  /**
   * Removes the entry in `slot`, whose work, if in flight, the caller is
   * about to settle. The entry goes first: settling may call user code.
   */
  dropEntry(slot: Slot): void {
    const key = this.entries.remove(slot);
    this.lifetimes.forget(slot);
    if (this.lifetimes.fallbacks?.has(key) !== true) this.#letGo(key);
  }

  // A key goes once neither an entry nor a fallback holds it; with a store,
  // so does the way from its store key to it, which another process's
  // invalidation takes to find the fallback as well as the entry.
  #letGo(key: unknown): void {
    if (this.#hasStore) this.keying.forget(key);
    this.keying.release(key);
  }

  /**
   * Drops every entry and fallback; the counters stay. With `forget` (a
   * clear, a new context), the policy forgets what it learnt of past use.
   */
  dropAll(forget = false): void {
    if (forget) this.entries.forget();
    for (const flight of this.entries.runningWork()) {
      this.#inflight.orphan(flight);
    }
    this.entries.clear();
    this.keying.clear();
    this.lifetimes.clear();
  }

  /**
   * Throws if the parts disagree: the entries, running work, the bound, the
   * fallbacks, the deadlines. For tests.
   */
  assertConsistent(closed: boolean): void {
    const entries = this.entries;
    entries.assertConsistent();
    for (const flight of this.#inflight.assertConsistent()) {
      if (flight.slot !== NO_SLOT) {
        throw new Error(`orphaned work still fills slot ${flight.slot}`);
      }
    }
    for (const flight of entries.runningWork()) {
      if (flight.settled || flight.index !== -1) {
        throw new Error(
          `the work in slot ${flight.slot} is settled or orphaned`,
        );
      }
    }
    if (entries.size > this.#maxSize) {
      throw new Error(
        `${entries.size} entries held, more than maxSize ${this.#maxSize}`,
      );
    }
    if (entries.weight > this.#maxWeight) {
      throw new Error(
        `entries of weight ${entries.weight} held, more than maxWeight ${this.#maxWeight}`,
      );
    }
    const lifetimes = this.lifetimes;
    if ((lifetimes.fallbacks?.size ?? 0) > this.#maxSize) {
      throw new Error(`more than maxSize ${this.#maxSize} fallbacks kept`);
    }
    const expiry = lifetimes.expiry;
    if (expiry === undefined) return;
    expiry.assertConsistent((slot) => {
      if (
        entries.find(entries.key(slot)) !== slot ||
        entries.kind(slot) === RUNNING
      ) {
        throw new Error(`slot ${slot} waits to expire but holds no value`);
      }
      if (lifetimes.keepsPast && lifetimes.timing(slot) === undefined) {
        throw new Error(`slot ${slot} waits to expire but has no times`);
      }
    });
    if (closed && expiry.size > 0) {
      throw new Error("a closed cache still times entries");
    }
  }

  // Gives the value just kept in `slot` its weight, in place (a refresh's
  // re-weighing neither moves nor uses its entry), then sheds weight in the
  // policy's order until the total fits. A value heavier than maxWeight on
  // its own is evicted alone: shedding others would not make it fit.
  #weigh(slot: Slot, weight: number): void {
    const entries = this.entries;
    if (weight > this.#maxWeight) {
      this.#evict(slot);
      return;
    }
    entries.setWeight(slot, weight);
    const maxWeight = this.#maxWeight;
    // Most often the next victim weighs something: it goes without a walk.
    let victim = entries.victim();
    while (entries.weight > maxWeight && entries.weightOf(victim) > 0) {
      this.#evict(victim);
      victim = entries.victim();
    }
    let excess = entries.weight - maxWeight;
    if (excess <= 0) return;
    // Chosen first, removed after: removing changes the order walked.
    const victims: Slot[] = [];
    for (const weighed of entries.weighted()) {
      victims.push(weighed);
      excess -= entries.weightOf(weighed);
      if (excess <= 0) break;
    }
    for (const weighed of victims) this.#evict(weighed);
  }

  #evict(slot: Slot): void {
    this.#recorder.recordEviction(slot, this.watching());
    this.removeEntry(slot);
  }

  // Drops the entries the eviction policy names while there are more than
  // maxSize; `watching` says whether their events would be heard.
  #evictOverflow(watching: boolean): void {
    while (this.entries.size > this.#maxSize) {
      const slot = this.entries.victim();
      this.#recorder.recordEviction(slot, watching);
      this.removeEntry(slot);
    }
  }
}
