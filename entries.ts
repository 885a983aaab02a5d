/**
 * The entries of one cache: which key has which slot, the recency order of
 * the slots, and what each slot holds. Every method here is plain
 * bookkeeping that calls no code outside this module, so a change to the
 * table is always finished before anything else can look at it.
 *
 * @module
 */

import { grownLength } from "./capacity.ts";
import { type EvictionPolicy, NO_SLOT, type Slot } from "./policy.ts";

/** Work in flight, as far as the table is concerned: it knows its slot. */
export interface Placed {
  /** The slot this work fills, or {@linkcode NO_SLOT} once its entry is gone. */
  slot: Slot;
}

/** What a slot holds: see {@linkcode EntryTable.kind}. */
export type EntryKind =
  | typeof RUNNING
  | typeof VALUE
  | typeof SHARED
  | typeof STALE
  | typeof STALE_SHARED
  | typeof FAILED;

const FREE = 0;
/** The entry's work is in flight: the slot holds that work. */
export const RUNNING = 1;
/** The entry's work resolved: the slot holds the value. */
export const VALUE = 2;
/** The entry's value has been handed out: the slot holds the promise hits share. */
export const SHARED = 3;
/** The entry's lifetime has ended, but it may still be served: the slot holds the value. */
export const STALE = 4;
/** A stale entry whose value has been handed out: the slot holds that promise. */
export const STALE_SHARED = 5;
/** The entry's work rejected and the failure is kept: the slot holds the reason. */
export const FAILED = 6;

const INITIAL_SLOTS = 16;

function sameValueZero(a: unknown, b: unknown): boolean {
  return a === b || (a !== a && b !== b);
}

/**
 * Entries in slots: a key index, the eviction policy that hands out the
 * slots, and per slot the key, the outcome and the outcome's kind. An entry
 * nobody asks for again holds its bare value, not a promise.
 */
export class EntryTable<W extends Placed> {
  readonly #index = new Map<unknown, Slot>();
  readonly #list: EvictionPolicy;
  readonly #capacityLimit: number;
  #keys: unknown[] = [];
  #outcomes: unknown[] = [];
  #kinds = new Uint8Array(INITIAL_SLOTS);
  #running = 0;
  // Work that refreshes an entry which keeps serving meanwhile; made on the
  // first refresh.
  #refreshes: (W | undefined)[] | undefined = undefined;
  #refreshing = 0;
  // The weight of each slot's value, made only for a cache with maxWeight:
  // a value held (fresh or stale) weighs what its weigher said; work in
  // flight and kept failures weigh 0.
  #weights: number[] | undefined = undefined;
  #weight = 0;
  // Per shared slot, the value its promise holds; made on the first share.
  #sharedValues: unknown[] | undefined = undefined;

  /**
   * `policy` hands out the slots and orders them for eviction;
   * `capacityLimit` is the most entries expected at once.
   */
  constructor(policy: EvictionPolicy, capacityLimit: number) {
    this.#capacityLimit = capacityLimit;
    this.#list = policy;
  }

  /** How many entries there are, in-flight ones included. */
  get size(): number {
    return this.#list.size;
  }

  /** How many entries hold work in flight, refreshes included. */
  get running(): number {
    return this.#running + this.#refreshing;
  }

  /** The total weight of the held values; 0 unless weights are set. */
  get weight(): number {
    return this.#weight;
  }

  /** The weight of the value in `slot`: 0 if none was set. */
  weightOf(slot: Slot): number {
    return this.#weights?.[slot] ?? 0;
  }

  /** Sets the weight of the value in `slot`, replacing any it had. */
  setWeight(slot: Slot, weight: number): void {
    const weights = this.#weights ??= [];
    this.#weight += weight - (weights[slot] ?? 0);
    weights[slot] = weight;
  }

  /**
   * Every held slot of positive weight, the next victim first: the order in
   * which weight is shed.
   */
  *weighted(): IterableIterator<Slot> {
    const weights = this.#weights;
    if (weights === undefined) return;
    for (const slot of this.#list.slots()) {
      if ((weights[slot] ?? 0) > 0) yield slot;
    }
  }

  /** The slot the policy would evict next, or {@linkcode NO_SLOT} when empty. */
  victim(): Slot {
    return this.#list.victim();
  }

  /** The slot of `key`'s entry, or `undefined`. */
  find(key: unknown): Slot | undefined {
    return this.#index.get(key);
  }

  /** Whether `key` has an entry. */
  has(key: unknown): boolean {
    return this.#index.has(key);
  }

  /** What `slot` holds now. */
  kind(slot: Slot): EntryKind {
    return this.#kinds[slot] as EntryKind;
  }

