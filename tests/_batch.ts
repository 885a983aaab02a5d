/** Helpers for the tests of `alruBatch`. Not part of the published module. */

import { BATCHER } from "../batched_function.ts";
import { CACHE } from "../cached_function.ts";
import { afterTurn } from "../clock.ts";
import { deferred } from "./_helpers.ts";

/** One call of a load function, as it was made. */
export interface LoadCall<K> {
  keys: K[];
  /** The second argument, when there was one. */
  signal: AbortSignal | undefined;
  /** How many arguments load was given. */
  arity: number;
  thisArg: unknown;
}

/**
 * A load function that records its calls and answers each key at once
 * with `valueOf(key)` (an `Error` rejects the key).
 */
export function recordingLoad<K, V>(
  valueOf: (key: K) => V | Error,
): {
  load: (keys: K[], signal: AbortSignal) => (V | Error)[];
  calls: LoadCall<K>[];
} {
  const calls: LoadCall<K>[] = [];
  const load = function (this: unknown, keys: K[]) {
    calls.push({
      keys: [...keys],
      signal: arguments[1],
      arity: arguments.length,
      thisArg: this,
    });
    return keys.map(valueOf);
  };
  return {
    load: load as (keys: K[], signal: AbortSignal) => (V | Error)[],
    calls,
  };
}

/** One call of a {@linkcode heldLoad}, settled by hand. */
export interface HeldBatch<K, R> {
  keys: K[];
  signal: AbortSignal | undefined;
  resolve(result: R): void;
  reject(reason: unknown): void;
}

/** A load function whose calls wait until the test settles them. */
export function heldLoad<K, R = unknown>(): {
  load: (keys: K[], signal: AbortSignal) => Promise<R>;
  batches: HeldBatch<K, R>[];
} {
  const batches: HeldBatch<K, R>[] = [];
  const load = (keys: K[], signal?: AbortSignal) => {
    const held = deferred<R>();
    batches.push({ keys: [...keys], signal, ...held });
    return held.promise;
  };
  return {
    load: load as (keys: K[], signal: AbortSignal) => Promise<R>,
    batches,
  };
}

/** The keys 0 to n - 1. */
export function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, i) => start + i);
}

interface Checked {
  assertConsistent(): void;
  checkEachEntryToUserCode(also?: () => void): void;
}

interface CheckedBatcher {
  assertConsistent(): void;
  checkEachEntry(check: () => void): void;
}

function partsOf(batched: object): { cache: Checked; batcher: CheckedBatcher } {
  const parts = batched as { [CACHE]?: Checked; [BATCHER]?: CheckedBatcher };
  if (parts[CACHE] === undefined || parts[BATCHER] === undefined) {
    throw new Error("not a function made by alruBatch");
  }
  return { cache: parts[CACHE], batcher: parts[BATCHER] };
}

/** Throws unless the cache and the batcher behind `batched` are whole. */
export function assertBatchWhole(batched: object): void {
  const { cache, batcher } = partsOf(batched);
  cache.assertConsistent();
  batcher.assertConsistent();
}

/**
 * Makes the cache and the batcher behind `batched` check that both are
 * whole each time either is about to call user code.
 */
export function checkBatchEachEntry(batched: object): void {
  const { cache, batcher } = partsOf(batched);
  const check = () => {
    cache.assertConsistent();
    batcher.assertConsistent();
  };
  cache.checkEachEntryToUserCode(() => batcher.assertConsistent());
  batcher.checkEachEntry(check);
}

/**
 * Resolves once the batches opened in this macrotask have been sent: the
 * batcher's own end of the turn, queued after theirs.
 */
export function turnEnd(): Promise<void> {
  return new Promise((resolve) => afterTurn(resolve));
}
