/**
 * The shared tier: a store that other processes see too, so that a fleet of
 * processes computes each key once. This module holds the store interface,
 * which adapters implement (`redisStore` in `./redis`, `kvStore` in `./kv`),
 * and the protocol a cache follows on a local miss: read the key or take its
 * lease, run the function under a renewed lease and write its value with an
 * absolute deadline, or wait for the process that holds the lease.
 *
 * @module
 */

/** A value as a store keeps it. */
export interface StoredValue {
  /** The value as the cache's `serialize` wrote it. */
  readonly text: string;
  /**
   * When the value expires, in milliseconds since the epoch (the scale of
   * `Date.now()`); `Infinity` for never. Every process expires it then.
   */
  readonly expiresAt: number;
}

/**
 * A lease on one key, as a store hands it out: proof that this process may
 * compute the key and write its value. The cache gives it back to the store
 * unchanged; adapters may keep more in it than the token.
 */
export interface StoreLease {
  /** The random token the lease was taken with. */
  readonly token: string;
}

/** What {@linkcode CacheStore.readOrLease} found. */
export type ReadOrLease =
  | {
    /** The key has a value. */
    readonly status: "value";
    /** The value. */
    readonly value: StoredValue;
  }
  | {
    /** The key had no value and no lease: this process now holds the lease. */
    readonly status: "leased";
    /** The lease. */
    readonly lease: StoreLease;
  }
  | {
    /** Another process holds the key's lease. */
    readonly status: "busy";
  };

/** What another process did to a store, as {@linkcode CacheStore.subscribe} tells it. */
export type StoreEvent =
  | {
    /** A key was invalidated. */
    readonly type: "delete";
    /** The key. */
    readonly key: string;
  }
  | {
    /** The whole namespace was cleared. */
    readonly type: "clear";
  };

/** A subscription to a store's events. */
export interface StoreSubscription {
  /** Stops listening and closes any connection the subscription opened. */
  close(): Promise<void>;
}

/**
 * A shared store for `alruCache`'s `store` option. Keys are strings the cache
 * makes; each adapter keeps them apart from other namespaces. Every method may
 * reject when the store fails; the cache then runs the function locally and
 * counts the failure in `cacheStats().storeErrors`.
 *
 * @example A store that keeps everything in one process (a sketch of the
 * contract, useful only in tests)
 * ```ts
 * import type {
 *   CacheStore,
 *   ReadOrLease,
 *   StoredValue,
 *   StoreLease,
 * } from "./store.ts";
 *
 * class MemoryStore implements CacheStore {
 *   readonly notifies = false;
 *   #values = new Map<string, StoredValue>();
 *   #leases = new Map<string, { token: string; until: number }>();
 *
 *   readOrLease(key: string, leaseMs: number): Promise<ReadOrLease> {
 *     const value = this.#values.get(key);
 *     if (value !== undefined && value.expiresAt > Date.now()) {
 *       return Promise.resolve({ status: "value", value });
 *     }
 *     const held = this.#leases.get(key);
 *     if (held !== undefined && held.until > Date.now()) {
 *       return Promise.resolve({ status: "busy" });
 *     }
 *     const lease = { token: crypto.randomUUID() };
 *     this.#leases.set(key, { token: lease.token, until: Date.now() + leaseMs });
 *     return Promise.resolve({ status: "leased", lease });
 *   }
 *   wait(_key: string, options: { timeoutMs: number }): Promise<void> {
 *     return new Promise((resolve) =>
 *       setTimeout(resolve, Math.min(options.timeoutMs, 10))
 *     );
 *   }
 *   write(key: string, value: StoredValue, lease: StoreLease): Promise<void> {
 *     if (this.#leases.get(key)?.token === lease.token) {
 *       this.#values.set(key, value);
 *     }
 *     return Promise.resolve();
 *   }
 *   renew(key: string, lease: StoreLease, leaseMs: number): Promise<boolean> {
 *     const held = this.#leases.get(key);
 *     if (held?.token !== lease.token) return Promise.resolve(false);
 *     held.until = Date.now() + leaseMs;
 *     return Promise.resolve(true);
 *   }
 *   release(key: string, lease: StoreLease): Promise<void> {
 *     if (this.#leases.get(key)?.token === lease.token) this.#leases.delete(key);
 *     return Promise.resolve();
 *   }
 *   delete(key: string): Promise<boolean> {
 *     this.#leases.delete(key);
 *     return Promise.resolve(this.#values.delete(key));
 *   }
 *   clear(): Promise<void> {
 *     this.#values.clear();
 *     this.#leases.clear();
 *     return Promise.resolve();
 *   }
 *   subscribe(): Promise<{ close(): Promise<void> }> {
 *     return Promise.resolve({ close: () => Promise.resolve() });
 *   }
 * }
 *
 * const store: CacheStore = new MemoryStore();
 * const first = await store.readOrLease("k", 1_000);
 * if (first.status !== "leased") throw new Error("expected the lease");
 * await store.write("k", { text: "1", expiresAt: Infinity }, first.lease);
 * const second = await store.readOrLease("k", 1_000);
 * if (second.status !== "value") throw new Error("expected the value");
 * ```
 */
