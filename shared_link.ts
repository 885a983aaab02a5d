/**
 * The cache's side of the shared tier: a local miss goes through the store,
 * what other processes invalidate and clear reaches the local entries, a
 * store failure is reported, and invalidating, clearing and closing reach
 * the store after the local tier. It calls the cache back only through
 * {@linkcode SharedHost}, which it declares, so that the cache depends on it
 * and never the other way round.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import type { ResolvedOptions } from "./options.ts";
import { jsonSerializer } from "./serializer.ts";
import {
  type SharedOutcome,
  SharedTier,
  type SharedTierSettings,
} from "./shared_tier.ts";
import type { CacheStore, StoreEvent } from "./store.ts";
import type { UserCode } from "./user_code.ts";

/**
 * What the shared tier needs of the cache. Each is called at a boundary of
 * the cache (a store notice, the end of a store operation), never while the
 * cache is in the middle of a change.
 */
export interface SharedHost {
  /** Another process cleared the namespace: every local entry goes; the counters stay. */
  storeCleared(): void;
  /** Another process invalidated `storeKey`: its local entry goes. */
  storeDeleted(storeKey: string): void;
  /**
   * The store's notifications were lost and are back: what they missed is
   * unknown, so every local entry goes; the counters stay.
   */
  storeGap(): void;
  /** The circuit breaker in front of the store opened (`true`) or closed. */
  breakerChanged(open: boolean): void;
  /**
   * A store operation about `storeKey`, if any, failed or timed out; `shown`
   * is how the call that asked shows its key, when the link has it.
   */
  storeFailed(
    storeKey: string | undefined,
    error: unknown,
    shown?: unknown,
  ): void;
}

/** How the link works, from the cache's options. */
export type SharedLinkSettings = Omit<
  SharedTierSettings,
  "onError" | "onBreaker"
>;

/**
 * The link's settings from the cache's options, with the serializer, the
 * clock in effect and the store's operations reached through the door to
 * user code.
 */
export function linkSettingsOf(
  options: ResolvedOptions,
  door: { user: UserCode; clock: () => Clock },
): SharedLinkSettings {
  const { user } = door;
  return {
    lease: options.lease,
    storeTimeout: options.storeTimeout,
    breakerThreshold: options.breakerThreshold,
    breakerCooldown: options.breakerCooldown,
    longestLifetime: (options.ttl ?? Infinity) + (options.jitter ?? 0),
    serializer: user.serializer({
      serialize: options.serialize ?? jsonSerializer.serialize,
      deserialize: options.deserialize ?? jsonSerializer.deserialize,
    }),
    clock: () => user.clock(door.clock()),
    call: (operation) => user.store(operation),
    readsMany: options.readsMany,
  };
}

/** One cache's link to its store. */
export class SharedLink {
  readonly #tier: SharedTier;
  readonly #host: SharedHost;
  readonly #listener: (event: StoreEvent) => void;

  constructor(
    store: CacheStore,
    settings: SharedLinkSettings,
    host: SharedHost,
  ) {
    this.#host = host;
    this.#tier = new SharedTier(store, {
      ...settings,
      onError: (key, error) => host.storeFailed(key, error),
      onBreaker: (open) => host.breakerChanged(open),
    });
    this.#listener = (event) => {
      if (event.type === "delete") host.storeDeleted(event.key);
      else if (event.type === "clear") host.storeCleared();
      else host.storeGap();
    };
  }

  /**
   * A local miss on `storeKey`: its value from the store, or computed once
   * across the processes; see {@linkcode SharedTier.run}. The first one
   * starts listening for other processes' changes.
   */
  miss(
    storeKey: string,
    compute: () => unknown,
    lifetimeOf: (value: unknown) => number,
    work: AbortSignal | undefined,
  ): Promise<SharedOutcome> {
    this.#tier.listen(this.#listener);
    return this.#tier.run(storeKey, compute, lifetimeOf, work);
  }

  /**
   * Drops `storeKey` from the store and tells the other processes; resolves
   * whether the store had it. A failure is reported, with `shown`, the key as
   * the invalidating call shows it, then rejects.
   */
  invalidate(storeKey: string, shown: unknown): Promise<boolean> {
    return this.#tier.invalidate(storeKey).catch((error) => {
      this.#host.storeFailed(storeKey, error, shown);
      throw error;
    });
  }

  /** Clears the namespace and tells the other processes; a failure is reported, then rejects. */
  clear(): Promise<void> {
    return this.#tier.clear().catch((error) => {
      this.#host.storeFailed(undefined, error);
      throw error;
    });
  }

  /** Stops listening, ends waits and releases every lease still held. */
  close(): Promise<void> {
    return this.#tier.close();
  }
}
