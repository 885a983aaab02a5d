/**
 * W-TinyLFU (Einziger, Friedman, Manes), as Caffeine lays it out: a small
 * admission window in LRU order, a main region in segmented LRU order
 * (probation, then protected), and a frequency sketch that decides, when the
 * window overflows into a full cache, whether the window's oldest entry (the
 * candidate) is worth more than the main region's victim. The window's share
 * adapts by hill climbing on each sample's hit ratio.
 *
 * Like `lru.ts`, the order is kept as doubly linked lists over slot numbers
 * in typed arrays, and a hit allocates nothing. A hit is recorded in a small
 * buffer and applied with the next few, before anyone asks the policy
 * anything; it counts toward its slot's pending hits, which the sketch hears,
 * summed, before it is read or halved or the slot freed. A key hit many times
 * between two misses so costs one sketch update, and nothing the policy
 * answers differs from applying every hit at once.
 *
 * @module
 */

import { grownLength } from "./capacity.ts";
import { type EvictionPolicy, NO_SLOT, type Slot } from "./policy.ts";
import { FrequencySketch, nextRandom } from "./sketch.ts";

const NONE = NO_SLOT;
const INITIAL_CAPACITY = 16;

// The regions a node can be in.
const WINDOW = 0;
const PROBATION = 1;
const PROTECTED = 2;
// The lists, numbered as their sentinel nodes: the window's (node WINDOW),
// and the main region's, which holds probation's entries, then protected's,
// each least recent first. Slot s is node s + SENTINELS.
const MAIN = 1;
const SENTINELS = 2;

/** The share of the bound the window starts with (at least one entry). */
export const WINDOW_SHARE = 0.01;
/** The share of the main region the protected segment may hold. */
export const PROTECTED_SHARE = 0.8;
/** Accesses per sample, per unit of the bound: the sketch halves after each. */
export const SAMPLE_FACTOR = 10;
// Caffeine's hill climber: a step of 6.25% of the bound, restarted when the
// hit ratio moves by 5 points or more, otherwise decaying by 2% a sample.
const STEP_SHARE = 0.0625;
const RESTART_THRESHOLD = 0.05;
const STEP_DECAY = 0.98;
// A candidate this popular may be admitted against the odds, 1 time in 128,
// so that keys aimed at the victim's counters cannot lock the cache.
const RANDOM_ADMIT_FROM = 6;
// Hits recorded before the policy applies them, together.
const TOUCH_BUFFER = 32;

/** The window and protected bounds a policy for `maxSize` starts with. */
export function startingBounds(
  maxSize: number,
): { window: number; protected: number } {
  const window = Math.max(1, Math.round(maxSize * WINDOW_SHARE));
  return {
    window,
    protected: Math.floor((maxSize - window) * PROTECTED_SHARE),
  };
}

/**
 * How a {@linkcode TinyLfu} hashes keys and draws its rare random
 * admissions.
 */
export interface TinyLfuSeeds {
  /** The hash of a key under this cache's seed. */
  hash: (key: unknown) => number;
  /** The starting state of the random admission's generator. */
  admission: number;
}

/**
 * The W-TinyLFU eviction policy for a cache of `maxSize` entries (at least
 * one). Every access it is told of (`add` with `counted`, `touch`) counts in
 * its sketch and in its hit ratio.
 */
