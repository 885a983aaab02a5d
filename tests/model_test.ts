/**
 * Model-based property tests: random command sequences run against the
 * reference model (tests/model/reference.ts) and the real cache side by side,
 * both under manual time, and every observable is compared after each
 * command.
 *
 * On failure fast-check prints the seed, the path and the shrunk
 * counterexample (the configuration and the command list). To replay one:
 *
 *   MODEL_SEED=<seed> MODEL_PATH=<path> deno test --allow-all \
 *     --filter "<test name>" tests/model_test.ts
 *
 * MODEL_RUNS=<n> (default 500) sets the number of sequences per
 * configuration group (16 groups: maxSize 0, 1, 3, Infinity times four time
 * modes); MODEL_LENGTH=<n> (default 60) the longest sequence. Each sequence
 * ends with a fixed epilogue that settles all work, lets everything expire
 * and closes the cache.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  alruCache,
  type AlruCacheOptions,
  CacheClosedError,
  type CachedFunction,
  ManualClock,
} from "../mod.ts";
import { flush } from "./_helpers.ts";
import {
  type Mode,
  type ModelConfig,
  type Outcome,
  ReferenceModel,
  type Shape,
  type SharedAbort,
} from "./model/reference.ts";

// ---------------------------------------------------------------------------
// Commands

type Command =
  | { t: "call"; key: number; mode: Mode; alt: boolean }
  | {
    t: "callSignal";
    key: number;
    mode: Mode;
    alt: boolean;
    /** null: a new controller; otherwise an existing one, by index (mod). */
    reuse: number | null;
  }
  /** idle: any live controller; otherwise one with a caller still waiting. */
  | { t: "abort"; pick: number; idle: boolean }
  | { t: "settle"; pick: number; ok: boolean }
  | { t: "settleAll" }
  | { t: "advance"; ms: number }
  | { t: "toDeadline"; pick: number; delta: number }
  | { t: "invalidate"; key: number; alt: boolean }
  | { t: "contains"; key: number; alt: boolean }
  | { t: "clear" }
  | { t: "close"; wait: boolean };

const KEYS = [0, 1, 2, 3, 4];

