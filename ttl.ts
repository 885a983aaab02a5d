/**
 * Expiry of cache entries: deadlines per slot in a binary min-heap, served by
 * a single host timer armed for the nearest deadline.
 *
 * @module
 */

import { grownLength } from "./capacity.ts";
import type { Clock } from "./clock.ts";

const INITIAL_CAPACITY = 16;

/**
 * Calls `onExpire(slot)` once each scheduled slot's deadline has passed. At
 * most one timer is pending on the clock, and none while nothing is scheduled.
 */
export class ExpiryQueue {
  #clock: Clock;
  readonly #onExpire: (slot: number) => void;
  #deadlines = new Float64Array(INITIAL_CAPACITY);
  // Heap position + 1 per slot; 0 means the slot is not scheduled.
  #positions = new Int32Array(INITIAL_CAPACITY);
  #heap = new Int32Array(INITIAL_CAPACITY);
  #size = 0;
  #timer: unknown = undefined;
  #armedFor = Infinity;
  readonly #capacityLimit: number;

  /**
   * `options.capacityLimit` is the expected bound on slot numbers and on how
   * many slots wait at once: the arrays grow by doubling, but past the limit
   * only as far as needed.
   */
  constructor(
    clock: Clock,
    onExpire: (slot: number) => void,
    options: { capacityLimit?: number } = {},
  ) {
    this.#clock = clock;
    this.#onExpire = onExpire;
    this.#capacityLimit = options.capacityLimit ?? Infinity;
  }

  /** How many slots wait to expire. */
  get size(): number {
    return this.#size;
  }

  /** Expires `slot` `lifetime` ms from now. The slot must not be scheduled already. */
  schedule(slot: number, lifetime: number): void {
    const now = this.#clock.now();
    const deadline = now + lifetime;
    if (slot >= this.#positions.length) this.#growSlots(slot + 1);
    if (this.#size === this.#heap.length) this.#growHeap();
    this.#deadlines[slot] = deadline;
    this.#heap[this.#size] = slot;
    this.#positions[slot] = this.#size + 1;
    this.#siftUp(this.#size++);
    if (deadline < this.#armedFor) this.#arm(deadline, now);
  }

  /** Forgets `slot` if it is scheduled; with nothing left, the timer is cancelled. */
  cancel(slot: number): void {
    const position = slot < this.#positions.length ? this.#positions[slot] : 0;
    if (position === 0) return;
    this.#positions[slot] = 0;
    const last = this.#heap[--this.#size];
    if (position - 1 < this.#size) {
      this.#heap[position - 1] = last;
      this.#positions[last] = position;
      this.#siftDown(position - 1);
      this.#siftUp(this.#positions[last] - 1);
    }
    if (this.#size === 0) this.#disarm();
  }

  /** Forgets every slot and cancels the timer. */
  clear(): void {
    for (let i = 0; i < this.#size; i++) this.#positions[this.#heap[i]] = 0;
    this.#size = 0;
    this.#disarm();
  }

  /** Clears, cancelling the timer on the old clock, then times with `clock`. */
  rebind(clock: Clock): void {
    this.clear();
    this.#clock = clock;
  }

  #fire = (): void => {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const now = this.#clock.now();
    while (this.#size > 0) {
      const slot = this.#heap[0];
      if (this.#deadlines[slot] > now) {
        this.#arm(this.#deadlines[slot], now);
        return;
      }
      this.cancel(slot);
      this.#onExpire(slot);
    }
  };

  #arm(deadline: number, now: number): void {
    this.#disarm();
    this.#timer = this.#clock.setTimeout(this.#fire, deadline - now);
    // Only once the clock has accepted the timer, so that a throwing clock
    // leaves the queue ready to arm again.
    this.#armedFor = deadline;
  }

  #disarm(): void {
    const timer = this.#timer;
    if (timer === undefined) return;
    // Disarmed before the clock hears of it, in case the clock calls back in.
    this.#timer = undefined;
    this.#armedFor = Infinity;
    this.#clock.clearTimeout(timer);
  }

  #siftUp(index: number): void {
    const heap = this.#heap;
    const slot = heap[index];
    const deadline = this.#deadlines[slot];
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parentSlot = heap[parent];
      if (this.#deadlines[parentSlot] <= deadline) break;
      heap[index] = parentSlot;
      this.#positions[parentSlot] = index + 1;
      index = parent;
    }
    heap[index] = slot;
    this.#positions[slot] = index + 1;
  }

  #siftDown(index: number): void {
    const heap = this.#heap;
    const slot = heap[index];
    const deadline = this.#deadlines[slot];
    for (;;) {
      let child = 2 * index + 1;
      if (child >= this.#size) break;
      if (
        child + 1 < this.#size &&
        this.#deadlines[heap[child + 1]] < this.#deadlines[heap[child]]
      ) {
        child++;
      }
      const childSlot = heap[child];
      if (this.#deadlines[childSlot] >= deadline) break;
      heap[index] = childSlot;
      this.#positions[childSlot] = index + 1;
      index = child;
    }
    heap[index] = slot;
    this.#positions[slot] = index + 1;
  }

  #growSlots(minimum: number): void {
    const capacity = grownLength(
      this.#positions.length,
      minimum,
      this.#capacityLimit,
    );
    const deadlines = new Float64Array(capacity);
    const positions = new Int32Array(capacity);
    deadlines.set(this.#deadlines);
    positions.set(this.#positions);
    this.#deadlines = deadlines;
    this.#positions = positions;
  }

  #growHeap(): void {
    const length = this.#heap.length;
    const heap = new Int32Array(
      grownLength(length, length + 1, this.#capacityLimit),
    );
    heap.set(this.#heap);
    this.#heap = heap;
  }
}
