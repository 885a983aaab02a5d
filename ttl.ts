/**
 * Expiry of cache entries: when each is due, as deadlines per slot in a
 * binary min-heap served by a single host timer armed for the nearest one.
 *
 * The heap is plain bookkeeping; only {@linkcode ExpiryQueue.now} and
 * {@linkcode ExpiryQueue.syncTimer} call the clock, so that the owner decides
 * when the clock, which may call back into the owner, is called.
 *
 * @module
 */

import { grownLength } from "./capacity.ts";
import { type Clock, longestDelay } from "./clock.ts";
import { NO_SLOT, type Slot } from "./policy.ts";

const INITIAL_CAPACITY = 16;

/**
 * Deadlines per slot, and one host timer for the nearest of them. When the
 * timer fires, the queue calls `onTimer`, and the owner takes what is due
 * with {@linkcode takeDue}.
 *
 * A fired timer counts as proof that its deadline has passed, whatever the
 * clock's `now()` says: with fake timers that do not fake the clock `now()`
 * reads, entries still expire when the timer fires, and the queue never
 * re-arms in a loop.
 *
 * A wait longer than the clock's longest delay (see
 * {@linkcode longestDelay}) is served by a chain of shorter timers, one at a
 * time; on a `ManualClock` one timer serves any wait.
 */
export class ExpiryQueue {
  #clock: Clock;
  // The clock's longest delay; hosts would turn a longer one into a busy loop.
  #longestDelay: number;
  readonly #onTimer: () => void;
  #deadlines = new Float64Array(INITIAL_CAPACITY);
  // Heap position + 1 per slot; 0 means the slot is not scheduled.
  #positions = new Int32Array(INITIAL_CAPACITY);
  #heap = new Int32Array(INITIAL_CAPACITY);
  #size = 0;
  readonly #capacityLimit: number;

  // The nearest deadline the owner keeps outside the heap.
  #other = Infinity;
  #timer: unknown = undefined;
  // The callback of the armed timer, to tell its firing from a stale one's.
  #armedCallback: (() => void) | undefined = undefined;
  // The time the armed timer proves when it fires: the nearest deadline, or
  // a step towards it; Infinity when none is armed.
  #armedFor = Infinity;
  // Whether the timer no longer matches the heap.
  #timerOutOfDate = false;
  #syncing = false;
  // The latest time a fired timer has proven, on the current clock.
  #provenTime = -Infinity;
  // Counts clocks, so that a timer of a former clock proves nothing.
  #clockEpoch = 0;
  // A timer left on a former clock, to cancel there.
  #orphan: { clock: Clock; timer: unknown } | undefined = undefined;

  /**
   * `options.capacityLimit` is the expected bound on slot numbers and on how
   * many slots wait at once: the arrays grow by doubling, but past the limit
   * only as far as needed.
   */
  constructor(
    clock: Clock,
    onTimer: () => void,
    options: { capacityLimit?: number } = {},
  ) {
    this.#clock = clock;
    this.#longestDelay = longestDelay(clock);
    this.#onTimer = onTimer;
    this.#capacityLimit = options.capacityLimit ?? Infinity;
  }

  /** How many slots wait to expire. */
  get size(): number {
    return this.#size;
  }

  /** Whether {@linkcode syncTimer} has work to do. */
  get timerOutOfDate(): boolean {
    return this.#timerOutOfDate;
  }

  /** Whether a host timer is armed. */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  /** The latest time a fired timer has proven; `-Infinity` before any. */
  get provenTime(): number {
    return this.#provenTime;
  }

  /**
   * The time to measure deadlines from: the clock's `now()`, or the latest
   * time a fired timer has proven, whichever is later. Calls the clock.
   */
  now(): number {
    const now = this.#clock.now();
    if (typeof now !== "number" || !Number.isFinite(now)) {
      throw new TypeError(
        `alruCache option "clock": now() must return a finite number of milliseconds; it returned ${
          String(now)
        }`,
      );
    }
    return now > this.#provenTime ? now : this.#provenTime;
  }

