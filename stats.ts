/**
 * What a cache reports of itself: the shapes `cacheInfo()`,
 * `cacheParameters()` and `cacheStats()` return, and the counters behind
 * them. Each counter has one event type, and each event is one step of its
 * counter, so that counting `onEvent`'s events by type gives `cacheStats()`.
 *
 * @module
 */

/**
 * What happened in a cache, as {@linkcode CacheEvent} reports it. Each type
 * is one step of one counter of `cacheStats()`.
 */
export type CacheEventType =
  | "hit"
  | "miss"
  | "stale"
  | "errorHit"
  | "refresh"
  | "refreshFailure"
  | "error"
  | "evict"
  | "expire"
  | "invalidate"
  | "storeError"
  | "storeGap"
  | "breakerOpen"
  | "breakerClose";

/**
 * One thing that happened in a cache, given to the `onEvent` option. Each
 * event is one step of one counter of `cacheStats()`, so counting events by
 * type gives the counters: a stale hit is a `"hit"` and a `"stale"`, an
 * error hit a `"hit"` and an `"errorHit"`, a refresh whose run rejects an
 * `"error"` and a `"refreshFailure"`, one whose value `shouldCache` or a
 * `ttl` function fails on a `"refreshFailure"` alone.
 */
export interface CacheEvent {
  /**
   * `"hit"` (`hits`) a call answered from an entry, whatever it held;
   * `"miss"` (`misses`) a call that ran the function; `"stale"`
   * (`staleHits`) a hit answered with a value past its lifetime, a stale
   * entry's or a kept failure's fallback; `"errorHit"` (`errorHits`) a hit
   * answered with a kept failure; `"refresh"` (`refreshes`) a refresh
   * starting; `"refreshFailure"` (`refreshFailures`) a refresh that failed:
   * its run rejected, or `shouldCache` or a `ttl` function threw on its
   * value or gave a bad lifetime;
   * `"error"` (`runFailures`) a run of the function that rejected, a miss's
   * or a refresh's (one that throws instead counts nothing); `"evict"` (`evictions`) an entry dropped to keep within
   * `maxSize`; `"expire"` (`expirations`) an entry whose time ran out;
   * `"invalidate"` (`invalidations`) an entry removed by `cacheInvalidate`;
   * `"storeError"` (`storeErrors`) a store operation that failed or timed
   * out; `"storeGap"` (`storeGaps`) the store's notifications lost and back,
   * so that every local copy went; `"breakerOpen"` (`breakerOpenings`) and
   * `"breakerClose"` (`breakerClosings`) the circuit breaker in front of the
   * store opening and closing.
   */
  type: CacheEventType;
  /**
   * The cache key: the `key` option's result (with a store, the store key
   * it makes), or else the argument for a one-argument call and the argument
   * list for any other. For a store failure about a key with no entry here,
   * its store key; about none (a clear, a lost subscription, a gap, the
   * breaker), `undefined`.
   */
  key: unknown;
  /** The cache's name: the `name` option, else the function's name. */
  name: string;
  /**
   * For `"evict"`, `"expire"` and `"invalidate"` of an entry that held a
   * value (fresh or stale): that value, `undefined` included. Absent when
   * the entry was running work or a kept failure.
   */
  value?: unknown;
  /** For `"storeError"`: what the store threw, or the timeout. */
  error?: unknown;
}

/** Hit and miss counts and sizes, as `cacheInfo()` reports them. */
export interface CacheInfo {
  /** Calls answered from an entry, in-flight entries included. */
  hits: number;
  /** Calls that ran the function. */
  misses: number;
  /** The configured bound; `Infinity` when unbounded. */
  maxSize: number;
  /** Entries held now, in-flight ones included. */
  currSize: number;
}

/** The configuration and state flags, as `cacheParameters()` reports them. */
export interface CacheParameters {
  /** The configured bound; `Infinity` when unbounded. */
  maxSize: number;
  /**
   * The configured ttl: milliseconds, the function that takes it from each
   * value, or `undefined` when unset (entries never expire).
   */
  ttl: number | ((...args: never[]) => unknown) | undefined;
  /** The configured jitter in milliseconds, `undefined` when unset. */
  jitter: number | undefined;
  /** Entries whose work is still in flight. */
  tasks: number;
  /** Whether `cacheClose()` has been called. */
  closed: boolean;
  /** The cache's name: the `name` option, else the function's name. */
  name: string;
  /** The configured `softTimeout`, `undefined` when unset. */
  softTimeout: number | undefined;
  /** The configured `hardTimeout`, `undefined` when unset. */
  hardTimeout: number | undefined;
  /** The configured `maxWeight`; present only when it is set. */
  maxWeight?: number;
  /** The total weight of the entries held; present only with `maxWeight`. */
  currWeight?: number;
  /** The `policy` option, present only when it was given. */
  policy?: "lru" | "tinylfu";
}