export class TinyLfu implements EvictionPolicy {
  #prev: Int32Array;
  #next: Int32Array;
  #region: Uint8Array;
  #hashes: Int32Array;
  // Hits not yet added to the sketch, per node, and the nodes that have
  // some: a hit counts here, and the sketch hears the sum before anyone
  // reads it, halves it or reuses a node, so its counters are always what
  // one increment per hit would have made them.
  #pending: Int32Array;
  #dirty: Int32Array;
  #dirtyCount = 0;
  // Slots hit and not yet applied, oldest first. Every method but touch()
  // applies them first, so nothing can tell them from hits applied at once.
  readonly #touches = new Int32Array(TOUCH_BUFFER);
  #touched = 0;
  #windowSize = 0;
  #probationSize = 0;
  #protectedSize = 0;
  // Protected's least recent node, where probation ends in the main list;
  // MAIN when protected is empty. Demoting that node to probation so only
  // moves this mark.
  #protectedHead = MAIN;
  #windowMax: number;
  #protectedMax: number;
  // Freed slots are chained through #next; #fresh is the first never-used slot.
  #freeHead: Slot = NONE;
  #fresh = 0;
  // The entry the window just pushed into a full main region, and the loser
  // of its contest once victim() has decided it: undone by any removal.
  #candidate: Slot = NONE;
  #loser: Slot = NONE;
  readonly #maxSize: number;
  readonly #sketch: FrequencySketch;
  readonly #hash: (key: unknown) => number;
  readonly #random: Uint32Array;
  readonly #sampleSize: number;
  #sampled = 0;
  #sampleMisses = 0;
  #previousRate = 0;
  #step: number;

  constructor(maxSize: number, seeds: TinyLfuSeeds) {
    this.#maxSize = maxSize;
    this.#sketch = new FrequencySketch(maxSize);
    this.#hash = seeds.hash;
    this.#random = Uint32Array.of(seeds.admission);
    this.#sampleSize = SAMPLE_FACTOR * maxSize;
    const bounds = startingBounds(maxSize);
    this.#windowMax = bounds.window;
    this.#protectedMax = bounds.protected;
    this.#step = -STEP_SHARE * maxSize;
    const capacity = Math.min(INITIAL_CAPACITY, maxSize + 1) + SENTINELS;
    this.#prev = new Int32Array(capacity);
    this.#next = new Int32Array(capacity);
    this.#region = new Uint8Array(capacity);
    this.#hashes = new Int32Array(capacity);
    this.#pending = new Int32Array(capacity);
    this.#dirty = new Int32Array(capacity);
    this.#emptyLists();
  }

  /** How many slots are held. */
  get size(): number {
    return this.#windowSize + this.#probationSize + this.#protectedSize;
  }

  /** The window's bound now, and the protected segment's. For tests. */
  get bounds(): { window: number; protected: number } {
    this.#applyTouches();
    return { window: this.#windowMax, protected: this.#protectedMax };
  }

  /** The sketch's estimate for `key`. For tests. */
  frequencyOf(key: unknown): number {
    this.#applyTouches();
    this.#addPending();
    return this.#sketch.frequency(this.#hash(key));
  }

  /**
   * Takes a free slot for a new entry keyed `key`, as the window's most
   * recent; `counted` when it is a miss, which counts as an access. The
   * window's oldest entry, if it overflows, moves to the main region, to be
   * contested by {@linkcode victim} if the cache is over its bound.
   */
  add(key: unknown, counted: boolean): Slot {
    const hash = this.#hash(key);
    this.#applyTouches();
    // Before the entry goes in, so that an adaptation never meets a
    // pending contest.
    if (counted) this.#countMiss(hash);
    let slot = this.#freeHead;
    if (slot !== NONE) {
      this.#freeHead = this.#next[slot + SENTINELS] as Slot;
    } else {
      slot = this.#fresh++ as Slot;
      if (slot + SENTINELS === this.#prev.length) this.#grow();
    }
    const node = slot + SENTINELS;
    this.#hashes[node] = hash;
    this.#linkNewest(node, WINDOW);
    this.#candidate = this.#loser = NONE;
    if (this.#windowSize > this.#windowMax) {
      const oldest = this.#next[WINDOW];
      this.#unlink(oldest);
      this.#linkNewest(oldest, PROBATION);
      if (this.size > this.#maxSize) {
        this.#candidate = oldest - SENTINELS as Slot;
      }
    }
    return slot;
  }

  /**
   * Counts an access of the entry in `slot` (a hit) and moves it up: at
   * once to whoever asks the policy anything, in a batch of hits to the
   * processor, so that a hit's own call stays small enough to inline.
   */
  touch(slot: Slot): void {
    const touched = this.#touched;
    this.#touches[touched] = slot;
    this.#touched = touched + 1;
    if (touched + 1 === TOUCH_BUFFER) this.#applyTouches();
  }

  #applyTouches(): void {
    const touched = this.#touched;
    if (touched === 0) return;
    this.#touched = 0;
    const touches = this.#touches;
    // Each hit is one access of the sample. The hit that ends a sample is
    // counted before the sample ends and moved after, as when hits were
    // applied one by one.
    for (let applied = 0; applied < touched;) {
      const room = this.#sampleSize - this.#sampled;
      if (touched - applied < room) {
        this.#sampled += touched - applied;
        while (applied < touched) this.#apply(touches[applied++]);
        return;
      }
      const last = applied + room - 1;
      while (applied < last) this.#apply(touches[applied++]);
      const node = touches[applied++] + SENTINELS;
      this.#count(node);
      this.#sampled = this.#sampleSize;
      this.#endSample();
      this.#move(node);
    }
  }

  #apply(slot: number): void {
    const node = slot + SENTINELS;
    this.#count(node);
    this.#move(node);
  }

