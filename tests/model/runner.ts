/**
 * The runner of the model-based tests (tests/model_test.ts and
 * tests/model_stale_test.ts): random command sequences run against a
 * reference model and the real cache side by side, both under manual time,
 * and after each command every observable is compared. Each suite brings its
 * reference model, the real side that mirrors it, its own commands and its
 * comparison; the runner applies the commands every model takes (settling
 * work, time, invalidate, clear, close), runs the sequences and reports.
 *
 * Environment, read by every suite:
 *
 * - MODEL_RUNS=<n> (default 500) scales the number of sequences: each group
 *   runs a fixed multiple of it.
 * - MODEL_LENGTH=<n> sets the longest sequence (each suite has its default).
 * - MODEL_SEED=<seed> MODEL_PATH=<path>, with `--filter "<test name>"`,
 *   replay the counterexample fast-check printed.
 *
 * Each sequence ends with the suite's fixed epilogue, which settles all work,
 * lets everything expire and closes the cache.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { CacheClosedError, ManualClock } from "../../mod.ts";
import {
  envVar,
  flush,
  macrotask,
  recordUnhandledRejections,
  track,
  type Tracked,
} from "../_helpers.ts";
import type { Mode, Outcome } from "./reference.ts";

const SEED = envVar("MODEL_SEED");
const PATH = envVar("MODEL_PATH");
const LENGTH = envVar("MODEL_LENGTH");

/** MODEL_RUNS, 500 unless set: the unit of every group's number of sequences. */
export const RUNS = Number(envVar("MODEL_RUNS") ?? 500);

/** The longest sequence: MODEL_LENGTH if set, else the suite's `fallback`. */
export function maxLength(fallback: number): number {
  return LENGTH === undefined ? fallback : Number(LENGTH);
}

/**
 * What a work rejects with when the test fails it: its Error, or a reason
 * that is not an Error.
 */
export type ReasonKind = "error" | "undefined" | "string" | "frozen";

/** What the runner reads and drives of a reference model. */
export interface Model {
  readonly now: number;
  readonly works: readonly { id: number; fnSettled: boolean }[];
  readonly callers: readonly { outcome: Outcome; kind?: string }[];
  readonly closes: readonly { wait: boolean; done: boolean }[];
  settle(id: number, ok: boolean): void;
  advance(ms: number): void;
  invalidate(key: number): boolean;
  clear(): void;
  close(wait: boolean): number;
}

/** The commands every model takes. */
export type CommonCommand =
  | { t: "settle"; pick: number; ok: boolean; reason?: ReasonKind }
  | { t: "settleAll" }
  | { t: "advance"; ms: number }
  /** To one of the times at which the model changes next, plus delta. */
  | { t: "toDeadline"; pick: number; delta: number }
  | { t: "invalidate"; key: number; alt?: boolean }
  | { t: "clear" }
  | { t: "close"; wait: boolean };

const COMMON = new Set<string>([
  "settle",
  "settleAll",
  "advance",
  "toDeadline",
  "invalidate",
  "clear",
  "close",
]);

function isCommon(command: { t: string }): command is CommonCommand {
  return COMMON.has(command.t);
}

/** One run of `fn` on the real side. */
export interface RealWork {
  args: unknown[];
  signal: AbortSignal | undefined;
  value: { work: number };
  /** What it throws, rejects with, or will be rejected with. */
  error: unknown;
  resolve?: (value: unknown) => void;
  reject?: (reason: unknown) => void;
}

/** The real cache under test, as much as the runner calls of it. */
export interface RealCache {
  cacheInvalidate(...args: unknown[]): boolean;
  cacheClear(): void;
  cacheClose(options: { wait: boolean }): Promise<void>;
}

