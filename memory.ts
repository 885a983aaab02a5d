/**
 * A shared store for `alruCache` that lives in this process: several caches
 * given one `memoryStore` share it as processes share a Redis namespace,
 * computing each key once between them and hearing each other's
 * invalidations. It is the reference implementation of the store contract,
 * and what tests of code that uses the shared tier run against without a
 * server: given a `ManualClock`, its leases, values and waits move with that
 * clock.
 *
 * @example Two caches, as two processes, share one store on a manual clock
 * ```ts
 * import { alruCache, ManualClock } from "./mod.ts";
 * import { memoryStore } from "./memory.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const store = memoryStore({ clock });
 * let runs = 0;
 * const load = async (id: number) => {
 *   runs++;
 *   return { id };
 * };
 * const here = alruCache(load, { ttl: 60_000, store, clock });
 * const there = alruCache(load, { ttl: 60_000, store, clock });
 *
 * assert.deepEqual(await here(1), { id: 1 });
 * assert.deepEqual(await there(1), { id: 1 }); // read from the store
 * assert.equal(runs, 1);
 *
 * await here.cacheInvalidate(1); // reaches `there` too
 * await clock.advanceAsync(0);
 * assert.equal(there.cacheContains(1), false);
 * await Promise.all([here.cacheClose(), there.cacheClose()]);
 * ```
 *
 * @module
 */

import { type Clock, SystemClock } from "./clock.ts";
import { describe } from "./errors.ts";
import {
  type CacheStore,
  type ReadOrLease,
  type StoredValue,
  type StoreEvent,
  type StoreLease,
  type StoreSubscription,
  UnacknowledgedNoticeError,
} from "./store.ts";

/** Options of {@linkcode memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Where the store's time comes from: when values and leases end, and how
   * long a wait lasts. Give the caches' `ManualClock` to move them all
   * together.
   *
   * @default {the runtime's clock and timers, unref'd}
   */
  clock?: Clock;
}

/**
 * A {@linkcode CacheStore} kept in this process's memory. Every cache given
 * the same store shares its values and leases, and hears what the others
 * invalidate and clear (`notifies` is `true`). Values and leases end on the
 * store's clock; `cacheClear()` on any of the caches makes every value and
 * lease unreachable at once.
 *
 * @param options The clock.
 * @returns The store.
 * @throws {TypeError} If `options.clock` lacks `now`, `setTimeout` or
 * `clearTimeout`.
 */
export function memoryStore(options: MemoryStoreOptions = {}): CacheStore {
  const clock = options?.clock ?? new SystemClock();
  for (const method of ["now", "setTimeout", "clearTimeout"] as const) {
    if (typeof clock?.[method] !== "function") {
      throw new TypeError(
        `memoryStore option "clock" must have the methods now, setTimeout and clearTimeout; received ${
          describe(clock)
        }`,
      );
    }
  }
  return new MemoryStore(clock);
}

interface Held {
  readonly text: string;
  readonly until: number;
  readonly generation: number;
}

interface Lease extends StoreLease {
  readonly generation: number;
}

interface LeaseHeld {
  readonly token: string;
  until: number;
  readonly generation: number;
}

interface Subscriber {
  readonly listener: (event: StoreEvent) => void;
  readonly onError: (error: unknown) => void;
}

class MemoryStore implements CacheStore {
  readonly notifies = true;
  readonly #clock: Clock;
  // Bumped by a clear: values and leases of an older generation are gone.
  #generation = 0;
  readonly #values = new Map<string, Held>();
  readonly #leases = new Map<string, LeaseHeld>();
  readonly #subscribers = new Set<Subscriber>();
  // Per key, what ends the waits for it.
  readonly #waiters = new Map<string, Set<() => void>>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  readOrLease(key: string, leaseMs: number): Promise<ReadOrLease> {
    return Promise.resolve(this.#readOrLease(key, leaseMs, this.#clock.now()));
  }