  // A hit's access, told to the sketch later.
  #count(node: number): void {
    if (this.#pending[node]++ === 0) this.#dirty[this.#dirtyCount++] = node;
  }

  #move(node: number): void {
    const region = this.#region[node];
    // A probation entry moves up to protected; any other moves only when it
    // is not already its list's newest.
    if (
      region === PROBATION ||
      this.#prev[region === WINDOW ? WINDOW : MAIN] !== node
    ) {
      this.#moveUp(node, region);
    }
  }

  #moveUp(node: number, region: number): void {
    if (region === PROBATION) {
      // To protected's newest: a probation node is never #protectedHead.
      this.#detach(node);
      this.#attachBefore(node, MAIN);
      this.#region[node] = PROTECTED;
      if (this.#protectedHead === MAIN) this.#protectedHead = node;
      this.#probationSize--;
      if (++this.#protectedSize > this.#protectedMax) this.#demote();
    } else if (region === WINDOW) {
      // Within its region, whose size stays.
      this.#detach(node);
      this.#attachBefore(node, WINDOW);
    } else {
      if (node === this.#protectedHead) this.#protectedHead = this.#next[node];
      this.#detach(node);
      this.#attachBefore(node, MAIN);
    }
  }

  /** Takes `slot` out of its region and frees it for reuse. */
  remove(slot: Slot): void {
    this.#applyTouches();
    this.#addPending();
    const node = slot + SENTINELS;
    this.#unlink(node);
    this.#next[node] = this.#freeHead;
    this.#freeHead = slot;
    this.#candidate = this.#loser = NONE;
  }

  /**
   * The slot to evict next: after a window overflow into a full cache, the
   * loser of the candidate's contest with the main region's victim;
   * otherwise probation's least recent entry, else protected's, else the
   * window's.
   */
  victim(): Slot {
    this.#applyTouches();
    if (this.#loser !== NONE) return this.#loser;
    const candidate = this.#candidate;
    if (candidate !== NONE) {
      const rival = this.#mainVictim(candidate + SENTINELS);
      this.#loser = rival === NONE || !this.#admits(candidate, rival)
        ? candidate
        : rival - SENTINELS as Slot;
      return this.#loser;
    }
    let oldest = this.#next[MAIN];
    if (oldest === MAIN) oldest = this.#next[WINDOW];
    return oldest === WINDOW ? NONE : oldest - SENTINELS as Slot;
  }

  /** Frees every slot; what the sketch learnt stays. */
  clear(): void {
    this.#applyTouches();
    this.#addPending();
    this.#emptyLists();
    this.#freeHead = this.#candidate = this.#loser = NONE;
    this.#fresh = 0;
    this.#windowSize = this.#probationSize = this.#protectedSize = 0;
  }

  /**
   * Forgets every frequency and the adapted window: the policy is as new,
   * but for the slots it holds.
   */
  forget(): void {
    this.#applyTouches();
    this.#addPending();
    this.#sketch.clear();
    const bounds = startingBounds(this.#maxSize);
    this.#windowMax = bounds.window;
    this.#protectedMax = bounds.protected;
    this.#step = -STEP_SHARE * this.#maxSize;
    this.#sampled = this.#sampleMisses = this.#previousRate = 0;
    this.#fit();
  }

  /**
   * Yields every held slot in eviction order, without a pending contest:
   * probation, protected, then the window, each least recent first.
   */
  slots(): IterableIterator<Slot> {
    this.#applyTouches();
    return this.#slotsInOrder();
  }

  *#slotsInOrder(): IterableIterator<Slot> {
    for (const list of [MAIN, WINDOW]) {
      for (
        let node = this.#next[list];
        node !== list;
        node = this.#next[node]
      ) {
        yield node - SENTINELS as Slot;
      }
    }
  }

  /** Which region holds `slot`: 0 window, 1 probation, 2 protected. For tests. */
  regionOf(slot: Slot): number {
    this.#applyTouches();
    return this.#region[slot + SENTINELS];
  }

  // A miss: the sketch, and the hill climber's sample. At the end of a
  // sample the sketch halves and the window adapts.
  #countMiss(hash: number): void {
    this.#sketch.increment(hash);
    this.#sampleMisses++;
    if (++this.#sampled >= this.#sampleSize) this.#endSample();
  }

  // Tells the sketch of the hits counted per node since it last heard.
  #addPending(): void {
    const count = this.#dirtyCount;
    if (count === 0) return;
    this.#dirtyCount = 0;
    const dirty = this.#dirty;
    const pending = this.#pending;
    const hashes = this.#hashes;
    const sketch = this.#sketch;
    for (let i = 0; i < count; i++) {
      const node = dirty[i];
      sketch.add(hashes[node], pending[node]);
      pending[node] = 0;
    }
  }

  #endSample(): void {
    this.#addPending();
    this.#sketch.halve();
    const rate = (this.#sampled - this.#sampleMisses) / this.#sampled;
    const change = rate - this.#previousRate;
    const amount = change >= 0 ? this.#step : -this.#step;
    this.#step = Math.abs(change) >= RESTART_THRESHOLD
      ? STEP_SHARE * this.#maxSize * (amount >= 0 ? 1 : -1)
      : STEP_DECAY * amount;
    this.#previousRate = rate;
    this.#sampled = this.#sampleMisses = 0;
    const adjustment = Math.trunc(amount);
    if (adjustment > 0) this.#growWindow(adjustment);
    else if (adjustment < 0) this.#shrinkWindow(-adjustment);
  }

  // Moves up to `wanted` entries from the main region's oldest into the
  // window. Unlike Caffeine, whose window takes only the protected
  // segment's room, the window may take all of the main region's but one
  // entry: on a trace where recency is everything, the probation segment's
  // admission test would otherwise keep costing hits. Room no entry came for
  // goes back.
  #growWindow(wanted: number): void {
    let quota = Math.min(wanted, this.#maxSize - 1 - this.#windowMax);
    this.#windowMax += quota;
    this.#setProtectedMax();
    while (quota > 0) {
      const node = this.#next[MAIN];
      if (node === MAIN) break;
      this.#unlink(node);
      this.#linkNewest(node, WINDOW);
      quota--;
    }
    this.#windowMax -= quota;
    this.#setProtectedMax();
  }

  // Moves up to `wanted` of the window's oldest entries to probation, giving
  // their room to the main region; the window keeps one entry's room.
  #shrinkWindow(wanted: number): void {
    let quota = Math.min(wanted, this.#windowMax - 1);
    this.#windowMax -= quota;
    while (quota > 0) {
      const node = this.#next[WINDOW];
      if (node === WINDOW) break;
      this.#unlink(node);
      this.#linkNewest(node, PROBATION);
      quota--;
    }
    this.#windowMax += quota;
    this.#setProtectedMax();
  }

  // The protected segment's share of the main region, as the window moved.
  #setProtectedMax(): void {
    this.#protectedMax = Math.floor(
      (this.#maxSize - this.#windowMax) * PROTECTED_SHARE,
    );
    this.#demote();
  }

  // After the bounds were reset: the window and protected segment give what
  // exceeds them to probation.
  #fit(): void {
    while (this.#windowSize > this.#windowMax) {
      const node = this.#next[WINDOW];
      this.#unlink(node);
      this.#linkNewest(node, PROBATION);
    }
    this.#demote();
  }

  // Protected's oldest entries go back to probation while it is over its
  // bound.
  #demote(): void {
    while (this.#protectedSize > this.#protectedMax) {
      const node = this.#protectedHead;
      this.#region[node] = PROBATION;
      this.#protectedSize--;
      this.#probationSize++;
      this.#protectedHead = this.#next[node];
    }
  }

  // The main region's victim to set against the candidate's node: probation's
  // oldest entry, else protected's; none when the candidate is alone there.
  #mainVictim(candidate: number): number {
    let node = this.#next[MAIN];
    if (node === candidate) node = this.#next[node];
    return node === MAIN ? NONE : node;
  }

  // Whether the candidate beats the node `rival`: a strictly higher
  // estimate, or rarely, for a popular one, a draw.
  #admits(candidate: Slot, rival: number): boolean {
    this.#addPending();
    const candidateCount = this.#sketch.frequency(
      this.#hashes[candidate + SENTINELS],
    );
    const rivalCount = this.#sketch.frequency(this.#hashes[rival]);
    if (candidateCount > rivalCount) return true;
    if (candidateCount < RANDOM_ADMIT_FROM) return false;
    return (nextRandom(this.#random) & 127) === 0;
  }

  #emptyLists(): void {
    for (let list = 0; list < SENTINELS; list++) {
      this.#prev[list] = this.#next[list] = list;
    }
    this.#protectedHead = MAIN;
  }

  #linkNewest(node: number, region: number): void {
    if (region === WINDOW) {
      this.#attachBefore(node, WINDOW);
    } else if (region === PROBATION) {
      this.#attachBefore(node, this.#protectedHead);
    } else {
      this.#attachBefore(node, MAIN);
      if (this.#protectedHead === MAIN) this.#protectedHead = node;
    }
    this.#region[node] = region;
    if (region === WINDOW) this.#windowSize++;
    else if (region === PROBATION) this.#probationSize++;
    else this.#protectedSize++;
  }

  #unlink(node: number): void {
    if (node === this.#protectedHead) this.#protectedHead = this.#next[node];
    this.#detach(node);
    const region = this.#region[node];
    if (region === WINDOW) this.#windowSize--;
    else if (region === PROBATION) this.#probationSize--;
    else this.#protectedSize--;
  }

  // Links `node` in just before `at`, a node or a list's sentinel (before a
  // sentinel is its list's newest place).
  #attachBefore(node: number, at: number): void {
    const before = this.#prev[at];
    this.#prev[node] = before;
    this.#next[node] = at;
    this.#next[before] = node;
    this.#prev[at] = node;
  }

  #detach(node: number): void {
    const prev = this.#prev[node];
    const next = this.#next[node];
    this.#next[prev] = next;
    this.#prev[next] = prev;
  }

  #grow(): void {
    // Grows as lru.ts does: to the bound, then only as far as needed.
    const length = this.#prev.length;
    const capacity = grownLength(
      length,
      length + 1,
      this.#maxSize + 1 + SENTINELS,
    );
    const prev = new Int32Array(capacity);
    const next = new Int32Array(capacity);
    const region = new Uint8Array(capacity);
    const hashes = new Int32Array(capacity);
    const pending = new Int32Array(capacity);
    const dirty = new Int32Array(capacity);
    prev.set(this.#prev);
    pending.set(this.#pending);
    dirty.set(this.#dirty);
    next.set(this.#next);
    region.set(this.#region);
    hashes.set(this.#hashes);
    this.#prev = prev;
    this.#next = next;
    this.#region = region;
    this.#hashes = hashes;
    this.#pending = pending;
    this.#dirty = dirty;
  }
}
