/**
 * Where a cache gets its time and its timers: the {@linkcode Clock} seam, the
 * runtime's clock, and {@linkcode ManualClock} for deterministic tests.
 *
 * @module
 */

import { describe } from "./errors.ts";

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

// Hosts clamp delays above 2^31 - 1 ms (about 24.8 days) to about 1 ms.
const HOST_LONGEST_DELAY = 2_147_483_647;

type HostSetTimeout = (callback: () => void, delay: number) => unknown;
type HostClearTimeout = (handle: unknown) => void;

// Captured once, so that unref is only applied to timers that really come
// from the runtime and never to a fake timer's numeric id, and so that fake
// timers installed later cannot hold back ManualClock.advanceAsync.
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

// By the time a macrotask runs, every promise reaction queued before it has
// run, and so has every reaction those queued in turn.
function reactionsSettled(): Promise<void> {
  return new Promise((resolve) =>
    (runtimeSetTimeout as HostSetTimeout).call(globalThis, resolve, 0)
  );
}

interface ManualTimer {
  readonly id: number;
  readonly deadline: number;
  readonly callback: () => void;
}

/**
 * A clock that moves only when told to, for deterministic tests of expiry.
 * {@linkcode ManualClock.advance} runs the due callbacks at once;
 * {@linkcode ManualClock.advanceAsync} also lets promise reactions run after
 * each, for work under test that awaits this clock's timers.
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
  // The advance under way, if any. Another advance inside advanceAsync, or
  // an advanceAsync begun inside advance, would move now() under the running
  // one's feet.
  #advancing: "advance" | "advanceAsync" | undefined;

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

  /**
   * Schedules `callback` at `now() + delay`; a negative or `NaN` delay means
   * now, and an infinite one never comes due.
   */
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
   *
   * No promise reaction runs until it returns, so work that awaits this
   * clock's timers is seen to settle at the end of the window; see
   * {@linkcode ManualClock.advanceAsync} for the time it really settles.
   *
   * @throws {TypeError} If `ms` is not a number.
   * @throws {RangeError} If `ms` is negative, `NaN` or infinite, or would move
   * `now()` past the largest finite number; time and timers are left as
   * they were.
   * @throws {Error} If an `advanceAsync` is running; nothing changes.
   */
  advance(ms: number): void {
    const target = this.#targetOf("advance", ms);
    if (this.#advancing === "advanceAsync") throw this.#busy("advance", ms);
    // advance from a callback of advance works as it always has.
    const outer = this.#advancing;
    this.#advancing = "advance";
    try {
      while (this.#runNextDue(target));
      this.#now = target;
    } finally {
      this.#advancing = outer;
    }
  }

  /**
   * Moves time forward by `ms` like {@linkcode ManualClock.advance}, but lets
   * promise reactions run after each callback, before looking for the next
   * one due, so that work awaiting this clock's timers settles at the time it
   * would: a wrapped function that sleeps 5 ms on the clock settles at 5, and
   * its ttl counts from there.
   *
   * In turn: pending reactions settle; then, while a callback is due by the
   * target (`now() + ms` at the call), `now()` becomes the earliest one's
   * deadline, it runs and reactions settle again, so timers that reactions
   * schedule within the window run too, each at its own deadline; last,
   * `now()` becomes the target. Reactions settle by waiting one macrotask on the runtime's
   * own `setTimeout`, as it was when this module loaded, so each callback run
   * costs a millisecond or two of real time, and fake timers installed on the
   * global do not hold it back. Every such macrotask has completed when the
   * returned promise settles.
   *
   * One advance at a time: while it runs, `advance` throws and
   * `advanceAsync` rejects, each with an `Error` and changing nothing, and it
   * rejects likewise when called from a callback that `advance` is running.
   * If a callback throws, the promise rejects with its error and `now()` is
   * left at that callback's deadline, as with `advance`.
   *
   * @example Expiry counted from the time the work really settles
   * ```ts
   * import { alruCache, ManualClock } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * function makeLoader(clock: ManualClock) {
   *   const sleep = (ms: number) =>
   *     new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
   *   return alruCache(async (id: number) => {
   *     await sleep(5); // the work settles at t=5...
   *     return id;
   *   }, { ttl: 3, clock }); // ...so its entry expires at t=8
   * }
   *
   * const clock = new ManualClock();
   * const load = makeLoader(clock);
   * const call = load(1);
   * await clock.advanceAsync(50);
   * assert.equal(await call, 1);
   * assert.equal(load.cacheContains(1), false); // expired at t=8
   *
   * // advance runs the sleep's timer, but the cache hears of the settlement
   * // only after advance has returned, at t=50: the entry lives until t=53.
   * const other = new ManualClock();
   * const late = makeLoader(other);
   * const lateCall = late(1);
   * other.advance(50);
   * assert.equal(await lateCall, 1);
   * assert.equal(late.cacheContains(1), true);
   * ```
   *
   * @param ms How far to move time, in milliseconds.
   * @returns A promise that resolves once time is `now() + ms` and the
   * callbacks due by then have run.
   * @throws {TypeError} (as a rejection) If `ms` is not a number.
   * @throws {RangeError} (as a rejection) If `ms` is negative, `NaN` or
   * infinite, or would move `now()` past the largest finite number; nothing
   * changes.
   * @throws {Error} (as a rejection) If an `advance` or `advanceAsync` is
   * running; nothing changes.
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.#targetOf("advanceAsync", ms);
    if (this.#advancing !== undefined) throw this.#busy("advanceAsync", ms);
    this.#advancing = "advanceAsync";
    try {
      await reactionsSettled();
      while (this.#runNextDue(target)) await reactionsSettled();
      this.#now = target;
    } finally {
      this.#advancing = undefined;
    }
  }

  // Runs the earliest callback due by `target`, at its deadline; false if
  // none is due.
  #runNextDue(target: number): boolean {
    const timer = this.#timers[0];
    if (timer === undefined || timer.deadline > target) return false;
    this.#timers.shift();
    this.#now = timer.deadline;
    timer.callback();
    return true;
  }

  #busy(method: string, ms: number): Error {
    const running = this.#advancing;
    return new Error(
      `ManualClock ${method}(${ms}) was called while ${running} is running; ${
        running === "advanceAsync"
          ? "await it first"
          : "call it once advance has returned"
      }`,
    );
  }

  // Checked before anything moves, so that a bad step changes nothing.
  #targetOf(method: string, ms: number): number {
    if (typeof ms !== "number") {
      throw new TypeError(
        `ManualClock ${method}(ms) needs a number; received ${describe(ms)}`,
      );
    }
    if (!(ms >= 0) || ms === Infinity) {
      throw new RangeError(
        `ManualClock ${method}(ms) needs a finite, non-negative number; received ${ms}`,
      );
    }
    const target = this.#now + ms;
    // Once now() is Infinity, every deadline after it is Infinity too: their
    // delays no longer order the timers, and time can never move again.
    if (!Number.isFinite(target)) {
      throw new RangeError(
        `ManualClock ${method}(${ms}) at ${this.#now} would move time past the largest finite number; time is unchanged`,
      );
    }
    return target;
  }
}

/**
 * The longest delay, in milliseconds, that `clock.setTimeout` is sure to wait
 * as asked; a longer wait must be served by a chain of shorter timers.
 *
 * A {@linkcode ManualClock} waits any finite delay, so one timer serves any
 * wait on it, and advancing it far never runs a chain of steps. Its limit is
 * the largest finite number rather than `Infinity`, since an infinite delay
 * never comes due: a wait longer still, possible from a negative `now()`,
 * takes two timers. Any other clock, the system clock and clocks given as an
 * option alike, may pass its delays to the host, which clamps those past
 * 2^31 - 1 ms to about 1 ms. Callers read it once per clock, not per timer.
 */
export function longestDelay(clock: Clock): number {
  return clock instanceof ManualClock ? Number.MAX_VALUE : HOST_LONGEST_DELAY;
}

type NextTick = (callback: () => void) => void;

// Looked up at the first batch, not when this module loads: a process that
// batches nothing never touches `process`, which may load a runtime's Node
// layer. Then kept, as the timers above are, so that a test that fakes the
// runtime's timers leaves it alone.
let nextTick: NextTick | null | undefined;

function nextTickOf(): NextTick | null {
  const found = (globalThis as { process?: { nextTick?: unknown } }).process
    ?.nextTick;
  return typeof found === "function" ? found as NextTick : null;
}

/**
 * Runs `callback` once the microtask queue of the current macrotask has run
 * dry, and before the runtime runs a timer or I/O callback of a later one,
 * as closely as the runtime lets code tell. See docs/design.md, "When a batch
 * is sent", for why it is a tick, a microtask and a tick.
 *
 * Node, Bun and Deno run the tick queue and the microtask queue in turn
 * until both are empty, before the next macrotask: a tick queued from the
 * last microtask runs after every microtask. The first tick and the
 * microtask move the last tick behind every microtask queued before and
 * after, whether the runtime drains ticks before microtasks (Node, and Deno
 * in a timer's callback) or after them (Deno after an I/O callback). Without
 * ticks (a browser), it is a macrotask of the runtime's own timers.
 */
export function afterTurn(callback: () => void): void {
  const tick = nextTick ??= nextTickOf();
  if (tick === null) {
    (runtimeSetTimeout as HostSetTimeout).call(globalThis, callback, 0);
    return;
  }
  tick(() => queueMicrotask(() => tick(callback)));
}
