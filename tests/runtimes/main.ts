/**
 * The smoke as a process, for Node (compiled by tsc against the per-file
 * build) and Bun (this source as it is): prints one JSON line, the
 * {@linkcode RuntimeReport}, and then must end by itself.
 *
 * It leaves a one-hour entry cached on the default clock and does not close
 * its cache: the process still exits at once only because the cache's timer
 * does not hold the event loop open, which the Deno test measures.
 *
 * @module
 */

import { alruCache } from "../../mod.ts";
import { type CheckResult, smoke } from "./smoke.ts";

/** What the process prints. */
export interface RuntimeReport {
  /** `process.versions` of the runtime, where it has one. */
  versions: Record<string, string | undefined>;
  checks: CheckResult[];
  /** Whether the one-hour entry was still cached when the work ended. */
  leftCached: boolean;
}

const checks = await smoke();

const longLived = alruCache(async (n: number) => await Promise.resolve(n * 2), {
  ttl: 3_600_000,
  jitter: 1_000,
});
await longLived(21);

// Read through globalThis, so that the file needs no runtime's types and
// reports what each runtime says of itself (Bun has a process too).
const versions = (globalThis as {
  process?: { versions?: Record<string, string | undefined> };
}).process?.versions ?? {};

const report: RuntimeReport = {
  versions: { node: versions.node, bun: versions.bun, v8: versions.v8 },
  checks,
  leftCached: longLived.cacheContains(21),
};
console.log(JSON.stringify(report));
