/**
 * What a cache reports of itself: the shapes `cacheInfo()`,
 * `cacheParameters()` and `cacheStats()` return, and the counters behind
 * them.
 *
 * @module
 */

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
  /** The configured ttl in milliseconds, `undefined` when unset. */
  ttl: number | undefined;
  /** The configured jitter in milliseconds, `undefined` when unset. */
  jitter: number | undefined;
  /** Entries whose work is still in flight. */
  tasks: number;
  /** Whether `cacheClose()` has been called. */
  closed: boolean;
}

/** Counters since creation or the last clear, as `cacheStats()` reports them. */
export interface CacheStats {
  /** Calls answered from an entry: fresh, in flight, stale or a kept failure. */
  hits: number;
  /** Calls that ran the function. */
  misses: number;
  /** Hits answered with a stale value. */
  staleHits: number;
  /** Hits answered with a kept failure. */
  errorHits: number;
  /** Refreshes started, in the background or by `cacheRefresh`. */
  refreshes: number;
  /** Refreshes that rejected. */
  refreshFailures: number;
  /** Entries dropped to keep within `maxSize`. */
  evictions: number;
  /** Entries whose time ran out. */
  expirations: number;
  /** Entries removed by `cacheInvalidate`. */
  invalidations: number;
  /** With a `store` only: store operations that failed or timed out. */
  storeErrors?: number;
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
  evictions = 0;
  expirations = 0;
  invalidations = 0;
  storeErrors = 0;

  /** Sets every counter back to 0, as a clear or a context reset does. */
  reset(): void {
    this.hits =
      this.misses =
      this.staleHits =
      this.errorHits =
        0;
    this.refreshes = this.refreshFailures = this.evictions = 0;
    this.expirations = this.invalidations = this.storeErrors = 0;
  }

  /** The counters as `cacheStats()` returns them; `storeErrors` only `withStore`. */
  stats(withStore: boolean): CacheStats {
    const stats: CacheStats = {
      hits: this.hits,
      misses: this.misses,
      staleHits: this.staleHits,
      errorHits: this.errorHits,
      refreshes: this.refreshes,
      refreshFailures: this.refreshFailures,
      evictions: this.evictions,
      expirations: this.expirations,
      invalidations: this.invalidations,
    };
    if (withStore) stats.storeErrors = this.storeErrors;
    return stats;
  }
}
