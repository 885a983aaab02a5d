/**
 * The protocol of the shared tier, which a cache follows on a local miss when
 * it has a store: read the key or take its lease; holding the lease, run the
 * function under a lease renewed every third of its length and write the
 * value with its lifetime; or wait for the process that holds the lease and
 * read again. A store that fails or is slow never fails a call: the work runs
 * here instead. Every timer and reading of time is the cache's clock's.
 *
 * @module
 */

import { CircuitBreaker } from "./breaker.ts";
import type { Clock } from "./clock.ts";
import {
  type CacheStore,
  type ReadOrLease,
  type Serializer,
  type StoreEvent,
  type StoreLease,
  type StoreSubscription,
  UnacknowledgedNoticeError,
} from "./store.ts";
import { GatheredReads } from "./store_reads.ts";
import { Watchdog } from "./watchdog.ts";

/**
 * What a shared run gives the cache: the value to serve and how long it
 * lives. A local copy may live less (the cache's `localTtl`).
 */
export interface SharedOutcome {
  /** The value, as `deserialize` returned it. */
  readonly value: unknown;
  /**
   * Milliseconds the value lives from now: all of its lifetime when this
   * process computed it, what is left of it in the store when it was read;
   * `0` or less for not at all.
   */
  readonly lifetime: number;
}

/** How a {@linkcode SharedTier} works, from the cache's options. */
export interface SharedTierSettings {
  /** Lease duration in ms. */
  lease: number;
  /** Bound on each store operation, in ms. */
  storeTimeout: number;
  /** Consecutive store failures that open the circuit breaker. */
  breakerThreshold: number;
  /** Milliseconds the open breaker waits before it lets a call try the store. */
  breakerCooldown: number;
  /**
   * The longest a value read from the store lives here, in ms: the cache's
   * `ttl` plus its `jitter`; `Infinity` when `ttl` is a function or infinite.
   */
  longestLifetime: number;
  serializer: Serializer;
  /**
   * The cache's clock, for every timer and reading of time; user code,
   * entered through the cache's one door to it, as `serializer` is.
   */
  clock(): Clock;
  /**
   * Starts a store operation: the store is user code, reached through the
   * cache's one door to it, which turns a throw into a rejection.
   */
  call<T>(operation: () => Promise<T>): Promise<T>;
  /** Told of each store failure, with the key it concerned, if any. */
  onError(key: string | undefined, error: unknown): void;
  /** Told when the circuit breaker opens (`true`) and closes (`false`). */
  onBreaker(open: boolean): void;
  /**
   * Whether the reads of a turn go to the store's `readOrLeaseMany` in one
   * call, when it has one (as `alruBatch` asks).
   */
  readsMany?: boolean;
}

/**
 * The error a call counts when it has waited a few leases' worth for a
 * lease that no live process holds: one with no end, or longer than any
 * renewal gives, put under the key by something else.
 */
export class LeaseWaitError extends Error {
  override name = "LeaseWaitError";
}

// How many leases' worth a call waits for a lease that is not a live
// holder's before it runs the work itself.
const FOREIGN_LEASE_WAITS = 3;

interface Renewal {
  timer: { clock: Clock; handle: unknown } | undefined;
  stopped: boolean;
}

const CLOSED = new Error("the cache was closed");

/**
 * The protocol of the shared tier for one cache. Its promises never reject
 * because of the store: a failing or slow store makes the work run locally.
 */
export class SharedTier {
  readonly #store: CacheStore;
  readonly #settings: SharedTierSettings;
  // Leases held now, to release on close.
  readonly #held = new Map<StoreLease, string>();
  // Writes and releases nobody waits for, for close to wait for.
  readonly #releasing = new Set<Promise<void>>();
  // Lease renewals in progress, to stop on close.
  readonly #renewals = new Set<Renewal>();
  // Waits in progress, to end on close.
  readonly #closing = new AbortController();
  // Fails store operations that take longer than storeTimeout.
  readonly #watchdog: Watchdog;
  #subscription: Promise<StoreSubscription | undefined> | undefined;
  // Whether the subscription has been opened.
  #subscribed = false;
  // When a miss may try again to subscribe after a failure; NaN for now.
  #resubscribeAt = NaN;
  readonly #breaker: CircuitBreaker;
  // Absent unless reads are gathered.
  readonly #reads: GatheredReads | undefined;