/**
 * Counters since creation or the last clear, as `cacheStats()` reports them.
 * Each counts the events of one type (see `CacheEvent`), named beside it.
 */
export interface CacheStats {
  /** `"hit"`: calls answered from an entry: fresh, in flight, stale or a kept failure. */
  hits: number;
  /** `"miss"`: calls that ran the function. */
  misses: number;
  /** `"stale"`: hits answered with a value past its lifetime, a stale entry's or a fallback's. */
  staleHits: number;
  /** `"errorHit"`: hits answered with a kept failure. */
  errorHits: number;
  /** `"refresh"`: refreshes started, in the background or by `cacheRefresh`. */
  refreshes: number;
  /** `"refreshFailure"`: refreshes that failed. */
  refreshFailures: number;
  /** `"error"`: runs of the function that rejected: misses' and refreshes'. */
  runFailures: number;
  /** `"evict"`: entries dropped to keep within `maxSize`. */
  evictions: number;
  /** `"expire"`: entries whose time ran out. */
  expirations: number;
  /** `"invalidate"`: entries removed by `cacheInvalidate`. */
  invalidations: number;
  /** Calls of the function the cache made: misses and refreshes, a throw included. */
  loads: number;
  /** Those calls that threw or rejected. */
  loadFailures: number;
  /**
   * Milliseconds on the cache's clock the settled calls took, from just
   * before the function was called to their outcome's arrival.
   */
  loadTime: number;
  /** `"storeError"`, with a `store` only: store operations that failed or timed out. */
  storeErrors?: number;
  /** `"storeGap"`, with a `store` only: times the store's notifications were lost and back, and every local copy went. */
  storeGaps?: number;
  /** `"breakerOpen"`, with a `store` only: times the circuit breaker opened. */
  breakerOpenings?: number;
  /** `"breakerClose"`, with a `store` only: times the circuit breaker closed, the store answering again. */
  breakerClosings?: number;
}

/**
 * The counters of one cache. Plain fields, so that counting a hit is one
 * increment.
 */
export class Counters {
  hits = 0;
  misses = 0;
  staleHits = 0;
  errorHits = 0;
  refreshes = 0;
  refreshFailures = 0;
  runFailures = 0;
  evictions = 0;
  expirations = 0;
  invalidations = 0;
  storeErrors = 0;
  storeGaps = 0;
  breakerOpenings = 0;
  breakerClosings = 0;
  loads = 0;
  loadFailures = 0;
  loadTime = 0;

  /** Counts one event of `type` on its counter. */
  count(type: CacheEventType): void {
    switch (type) {
      case "hit":
        this.hits++;
        break;
      case "miss":
        this.misses++;
        break;
      case "stale":
        this.staleHits++;
        break;
      case "errorHit":
        this.errorHits++;
        break;
      case "refresh":
        this.refreshes++;
        break;
      case "refreshFailure":
        this.refreshFailures++;
        break;
      case "error":
        this.runFailures++;
        break;
      case "evict":
        this.evictions++;
        break;
      case "expire":
        this.expirations++;
        break;
      case "invalidate":
        this.invalidations++;
        break;
      case "storeError":
        this.storeErrors++;
        break;
      case "storeGap":
        this.storeGaps++;
        break;
      case "breakerOpen":
        this.breakerOpenings++;
        break;
      case "breakerClose":
        this.breakerClosings++;
        break;
    }
  }

  /** Sets every counter back to 0, as a clear or a context reset does. */
  reset(): void {
    this.hits =
      this.misses =
      this.staleHits =
      this.errorHits =
        0;
    this.refreshes = this.refreshFailures = this.runFailures = 0;
    this.evictions = 0;
    this.expirations = this.invalidations = this.storeErrors = 0;
    this.storeGaps = this.breakerOpenings = this.breakerClosings = 0;
    this.loads = this.loadFailures = this.loadTime = 0;
  }

  /** The counters as `cacheStats()` returns them; the store's only `withStore`. */
  stats(withStore: boolean): CacheStats {
    const stats: CacheStats = {
      hits: this.hits,
      misses: this.misses,
      staleHits: this.staleHits,
      errorHits: this.errorHits,
      refreshes: this.refreshes,
      refreshFailures: this.refreshFailures,
      runFailures: this.runFailures,
      evictions: this.evictions,
      expirations: this.expirations,
      invalidations: this.invalidations,
      loads: this.loads,
      loadFailures: this.loadFailures,
      loadTime: this.loadTime,
    };
    if (withStore) {
      stats.storeErrors = this.storeErrors;
      stats.storeGaps = this.storeGaps;
      stats.breakerOpenings = this.breakerOpenings;
      stats.breakerClosings = this.breakerClosings;
    }
    return stats;
  }
}