export interface CacheStore {
  /**
   * Whether {@linkcode subscribe} tells this process what other processes
   * delete and clear. When it does not, a process keeps its local copy of a
   * value for at most the cache's `localTtl`.
   */
  readonly notifies: boolean;
  /**
   * Atomically reads `key`'s value, or, when it has none and nobody holds
   * its lease, takes the lease for `leaseMs` with a new random token. A value
   * whose deadline has passed counts as none. A lease whose deadline has
   * passed counts as released, so a process that died holding one does not
   * block the key for longer than the lease.
   */
  readOrLease(key: string, leaseMs: number): Promise<ReadOrLease>;
  /**
   * Resolves when `key`'s lease may have been released or its value written,
   * or after `timeoutMs` at the latest, or at once when `signal` aborts,
   * leaving nothing behind. A store that cannot notify polls, with backoff.
   * Rejects when the store fails, including when a notification connection
   * is lost.
   */
  wait(
    key: string,
    options: { timeoutMs: number; signal: AbortSignal },
  ): Promise<void>;
  /**
   * Writes `value` for `key` if `lease` still holds the key (and the
   * namespace has not been cleared since it was taken), and releases the
   * lease. Otherwise writes nothing: an invalidation or a clear since the
   * lease was taken wins.
   */
  write(key: string, value: StoredValue, lease: StoreLease): Promise<void>;
  /** Extends `lease` to `leaseMs` from now; resolves `false` if it no longer holds the key. */
  renew(key: string, lease: StoreLease, leaseMs: number): Promise<boolean>;
  /** Releases `lease` if it still holds the key; never touches another process's lease. */
  release(key: string, lease: StoreLease): Promise<void>;
  /**
   * Drops `key`'s value and lease and tells the other processes; resolves
   * whether there was a value.
   */
  delete(key: string): Promise<boolean>;
  /**
   * Makes every key of the namespace unreachable at once, in O(1), and tells
   * the other processes. Old values may stay until their deadlines.
   */
  clear(): Promise<void>;
  /**
   * Calls `listener` with what other processes delete and clear, and
   * `onError` when the subscription fails (a lost connection, say).
   */
  subscribe(
    listener: (event: StoreEvent) => void,
    onError: (error: unknown) => void,
  ): Promise<StoreSubscription>;
}

/** Turns values into the text a store keeps, and back. */
export interface Serializer {
  /** The text for `value`; throws a `TypeError` for a value it cannot keep. */
  serialize(value: unknown): string;
  /** The value `text` stands for; throws for text it did not write. */
  deserialize(text: string): unknown;
}

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
  serializer: Serializer;
  /** Told of each store failure, with the key it concerned, if any. */
  onError(key: string | undefined, error: unknown): void;
}

// Runs a store operation; a store that throws instead of rejecting must not
// throw through the cache's call.
function attempt<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return operation();
  } catch (error) {
    return Promise.reject(error);
  }
}

interface Deadline {
  readonly at: number;
  readonly ms: number;
  readonly reject: (error: unknown) => void;
}

// Lets a process exit while a timer of this module is armed.
function unref(timer: ReturnType<typeof setTimeout>): void {
  const deno = (globalThis as { Deno?: { unrefTimer?(id: number): void } })
    .Deno;
  if (typeof timer === "number") deno?.unrefTimer?.(timer);
  else (timer as { unref?(): void }).unref?.();
}

interface Renewal {
  timer: ReturnType<typeof setTimeout> | undefined;
  stopped: boolean;
}