  readOrLeaseMany(keys: string[], leaseMs: number): Promise<ReadOrLease[]> {
    const now = this.#clock.now();
    return Promise.resolve(
      keys.map((key) => this.#readOrLease(key, leaseMs, now)),
    );
  }

  #readOrLease(key: string, leaseMs: number, now: number): ReadOrLease {
    const value = this.#live(this.#values, key, now);
    if (value !== undefined) {
      return {
        status: "value",
        value: { text: value.text, ttl: value.until - now },
      };
    }
    const held = this.#live(this.#leases, key, now);
    if (held !== undefined) return { status: "busy", ttl: held.until - now };
    const lease: Lease = {
      token: crypto.randomUUID(),
      generation: this.#generation,
    };
    this.#leases.set(key, {
      token: lease.token,
      until: now + leaseMs,
      generation: lease.generation,
    });
    return { status: "leased", lease };
  }

  wait(
    key: string,
    options: { timeoutMs: number; signal: AbortSignal },
  ): Promise<void> {
    const { timeoutMs, signal } = options;
    if (signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let waiters = this.#waiters.get(key);
      if (waiters === undefined) this.#waiters.set(key, waiters = new Set());
      const done = () => {
        this.#clock.clearTimeout(timer);
        signal.removeEventListener("abort", done);
        waiters!.delete(done);
        if (waiters!.size === 0) this.#waiters.delete(key);
        resolve();
      };
      waiters.add(done);
      const timer = this.#clock.setTimeout(done, timeoutMs);
      signal.addEventListener("abort", done);
    });
  }

  write(key: string, value: StoredValue, lease: StoreLease): Promise<void> {
    if (this.#holds(key, lease)) {
      this.#leases.delete(key);
      if (value.ttl > 0) {
        this.#values.set(key, {
          text: value.text,
          until: this.#clock.now() + value.ttl,
          generation: this.#generation,
        });
      }
      this.#wake(key);
    }
    return Promise.resolve();
  }

  renew(key: string, lease: StoreLease, leaseMs: number): Promise<boolean> {
    if (!this.#holds(key, lease)) return Promise.resolve(false);
    this.#leases.get(key)!.until = this.#clock.now() + leaseMs;
    return Promise.resolve(true);
  }

  release(key: string, lease: StoreLease): Promise<void> {
    if (this.#holds(key, lease)) {
      this.#leases.delete(key);
      this.#wake(key);
    }
    return Promise.resolve();
  }

  async delete(key: string): Promise<boolean> {
    const had = this.#live(this.#values, key, this.#clock.now()) !== undefined;
    this.#values.delete(key);
    this.#leases.delete(key);
    this.#wake(key);
    await this.#tell(
      { type: "delete", key },
      `the delete of ${JSON.stringify(key)}`,
    );
    return had;
  }

  async clear(): Promise<void> {
    this.#generation++;
    this.#values.clear();
    this.#leases.clear();
    for (const key of [...this.#waiters.keys()]) this.#wake(key);
    await this.#tell({ type: "clear" }, "the clear");
  }

  subscribe(
    listener: (event: StoreEvent) => void,
    onError: (error: unknown) => void,
  ): Promise<StoreSubscription> {
    const subscriber = { listener, onError };
    this.#subscribers.add(subscriber);
    return Promise.resolve({
      close: () => {
        this.#subscribers.delete(subscriber);
        return Promise.resolve();
      },
    });
  }

  // The entry of `key` in `entries` if it is of this generation and has not
  // ended by `now`; one that has is dropped.
  #live<T extends { until: number; generation: number }>(
    entries: Map<string, T>,
    key: string,
    now: number,
  ): T | undefined {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.generation === this.#generation && entry.until > now) {
      return entry;
    }
    entries.delete(key);
    return undefined;
  }

  // Whether `lease` still holds `key`: its token, its generation, in time.
  #holds(key: string, lease: StoreLease): boolean {
    const held = this.#live(this.#leases, key, this.#clock.now());
    return held !== undefined && held.token === lease.token &&
      held.generation === (lease as Lease).generation;
  }

  // Ends the waits for `key`: its value may be there, or its lease free.
  #wake(key: string): void {
    const waiters = this.#waiters.get(key);
    if (waiters === undefined) return;
    for (const done of [...waiters]) done();
  }

  // Tells every subscriber, as a message from another process would: on a
  // later turn, never inside the call that caused it. Resolves once each
  // listener has returned, which is its acknowledgement; a listener that
  // throws has acknowledged nothing, and hears of it through its onError,
  // and the notice rejects at once, as it would once its time was up.
  #tell(event: StoreEvent, what: string): Promise<void> {
    const subscribers = [...this.#subscribers];
    return new Promise((resolve, reject) =>
      queueMicrotask(() => {
        let acknowledged = 0;
        for (const { listener, onError } of subscribers) {
          try {
            listener(event);
            acknowledged++;
          } catch (error) {
            onError(error);
          }
        }
        if (acknowledged === subscribers.length) return resolve();
        reject(
          new UnacknowledgedNoticeError(what, {
            reached: subscribers.length,
            acknowledged,
            timeoutMs: 0,
          }),
        );
      })
    );
  }
}