  /** The work, value or promise in `slot`, as {@linkcode kind} says. */
  outcome(slot: Slot): unknown {
    return this.#outcomes[slot];
  }

  /** The value behind the promise a shared entry in `slot` hands out. */
  sharedValue(slot: Slot): unknown {
    return this.#sharedValues![slot];
  }

  /** The key of the entry in `slot`. */
  key(slot: Slot): unknown {
    return this.#keys[slot];
  }

  /** Records a use of the entry in `slot`. */
  touch(slot: Slot): void {
    this.#list.touch(slot);
  }

  /**
   * Adds an entry for `key` whose `work` is in flight, as just used, and
   * points `work` at it. An older entry with the same key (work
   * that called its own cache with its own key makes one, still in flight)
   * is forgotten, and its work, now detached, returned. `counted` when the
   * entry is a miss's, a use the policy may learn from.
   */
  add(key: unknown, work: W, counted: boolean): W | undefined {
    const slot = this.#list.add(key, counted);
    if (slot >= this.#kinds.length) this.#growKinds(slot + 1);
    this.#keys[slot] = key;
    this.#outcomes[slot] = work;
    this.#kinds[slot] = RUNNING;
    this.#running++;
    work.slot = slot;
    const sizeBefore = this.#index.size;
    this.#index.set(key, slot);
    return this.#index.size === sizeBefore
      ? this.#forgetShadowed(key, slot)
      : undefined;
  }

  /** Stores the value of the work in `slot`, which leaves its slot. */
  settle(slot: Slot, value: unknown): void {
    this.#detach(slot);
    this.#outcomes[slot] = value;
    this.#kinds[slot] = VALUE;
  }

  /** Keeps `reason`, why the work in `slot` failed, which leaves its slot. */
  fail(slot: Slot, reason: unknown): void {
    this.#detach(slot);
    this.#outcomes[slot] = reason;
    this.#kinds[slot] = FAILED;
    if (this.#weights !== undefined) this.setWeight(slot, 0);
  }

  /** Stores `value` in `slot`, whatever it held, as a fresh value. */
  replace(slot: Slot, value: unknown): void {
    this.#unshare(slot);
    this.#outcomes[slot] = value;
    this.#kinds[slot] = VALUE;
  }

  /** Keeps `reason` in `slot`, whatever it held, as a kept failure. */
  replaceWithFailure(slot: Slot, reason: unknown): void {
    this.#unshare(slot);
    this.#outcomes[slot] = reason;
    this.#kinds[slot] = FAILED;
    if (this.#weights !== undefined) this.setWeight(slot, 0);
  }

  /** Marks the value in `slot` stale. */
  makeStale(slot: Slot): void {
    this.#kinds[slot] = this.#kinds[slot] === SHARED ? STALE_SHARED : STALE;
  }

  /** The work refreshing the entry in `slot`, if any. */
  refreshOf(slot: Slot): W | undefined {
    return this.#refreshes?.[slot];
  }

  /** Records `work` as refreshing the entry in `slot`, and points it there. */
  startRefresh(slot: Slot, work: W): void {
    (this.#refreshes ??= [])[slot] = work;
    this.#refreshing++;
    work.slot = slot;
  }

  /** Forgets the refresh of `slot`, whose work leaves the slot. */
  endRefresh(slot: Slot): void {
    const work = this.#refreshes![slot]!;
    work.slot = NO_SLOT;
    this.#refreshes![slot] = undefined;
    this.#refreshing--;
  }

  /**
   * Makes the refresh of `slot` the entry's work in flight, in place of the
   * value or kept failure whose time is over.
   */
  runRefresh(slot: Slot): void {
    const work = this.#refreshes![slot]!;
    this.#refreshes![slot] = undefined;
    this.#refreshing--;
    this.#unshare(slot);
    this.#outcomes[slot] = work;
    this.#kinds[slot] = RUNNING;
    this.#running++;
    if (this.#weights !== undefined) this.setWeight(slot, 0);
  }

  /** Keeps `promise`, of the value in `slot`, as what every later hit hands out. */
  share(slot: Slot, promise: Promise<unknown>): void {
    // The value stays at hand for the events of the entry leaving.
    (this.#sharedValues ??= [])[slot] = this.#outcomes[slot];
    this.#outcomes[slot] = promise;
    this.#kinds[slot] = this.#kinds[slot] === STALE ? STALE_SHARED : SHARED;
  }

  /** Removes the entry in `slot`; returns its key. Work in flight is detached, not stopped. */
  remove(slot: Slot): unknown {
    const key = this.#keys[slot];
    this.#index.delete(key);
    this.#free(slot);
    return key;
  }

  /** Removes every entry, detaching work in flight. */
  clear(): void {
    for (const work of this.runningWork()) work.slot = NO_SLOT;
    this.#index.clear();
    this.#list.clear();
    this.#keys = [];
    this.#outcomes = [];
    this.#running = 0;
    this.#refreshes = undefined;
    this.#refreshing = 0;
    this.#sharedValues = undefined;
    if (this.#weights !== undefined) this.#weights = [];
    this.#weight = 0;
  }

  /** Has the policy forget what it learnt of past use. */
  forget(): void {
    this.#list.forget();
  }

  /**
   * The work in flight of every entry, refreshes included, the next victim's
   * first.
   */
  runningWork(): W[] {
    const works: W[] = [];
    for (const slot of this.#list.slots()) {
      if (this.#kinds[slot] === RUNNING) works.push(this.#outcomes[slot] as W);
      const refresh = this.#refreshes?.[slot];
      if (refresh !== undefined) works.push(refresh);
    }
    return works;
  }

  /**
   * Throws if the index, the recency list and the slot arrays disagree, or
   * work in flight does not point back at its slot. For tests.
   */
  assertConsistent(): void {
    let size = 0;
    let running = 0;
    let weight = 0;
    for (const slot of this.#list.slots()) {
      size++;
      const kind = this.#kinds[slot];
      if (kind === FREE) throw new Error(`slot ${slot} is listed but free`);
      const slotWeight = this.weightOf(slot);
      weight += slotWeight;
      if (slotWeight !== 0 && (kind === RUNNING || kind === FAILED)) {
        throw new Error(`slot ${slot} weighs ${slotWeight} but holds no value`);
      }
      if (this.#index.get(this.#keys[slot]) !== slot) {
        throw new Error(`slot ${slot} is listed but its key points elsewhere`);
      }
      if (kind === RUNNING) {
        running++;
        if ((this.#outcomes[slot] as W).slot !== slot) {
          throw new Error(`the work in slot ${slot} does not point back at it`);
        }
      }
      const refresh = this.#refreshes?.[slot];
      if (refresh !== undefined) {
        running++;
        if (kind === RUNNING || refresh.slot !== slot) {
          throw new Error(`the refresh of slot ${slot} is out of place`);
        }
      }
    }
    if (size !== this.#index.size || size !== this.#list.size) {
      throw new Error(
        `${size} slots listed, ${this.#index.size} keys indexed, size ${this.#list.size}`,
      );
    }
    if (running !== this.running) {
      throw new Error(`${running} slots run, but ${this.running} are counted`);
    }
    // Weights may be fractions, whose running total drifts by rounding.
    if (Math.abs(weight - this.#weight) > 1e-9 * Math.max(1, weight)) {
      throw new Error(
        `the slots weigh ${weight}, but ${this.#weight} is counted`,
      );
    }
  }

  #forgetShadowed(key: unknown, newSlot: Slot): W | undefined {
    for (const slot of this.#list.slots()) {
      if (slot !== newSlot && sameValueZero(this.#keys[slot], key)) {
        const work = this.#kinds[slot] === RUNNING
          ? this.#outcomes[slot] as W
          : undefined;
        this.#free(slot);
        return work;
      }
    }
    return undefined;
  }

  #free(slot: Slot): void {
    this.#unshare(slot);
    if (this.#kinds[slot] === RUNNING) this.#detach(slot);
    if (this.#refreshes?.[slot] !== undefined) this.endRefresh(slot);
    this.#keys[slot] = undefined;
    this.#outcomes[slot] = undefined;
    this.#kinds[slot] = FREE;
    if (this.#weights !== undefined) this.setWeight(slot, 0);
    this.#list.remove(slot);
  }

  // Lets go of the value a shared entry in `slot` held beside its promise.
  #unshare(slot: Slot): void {
    const kind = this.#kinds[slot];
    if (kind === SHARED || kind === STALE_SHARED) {
      this.#sharedValues![slot] = undefined;
    }
  }

  #detach(slot: Slot): void {
    (this.#outcomes[slot] as W).slot = NO_SLOT;
    this.#running--;
  }

  // Slots are handed out in order, so the array never falls more than one
  // slot behind; like the recency list, it grows past the limit only as far
  // as needed.
  #growKinds(needed: number): void {
    const kinds = new Uint8Array(
      grownLength(this.#kinds.length, needed, this.#capacityLimit),
    );
    kinds.set(this.#kinds);
    this.#kinds = kinds;
  }
}
