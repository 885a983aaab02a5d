/**
 * Stores for the tests of the shared tier's protocol, which run in one
 * process on memoryStore and a ManualClock: wrappers that change one part of
 * a store (it cannot notify, a method hangs or fails), and a sleep on the
 * clock for the functions being cached.
 */

import type { CacheStore, ManualClock } from "../../mod.ts";

/**
 * `store` with some of its members replaced: a plain object that forwards
 * every other method with the store as `this` (its fields are private).
 */
export function wrapStore(
  store: CacheStore,
  replaced: Partial<CacheStore>,
): CacheStore {
  return {
    notifies: store.notifies,
    readOrLease: (...args) => store.readOrLease(...args),
    wait: (...args) => store.wait(...args),
    write: (...args) => store.write(...args),
    renew: (...args) => store.renew(...args),
    release: (...args) => store.release(...args),
    delete: (...args) => store.delete(...args),
    clear: (...args) => store.clear(...args),
    subscribe: (...args) => store.subscribe(...args),
    ...replaced,
  };
}

/**
 * `store` as an adapter that cannot tell this process of other processes'
 * changes (as Deno KV cannot): `notifies` is false and subscribing hears
 * nothing. Waits still end when the store's lease is released or its value
 * written, as a poll would find.
 */
export function cannotNotify(store: CacheStore): CacheStore {
  return wrapStore(store, {
    notifies: false,
    subscribe: () => Promise.resolve({ close: () => Promise.resolve() }),
  });
}

/** A promise that never settles: a store that does not answer. */
export function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}

/** Resolves after `ms` of `clock`'s time. */
export function sleepOn(clock: ManualClock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
