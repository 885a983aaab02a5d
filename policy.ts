/**
 * The seam between a cache's entries and the rule that decides which entry
 * goes when the cache is full. An entry lives in a slot, a small integer the
 * cache uses to index its per-entry arrays; a policy hands out slots, hears
 * of each use, and names the next victim. `lru.ts` (least recently used) and
 * `tinylfu.ts` (W-TinyLFU) implement it; the call protocol does not know
 * which one it has.
 *
 * @module
 */

/**
 * A small integer naming one entry's place in a cache's per-entry arrays.
 * Branded so that a slot is never mixed up with a count or a position; the
 * brand exists only for the type checker.
 */
export type Slot = number & { readonly __slot: never };

/** No slot: the end of a list, or work whose entry is gone. */
export const NO_SLOT = -1 as Slot;

/**
 * Which entries a cache keeps. Every method is plain bookkeeping: it calls
 * nothing outside its module, so the cache may use it in the middle of a
 * change.
 */
export interface EvictionPolicy {
  /** How many slots are held. */
  readonly size: number;
  /**
   * Takes a free slot for a new entry keyed `key`, which has just been used;
   * `counted` when that use is a counted call (a miss), not a refresh. A
   * policy that needs neither ignores them, so that it pays nothing for
   * them.
   */
  add(key: unknown, counted: boolean): Slot;
  /** Records a use of the entry in `slot`. */
  touch(slot: Slot): void;
  /** Frees `slot`, whose entry has gone, for reuse. */
  remove(slot: Slot): void;
  /** The slot to evict next, or {@linkcode NO_SLOT} when none is held. */
  victim(): Slot;
  /** Frees every slot; what the policy learnt of past use stays. */
  clear(): void;
  /**
   * Forgets what the policy learnt of past use (frequencies, adapted
   * bounds), so that it decides as a new one would.
   */
  forget(): void;
  /** Yields every held slot, the next victim first. */
  slots(): IterableIterator<Slot>;
}