/** How an outcome or a value looks in a failure message. */
export function show(value: unknown): string {
  if (value instanceof Error || value instanceof DOMException) {
    return `${value.name}: ${value.message}`;
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * The real side of a suite: the cache, the function it wraps, and what the
 * test saw of both. Works and callers are numbered as the model numbers
 * them, so outcomes compare by identity.
 */
export abstract class RealSide {
  readonly clock = new ManualClock();
  readonly works: RealWork[] = [];
  readonly callers: Tracked<unknown>[] = [];
  readonly closes: Tracked<void>[] = [];
  /** Contract violations seen inside `fn` or the option functions. */
  readonly violations: string[] = [];
  /** The AbortError each work abandoned by close got, once seen. */
  readonly #abandonReasons = new Map<number, unknown>();
  #mode: Mode = "deferred";
  #expectedArgs: unknown[] | undefined;
  readonly #signal: boolean;
  abstract readonly cached: RealCache;

  /** `signal`: whether the cache passes `fn` the work's signal. */
  constructor(signal: boolean) {
    this.#signal = signal;
  }

  /** The real arguments of model key `key` (`alt`: another spelling of it). */
  abstract args(key: number, alt: boolean): unknown[];

  /** The abort reason of controller `controller`, for suites that abort. */
  abortReason(controller: number): unknown {
    throw new Error(`no controller ${controller} in this suite`);
  }

  /** The function the cache wraps: records each run and does as `mode` says. */
  protected readonly fn = (...args: unknown[]): unknown => {
    const id = this.works.length;
    let signal: AbortSignal | undefined;
    if (this.#signal) {
      const last = args.pop();
      if (!(last instanceof AbortSignal)) {
        this.violations.push(`work ${id}: fn's last argument is no signal`);
      } else signal = last;
    }
    const expected = this.#expectedArgs;
    if (
      expected === undefined || expected.length !== args.length ||
      !expected.every((arg, i) => Object.is(arg, args[i]))
    ) {
      this.violations.push(
        `work ${id}: fn got (${String(args)}) for (${String(expected)})`,
      );
    }
    const work: RealWork = {
      args,
      signal,
      value: { work: id },
      error: new Error(`work ${id} failed`),
    };
    this.works.push(work);
    switch (this.#mode) {
      case "throw":
        throw work.error;
      case "value":
        return work.value;
      case "rejected":
        return Promise.reject(work.error);
      case "deferred":
        return new Promise((resolve, reject) => {
          work.resolve = resolve;
          work.reject = reject;
        });
    }
  };

  /**
   * Makes a call of the cache for `args` (`call` does it), in which `fn`
   * behaves as `mode` says, and tracks its outcome as the next caller's.
   */
  protected callWith(
    args: unknown[],
    mode: Mode,
    call: () => Promise<unknown>,
  ): void {
    this.#mode = mode;
    this.#expectedArgs = args;
    try {
      this.callers.push(track(call()));
    } finally {
      this.#expectedArgs = undefined;
    }
  }

  /** Settles work `id`'s promise: with its value, or with a failure. */
  settle(id: number, ok: boolean, reason: ReasonKind = "error"): void {
    const work = this.works[id];
    if (ok) {
      work.resolve!(work.value);
      return;
    }
    switch (reason) {
      case "error":
        break;
      case "undefined":
        work.error = undefined;
        break;
      case "string":
        work.error = `work ${id} failed`;
        break;
      case "frozen":
        work.error = Object.freeze({ failedWork: id });
        break;
    }
    work.reject!(work.error);
  }

  /** Checks that `reason` is the one AbortError closing gave work `work`. */
  checkAbandonReason(work: number, reason: unknown, what: string): void {
    if (!(reason instanceof DOMException && reason.name === "AbortError")) {
      assert.fail(
        `${what}: expected the AbortError of closing, got ${show(reason)}`,
      );
    }
    const seen = this.#abandonReasons.get(work);
    if (seen === undefined) this.#abandonReasons.set(work, reason);
    else if (seen !== reason) {
      assert.fail(
        `${what}: not the same AbortError object as work ${work}'s other callers/signal`,
      );
    }
  }

  /**
   * Checks caller `index`'s outcome against the model's. It runs for every
   * caller after every command, so it builds no message unless it fails.
   */
  checkOutcome(expected: Outcome, index: number, kind?: string): void {
    const outcome = this.callers[index].outcome;
    const fail = (wanted: string): never => {
      const what = kind === "refresh" ? "cacheRefresh caller" : "caller";
      const result = outcome.state === "fulfilled"
        ? outcome.value
        : outcome.state === "rejected"
        ? outcome.reason
        : undefined;
      assert.fail(
        `${what} ${index}: expected ${wanted}, ${outcome.state} ${
          show(result)
        }`,
      );
    };
    switch (expected.kind) {
      case "pending":
        if (outcome.state !== "pending") fail("pending");
        return;
      case "value":
        if (
          outcome.state !== "fulfilled" ||
          outcome.value !== this.works[expected.work].value
        ) fail(`the value of work ${expected.work}`);
        return;
    }
    if (outcome.state !== "rejected") return fail(show(expected));
    switch (expected.kind) {
      case "error":
        if (!Object.is(outcome.reason, this.works[expected.work].error)) {
          fail(`the failure of work ${expected.work}`);
        }
        break;
      case "aborted":
        if (
          !Object.is(outcome.reason, this.abortReason(expected.controller))
        ) fail(`the abort reason of controller ${expected.controller}`);
        break;
      case "closed":
        if (!(outcome.reason instanceof CacheClosedError)) {
          fail("a CacheClosedError");
        }
        break;
      case "abandoned":
        this.checkAbandonReason(
          expected.work,
          outcome.reason,
          `caller ${index}`,
        );
        break;
    }
  }

  /**
   * Checks what every suite compares: no violation, as many runs of `fn`,
   * each caller's outcome, each close, and the time.
   */
  compareCommon(model: Model): void {
    assert.deepEqual(this.violations, [], "violations inside fn or options");
    assert.equal(this.works.length, model.works.length, "number of fn calls");
    model.callers.forEach((caller, i) => {
      this.checkOutcome(caller.outcome, i, caller.kind);
    });
    model.closes.forEach((close, i) => {
      const actual = this.closes[i].outcome;
      assert.ok(
        actual.state !== "rejected",
        `close ${i} rejected: ${show(actual)}`,
      );
      assert.equal(
        actual.state === "fulfilled",
        close.done,
        `close ${i} (wait: ${close.wait}) should be ${
          close.done ? "done" : "pending"
        }`,
      );
    });
    assert.equal(this.clock.now(), model.now, "clock");
  }
}

/** What a suite tells the runner. */
export interface Suite<
  M extends Model,
  R extends RealSide,
  C extends { t: string },
  Config,
> {
  start(config: Config): { model: M; real: R };
  /** Applies one of the suite's own commands (not a common one). */
  apply(model: M, real: R, command: C): void;
  /** Throws unless the real side agrees with the model. */
  compare(model: M, real: R): void;
  /** The times ahead at which the model changes, for `toDeadline`. */
  deadlines(model: M): number[];
  /** Run after every sequence. */
  epilogue: readonly (C | CommonCommand)[];
}

/** One group of sequences of a suite. */
export interface Group<C extends { t: string }, Config> {
  runs: number;
  config: fc.Arbitrary<Config>;
  commands: fc.Arbitrary<(C | CommonCommand)[]>;
  /**
   * After which commands (by index, cycling) the runner flushes and
   * compares; after every one by default. Without a flush, work the test
   * settled reaches its callers only at the next flush, and the model
   * settles it then.
   */
  flushes?: fc.Arbitrary<boolean[]>;
  /**
   * Waits a macrotask after each sequence, so that an unhandled rejection is
   * reported against (and shrunk with) the sequence that made it. Without
   * it, unhandled rejections are checked once, after the last sequence.
   */
  rejectionReportsPerSequence?: boolean;
}

class Run<
  M extends Model,
  R extends RealSide,
  C extends { t: string },
  Config,
> {
  readonly model: M;
  readonly real: R;
  /** Settlements the model applies at the next flush, in order. */
  #queued: { id: number; ok: boolean }[] = [];

  constructor(readonly suite: Suite<M, R, C, Config>, config: Config) {
    ({ model: this.model, real: this.real } = suite.start(config));
  }

  async flush(): Promise<void> {
    await flush();
    for (const { id, ok } of this.#queued.splice(0)) this.model.settle(id, ok);
  }

  /**
   * Applies `command`, then, if `compare`, flushes and compares. Returns a
   * promise only when it has to wait: without a flush the next command comes
   * in the same turn, before settled work has reached its callers.
   */
  step(command: C | CommonCommand, compare: boolean): Promise<void> | void {
    if (command.t === "settleAll") {
      return this.#settleAll().then(() => this.#checked(compare));
    }
    if (isCommon(command)) {
      this.#common(command as Exclude<CommonCommand, { t: "settleAll" }>);
    } else this.suite.apply(this.model, this.real, command as C);
    return this.#checked(compare);
  }

  #checked(compare: boolean): Promise<void> | void {
    // fn runs synchronously on a miss and on the start of a refresh.
    assert.equal(
      this.real.works.length,
      this.model.works.length,
      "fn calls, at once",
    );
    if (!compare) return;
    return this.flush().then(() => this.suite.compare(this.model, this.real));
  }

  /** Works neither settled by their mode nor by the test. */
  #open(): number[] {
    const queued = new Set(this.#queued.map(({ id }) => id));
    return this.model.works
      .filter((work) => !work.fnSettled && !queued.has(work.id))
      .map((work) => work.id);
  }

  async #settleAll(): Promise<void> {
    // Waiting takes turns in which settled work reaches its callers, so the
    // model hears of it first.
    await this.flush();
    for (const id of this.#open()) {
      this.real.settle(id, true);
      this.#queued.push({ id, ok: true });
      // One at a time, so that the model's order is the real order.
      await this.flush();
    }
  }

  #common(command: Exclude<CommonCommand, { t: "settleAll" }>): void {
    const { model, real } = this;
    switch (command.t) {
      case "settle": {
        const open = this.#open();
        if (open.length === 0) break;
        const id = open[command.pick % open.length];
        real.settle(id, command.ok, command.reason);
        this.#queued.push({ id, ok: command.ok });
        break;
      }
      case "advance":
        model.advance(command.ms);
        real.clock.advance(command.ms);
        break;
      case "toDeadline": {
        const deadlines = this.suite.deadlines(model);
        if (deadlines.length === 0) break;
        const deadline = deadlines[command.pick % deadlines.length];
        const ms = Math.max(0, deadline - model.now + command.delta);
        model.advance(ms);
        real.clock.advance(ms);
        break;
      }
      case "invalidate": {
        const args = real.args(command.key, command.alt ?? false);
        assert.equal(
          real.cached.cacheInvalidate(...args),
          model.invalidate(command.key),
          "cacheInvalidate() result",
        );
        break;
      }
      case "clear":
        model.clear();
        real.cached.cacheClear();
        break;
      case "close":
        model.close(command.wait);
        real.closes.push(track(real.cached.cacheClose({ wait: command.wait })));
        break;
    }
  }
}

