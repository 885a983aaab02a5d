/**
 * Where a cache gets its time and its timers: the {@linkcode Clock} seam, the
 * runtime's clock, and {@linkcode ManualClock} for deterministic tests.
 *
 * @module
 */

/**
 * The source of time and timers for a cache, shaped like the web timer API so
 * that a plain object can implement it.
 *
 * @example A clock that logs what it schedules
 * ```ts
 * import type { Clock } from "./clock.ts";
 *
 * const logging: Clock = {
 *   now: () => performance.now(),
 *   setTimeout(callback, delay) {
 *     console.log(`timer in ${delay} ms`);
 *     return setTimeout(callback, delay);
 *   },
 *   clearTimeout: (handle) => clearTimeout(handle as number),
 * };
 * ```
 */
export interface Clock {
  /** The current time in milliseconds. Only differences between readings matter. */
  now(): number;
  /** Runs `callback` once, `delay` milliseconds from now; returns a handle for `clearTimeout`. */
  setTimeout(callback: () => void, delay: number): unknown;
  /** Cancels a callback scheduled with `setTimeout`; an unknown or spent handle is ignored. */
  clearTimeout(handle: unknown): void;
}

type HostSetTimeout = (callback: () => void, delay: number) => unknown;
type HostClearTimeout = (handle: unknown) => void;

// Captured once, so that unref is only applied to timers that really come
// from the runtime and never to a fake timer's numeric id.
const runtimeSetTimeout = globalThis.setTimeout as unknown;

// Node, Bun and recent Deno releases return a timer object with unref();
// earlier Deno 2 releases return a numeric id, which Deno.unrefTimer takes.
function unrefTimer(handle: unknown, setTimeoutFn: unknown): void {
  if (typeof handle === "object" && handle !== null) {
    const unref = (handle as { unref?: unknown }).unref;
    if (typeof unref === "function") unref.call(handle);
    return;
  }
  if (typeof handle !== "number" || setTimeoutFn !== runtimeSetTimeout) return;
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } })
    .Deno;
  deno?.unrefTimer?.(handle);
}

function hostNow(): number {
  return typeof performance === "object" && performance !== null
    ? performance.now()
    : Date.now();
}

/**
 * The runtime's timers, as they were when the clock was made. Timers are
 * unref'd so that a cache never keeps a process alive.
 */
export class SystemClock implements Clock {
  readonly #setTimeout: HostSetTimeout;
  readonly #clearTimeout: HostClearTimeout;

  constructor() {
    this.#setTimeout = globalThis.setTimeout as unknown as HostSetTimeout;
    this.#clearTimeout = globalThis.clearTimeout as unknown as HostClearTimeout;
  }

  now(): number {
    return hostNow();
  }

  setTimeout(callback: () => void, delay: number): unknown {
    const handle = this.#setTimeout.call(globalThis, callback, delay);
    unrefTimer(handle, this.#setTimeout);
    return handle;
  }

  clearTimeout(handle: unknown): void {
    this.#clearTimeout.call(globalThis, handle);
  }
}

interface ManualTimer {
  readonly id: number;
  readonly deadline: number;
  readonly callback: () => void;
}

/**
 * A clock that moves only when told to, for deterministic tests of expiry.
 *
 * @example Expiry without waiting
 * ```ts
 * import { alruCache, ManualClock } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const double = alruCache(async (n: number) => n * 2, { ttl: 1_000, clock });
 * await double(21);
 * clock.advance(999);
 * assert.equal(double.cacheContains(21), true);
 * clock.advance(1);
 * assert.equal(double.cacheContains(21), false);
 * assert.equal(clock.pending, 0);
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  // Kept sorted by deadline, then by scheduling order.
  #timers: ManualTimer[] = [];

  /** Starts the clock at `start` milliseconds. */
  constructor(start = 0) {
    if (!Number.isFinite(start)) {
      throw new RangeError(
        `ManualClock start must be a finite number; received ${start}`,
      );
    }
    this.#now = start;
  }

  /** The current time in milliseconds. */
  now(): number {
    return this.#now;
  }

  /** How many callbacks are scheduled and not yet run or cancelled. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Schedules `callback` at `now() + delay`; a negative or `NaN` delay means now. */
  setTimeout(callback: () => void, delay: number): number {
    const timer: ManualTimer = {
      id: this.#nextId++,
      deadline: this.#now + (delay > 0 ? delay : 0),
      callback,
    };
    let index = this.#timers.length;
    while (index > 0 && this.#timers[index - 1].deadline > timer.deadline) {
      index--;
    }
    this.#timers.splice(index, 0, timer);
    return timer.id;
  }

  /** Cancels a scheduled callback; an unknown or spent handle is ignored. */
  clearTimeout(handle: unknown): void {
    const index = this.#timers.findIndex((timer) => timer.id === handle);
    if (index !== -1) this.#timers.splice(index, 1);
  }

  /**
   * Moves time forward by `ms`, running each callback that falls due at its own
   * deadline, in deadline order, before returning. Callbacks scheduled while
   * advancing run too if they fall within the window. `advance(0)` runs what
   * is due now.
   */
  advance(ms: number): void {
    if (!(ms >= 0) || ms === Infinity) {
      throw new RangeError(
        `ManualClock advance(ms) needs a finite, non-negative number; received ${ms}`,
      );
    }
    const target = this.#now + ms;
    while (this.#timers.length > 0 && this.#timers[0].deadline <= target) {
      const timer = this.#timers.shift()!;
      this.#now = timer.deadline;
      timer.callback();
    }
    this.#now = target;
  }
}
