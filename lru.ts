/**
 * The recency order of a cache's entries, as a doubly linked list over slot
 * numbers held in typed arrays. Promoting or dropping an entry rewrites a few
 * integers: no Map entry is deleted and re-inserted, nothing is allocated.
 *
 * @module
 */

import { grownLength } from "./capacity.ts";
import { type EvictionPolicy, NO_SLOT, type Slot } from "./policy.ts";

const NONE = NO_SLOT;
const INITIAL_CAPACITY = 16;

/**
 * Slots ordered from least to most recently used: the least recently used
 * entry is the victim. A slot is a small integer that the owner uses to
 * index its own per-entry arrays; freed slots are reused.
 */
export class RecencyList implements EvictionPolicy {
  #prev: Int32Array;
  #next: Int32Array;
  #oldest: Slot = NONE;
  #newest: Slot = NONE;
  #size = 0;
  // Freed slots are chained through #next; #fresh is the first never-used slot.
  #freeHead: Slot = NONE;
  #fresh = 0;
  readonly #capacityLimit: number;

  /**
   * `capacityLimit` is the most slots the list is expected to hold at once;
   * its arrays grow by doubling, but past the limit only one slot at a time.
   */
  constructor(capacityLimit = Infinity) {
    this.#capacityLimit = capacityLimit;
    this.#prev = new Int32Array(INITIAL_CAPACITY);
    this.#next = new Int32Array(INITIAL_CAPACITY);
  }

  /** How many slots are in the list. */
  get size(): number {
    return this.#size;
  }

  /** The least recently used slot, or -1 when empty. */
  victim(): Slot {
    return this.#oldest;
  }

  /** Takes a free slot and makes it the most recently used. */
  add(): Slot {
    let slot = this.#freeHead;
    if (slot !== NONE) {
      this.#freeHead = this.#next[slot] as Slot;
    } else {
      slot = this.#fresh++ as Slot;
      if (slot === this.#prev.length) this.#grow();
    }
    this.#linkNewest(slot);
    this.#size++;
    return slot;
  }

  /** Makes `slot` the most recently used. */
  touch(slot: Slot): void {
    if (slot === this.#newest) return;
    this.#unlink(slot);
    this.#linkNewest(slot);
  }

  /** Takes `slot` out of the order and frees it for reuse. */
  remove(slot: Slot): void {
    this.#unlink(slot);
    this.#next[slot] = this.#freeHead;
    this.#freeHead = slot;
    this.#size--;
  }

  /** Nothing to forget: recency is all this policy knows, and it goes with the slots. */
  forget(): void {}

  /** Empties the list; every slot is free again. */
  clear(): void {
    this.#oldest = this.#newest = this.#freeHead = NONE;
    this.#size = this.#fresh = 0;
  }

  /** Yields the slots from least to most recently used. */
  *slots(): IterableIterator<Slot> {
    for (
      let slot = this.#oldest;
      slot !== NONE;
      slot = this.#next[slot] as Slot
    ) {
      yield slot;
    }
  }

  #linkNewest(slot: Slot): void {
    this.#prev[slot] = this.#newest;
    this.#next[slot] = NONE;
    if (this.#newest === NONE) this.#oldest = slot;
    else this.#next[this.#newest] = slot;
    this.#newest = slot;
  }

  #unlink(slot: Slot): void {
    const prev = this.#prev[slot] as Slot;
    const next = this.#next[slot] as Slot;
    if (prev === NONE) this.#oldest = next;
    else this.#next[prev] = next;
    if (next === NONE) this.#newest = prev;
    else this.#prev[next] = prev;
  }

  #grow(): void {
    // The limit is what the owner plans for, not a promise: past it the
    // arrays grow as far as needed, and no further.
    const length = this.#prev.length;
    const capacity = grownLength(length, length + 1, this.#capacityLimit);
    const prev = new Int32Array(capacity);
    const next = new Int32Array(capacity);
    prev.set(this.#prev);
    next.set(this.#next);
    this.#prev = prev;
    this.#next = next;
  }
}
