/**
 * The reads of a shared tier gathered per turn: a store that has
 * `readOrLeaseMany` is asked once for every key read in the same run of
 * microtasks, so that a batch of keys costs one round trip to it; each key
 * still gets its own answer, as `readOrLease` would give it.
 *
 * @module
 */

import type { CacheStore, ReadOrLease } from "./store.ts";

interface Reader {
  resolve(found: ReadOrLease): void;
  reject(reason: unknown): void;
}

/** The gathered reads of one shared tier. */
export class GatheredReads {
  readonly #store: CacheStore;
  readonly #lease: number;
  readonly #call: <T>(operation: () => Promise<T>) => Promise<T>;
  #keys: string[] = [];
  #readers: Reader[] = [];

  /**
   * Reads from `store`, which must have `readOrLeaseMany`, taking leases of
   * `lease` ms; `call` starts a store operation through the cache's door.
   */
  constructor(
    store: CacheStore,
    settings: {
      lease: number;
      call: <T>(operation: () => Promise<T>) => Promise<T>;
    },
  ) {
    this.#store = store;
    this.#lease = settings.lease;
    this.#call = settings.call;
  }

  /** `readOrLease(key)`, answered by the turn's one `readOrLeaseMany`. */
  read(key: string): Promise<ReadOrLease> {
    if (this.#keys.length === 0) queueMicrotask(() => this.#send());
    this.#keys.push(key);
    return new Promise((resolve, reject) => {
      this.#readers.push({ resolve, reject });
    });
  }

  #send(): void {
    const keys = this.#keys;
    const readers = this.#readers;
    this.#keys = [];
    this.#readers = [];
    const lease = this.#lease;
    this.#call(() => this.#store.readOrLeaseMany!(keys, lease)).then(
      (found) => {
        if (!Array.isArray(found) || found.length !== keys.length) {
          const error = new TypeError(
            `the store's readOrLeaseMany must resolve to one answer per key; it gave ${
              Array.isArray(found) ? found.length : "no array"
            } for ${keys.length} keys`,
          );
          for (const reader of readers) reader.reject(error);
          return;
        }
        for (let i = 0; i < readers.length; i++) readers[i].resolve(found[i]);
      },
      (reason) => {
        for (const reader of readers) reader.reject(reason);
      },
    );
  }
}