// Mostly the first three keys, so that hits and collisions are frequent.
const keyArb = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 2) },
  { weight: 1, arbitrary: fc.constantFrom(...KEYS) },
);
const modeArb: fc.Arbitrary<Mode> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<Mode>("deferred") },
  { weight: 1, arbitrary: fc.constant<Mode>("value") },
  { weight: 1, arbitrary: fc.constant<Mode>("rejected") },
  { weight: 1, arbitrary: fc.constant<Mode>("throw") },
);

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 24,
    arbitrary: fc.record({
      t: fc.constant("call" as const),
      key: keyArb,
      mode: modeArb,
      alt: fc.boolean(),
    }),
  },
  {
    weight: 20,
    arbitrary: fc.record({
      t: fc.constant("callSignal" as const),
      key: keyArb,
      mode: modeArb,
      alt: fc.boolean(),
      reuse: fc.option(fc.nat({ max: 7 }), { freq: 3 }),
    }),
  },
  {
    weight: 12,
    arbitrary: fc.record({
      t: fc.constant("abort" as const),
      pick: fc.nat({ max: 7 }),
      idle: fc.oneof(
        { weight: 3, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
    }),
  },
  {
    weight: 20,
    arbitrary: fc.record({
      t: fc.constant("settle" as const),
      pick: fc.nat({ max: 7 }),
      ok: fc.oneof(
        { weight: 3, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
    }),
  },
  {
    weight: 10,
    arbitrary: fc.record({
      t: fc.constant("advance" as const),
      ms: fc.oneof(
        fc.constantFrom(0, 1, 25, 49, 50, 99, 100, 101, 150, 199, 200, 300),
        fc.nat({ max: 400 }),
      ),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant("toDeadline" as const),
      pick: fc.nat({ max: 3 }),
      delta: fc.constantFrom(0, 0, -1, 1, -0.5),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("invalidate" as const),
      key: keyArb,
      alt: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("contains" as const),
      key: keyArb,
      alt: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ t: "clear" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("close" as const),
      wait: fc.boolean(),
    }),
  },
);

/** Run after every generated sequence: let everything finish, then close. */
const EPILOGUE: Command[] = [
  { t: "settleAll" },
  { t: "advance", ms: 10_000 },
  { t: "close", wait: true },
  { t: "call", key: 0, mode: "deferred", alt: false },
  { t: "close", wait: false },
];

// ---------------------------------------------------------------------------
// Configurations

type TimeMode = "none" | "ttl" | "ttl0" | "jitter";

const RANDOMS = [0, 0.9999999, 0.5, 0.25, 0.123456789];

function configArb(
  maxSize: number,
  timeMode: TimeMode,
): fc.Arbitrary<ModelConfig> {
  const time: fc.Arbitrary<{ ttl?: number; jitter?: number }> =
    timeMode === "none" ? fc.constant({}) : timeMode === "ttl"
      ? fc.record({
        ttl: fc.constantFrom(100, 100, 1, 250),
        jitter: fc.constantFrom(undefined, 0),
      }, { requiredKeys: ["ttl"] })
      : timeMode === "ttl0"
      ? fc.record({
        ttl: fc.constant(0),
        jitter: fc.constantFrom(undefined, 0, 50),
      }, { requiredKeys: ["ttl"] })
      : fc.record({
        ttl: fc.constantFrom(100, 100, 0, 30),
        jitter: fc.constantFrom(50, 200),
      });
  return fc.record({
    time,
    signal: fc.boolean(),
    shape: fc.constantFrom<Shape>("one", "one", "mixed", "keyOption", "exotic"),
    randoms: fc.array(
      fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...RANDOMS) },
        {
          weight: 1,
          arbitrary: fc.double({
            min: 0,
            max: 1,
            maxExcluded: true,
            noNaN: true,
          }),
        },
      ),
      { minLength: 1, maxLength: 4 },
    ),
  }).map(({ time, signal, shape, randoms }) => ({
    maxSize,
    ttl: time.ttl,
    jitter: time.jitter,
    signal,
    shape,
    randoms,
  }));
}

// ---------------------------------------------------------------------------
// The real side

const KEY_OBJECT = { key: "object" };

/** The real call arguments of model key `key`. */
function argsOf(shape: Shape, key: number, alt: boolean): unknown[] {
  switch (shape) {
    case "one":
      return [key];
    case "mixed":
      // [], [1], [2, 2], [3, 3, 3], [4, 4, 4, 4]
      return Array.from({ length: key }, () => key);
    case "keyOption":
      // The key option keeps only the first argument.
      return [key, alt ? "x" : "y"];
    case "exotic":
      return [
        [alt ? -0 : 0],
        [NaN],
        ["0"],
        [0n],
        [KEY_OBJECT],
      ][key];
  }
}

interface RealWork {
  args: unknown[];
  signal: AbortSignal | undefined;
  value: { work: number };
  error: Error;
  resolve?: (value: unknown) => void;
  reject?: (reason: unknown) => void;
}

interface RealCaller {
  state: "pending" | "fulfilled" | "rejected";
  result: unknown;
}

interface RealController {
  controller: AbortController;
  reason: { abortReason: number };
}

function track(promise: Promise<unknown>): RealCaller {
  const caller: RealCaller = { state: "pending", result: undefined };
  promise.then((value) => {
    caller.state = "fulfilled";
    caller.result = value;
  }, (reason) => {
    caller.state = "rejected";
    caller.result = reason;
  });
  return caller;
}

