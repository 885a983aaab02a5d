/**
 * The errors a cache raises of its own.
 *
 * @module
 */

/**
 * Thrown (as a rejection) by every call of a cache that has been closed with
 * `cacheClose()`.
 *
 * @example
 * ```ts
 * import { alruCache, CacheClosedError } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const square = alruCache(async (n: number) => n * n);
 * await square.cacheClose();
 * await assert.rejects(square(3), CacheClosedError);
 * ```
 */
export class CacheClosedError extends Error {
  /** Makes the error for the cache of the function named `functionName`. */
  constructor(functionName: string) {
    super(`alruCache is closed for ${functionName}`);
    this.name = "CacheClosedError";
  }
}

/** The reason given to callers of work abandoned by `cacheClose()` without wait. */
export function abandonedError(functionName: string): DOMException {
  return new DOMException(
    `alruCache was closed before the call of ${functionName} settled`,
    "AbortError",
  );
}
