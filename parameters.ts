/**
 * What `cacheParameters()` shows: the options as configured, beside the
 * cache's name and state.
 *
 * @module
 */

import type { ResolvedOptions } from "./options.ts";
import type { CacheParameters } from "./stats.ts";

/** The state of a cache that `cacheParameters()` shows. */
export interface ParameterState {
  name: string;
  /** Entries whose work is in flight. */
  tasks: number;
  closed: boolean;
  /** The weight of the entries held. */
  currWeight: number;
}

/**
 * `cacheParameters()` of a cache with `options` in `state`.
 *
 * @example
 * ```ts
 * import { parametersOf } from "./parameters.ts";
 * import { resolveOptions } from "./options.ts";
 * import assert from "node:assert/strict";
 *
 * const state = { name: "f", tasks: 0, closed: false, currWeight: 0 };
 * assert.equal(parametersOf(resolveOptions({ maxSize: 3 }), state).maxSize, 3);
 * ```
 */
export function parametersOf(
  options: ResolvedOptions,
  state: ParameterState,
): CacheParameters {
  const parameters: CacheParameters = {
    maxSize: options.maxSize,
    ttl: options.ttlOf ?? options.ttl,
    jitter: options.jitter,
    tasks: state.tasks,
    closed: state.closed,
    name: state.name,
    softTimeout: options.softTimeout,
    hardTimeout: options.hardTimeout,
    // Shown only when set, so that a cache without it shows Python's shape.
    ...(options.maxWeight === undefined ? {} : {
      maxWeight: options.maxWeight,
      currWeight: state.currWeight,
    }),
  };
  if (options.policy !== undefined) parameters.policy = options.policy;
  return parameters;
}