class RealSystem {
  readonly config: ModelConfig;
  readonly clock = new ManualClock();
  readonly cached: CachedFunction<unknown[], unknown>;
  draws = 0;
  works: RealWork[] = [];
  callers: RealCaller[] = [];
  controllers: RealController[] = [];
  closes: RealCaller[] = [];
  /** The AbortError each work abandoned by close got, once seen. */
  abandonReasons = new Map<number, unknown>();
  /** Contract violations seen inside fn or key. */
  violations: string[] = [];
  nextMode: Mode = "deferred";
  expectedArgs: unknown[] | undefined = undefined;

  constructor(config: ModelConfig) {
    this.config = config;
    const fn = (...args: unknown[]): unknown => {
      const id = this.works.length;
      let signal: AbortSignal | undefined;
      if (config.signal) {
        const last = args.pop();
        if (!(last instanceof AbortSignal)) {
          this.violations.push(`work ${id}: fn's last argument is no signal`);
        } else signal = last;
      }
      const expected = this.expectedArgs;
      if (
        expected === undefined || expected.length !== args.length ||
        !expected.every((arg, i) => Object.is(arg, args[i]))
      ) {
        this.violations.push(
          `work ${id}: fn got ${String(args)} for ${String(expected)}`,
        );
      }
      const work: RealWork = {
        args,
        signal,
        value: { work: id },
        error: new Error(`work ${id} failed`),
      };
      this.works.push(work);
      switch (this.nextMode) {
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
    const options: AlruCacheOptions<unknown[]> = {
      maxSize: config.maxSize,
      ttl: config.ttl,
      jitter: config.jitter,
      signal: config.signal,
      clock: this.clock,
      random: () => config.randoms[this.draws++ % config.randoms.length],
    };
    if (config.shape === "keyOption") {
      options.key = (...args: unknown[]) => {
        if (args.length !== 2) {
          this.violations.push(`key got ${args.length} arguments`);
        }
        return args[0];
      };
    }
    this.cached = alruCache<unknown[], unknown>(fn, options);
  }

  args(key: number, alt: boolean): unknown[] {
    return argsOf(this.config.shape, key, alt);
  }

  call(key: number, alt: boolean, mode: Mode, signal?: AbortSignal): void {
    const args = this.args(key, alt);
    this.nextMode = mode;
    this.expectedArgs = args;
    const promise = signal === undefined
      ? this.cached(...args)
      : this.cached.withSignal(signal, ...args);
    this.expectedArgs = undefined;
    this.callers.push(track(promise));
  }

  newController(): number {
    const index = this.controllers.length;
    this.controllers.push({
      controller: new AbortController(),
      reason: { abortReason: index },
    });
    return index;
  }
}

// ---------------------------------------------------------------------------
// Running and comparing

function show(value: unknown): string {
  if (value instanceof Error || value instanceof DOMException) {
    return `${value.name}: ${value.message}`;
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function checkAbandonReason(
  real: RealSystem,
  work: number,
  reason: unknown,
  what: string,
): void {
  assert.ok(
    reason instanceof DOMException && reason.name === "AbortError",
    `${what}: expected the AbortError of closing, got ${show(reason)}`,
  );
  const seen = real.abandonReasons.get(work);
  if (seen === undefined) real.abandonReasons.set(work, reason);
  else {
    assert.ok(
      seen === reason,
      `${what}: not the same AbortError object as work ${work}'s other callers/signal`,
    );
  }
}

function checkOutcome(
  real: RealSystem,
  expected: Outcome,
  actual: RealCaller,
  what: string,
): void {
  const got = `${actual.state} ${show(actual.result)}`;
  if (expected.kind === "pending") {
    assert.equal(actual.state, "pending", `${what}: expected pending, ${got}`);
    return;
  }
  if (expected.kind === "value") {
    assert.ok(
      actual.state === "fulfilled" &&
        actual.result === real.works[expected.work].value,
      `${what}: expected the value of work ${expected.work}, ${got}`,
    );
    return;
  }
  assert.equal(
    actual.state,
    "rejected",
    `${what}: expected ${show(expected)}, ${got}`,
  );
  switch (expected.kind) {
    case "error":
      assert.ok(
        actual.result === real.works[expected.work].error,
        `${what}: expected the error of work ${expected.work}, ${got}`,
      );
      break;
    case "aborted":
      assert.ok(
        actual.result === real.controllers[expected.controller].reason,
        `${what}: expected the abort reason of controller ${expected.controller}, ${got}`,
      );
      break;
    case "closed":
      assert.ok(
        actual.result instanceof CacheClosedError,
        `${what}: expected a CacheClosedError, ${got}`,
      );
      break;
    case "abandoned":
      checkAbandonReason(real, expected.work, actual.result, what);
      break;
  }
}

function checkShared(
  real: RealSystem,
  work: number,
  expected: SharedAbort | undefined,
): void {
  const signal = real.works[work].signal;
  const what = `shared signal of work ${work}`;
  if (!real.config.signal) {
    assert.equal(signal, undefined, `${what}: fn got a signal unasked`);
    return;
  }
  assert.ok(signal !== undefined, `${what}: missing`);
  assert.equal(
    signal.aborted,
    expected !== undefined,
    `${what}: aborted is ${signal.aborted}, expected ${show(expected)}`,
  );
  if (expected === undefined) return;
  if (expected.kind === "aborted") {
    assert.ok(
      signal.reason === real.controllers[expected.controller].reason,
      `${what}: reason ${
        show(signal.reason)
      }, expected controller ${expected.controller}'s`,
    );
  } else {
    checkAbandonReason(real, expected.work, signal.reason, what);
  }
}

function compare(model: ReferenceModel, real: RealSystem): void {
  assert.deepEqual(real.violations, [], "violations inside fn or key");
  assert.equal(real.works.length, model.works.length, "number of fn calls");
  const info = real.cached.cacheInfo();
  assert.deepEqual(info, {
    hits: model.hits,
    misses: model.misses,
    maxSize: model.config.maxSize,
    currSize: model.entries.length,
  }, "cacheInfo()");
  assert.ok(info.currSize <= info.maxSize, "currSize <= maxSize");
  assert.deepEqual(real.cached.cacheParameters(), {
    maxSize: model.config.maxSize,
    ttl: model.config.ttl,
    jitter: model.config.jitter,
    tasks: model.tasks,
    closed: model.closed,
  }, "cacheParameters()");
  for (const key of KEYS) {
    for (const alt of [false, true]) {
      assert.equal(
        real.cached.cacheContains(...real.args(key, alt)),
        model.contains(key),
        `cacheContains(key ${key}${alt ? ", alt" : ""})`,
      );
    }
  }
  model.callers.forEach((caller, i) => {
    checkOutcome(real, caller.outcome, real.callers[i], `caller ${i}`);
  });
  model.works.forEach((work) => checkShared(real, work.id, work.shared));
  model.closes.forEach((close, i) => {
    const actual = real.closes[i];
    assert.ok(
      actual.state !== "rejected",
      `close ${i} rejected: ${show(actual.result)}`,
    );
    assert.equal(
      actual.state === "fulfilled",
      close.done,
      `close ${i} (wait: ${close.wait}) should be ${
        close.done ? "done" : "pending"
      }`,
    );
  });
  assert.equal(real.draws, model.draws, "calls of random()");
  assert.equal(
    real.clock.pending,
    model.deadlines().length > 0 ? 1 : 0,
    "timers scheduled on the clock (one while anything waits to expire)",
  );
  assert.equal(real.clock.now(), model.now, "clock");
}

async function step(
  model: ReferenceModel,
  real: RealSystem,
  command: Command,
): Promise<void> {
  switch (command.t) {
    case "call": {
      model.call(command.key, command.mode);
      real.call(command.key, command.alt, command.mode);
      break;
    }
    case "callSignal": {
      let controller: number;
      if (command.reuse === null || model.controllers.length === 0) {
        controller = model.newController();
        assert.equal(real.newController(), controller);
      } else {
        controller = command.reuse % model.controllers.length;
      }
      model.call(command.key, command.mode, controller);
      real.call(
        command.key,
        command.alt,
        command.mode,
        real.controllers[controller].controller.signal,
      );
      break;
    }
    case "abort": {
      const waiting = new Set(
        model.callers
          .filter((caller) => caller.outcome.kind === "pending")
          .map((caller) => caller.controller),
      );
      const live = model.controllers
        .map((aborted, i) => aborted ? -1 : i)
        .filter((i) => i !== -1 && (command.idle || waiting.has(i)));
      if (live.length === 0) break;
      const controller = live[command.pick % live.length];
      model.abort(controller);
      const { controller: real_, reason } = real.controllers[controller];
      real_.abort(reason);
      break;
    }
    case "settle":
    case "settleAll": {
      const open = model.works.filter((work) => !work.fnSettled);
      const chosen = command.t === "settle"
        ? open.length === 0 ? [] : [open[command.pick % open.length]]
        : open;
      const ok = command.t === "settle" ? command.ok : true;
      for (const work of chosen) {
        model.settle(work.id, ok);
        const realWork = real.works[work.id];
        if (ok) realWork.resolve!(realWork.value);
        else realWork.reject!(realWork.error);
        // One at a time, so that the model's order is the real order.
        await flush();
      }
      break;
    }
    case "advance": {
      model.advance(command.ms);
      real.clock.advance(command.ms);
      break;
    }
    case "toDeadline": {
      const deadlines = model.deadlines();
      if (deadlines.length === 0) break;
      const deadline = deadlines[command.pick % deadlines.length];
      const ms = Math.max(0, deadline - model.now + command.delta);
      model.advance(ms);
      real.clock.advance(ms);
      break;
    }
    case "invalidate": {
      const expected = model.invalidate(command.key);
      assert.equal(
        real.cached.cacheInvalidate(...real.args(command.key, command.alt)),
        expected,
        "cacheInvalidate() result",
      );
      break;
    }
    case "contains": {
      assert.equal(
        real.cached.cacheContains(...real.args(command.key, command.alt)),
        model.contains(command.key),
        "cacheContains() result",
      );
      break;
    }
    case "clear": {
      model.clear();
      real.cached.cacheClear();
      break;
    }
    case "close": {
      model.close(command.wait);
      real.closes.push(track(real.cached.cacheClose({ wait: command.wait })));
      break;
    }
  }
  // fn runs synchronously on a miss.
  assert.equal(real.works.length, model.works.length, "fn calls, at once");
  await flush();
  compare(model, real);
}

async function runSequence(
  config: ModelConfig,
  commands: Command[],
): Promise<void> {
  const model = new ReferenceModel(config);
  const real = new RealSystem(config);
  const all = [...commands, ...EPILOGUE];
  for (let i = 0; i < all.length; i++) {
    try {
      await step(model, real, all[i]);
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

// ---------------------------------------------------------------------------
// The tests

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env
  }
}

const SEED = env("MODEL_SEED");
const PATH = env("MODEL_PATH");
const RUNS = Number(env("MODEL_RUNS") ?? 500);
const MAX_LENGTH = Number(env("MODEL_LENGTH") ?? 60);

const commandsArb = fc.array(commandArb, {
  maxLength: MAX_LENGTH,
  size: "max",
});

for (const maxSize of [0, 1, 3, Infinity]) {
  for (const timeMode of ["none", "ttl", "ttl0", "jitter"] as const) {
    Deno.test(`model: maxSize ${maxSize}, time ${timeMode}`, async () => {
      await fc.assert(
        fc.asyncProperty(
          configArb(maxSize, timeMode),
          commandsArb,
          runSequence,
        ),
        {
          numRuns: RUNS,
          ...(SEED === undefined ? {} : { seed: Number(SEED) }),
          ...(PATH === undefined ? {} : { path: PATH }),
        },
      );
    });
  }
}