async function runSequence<
  M extends Model,
  R extends RealSide,
  C extends { t: string },
  Config,
>(
  suite: Suite<M, R, C, Config>,
  config: Config,
  commands: (C | CommonCommand)[],
  flushes: boolean[],
): Promise<void> {
  const run = new Run(suite, config);
  const all = [...commands, ...suite.epilogue];
  for (let i = 0; i < all.length; i++) {
    try {
      const compare = i >= commands.length || i === commands.length - 1 ||
        flushes[i % flushes.length];
      const waiting = run.step(all[i], compare);
      if (waiting !== undefined) await waiting;
    } catch (error) {
      const where = i < commands.length
        ? `command ${i}`
        : `epilogue command ${i - commands.length}`;
      if (error instanceof Error) {
        error.message = `after ${where} ${show(all[i])}: ${error.message}`;
      }
      throw error;
    }
  }
}

/** Registers a test that runs `group`'s sequences of `suite`. */
export function modelTest<
  M extends Model,
  R extends RealSide,
  C extends { t: string },
  Config,
>(
  name: string,
  suite: Suite<M, R, C, Config>,
  group: Group<C, Config>,
): void {
  Deno.test(name, async () => {
    const unhandled = recordUnhandledRejections();
    try {
      const check = async (
        config: Config,
        commands: (C | CommonCommand)[],
        flushes: boolean[],
      ) => {
        await runSequence(suite, config, commands, flushes);
        if (group.rejectionReportsPerSequence) await macrotask();
        assert.deepEqual(unhandled.reasons, [], "unhandled rejections");
      };
      const parameters = {
        numRuns: group.runs,
        ...(SEED === undefined ? {} : { seed: Number(SEED) }),
        ...(PATH === undefined ? {} : { path: PATH }),
      };
      if (group.flushes === undefined) {
        await fc.assert(
          fc.asyncProperty(
            group.config,
            group.commands,
            (config, commands) => check(config, commands, [true]),
          ),
          parameters,
        );
      } else {
        await fc.assert(
          fc.asyncProperty(group.config, group.commands, group.flushes, check),
          parameters,
        );
      }
      await macrotask();
      assert.deepEqual(unhandled.reasons, [], "unhandled rejections");
    } finally {
      unhandled.stop();
    }
  });
}
