/**
 * The runtime's `diagnostics_channel`, where it has one: the channel every
 * event of every cache is published on, and the tracing channel each run of
 * a cached function is traced on. Reached without a static import of any
 * `node:` module, so that a browser bundle needs nothing in its place:
 * through `process.getBuiltinModule` where it exists, else through a dynamic
 * `import()` started as this module loads. Until then, and where neither
 * works, the channels are absent and nothing is published.
 *
 * @module
 */

/** The part of a `diagnostics_channel` channel a cache uses. */
export interface Channel {
  /** Whether anyone listens: a cache makes nothing for a channel nobody hears. */
  readonly hasSubscribers: boolean;
  /** Tells every subscriber of `message`. */
  publish(message: unknown): void;
  /** Publishes `message` and runs `fn` with the stores bound to the channel in effect. */
  runStores?<T>(message: unknown, fn: () => T): T;
}

/** The part of a `diagnostics_channel` tracing channel a cache uses. */
export interface TracingChannel {
  readonly hasSubscribers: boolean;
  readonly start: Channel;
  readonly end: Channel;
  readonly asyncStart: Channel;
  readonly asyncEnd: Channel;
  readonly error: Channel;
}

/** The name of the channel every cache's events are published on. */
export const EVENTS_CHANNEL = "async-lru:events";
/** The name of the tracing channel every run of a cached function is traced on. */
export const TRACING_CHANNEL = "async-lru";

interface DiagnosticsChannel {
  channel(name: string): Channel;
  tracingChannel(name: string): TracingChannel;
}

/** The events channel, once the runtime has given it. */
export let eventsChannel: Channel | undefined;
// The tracing channel, once the runtime has given it.
let tracingChannel: TracingChannel | undefined;

/**
 * Whether anyone hears the events channel now: one check of its
 * `hasSubscribers`, and none where there is no channel.
 *
 * @example
 * ```ts
 * import { eventsHeard } from "./channels.ts";
 * import dc from "node:diagnostics_channel";
 * import assert from "node:assert/strict";
 *
 * const listener = () => {};
 * dc.subscribe("async-lru:events", listener);
 * assert.equal(eventsHeard(), true);
 * dc.unsubscribe("async-lru:events", listener);
 * ```
 */
export function eventsHeard(): boolean {
  return eventsChannel !== undefined && eventsChannel.hasSubscribers;
}

/**
 * Whether anyone hears the tracing channel now.
 *
 * @example
 * ```ts
 * import { tracingHeard } from "./channels.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(typeof tracingHeard(), "boolean");
 * ```
 */
export function tracingHeard(): boolean {
  return tracingChannel !== undefined && tracingChannel.hasSubscribers;
}

function use(module: unknown): void {
  const dc = ((module as { default?: unknown }).default ?? module) as Partial<
    DiagnosticsChannel
  >;
  if (
    typeof dc.channel !== "function" || typeof dc.tracingChannel !== "function"
  ) return;
  eventsChannel = dc.channel(EVENTS_CHANNEL);
  const tracing = dc.tracingChannel(TRACING_CHANNEL);
  tracingChannel = typeof tracing.hasSubscribers === "boolean"
    ? tracing
    : heardThroughParts(tracing);
}

// A tracing channel without hasSubscribers of its own (Bun's, and Node's
// before 22) is heard when any of its channels is.
function heardThroughParts(tracing: TracingChannel): TracingChannel {
  const { start, end, asyncStart, asyncEnd, error } = tracing;
  return {
    get hasSubscribers() {
      return start.hasSubscribers || end.hasSubscribers ||
        asyncStart.hasSubscribers || asyncEnd.hasSubscribers ||
        error.hasSubscribers;
    },
    start,
    end,
    asyncStart,
    asyncEnd,
    error,
  };
}

function load(): void {
  const getBuiltinModule = (globalThis as {
    process?: { getBuiltinModule?: (id: string) => unknown };
  }).process?.getBuiltinModule;
  // Kept out of a literal, so that a bundler for the browser leaves it be.
  const specifier = ["node", "diagnostics_channel"].join(":");
  if (typeof getBuiltinModule === "function") {
    try {
      const module = getBuiltinModule(specifier);
      if (module !== undefined) {
        use(module);
        return;
      }
    } catch {
      // Not this runtime's module: try the import.
    }
  }
  // A browser has no such module, and would log the failed request.
  if (!serverRuntime()) return;
  try {
    import(specifier).then(use, () => {});
  } catch {
    // No dynamic import here: no channels.
  }
}

function serverRuntime(): boolean {
  const global = globalThis as {
    Deno?: unknown;
    Bun?: unknown;
    process?: { versions?: { node?: unknown } };
  };
  return global.Deno !== undefined || global.Bun !== undefined ||
    global.process?.versions?.node !== undefined;
}

load();

/** What the tracing channel is told of one run of a cached function. */
export interface TraceContext {
  /** The cache's name. */
  name: string;
  /** The key, as events show it. */
  key: unknown;
  /** The caller's arguments, without the work's signal. */
  args: unknown[];
  /** `"miss"`, or `"refresh"` for a background refresh and `cacheRefresh`. */
  kind: "miss" | "refresh";
  /** The value the run resolved with. */
  result?: unknown;
  /** What the run threw or rejected with. */
  error?: unknown;
}

/**
 * Runs `call`, the synchronous part of a run, between the tracing channel's
 * `start` (with the stores bound to it in effect) and `end`, with `error`
 * between them if it throws, as `TracingChannel#tracePromise` does.
 *
 * @example
 * ```ts
 * import { traceCall } from "./channels.ts";
 * import assert from "node:assert/strict";
 *
 * const context = { name: "f", key: 1, args: [1], kind: "miss" as const };
 * assert.equal(traceCall(context, () => 2), 2);
 * ```
 */
export function traceCall<T>(context: TraceContext, call: () => T): T {
  const channel = tracingChannel;
  if (channel === undefined) return call();
  const run = (): T => {
    try {
      return call();
    } catch (error) {
      context.error = error;
      channel.error.publish(context);
      throw error;
    } finally {
      channel.end.publish(context);
    }
  };
  const start = channel.start;
  if (typeof start.runStores === "function") {
    return start.runStores(context, run);
  }
  start.publish(context);
  return run();
}

/**
 * `result`, the work a traced run started, as a promise that tells the
 * tracing channel of its settlement (`error` on a failure, then
 * `asyncStart` and `asyncEnd`) before anyone it settles hears of it.
 * Reading a thenable's `then` runs its code: call it where the cache may
 * run user code.
 *
 * @example
 * ```ts
 * import { type TraceContext, traceSettlement } from "./channels.ts";
 * import assert from "node:assert/strict";
 *
 * const context: TraceContext = { name: "f", key: 1, args: [1], kind: "miss" };
 * assert.equal(await traceSettlement(Promise.resolve(2), context), 2);
 * assert.equal(context.result, 2);
 * ```
 */
export function traceSettlement(
  result: unknown,
  context: TraceContext,
): Promise<unknown> {
  return Promise.resolve(result).then((value) => {
    context.result = value;
    settled(context);
    return value;
  }, (error) => {
    context.error = error;
    tracingChannel?.error.publish(context);
    settled(context);
    throw error;
  });
}

function settled(context: TraceContext): void {
  const channel = tracingChannel;
  if (channel === undefined) return;
  channel.asyncStart.publish(context);
  channel.asyncEnd.publish(context);
}