  /** Makes `slot` due at `deadline`. The slot must not be scheduled already. */
  schedule(slot: Slot, deadline: number): void {
    if (slot >= this.#positions.length) this.#growSlots(slot + 1);
    if (this.#size === this.#heap.length) this.#growHeap();
    this.#deadlines[slot] = deadline;
    this.#heap[this.#size] = slot;
    this.#positions[slot] = this.#size + 1;
    this.#siftUp(this.#size++);
    if (deadline < this.#armedFor) this.#timerOutOfDate = true;
  }

  /**
   * Makes the timer serve `deadline` too, the nearest of the owner's
   * deadlines that are not slots' (callers' deadlines); `Infinity` for none.
   * {@linkcode clear} and {@linkcode rebind} leave it.
   */
  setOther(deadline: number): void {
    this.#other = deadline;
    if (deadline < this.#armedFor || deadline === Infinity) {
      this.#timerOutOfDate = true;
    }
  }

  /** Forgets `slot` if it is scheduled. */
  cancel(slot: Slot): void {
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
    // A timer armed for a deadline that went away just fires early; only an
    // empty queue must drop its timer.
    if (this.#size === 0) this.#timerOutOfDate = true;
  }

  /** Forgets every slot. */
  clear(): void {
    for (let i = 0; i < this.#size; i++) this.#positions[this.#heap[i]] = 0;
    this.#size = 0;
    this.#timerOutOfDate = true;
  }

  /**
   * Takes the slot with the earliest deadline if that deadline is at or
   * before `time`; otherwise returns {@linkcode NO_SLOT}.
   */
  takeDue(time: number): Slot {
    if (this.#size === 0) return NO_SLOT;
    const slot = this.#heap[0] as Slot;
    if (this.#deadlines[slot] > time) return NO_SLOT;
    this.cancel(slot);
    return slot;
  }

  /**
   * Forgets every slot and times with `clock` from now on. The timer on the
   * old clock is cancelled there by the next {@linkcode syncTimer}.
   */
  rebind(clock: Clock): void {
    this.clear();
    const timer = this.#disarm();
    if (timer !== undefined) {
      this.#orphan = { clock: this.#clock, timer };
      this.#timerOutOfDate = true;
    }
    this.#clock = clock;
    this.#longestDelay = longestDelay(clock);
    this.#clockEpoch++;
    this.#provenTime = -Infinity;
  }

  /**
   * Arms, re-arms or cancels the host timer so that it fires no later than
   * the nearest deadline, and not at all when nothing waits. This is where
   * the clock is called. It may call back into the owner; changes made then
   * leave the timer out of date again, for the owner's next call (a call
   * made while this one runs only marks it so).
   *
   * @throws What the clock threw, once the queue is consistent again. If
   * arming failed, no timer is armed ({@linkcode armed} is false).
   */
  syncTimer(): void {
    if (this.#syncing) {
      this.#timerOutOfDate = true;
      return;
    }
    this.#timerOutOfDate = false;
    const orphan = this.#orphan;
    if (orphan === undefined && this.#timerMatches()) return;
    this.#orphan = undefined;
    this.#syncing = true;
    let failure: { error: unknown } | undefined;
    try {
      if (orphan !== undefined) {
        try {
          orphan.clock.clearTimeout(orphan.timer);
        } catch (error) {
          failure ??= { error };
        }
      }
      if (!this.#timerMatches()) {
        const stale = this.#disarm();
        if (stale !== undefined) {
          try {
            this.#clock.clearTimeout(stale);
          } catch (error) {
            failure ??= { error };
          }
        }
        const next = this.#nearest();
        if (next !== Infinity) {
          try {
            this.#arm(next);
          } catch (error) {
            failure ??= { error };
            // Deadlines wait with no timer for them.
            this.#timerOutOfDate = true;
          }
        }
      }
    } finally {
      this.#syncing = false;
    }
    if (failure !== undefined) throw failure.error;
  }

  /**
   * Throws if the heap is out of order, a position is wrong, or (unless
   * {@linkcode timerOutOfDate}) the timer does not match the heap. Calls
   * `scheduled(slot)` for each slot waiting. For tests.
   */
  assertConsistent(scheduled: (slot: Slot) => void): void {
    for (let i = 0; i < this.#size; i++) {
      const slot = this.#heap[i];
      if (this.#positions[slot] !== i + 1) {
        throw new Error(
          `slot ${slot} is at heap position ${i}, not where its position says`,
        );
      }
      const parent = (i - 1) >> 1;
      if (
        i > 0 && this.#deadlines[this.#heap[parent]] > this.#deadlines[slot]
      ) {
        throw new Error(`slot ${slot} is due before its parent in the heap`);
      }
      scheduled(slot as Slot);
    }
    if (!this.#timerOutOfDate && !this.#syncing && !this.#timerMatches()) {
      throw new Error(
        `the timer (armed for ${this.#armedFor}) does not match the heap (nearest ${this.#nearest()})`,
      );
    }
  }

  #nearest(): number {
    const slots = this.#size === 0 ? Infinity : this.#deadlines[this.#heap[0]];
    return slots < this.#other ? slots : this.#other;
  }

  // Whether the timer fires no later than the nearest deadline, and exists
  // only while something waits.
  #timerMatches(): boolean {
    const next = this.#nearest();
    return next === Infinity
      ? this.#timer === undefined
      : next >= this.#armedFor;
  }

  #arm(deadline: number): void {
    const clock = this.#clock;
    const now = this.now();
    const wait = deadline - now;
    // A wait past the clock's longest delay is served in steps; the timer of
    // a step proves only the step.
    const longest = this.#longestDelay;
    const delay = wait > longest ? longest : wait > 0 ? wait : 0;
    const proven = wait > longest ? now + longest : deadline;
    const epoch = this.#clockEpoch;
    const callback = () => this.#fired(callback, epoch, proven);
    const timer = clock.setTimeout(callback, delay);
    if (epoch !== this.#clockEpoch) {
      // The owner moved to another clock while this one was arming.
      clock.clearTimeout(timer);
      return;
    }
    this.#timer = timer;
    this.#armedCallback = callback;
    this.#armedFor = proven;
  }

  // Forgets the armed timer, before the clock hears of it; returns its handle.
  #disarm(): unknown {
    const timer = this.#timer;
    this.#timer = undefined;
    this.#armedCallback = undefined;
    this.#armedFor = Infinity;
    return timer;
  }

  #fired(callback: () => void, epoch: number, proven: number): void {
    if (epoch !== this.#clockEpoch) return;
    if (callback === this.#armedCallback) this.#disarm();
    if (proven > this.#provenTime) this.#provenTime = proven;
    // Whatever the owner takes, the timer must follow the heap afterwards.
    this.#timerOutOfDate = true;
    this.#onTimer();
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
