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
  /**
   * What a subscriber of the events channel and the tracing channel heard
   * of a miss and a hit; `undefined` where the runtime has no
   * `process.getBuiltinModule`.
   */
  channels: string[] | undefined;
}

interface Subscribable {
  subscribe(name: string, listener: (message: unknown) => void): void;
  unsubscribe(name: string, listener: (message: unknown) => void): void;
  tracingChannel(name: string): {
    subscribe(handlers: Record<string, (message: unknown) => void>): void;
    unsubscribe(handlers: Record<string, (message: unknown) => void>): void;
  };
}

// Subscribes to both channels the way an application would, with the
// runtime's own diagnostics_channel, and makes a miss and a hit.
async function channels(): Promise<string[] | undefined> {
  const process = (globalThis as {
    process?: { getBuiltinModule?: (id: string) => unknown };
  }).process;
  const dc = process?.getBuiltinModule?.("node:diagnostics_channel") as
    | Subscribable
    | undefined;
  if (dc === undefined) return undefined;
  const heard: string[] = [];
  const onEvent = (message: unknown) => {
    const event = message as { type: string; name: string };
    heard.push(`event ${event.type} ${event.name}`);
  };
  const traced = (phase: string) => (message: unknown) => {
    const context = message as { kind: string; key: unknown };
    heard.push(`${phase} ${context.kind} ${String(context.key)}`);
  };
  const handlers = {
    start: traced("start"),
    end: traced("end"),
    asyncStart: traced("asyncStart"),
    asyncEnd: traced("asyncEnd"),
    error: traced("error"),
  };
  const tracing = dc.tracingChannel("async-lru");
  dc.subscribe("async-lru:events", onEvent);
  tracing.subscribe(handlers);
  try {
    const cached = alruCache(async (n: number) => await Promise.resolve(n), {
      name: "traced",
    });
    await cached(1);
    await cached(1);
  } finally {
    dc.unsubscribe("async-lru:events", onEvent);
    tracing.unsubscribe(handlers);
  }
  return heard;
}

const checks = await smoke();
const heard = await channels();

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
  channels: heard,
};
console.log(JSON.stringify(report));
