/**
 * The options of the shared tier, checked: the store itself, the durations
 * and the circuit breaker's threshold, each with its default, and none of
 * them set without a store.
 *
 * @module
 */

import { describe } from "./errors.ts";
import type { CacheStore } from "./store.ts";

/** The shared tier's options, checked, with their defaults. */
export interface StoreOptions {
  store: CacheStore | undefined;
  lease: number;
  storeTimeout: number;
  localTtl: number;
  breakerThreshold: number;
  breakerCooldown: number;
}

/**
 * Checks the shared tier's options among `given` (`serialize` and
 * `deserialize` only for being set without a store); `timed` says whether
 * `ttl` is set, which a store needs. Throws on the first bad one.
 */
export function storeOptionsOf(
  given: Record<string, unknown>,
  timed: boolean,
): StoreOptions {
  const store = storeOf(given.store, timed);
  const options: StoreOptions = {
    store,
    lease: positiveDuration("lease", given.lease, 10_000),
    storeTimeout: positiveDuration("storeTimeout", given.storeTimeout, 250),
    localTtl: positiveDuration("localTtl", given.localTtl, 1_000),
    breakerThreshold: breakerThresholdOf(given.breakerThreshold),
    breakerCooldown: positiveDuration(
      "breakerCooldown",
      given.breakerCooldown,
      5_000,
    ),
  };
  for (const name of STORE_OPTIONS) {
    requireStore(name, given[name], store !== undefined);
  }
  return options;
}

// Options of the shared tier mean nothing without a store.
function requireStore(
  name: string,
  value: unknown,
  hasStore: boolean,
): void {
  if (value !== undefined && !hasStore) {
    throw new TypeError(
      `alruCache option "${name}" is set without "store" (${name} requires store); received ${name} ${
        describe(value)
      }`,
    );
  }
}

// The options only a shared tier reads.
const STORE_OPTIONS = [
  "lease",
  "storeTimeout",
  "localTtl",
  "breakerThreshold",
  "breakerCooldown",
  "serialize",
  "deserialize",
] as const;

const STORE_METHODS = [
  "readOrLease",
  "wait",
  "write",
  "renew",
  "release",
  "delete",
  "clear",
  "subscribe",
] as const;

function storeOf(value: unknown, timed: boolean): CacheStore | undefined {
  if (value === undefined) return undefined;
  const store = value as Partial<CacheStore> | null;
  const missing: string[] = STORE_METHODS.filter((method) =>
    typeof store?.[method] !== "function"
  );
  if (typeof store?.notifies !== "boolean") missing.push("notifies");
  if (missing.length > 0) {
    throw new TypeError(
      `alruCache option "store" must implement CacheStore; received ${
        describe(value)
      } without ${missing.join(", ")}`,
    );
  }
  if (!timed) {
    throw new TypeError(
      `alruCache option "store" is set without "ttl" (a shared tier requires ttl, so that every process expires a value at the same moment)`,
    );
  }
  return value as CacheStore;
}

/**
 * The option `name`'s `value`, a duration that must be a positive, finite
 * number of milliseconds, or `fallback` when it is undefined.
 */
export function positiveDuration<T>(
  name: string,
  value: unknown,
  fallback: T,
): number | T {
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(
      `alruCache option "${name}" must be a number; received ${
        describe(value)
      }`,
    );
  }
  if (!(value > 0) || value === Infinity) {
    throw new RangeError(
      `alruCache option "${name}" must be a positive, finite number of milliseconds; received ${value}`,
    );
  }
  return value;
}

function breakerThresholdOf(value: unknown): number {
  if (value === undefined) return 5;
  if (typeof value !== "number") {
    throw new TypeError(
      `alruCache option "breakerThreshold" must be a number; received ${
        describe(value)
      }`,
    );
  }
  if (!(value >= 1) || !(Number.isInteger(value) || value === Infinity)) {
    throw new RangeError(
      `alruCache option "breakerThreshold" must be a positive integer, or Infinity for a breaker that never opens; received ${value}`,
    );
  }
  return value;
}