  constructor(store: CacheStore, settings: SharedTierSettings) {
    this.#store = store;
    this.#settings = settings;
    this.#reads =
      settings.readsMany && typeof store.readOrLeaseMany === "function"
        ? new GatheredReads(store, settings)
        : undefined;
    this.#watchdog = new Watchdog(settings.clock, (error) => {
      // A store that made the change but whose processes were slow to say
      // so has not failed.
      if (
        error === undefined || error instanceof UnacknowledgedNoticeError
      ) {
        this.#breaker.succeeded();
      } else this.#breaker.failed();
    });
    this.#breaker = new CircuitBreaker({
      threshold: settings.breakerThreshold,
      cooldown: settings.breakerCooldown,
      clock: settings.clock,
      changed: (open) => settings.onBreaker(open),
    });
  }

  /**
   * Gets `key`'s value from the store, or computes it once across the
   * processes: `compute` runs the function (here, in this process, under the
   * key's lease, or locally when the store fails), and `lifetimeOf` says how
   * long its value lives (`0` or less: not written).
   *
   * `work` is the signal of the work this run does, if it has one. Once it
   * aborts, the run is abandoned: it stops waiting, takes no lease and runs
   * nothing more, a lease it holds is released at once and no longer
   * renewed, and a value `compute` still returns is not written; the run
   * rejects with the signal's reason. Once the tier is closed, a run that
   * has not started the work never does: it rejects.
   *
   * While the circuit breaker is open, the run does not ask the store: the
   * work runs here at once.
   */
  async run(
    key: string,
    compute: () => unknown,
    lifetimeOf: (value: unknown) => number,
    work?: AbortSignal,
  ): Promise<SharedOutcome> {
    if (!this.#breaker.allows()) return this.#local(compute, lifetimeOf, work);
    const lease = this.#settings.lease;
    // A value read before the subscription is open would miss invalidations
    // sent meanwhile; a subscription that takes too long is given up on.
    if (!this.#subscribed && this.#subscription !== undefined) {
      try {
        // Not a store answer: a failed subscription resolves, and has told
        // the breaker itself.
        await this.#watchdog.bound(
          this.#subscription,
          this.#settings.storeTimeout,
          { told: false },
        );
      } catch (error) {
        this.#settings.onError(key, error);
      }
    }
    // Since when the lease waited for has not been a live holder's.
    let foreignSince: number | undefined;
    for (;;) {
      if (work?.aborted) throw work.reason;
      if (this.#closing.signal.aborted) throw CLOSED;
      let found: ReadOrLease;
      const reading = this.#reads?.read(key) ??
        this.#call(() => this.#store.readOrLease(key, lease));
      try {
        found = await this.#bounded(reading);
      } catch (error) {
        // A lease granted after this process stopped waiting for it would
        // hold the key for nothing.
        reading.then((late) => {
          if (late.status === "leased") this.#releaseLater(key, late.lease);
        }, () => {});
        return this.#failed(key, error, compute, lifetimeOf, work);
      }
      if (found.status === "value") {
        let value: unknown;
        try {
          value = this.#settings.serializer.deserialize(found.value.text);
        } catch (error) {
          // Corrupt data is a miss, never an answer.
          return this.#failed(key, error, compute, lifetimeOf, work);
        }
        // The store's own measure of what is left, never this process's
        // wall clock; a value may not outlive what this cache would give it.
        return {
          value,
          lifetime: Math.min(found.value.ttl, this.#settings.longestLifetime),
        };
      }
      if (found.status === "leased") {
        return this.#lead(key, found.lease, compute, lifetimeOf, work);
      }
      // A live holder renews its lease, which so never has more than a
      // lease's length left: one that does was not taken by a cache, and is
      // waited for only so long.
      if (!(found.ttl === undefined || found.ttl <= lease)) {
        foreignSince ??= this.#settings.clock().now();
        const waited = this.#settings.clock().now() - foreignSince;
        if (waited >= FOREIGN_LEASE_WAITS * lease) {
          return this.#failed(
            key,
            new LeaseWaitError(
              `the lease of key ${
                JSON.stringify(key)
              } has ${found.ttl} ms left, more than any cache's renewal gives (lease ${lease} ms): waited ${waited} ms for it, and ran the work here`,
            ),
            compute,
            lifetimeOf,
            work,
          );
        }
      } else foreignSince = undefined;
      try {
        await this.#wait(key, work);
      } catch (error) {
        // A store that rejects a wait its signal ended has not failed.
        if (work?.aborted) throw work.reason;
        return this.#failed(key, error, compute, lifetimeOf, work);
      }
    }
  }

  /**
   * Drops `key` from the store and tells the other processes; resolves once
   * they have acknowledged it. `storeTimeout` bounds the delete, and then
   * the acknowledgements.
   */
  invalidate(key: string): Promise<boolean> {
    const timeoutMs = this.#settings.storeTimeout;
    return this.#bounded(
      this.#call(() => this.#store.delete(key, { timeoutMs })),
      2 * timeoutMs,
    );
  }

  /** Clears the namespace and tells the other processes, as {@linkcode invalidate} does. */
  clear(): Promise<void> {
    const timeoutMs = this.#settings.storeTimeout;
    return this.#bounded(
      this.#call(() => this.#store.clear({ timeoutMs })),
      2 * timeoutMs,
    );
  }

  /**
   * Starts listening for other processes' changes, once. A failure to
   * subscribe is reported, tells the breaker, and is tried again by a miss
   * once `breakerCooldown` has passed and the breaker is closed; the cache
   * goes on without meanwhile.
   */
  listen(listener: (event: StoreEvent) => void): void {
    if (this.#subscription !== undefined || this.#breaker.open) return;
    if (
      !Number.isNaN(this.#resubscribeAt) &&
      this.#settings.clock().now() < this.#resubscribeAt
    ) {
      return;
    }
    this.#resubscribeAt = NaN;
    const opening = this.#call(() =>
      this.#store.subscribe(
        listener,
        (error) => this.#settings.onError(undefined, error),
      )
    ).then((subscription) => {
      this.#subscribed = true;
      this.#breaker.succeeded();
      return subscription;
    }, (error) => {
      if (this.#subscription === opening) this.#subscription = undefined;
      this.#resubscribeAt = this.#settings.clock().now() +
        this.#settings.breakerCooldown;
      this.#settings.onError(undefined, error);
      this.#breaker.failed();
      return undefined;
    });
    this.#subscription = opening;
  }

  /** Stops listening, ends waits, and releases every lease still held. */
  async close(): Promise<void> {
    this.#closing.abort(CLOSED);
    // The watchdog goes once no operation needs it.
    this.#watchdog.close();
    for (const renewal of this.#renewals) this.#stopRenewing(renewal);
    const releases = [...this.#held].map(([lease, key]) =>
      this.#release(key, lease)
    );
    this.#held.clear();
    releases.push(...this.#releasing);
    await Promise.all([...releases, this.#closeSubscription()]);
  }

  // Closes the subscription, waiting at most storeTimeout for one still
  // opening: one that opens later is closed then.
  async #closeSubscription(): Promise<void> {
    const opening = this.#subscription;
    if (opening === undefined) return;
    let subscription: StoreSubscription | undefined;
    try {
      subscription = await this.#watchdog.bound(
        opening,
        this.#settings.storeTimeout,
        { told: false },
      );
    } catch (error) {
      this.#settings.onError(undefined, error);
      opening.then((late) =>
        late === undefined ? undefined : this.#call(() => late.close())
      ).catch(() => {});
      return;
    }
    if (subscription !== undefined) {
      await this.#call(() => subscription.close());
    }
  }

  // Holds `lease` on `key` while `compute` runs, then writes the value.
  // The lease goes at once if `work` aborts.
  async #lead(
    key: string,
    lease: StoreLease,
    compute: () => unknown,
    lifetimeOf: (value: unknown) => number,
    work: AbortSignal | undefined,
  ): Promise<SharedOutcome> {
    this.#held.set(lease, key);
    if (work?.aborted) {
      this.#letGo(key, lease, undefined);
      throw work.reason;
    }
    const renewal = this.#keepRenewed(key, lease);
    // Abandoned work gives the key up now, not when fn happens to settle: a
    // fn that ignores its signal would hold it for as long as it runs.
    const abandon = () => this.#letGo(key, lease, renewal);
    work?.addEventListener("abort", abandon);
    let outcome: SharedOutcome;
    let text: string;
    try {
      const value = await compute();
      const lifetime = lifetimeOf(value);
      text = this.#settings.serializer.serialize(value);
      const served = this.#settings.serializer.deserialize(text);
      outcome = { value: served, lifetime };
    } catch (error) {
      // A rejection is never written; the next process takes the lease.
      work?.removeEventListener("abort", abandon);
      this.#stopRenewing(renewal);
      if (this.#held.delete(lease)) {
        await this.#patiently(this.#releaseLater(key, lease));
      }
      throw error;
    }
    work?.removeEventListener("abort", abandon);
    this.#stopRenewing(renewal);
    // Released by close or by the abort: the value is nobody's to write.
    if (!this.#held.delete(lease)) return outcome;
    // Writing, or else releasing, delays the callers by at most storeTimeout;
    // the operation may take longer while the store answers others.
    if (outcome.lifetime > 0) {
      const writing = this.#bounded(
        this.#call(() =>
          this.#store.write(key, { text, ttl: outcome.lifetime }, lease)
        ),
      ).catch((error) => {
        this.#settings.onError(key, error);
        this.#releaseLater(key, lease);
      }).finally(() => this.#releasing.delete(writing));
      this.#releasing.add(writing);
      await this.#patiently(writing);
      return outcome;
    }
    await this.#patiently(this.#releaseLater(key, lease));
    return outcome;
  }

  // Stops renewing `lease` and releases it in the background, unless close
  // or the end of the run has already let it go.
  #letGo(key: string, lease: StoreLease, renewal: Renewal | undefined): void {
    if (renewal !== undefined) this.#stopRenewing(renewal);
    if (this.#held.delete(lease)) this.#releaseLater(key, lease);
  }

  // Waits for the holder of `key`'s lease, until the tier closes or `work`
  // aborts.
  #wait(key: string, work: AbortSignal | undefined): Promise<void> {
    const closing = this.#closing.signal;
    const signal = work === undefined
      ? closing
      : AbortSignal.any([closing, work]);
    return this.#call(() =>
      this.#store.wait(key, { timeoutMs: this.#settings.lease, signal })
    );
  }

  // Renews `lease` every third of its duration until stopped.
  #keepRenewed(key: string, lease: StoreLease): Renewal {
    const renewal: Renewal = { timer: undefined, stopped: false };
    this.#renewals.add(renewal);
    const every = Math.max(1, Math.floor(this.#settings.lease / 3));
    const renew = () => {
      renewal.timer = undefined;
      this.#bounded(
        this.#call(() => this.#store.renew(key, lease, this.#settings.lease)),
      ).catch((error) => this.#settings.onError(key, error)).finally(() => {
        if (!renewal.stopped) schedule();
      });
    };
    const schedule = () => {
      const clock = this.#settings.clock();
      renewal.timer = { clock, handle: clock.setTimeout(renew, every) };
    };
    schedule();
    return renewal;
  }

  #stopRenewing(renewal: Renewal): void {
    renewal.stopped = true;
    const timer = renewal.timer;
    renewal.timer = undefined;
    timer?.clock.clearTimeout(timer.handle);
    this.#renewals.delete(renewal);
  }

  // Releases `lease` without anyone waiting for it but close.
  #releaseLater(key: string, lease: StoreLease): Promise<void> {
    const releasing = this.#release(key, lease).finally(() =>
      this.#releasing.delete(releasing)
    );
    this.#releasing.add(releasing);
    return releasing;
  }

  // Releases `lease`; a failure is reported, never thrown.
  async #release(key: string, lease: StoreLease): Promise<void> {
    try {
      await this.#bounded(this.#call(() => this.#store.release(key, lease)));
    } catch (error) {
      this.#settings.onError(key, error);
    }
  }

  // The store failed for `key`: the work runs here, unshared.
  #failed(
    key: string,
    error: unknown,
    compute: () => unknown,
    lifetimeOf: (value: unknown) => number,
    work: AbortSignal | undefined,
  ): Promise<SharedOutcome> {
    this.#settings.onError(key, error);
    return this.#local(compute, lifetimeOf, work);
  }

  // Runs the work here, without the store, unless it was abandoned or the
  // tier closed: a closed cache starts no work.
  async #local(
    compute: () => unknown,
    lifetimeOf: (value: unknown) => number,
    work: AbortSignal | undefined,
  ): Promise<SharedOutcome> {
    if (work?.aborted) throw work.reason;
    if (this.#closing.signal.aborted) throw CLOSED;
    const value = await compute();
    const lifetime = lifetimeOf(value);
    const text = this.#settings.serializer.serialize(value);
    return { value: this.#settings.serializer.deserialize(text), lifetime };
  }

  // `operation`, or a rejection once the store has answered nothing for
  // `ms` (storeTimeout unless given) while it waited (see watchdog.ts); the
  // watchdog tells the breaker how it ended.
  #bounded<T>(
    operation: Promise<T>,
    ms = this.#settings.storeTimeout,
  ): Promise<T> {
    return this.#watchdog.bound(operation, ms);
  }

  // Waits for `operation` at most storeTimeout, which goes on regardless.
  #patiently(operation: Promise<void>): Promise<void> {
    return this.#watchdog.patience(operation, this.#settings.storeTimeout);
  }

  #call<T>(operation: () => Promise<T>): Promise<T> {
    return this.#settings.call(operation);
  }
}
