/**
 * The frequency sketch of W-TinyLFU: a count-min sketch of 4-bit saturating
 * counters, eight to a 32-bit word, and the seeded hashing of keys that feeds
 * it. Bookkeeping only: nothing here calls outside this module.
 *
 * @module
 */

// A counter saturates here: frequencies past it tell nothing more apart.
const MAX_COUNT = 15;
// Halving a word halves each of its counters: shift right, then drop the bit
// that crossed into the counter below.
const HALF_MASK = 0x77777777;
// The lowest bit of each of a word's eight counters.
const LOW_BITS = 0x11111111;
// The table never grows past this many words (256 MiB), however large
// maxSize is.
const MAX_WORDS = 1 << 26;

/** One step of a small, seeded generator of 32-bit words (mulberry32). */
export function nextRandom(state: Uint32Array): number {
  state[0] = (state[0] + 0x6d2b79f5) >>> 0;
  let t = state[0];
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

/**
 * Murmur3's finalizer: every input bit reaches every output bit. Signed, so
 * that V8 keeps every hash a small integer, never a boxed double.
 */
export function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

// Objects hash by identity: an id handed out on first sight. Shared by every
// cache; the per-cache seed is mixed in after.
const identities = new WeakMap<object, number>();
let nextIdentity = 1;
const floatView = new Float64Array(1);
const wordView = new Uint32Array(floatView.buffer);

function identityOf(value: object): number {
  let id = identities.get(value);
  if (id === undefined) {
    id = nextIdentity = (nextIdentity + 1) >>> 0;
    identities.set(value, id);
  }
  return id;
}

function hashString(text: string, seed: number): number {
  // FNV-1a from a secret start, then mixed: a collision depends on the seed.
  let h = seed ^ 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  }
  return mix32(h ^ text.length);
}

/**
 * The seeded 32-bit hash of one value: primitives by what they are (numbers
 * by value, so `1` and `1.0` agree), objects, functions and unregistered
 * symbols by identity.
 */
export function hashValue(value: unknown, seed: number): number {
  switch (typeof value) {
    case "string":
      return hashString(value, seed);
    case "number":
      if ((value | 0) === value) return mix32((value ^ seed) + 0x1234567);
      floatView[0] = value === 0 ? 0 : value;
      return mix32(mix32(wordView[0] ^ seed) ^ wordView[1]);
    case "bigint":
    case "symbol":
      return hashString(String(value), seed ^ 0x5bd1e995);
    case "boolean":
      return mix32(seed ^ (value ? 0x9e3779b9 : 0x7f4a7c15));
    case "undefined":
      return mix32(seed ^ 0x165667b1);
    default:
      if (value === null) return mix32(seed ^ 0x27d4eb2f);
      return mix32(identityOf(value as object) ^ seed ^ 0x2545f491);
  }
}

/** The seeded hash of a list of values, position by position. */
export function hashList(values: readonly unknown[], seed: number): number {
  let h = mix32(seed ^ values.length);
  for (let i = 0; i < values.length; i++) {
    h = mix32(Math.imul(h, 31) ^ hashValue(values[i], seed));
  }
  return h;
}

// The low bit of each counter that holds 15: such a counter takes no more.
function saturated(word: number): number {
  return word & (word >>> 1) & (word >>> 2) & (word >>> 3) & LOW_BITS;
}

// `word` with its counter at `shift` raised by `count`, to 15 at most.
function raise(word: number, shift: number, count: number): number {
  const counter = (word >>> shift) & MAX_COUNT;
  const raised = Math.min(MAX_COUNT, counter + count);
  return (word + ((raised - counter) << shift)) | 0;
}

/**
 * Estimated access counts of hashed keys, from 0 to 15, in a table sized
 * once for `maxSize`: 16 counters per unit of the bound rounded up to a
 * power of two, i.e. at most 16 bytes per unit of `maxSize`. A key's four
 * counters lie in two adjacent words, two in each (one in either half of
 * the word), so that counting an access reads and writes two words, each
 * in a few operations on all its counters at once.
 */
export class FrequencySketch {
  // Int32, not Uint32: a word with its top bit set stays a small integer.
  readonly #table: Int32Array;
  // Selects the first word of a pair: even indices below the table's length.
  readonly #pairMask: number;

  /** A sketch for a cache of at most `maxSize` entries, `maxSize` ≥ 1. */
  constructor(maxSize: number) {
    let words = 2;
    while (words < 2 * maxSize && words < MAX_WORDS) words *= 2;
    this.#table = new Int32Array(words);
    this.#pairMask = words - 2;
  }

  /**
   * The index of `hash`'s counter in row `row` (0 to 3), counting eight
   * counters to a word: rows 0 and 1 are in the pair's first word, 2 and 3
   * in its second; even rows in a word's low half, odd rows in its high
   * half, each at one of four places chosen by the hash's top byte.
   */
  index(hash: number, row: number): number {
    const word = (hash & this.#pairMask) + (row >>> 1);
    const place = ((row & 1) << 2) + ((hash >>> (24 + 2 * row)) & 3);
    return word * 8 + place;
  }

  /** Counts one access of `hash`'s key; its counters stop at 15. */
  increment(hash: number): void {
    const table = this.#table;
    const first = hash & this.#pairMask;
    const low = table[first];
    table[first] = low +
      (((1 << ((hash >>> 22) & 12)) | (1 << (16 + ((hash >>> 24) & 12)))) &
        ~saturated(low));
    const high = table[first + 1];
    table[first + 1] = high +
      (((1 << ((hash >>> 26) & 12)) | (1 << (16 + ((hash >>> 28) & 12)))) &
        ~saturated(high));
  }

  /**
   * Counts `count` accesses of `hash`'s key at once, as many calls of
   * {@linkcode increment} would.
   */
  add(hash: number, count: number): void {
    const table = this.#table;
    const first = hash & this.#pairMask;
    table[first] = raise(
      raise(table[first], (hash >>> 22) & 12, count),
      16 + ((hash >>> 24) & 12),
      count,
    );
    table[first + 1] = raise(
      raise(table[first + 1], (hash >>> 26) & 12, count),
      16 + ((hash >>> 28) & 12),
      count,
    );
  }

  /** The estimated count of `hash`'s key: the least of its counters. */
  frequency(hash: number): number {
    const table = this.#table;
    const first = hash & this.#pairMask;
    const low = table[first];
    const high = table[first + 1];
    return Math.min(
      (low >>> ((hash >>> 22) & 12)) & MAX_COUNT,
      (low >>> (16 + ((hash >>> 24) & 12))) & MAX_COUNT,
      (high >>> ((hash >>> 26) & 12)) & MAX_COUNT,
      (high >>> (16 + ((hash >>> 28) & 12))) & MAX_COUNT,
    );
  }

  /** Halves every counter, so that old popularity fades. */
  halve(): void {
    const table = this.#table;
    for (let i = 0; i < table.length; i++) {
      table[i] = (table[i] >>> 1) & HALF_MASK;
    }
  }

  /** Forgets every count. */
  clear(): void {
    this.#table.fill(0);
  }

  /** How many counters the table holds. */
  get counters(): number {
    return this.#table.length * 8;
  }
}