class StoreTimeoutError extends Error {
  override name = "StoreTimeoutError";
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
  // Releases nobody waits for, for close to wait for.
  readonly #releasing = new Set<Promise<void>>();
  // Lease renewals in progress, to stop on close.
  readonly #renewals = new Set<Renewal>();
  // Waits in progress, to end on close.
  readonly #closing = new AbortController();
  // Store operations in progress, and the one timer that fails the late.
  readonly #deadlines = new Set<Deadline>();
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  #subscription: Promise<StoreSubscription | undefined> | undefined;
  // Whether the subscription has been opened, or has failed to open.
  #subscribed = false;

  constructor(store: CacheStore, settings: SharedTierSettings) {
    this.#store = store;
    this.#settings = settings;
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
   * rejects with the signal's reason.
   */
  async run(
    key: string,
    compute: () => unknown,
    lifetimeOf: (value: unknown) => number,
    work?: AbortSignal,
  ): Promise<SharedOutcome> {
    const { lease, storeTimeout } = this.#settings;
    // A value read before the subscription is open would miss invalidations
    // sent meanwhile; a subscription that takes too long is given up on.
    if (!this.#subscribed && this.#subscription !== undefined) {
      try {
        await this.#bounded(this.#subscription, storeTimeout);
      } catch (error) {
        this.#settings.onError(key, error);
      }
    }
    for (;;) {
      if (work?.aborted) throw work.reason;
      let found: ReadOrLease;
      const reading = attempt(() => this.#store.readOrLease(key, lease));
      try {
        found = await this.#bounded(reading, storeTimeout);
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
        return { value, lifetime: found.value.expiresAt - Date.now() };
      }
      if (found.status === "leased") {
        return this.#lead(key, found.lease, compute, lifetimeOf, work);
      }
      try {
        await this.#wait(key, work);
      } catch (error) {
        // A store that rejects a wait its signal ended has not failed.
        if (work?.aborted) throw work.reason;
        return this.#failed(key, error, compute, lifetimeOf, work);
      }
      if (this.#closing.signal.aborted) {
        return this.#local(compute, lifetimeOf, work);
      }
    }
  }

  /** Drops `key` from the store and tells the other processes. */
  invalidate(key: string): Promise<boolean> {
    return this.#bounded(
      attempt(() => this.#store.delete(key)),
      this.#settings.storeTimeout,
    );
  }

  /** Clears the namespace and tells the other processes. */
  clear(): Promise<void> {
    return this.#bounded(
      attempt(() => this.#store.clear()),
      this.#settings.storeTimeout,
    );
  }

  /**
   * Starts listening for other processes' changes, once. A failure to
   * subscribe is reported, and the cache goes on without.
   */
  listen(listener: (event: StoreEvent) => void): void {
    this.#subscription ??= attempt(() =>
      this.#store.subscribe(
        listener,
        (error) => this.#settings.onError(undefined, error),
      )
    ).then((subscription) => {
      this.#subscribed = true;
      return subscription;
    }, (error) => {
      this.#subscribed = true;
      this.#settings.onError(undefined, error);
      return undefined;
    });
  }

