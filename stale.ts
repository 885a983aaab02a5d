/**
 * What a cache keeps past an entry's lifetime: the times of an entry that can
 * go stale or keep a failure, and the last good values that `staleIfError`
 * keeps outside the entries. Plain bookkeeping; nothing here calls user code
 * or reads a clock.
 *
 * @module
 */

/** A last good value, and until when it may answer a failed run's callers. */
export interface Fallback {
  /** The value. */
  readonly value: unknown;
  /** When its `staleIfError` window ends, in the clock's milliseconds. */
  readonly until: number;
}

/**
 * The times of one settled entry of a cache that serves stale values or keeps
 * failures. Each is an absolute time in the clock's milliseconds.
 */
export interface Timing {
  /** The value, for a fallback once the entry goes; unused for a kept failure. */
  readonly value: unknown;
  /** When the value's lifetime ends (`Infinity`: never). */
  freshUntil: number;
  /**
   * When the entry goes: the end of a stale entry's window, or of a kept
   * failure. Unused while the value is fresh.
   */
  until: number;
  /** Until when a failed refresh keeps a stale entry from starting another; 0 for none. */
  blockedUntil: number;
  /** Why that refresh failed: what callers get once the stale value is gone. */
  reason: unknown;
  /** For a kept failure: the last good value its callers get instead. */
  fallback: Fallback | undefined;
  /**
   * When the entry goes whatever its state, its value's stale window and
   * fallback included: `localTtl` after it was made, for a cache whose store
   * cannot notify; `Infinity` otherwise.
   */
  readonly heldUntil: number;
}

/**
 * The last good values of entries whose lifetime has ended, by key, oldest
 * first, at most `limit` of them. A value whose window has ended is dropped
 * when it is looked up or when a newer one is kept.
 */
export class Fallbacks {
  readonly #limit: number;
  readonly #values = new Map<unknown, Fallback>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** How many values are kept. */
  get size(): number {
    return this.#values.size;
  }

  /** Whether a value is kept for `key`, in its window or not. */
  has(key: unknown): boolean {
    return this.#values.has(key);
  }

  /**
   * Keeps `fallback` for `key`, replacing any older one, and drops the
   * values whose window has ended by `now` and the oldest beyond the limit.
   * Returns the keys no longer kept, `key` excepted.
   */
  set(key: unknown, fallback: Fallback, now: number): unknown[] {
    const dropped: unknown[] = [];
    this.#values.delete(key);
    if (this.#limit === 0) return dropped;
    this.#values.set(key, fallback);
    for (const [oldKey, old] of this.#values) {
      if (old.until > now && this.#values.size <= this.#limit) break;
      this.#values.delete(oldKey);
      if (oldKey !== key) dropped.push(oldKey);
    }
    return dropped;
  }

  /** The value kept for `key`, if its window is still open at `now`. */
  peek(key: unknown, now: number): Fallback | undefined {
    const fallback = this.#values.get(key);
    return fallback !== undefined && fallback.until > now
      ? fallback
      : undefined;
  }

  /** Forgets the value kept for `key`; says whether there was one. */
  delete(key: unknown): boolean {
    return this.#values.delete(key);
  }

  /** Forgets every value. */
  clear(): void {
    this.#values.clear();
  }
}
