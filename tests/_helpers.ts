/** Shared test helpers. Not part of the published module. */

import assert from "node:assert/strict";
import type { CacheInfo, CacheParameters } from "../mod.ts";

/**
 * Lets every pending promise reaction run. Cache bookkeeping and callers'
 * continuations take a few microtask turns; this drains them without touching
 * any timer, real or fake.
 */
export async function flush(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
}

/** A promise with its settle functions, for driving a wrapped function by hand. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** Makes a {@linkcode Deferred}. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** What {@linkcode checkLru} reads: a cached function or method. */
export interface Inspectable {
  cacheInfo(): CacheInfo;
  cacheParameters(): CacheParameters;
}

export interface Expected {
  hits: number;
  misses: number;
  currSize: number;
  tasks: number;
  maxSize?: number;
}

/** Checks the counters, the size and the in-flight count; maxSize defaults to 128. */
export function checkLru(cached: Inspectable, expected: Expected): void {
  const info = cached.cacheInfo();
  assert.deepEqual(
    {
      hits: info.hits,
      misses: info.misses,
      maxSize: info.maxSize,
      currSize: info.currSize,
      tasks: cached.cacheParameters().tasks,
    },
    { maxSize: 128, ...expected },
  );
}

/** Resolves with the reason `promise` rejects with; fails if it fulfils. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (reason) {
    return reason;
  }
  assert.fail("expected the promise to reject");
}