  /** Stops listening, ends waits, and releases every lease still held. */
  async close(): Promise<void> {
    this.#closing.abort(CLOSED);
    // The watchdog goes once no operation needs it; until then it stops by
    // itself when the last one settles or times out.
    if (this.#deadlines.size === 0) {
      clearTimeout(this.#watchdog);
      this.#watchdog = undefined;
    }
    for (const renewal of this.#renewals) this.#stopRenewing(renewal);
    const releases = [...this.#held].map(([lease, key]) =>
      this.#release(key, lease)
    );
    this.#held.clear();
    releases.push(...this.#releasing);
    const subscription = await this.#subscription;
    await Promise.all([...releases, subscription?.close()]);
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
    let expiresAt: number;
    let text: string;
    try {
      const value = await compute();
      const lifetime = lifetimeOf(value);
      text = this.#settings.serializer.serialize(value);
      const served = this.#settings.serializer.deserialize(text);
      expiresAt = Date.now() + lifetime;
      outcome = { value: served, lifetime };
    } catch (error) {
      // A rejection is never written; the next process takes the lease.
      work?.removeEventListener("abort", abandon);
      this.#stopRenewing(renewal);
      if (this.#held.delete(lease)) await this.#release(key, lease);
      throw error;
    }
    work?.removeEventListener("abort", abandon);
    this.#stopRenewing(renewal);
    // Released by close or by the abort: the value is nobody's to write.
    if (!this.#held.delete(lease)) return outcome;
    // Writing, or else releasing, delays the callers by at most storeTimeout.
    if (outcome.lifetime > 0) {
      try {
        await this.#bounded(
          attempt(() => this.#store.write(key, { text, expiresAt }, lease)),
          this.#settings.storeTimeout,
        );
        return outcome;
      } catch (error) {
        this.#settings.onError(key, error);
        this.#releaseLater(key, lease);
        return outcome;
      }
    }
    await this.#release(key, lease);
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
    return this.#store.wait(key, { timeoutMs: this.#settings.lease, signal });
  }

  // Renews `lease` every third of its duration until stopped.
  #keepRenewed(key: string, lease: StoreLease): Renewal {
    const renewal: Renewal = { timer: undefined, stopped: false };
    this.#renewals.add(renewal);
    const every = Math.max(1, Math.floor(this.#settings.lease / 3));
    const renew = () => {
      this.#bounded(
        attempt(() => this.#store.renew(key, lease, this.#settings.lease)),
        this.#settings.storeTimeout,
      ).catch((error) => this.#settings.onError(key, error)).finally(() => {
        if (!renewal.stopped) renewal.timer = setTimeout(renew, every);
      });
    };
    renewal.timer = setTimeout(renew, every);
    return renewal;
  }

  #stopRenewing(renewal: Renewal): void {
    renewal.stopped = true;
    clearTimeout(renewal.timer);
    this.#renewals.delete(renewal);
  }

  // Releases `lease` without anyone waiting for it but close.
  #releaseLater(key: string, lease: StoreLease): void {
    const releasing = this.#release(key, lease).finally(() =>
      this.#releasing.delete(releasing)
    );
    this.#releasing.add(releasing);
  }

  // Releases `lease`; a failure is reported, never thrown.
  async #release(key: string, lease: StoreLease): Promise<void> {
    try {
      await this.#bounded(
        attempt(() => this.#store.release(key, lease)),
        this.#settings.storeTimeout,
      );
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

  // Runs the work here, without the store, unless it was abandoned.
  async #local(
    compute: () => unknown,
    lifetimeOf: (value: unknown) => number,
    work: AbortSignal | undefined,
  ): Promise<SharedOutcome> {
    if (work?.aborted) throw work.reason;
    const value = await compute();
    const lifetime = lifetimeOf(value);
    const text = this.#settings.serializer.serialize(value);
    return { value: this.#settings.serializer.deserialize(text), lifetime };
  }

  // `operation`, or a rejection once it has taken `ms`. One watchdog timer
  // serves every operation in progress: a timer per operation would cost as
  // much as a round trip to a local server.
  #bounded<T>(operation: Promise<T>, ms: number): Promise<T> {
    if (this.#closing.signal.aborted) return this.#boundedAlone(operation, ms);
    return new Promise<T>((resolve, reject) => {
      const deadline: Deadline = { at: performance.now() + ms, ms, reject };
      this.#deadlines.add(deadline);
      this.#watch();
      const settled = () => {
        this.#deadlines.delete(deadline);
        // A closed tier leaves no timer once nothing is in progress.
        if (this.#deadlines.size === 0 && this.#closing.signal.aborted) {
          clearTimeout(this.#watchdog);
          this.#watchdog = undefined;
        }
      };
      operation.then((value) => {
        settled();
        resolve(value);
      }, (error) => {
        settled();
        reject(error);
      });
    });
  }

  // Arms the watchdog unless it is armed. It fires every quarter of
  // storeTimeout while operations are in progress, and stops once none is.
  #watch(): void {
    if (this.#watchdog !== undefined) return;
    this.#watchdog = setTimeout(() => {
      this.#watchdog = undefined;
      const now = performance.now();
      for (const deadline of this.#deadlines) {
        if (deadline.at <= now) {
          this.#deadlines.delete(deadline);
          deadline.reject(
            new StoreTimeoutError(`the store took over ${deadline.ms} ms`),
          );
        }
      }
      if (this.#deadlines.size > 0) this.#watch();
    }, Math.max(1, this.#settings.storeTimeout / 4));
    unref(this.#watchdog);
  }

  // After close, operations (an invalidation, say) get a timer each, so that
  // nothing is left armed.
  #boundedAlone<T>(operation: Promise<T>, ms: number): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreTimeoutError(`the store took over ${ms} ms`)),
        ms,
      );
    });
    // A late rejection of the operation must not go unhandled.
    operation.catch(() => {});
    return Promise.race([operation, timeout]).finally(() =>
      clearTimeout(timer)
    );
  }
}
