/**
 * How the slot-indexed arrays of a cache grow.
 *
 * @module
 */

/**
 * The length to give an array of `length` slots so that it holds `needed`:
 * doubled until it does, but past `limit`, the most slots its owner expects,
 * only as far as `needed`.
 */
export function grownLength(
  length: number,
  needed: number,
  limit: number,
): number {
  let grown = Math.max(length * 2, 1);
  while (grown < needed) grown *= 2;
  return Math.max(needed, Math.min(grown, limit));
}
