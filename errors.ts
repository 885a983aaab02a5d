/**
 * The errors a cache raises of its own, and how its error messages describe
 * a bad value.
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

/** A short description of a bad value, for error messages. */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  if (value !== null && typeof value === "object") {
    return Array.isArray(value) ? "an array" : "an object";
  }
  return String(value);
}

/**
 * The reason a caller of the cache of `functionName` gets when it has waited
 * `timeout` ms (`hardTimeout`) on running work.
 */
export function timeoutError(
  functionName: string,
  timeout: number,
): DOMException {
  return new DOMException(
    `alruCache's call of ${functionName} waited hardTimeout ${timeout} ms for its work, which goes on`,
    "TimeoutError",
  );
}
