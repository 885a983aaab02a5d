/**
 * The options that name a cache and bound how long its callers wait:
 * `name`, `softTimeout` and `hardTimeout`, checked.
 *
 * @module
 */

import { describe } from "./errors.ts";
import { positiveDuration } from "./store_options.ts";

/** The name and the deadlines of a cache, checked. */
export interface WatchOptions {
  /** `undefined`: the cache takes its function's name. */
  name: string | undefined;
  softTimeout: number | undefined;
  hardTimeout: number | undefined;
}

/**
 * Checks `name`, `softTimeout` and `hardTimeout` among `given`;
 * `staleIfError` says whether that option is set, which a soft deadline
 * needs. Throws on the first bad one.
 *
 * @example
 * ```ts
 * import { watchOptionsOf } from "./watch_options.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(watchOptionsOf({ hardTimeout: 50 }, false).hardTimeout, 50);
 * assert.throws(() => watchOptionsOf({ softTimeout: 10 }, false), TypeError);
 * ```
 */
export function watchOptionsOf(
  given: Record<string, unknown>,
  staleIfError: boolean,
): WatchOptions {
  const name = nameOf(given.name);
  const softTimeout = timeoutOf("softTimeout", given.softTimeout);
  const hardTimeout = timeoutOf("hardTimeout", given.hardTimeout);
  if (softTimeout !== undefined && !staleIfError) {
    throw new TypeError(
      `alruCache option "softTimeout" is set without "staleIfError" (softTimeout requires staleIfError); received softTimeout ${softTimeout}`,
    );
  }
  if (
    softTimeout !== undefined && hardTimeout !== undefined &&
    softTimeout >= hardTimeout
  ) {
    throw new RangeError(
      `alruCache option "softTimeout" must be less than "hardTimeout"; received softTimeout ${softTimeout} and hardTimeout ${hardTimeout}`,
    );
  }
  return { name, softTimeout, hardTimeout };
}

function nameOf(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    throw new TypeError(
      `alruCache option "name" must be a string; received ${describe(value)}`,
    );
  }
  if (value === "") {
    throw new RangeError(
      `alruCache option "name" must not be empty; received ""`,
    );
  }
  return value;
}

// A timeout, for which null is unset as undefined is.
function timeoutOf(name: string, value: unknown): number | undefined {
  return positiveDuration(name, value ?? undefined, undefined);
}
