/**
 * Which eviction policy a cache gets from its options: the recency list, or
 * W-TinyLFU with its seed and admission draws and a hash of each kind of key.
 *
 * @module
 */

import { ArgumentsKey } from "./key.ts";
import { EncodedKey } from "./keying.ts";
import { RecencyList } from "./lru.ts";
import type { ResolvedOptions } from "./options.ts";
import type { EvictionPolicy } from "./policy.ts";
import { hashList, hashValue } from "./sketch.ts";
import { TinyLfu } from "./tinylfu.ts";

// A 32-bit word from the `random` option (checked as jitter's draws are),
// else from the system's generator.
function randomWord(random: (() => number) | undefined): number {
  if (random === undefined) {
    return crypto.getRandomValues(new Uint32Array(1))[0];
  }
  const fraction = random();
  if (!(fraction >= 0 && fraction < 1)) {
    throw new RangeError(
      `alruCache option "random" must return a number in [0, 1); it returned ${fraction}`,
    );
  }
  return Math.floor(fraction * 2 ** 32) >>> 0;
}

/**
 * The eviction policy `options` ask for. W-TinyLFU needs a finite bound of
 * at least one entry to size its sketch; without one nothing is ever
 * evicted, and recency does as well. Its seed and admission draws are made
 * now, while no entry exists: the `random` option is called before the
 * cache is.
 */
export function policyOf(options: ResolvedOptions): EvictionPolicy {
  const maxSize = options.maxSize;
  if (options.policy !== "tinylfu" || maxSize === 0 || maxSize === Infinity) {
    return new RecencyList(maxSize + 1);
  }
  const seed = randomWord(options.givenRandom);
  const admission = randomWord(options.givenRandom);
  return new TinyLfu(maxSize, {
    // Argument lists and store encodings are hashed by content, not by the
    // key object, which is made anew when a key comes back after eviction.
    hash: (key) =>
      key instanceof ArgumentsKey
        ? hashList(key.args, seed)
        : key instanceof EncodedKey
        ? hashValue(key.text, seed)
        : hashValue(key, seed),
    admission,
  });
}
