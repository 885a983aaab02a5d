/**
 * The runs of a cache's function as loads: each call of the function is
 * counted, timed on the cache's clock from just before the call to the
 * arrival of its outcome, and, when anyone listens on the tracing channel,
 * traced. A clock that fails loses a run its time, never the run.
 *
 * @module
 */

import {
  traceCall,
  type TraceContext,
  traceSettlement,
  tracingHeard,
} from "./channels.ts";
import type { Clock } from "./clock.ts";
import { ABSENT } from "./keying.ts";
import type { Counters } from "./stats.ts";
import type { UserCode } from "./user_code.ts";

/** The first `arity` (0 to 2) of `first` and `second`, as a new list. */
export function listOf(
  arity: number,
  first: unknown,
  second: unknown,
): unknown[] {
  return arity === 1 ? [first] : arity === 0 ? [] : [first, second];
}

/** What a run is traced as: a miss's, or a refresh's. */
export type LoadKind = "miss" | "refresh";

/** How a cache's loads are counted and traced. */
export interface LoadSettings {
  /** The cache's name, for traces. */
  name: string;
  /** The clock in effect. */
  clock: () => Clock;
  /** A key as events show it, from the key found for `args` (perhaps none). */
  shown: (found: unknown, args: ArrayLike<unknown>) => unknown;
}

/** Calls a cache's function, counting, timing and tracing each call. */
export class Loads {
  /**
   * When the call that last returned started, on the cache's clock (`NaN`
   * if the clock failed); `undefined` after a throw, which is counted
   * already. Read right after a call, before any other user code runs.
   */
  startedAt: number | undefined = undefined;
  /** The trace of the call that last returned, if it was traced. */
  trace: TraceContext | undefined = undefined;
  readonly #user: UserCode;
  readonly #counters: Counters;
  readonly #settings: LoadSettings;

  constructor(user: UserCode, counters: Counters, settings: LoadSettings) {
    this.#user = user;
    this.#counters = counters;
    this.#settings = settings;
  }

  /**
   * Runs the function on `args` (see {@linkcode UserCode.run}) for the key
   * found, `found`, as a load of `kind`.
   */
  run(
    thisArg: unknown,
    args: ArrayLike<unknown>,
    controller: AbortController | undefined,
    found: unknown,
    kind: LoadKind,
  ): unknown {
    const start = this.#begin();
    let result: unknown;
    let trace: TraceContext | undefined;
    try {
      if (tracingHeard()) {
        trace = this.#context(found, args, kind);
        result = traceCall(
          trace,
          () => this.#user.run(thisArg, args, controller),
        );
      } else {
        result = this.#user.run(thisArg, args, controller);
      }
    } catch (error) {
      this.#thrown(start);
      throw error;
    }
    this.startedAt = start;
    this.trace = trace;
    return result;
  }

  /** {@linkcode run} for a miss's `arity` arguments, at most two, given one by one. */
  runShort(
    thisArg: unknown,
    arity: number,
    first: unknown,
    second: unknown,
    controller: AbortController | undefined,
  ): unknown {
    if (tracingHeard()) {
      const args = listOf(arity, first, second);
      // Argument keys: one argument is its own key; a list shows as itself.
      const found = arity === 1 ? first : ABSENT;
      return this.run(thisArg, args, controller, found, "miss");
    }
    const start = this.#begin();
    let result: unknown;
    try {
      result = this.#user.runShort(thisArg, arity, first, second, controller);
    } catch (error) {
      this.#thrown(start);
      throw error;
    }
    this.startedAt = start;
    this.trace = undefined;
    return result;
  }

  /**
   * {@linkcode run} for a miss whose work is not the cache's to watch (the
   * shared tier's): the result it returns tells of its own settlement.
   */
  runDetached(
    thisArg: unknown,
    args: ArrayLike<unknown>,
    controller: AbortController | undefined,
    found: unknown,
  ): Promise<unknown> {
    const result = this.run(thisArg, args, controller, found, "miss");
    const start = this.startedAt;
    const trace = this.trace;
    const outcome = trace === undefined
      ? Promise.resolve(result)
      : traceSettlement(result, trace);
    return outcome.then((value) => {
      this.finish(start, false);
      return value;
    }, (error) => {
      this.finish(start, true);
      throw error;
    });
  }

  /**
   * The outcome of a run that started at `startedAt` (as
   * {@linkcode startedAt} said) arrived: counts its time, and its failure.
   */
  finish(startedAt: number | undefined, failed: boolean): void {
    if (startedAt === undefined) return;
    if (failed) this.#counters.loadFailures++;
    if (startedAt !== startedAt) return;
    const now = this.#now();
    if (now === now) this.#counters.loadTime += now - startedAt;
  }

  #begin(): number {
    this.#counters.loads++;
    return this.#now();
  }

  #thrown(start: number): void {
    this.startedAt = undefined;
    this.trace = undefined;
    this.#counters.loadFailures++;
    const now = start === start ? this.#now() : NaN;
    if (now === now) this.#counters.loadTime += now - start;
  }

  #now(): number {
    return this.#user.timeOf(this.#settings.clock);
  }

  #context(
    found: unknown,
    args: ArrayLike<unknown>,
    kind: LoadKind,
  ): TraceContext {
    return {
      name: this.#settings.name,
      key: this.#settings.shown(found, args),
      args: Array.from(args),
      kind,
    };
  }
}
