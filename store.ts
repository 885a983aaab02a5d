/**
 * The contract of a shared store: what a cache's shared tier asks of the
 * store that other processes see too, so that a fleet of processes computes
 * each key once. Adapters implement it (`redisStore` in `./redis`, `kvStore`
 * in `./kv`, `memoryStore` in `./memory`); `shared_tier.ts` holds the
 * protocol that uses it.
 *
 * @module
 */

/** A value as a store keeps it. */
export interface StoredValue {
  /** The value as the cache's `serialize` wrote it. */
  readonly text: string;
  /**
   * Milliseconds the value lives, as the store measures them: given to
   * {@linkcode CacheStore.write}, how long the store keeps it from when it
   * writes it; from {@linkcode CacheStore.readOrLease}, what is left of that.
   * `Infinity` for never. A length of time rather than a date, so that no
   * process's wall clock decides when a value ends.
   */
  readonly ttl: number;
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
    /**
     * Milliseconds left of that lease, as the store measures them;
     * `Infinity` when it has no end. A holder renews its lease while it
     * computes, so a live one never has more left than a lease's length: one
     * with more, or with no end, was put there by something else, and a
     * waiter stops waiting for it after a few leases' worth. Omitted by a
     * store that cannot tell; its waiters wait for as long as the lease
     * holds.
     */
    readonly ttl?: number;
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
  }
  | {
    /**
     * The subscription was lost and is back (a reconnect, a failover): what
     * other processes deleted and cleared in between may never have been
     * told, so nothing this process holds from before may be trusted.
     */
    readonly type: "gap";
  };

/** How long {@linkcode CacheStore.delete} and {@linkcode CacheStore.clear} wait for the other processes. */
export interface NoticeOptions {
  /**
   * Milliseconds to wait, once the store has made the change, for every
   * process it told to acknowledge it.
   *
   * @default {1000}
   */
  timeoutMs?: number;
}

/**
 * A delete or a clear was made, but not every process it reached said, in
 * time, that it had acted on it: those may still serve what it removed until
 * they hear it, or until their copies end.
 */
export class UnacknowledgedNoticeError extends Error {
  /** `"UnacknowledgedNoticeError"`. */
  override name = "UnacknowledgedNoticeError";
  /** Processes the notice reached. */
  readonly reached: number;
  /** Of those, how many acknowledged it in time. */
  readonly acknowledged: number;

  /**
   * The error for a notice some processes did not acknowledge in time.
   *
   * @param what The change, as the message names it: `the delete of "k"`,
   * `the clear`.
   * @param counts How many processes the notice reached, how many
   * acknowledged it, and within how long.
   */
  constructor(
    what: string,
    counts: { reached: number; acknowledged: number; timeoutMs: number },
  ) {
    super(
      `${what} reached ${counts.reached} process${
        counts.reached === 1 ? "" : "es"
      }, of which ${
        counts.reached - counts.acknowledged
      } did not acknowledge it within ${counts.timeoutMs} ms: they may serve the old value until they hear it or their copies end`,
    );
    this.reached = counts.reached;
    this.acknowledged = counts.acknowledged;
  }
}

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
 * `memoryStore` (in `./memory`) is the reference implementation: a store in
 * one process that several caches share as processes share Redis.
 *
 * @example The contract, as a cache uses it
 * ```ts
 * import type { CacheStore } from "./store.ts";
 * import { memoryStore } from "./memory.ts";
 * import { ManualClock } from "./clock.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const store: CacheStore = memoryStore({ clock });
 * const first = await store.readOrLease("k", 1_000);
 * assert.equal(first.status, "leased");
 * if (first.status !== "leased") throw new Error("unreachable");
 * assert.equal((await store.readOrLease("k", 1_000)).status, "busy");
 * await store.write("k", { text: "1", ttl: 500 }, first.lease);
 * clock.advance(200);
 * assert.deepEqual(await store.readOrLease("k", 1_000), {
 *   status: "value",
 *   value: { text: "1", ttl: 300 },
 * });
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
   * Optional: {@linkcode readOrLease} for each of `keys` at once, each with
   * its own contract, the answers in the order of `keys`. A key may appear
   * more than once: the first takes the lease, the others find it held.
   * `alruBatch` reads a batch's keys with it in one call; a store without
   * it is read key by key.
   */
  readOrLeaseMany?(keys: string[], leaseMs: number): Promise<ReadOrLease[]>;
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
   * whether there was a value, once every subscription the notice reached
   * has acknowledged it (its listener returned). A store that notifies
   * rejects with an {@linkcode UnacknowledgedNoticeError} when some did not
   * within `options.timeoutMs`; the delete stands.
   */
  delete(key: string, options?: NoticeOptions): Promise<boolean>;
  /**
   * Makes every key of the namespace unreachable at once, in O(1), and tells
   * the other processes, waiting for their acknowledgements as
   * {@linkcode delete} does. Old values may stay until their deadlines.
   */
  clear(options?: NoticeOptions): Promise<void>;
  /**
   * Calls `listener` with what other processes delete and clear, and
   * `onError` when the subscription fails (a lost connection, say). Once
   * `listener` returns, the event counts as acknowledged. When a lost
   * subscription is back, the listener hears a `"gap"`.
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
