/**
 * Model-based property tests of the core contract: random command sequences
 * run against the reference model of tests/model/reference.ts and the real
 * cache side by side by the runner of tests/model/runner.ts, which says how
 * to replay a failure and which environment variables scale the runs.
 *
 * Sixteen groups of MODEL_RUNS sequences (500 by default): maxSize 0, 1, 3
 * and Infinity times four time modes. One more group of half as many has
 * callers abort at random moments while work settles in the same turn, its
 * callers hearing of it only at the next flush, and work failing with
 * reasons that are not Errors. After each command the runner compares every
 * caller's outcome, the counters and parameters, every key's
 * cacheContains, every shared signal, the listeners left on callers'
 * signals, the calls of random and the pending timers.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  alruCache,
  type AlruCacheOptions,
  type CachedFunction,
} from "../mod.ts";
import { type ListenerCount, watchListeners } from "./_helpers.ts";
import {
  type Mode,
  type ModelConfig,
  ReferenceModel,
  type Shape,
  type SharedAbort,
} from "./model/reference.ts";
import {
  type CommonCommand,
  maxLength,
  modelTest,
  RealSide,
  type ReasonKind,
  RUNS,
  show,
  type Suite,
} from "./model/runner.ts";

// ---------------------------------------------------------------------------
// Commands

/** The core model's own commands; the runner's common ones come too. */
type OwnCommand =
  | { t: "call"; key: number; mode: Mode; alt: boolean }
  | {
    t: "callSignal";
    key: number;
    mode: Mode;
    alt: boolean;
    /**
     * null: a new controller; "aborted": a new controller, aborted before
     * the call; otherwise an existing one, by index (mod).
     */
    reuse: number | null | "aborted";
  }
  /**
   * idle: any live controller; otherwise one with a caller still waiting.
   * Without a reason, the signal's reason is the AbortError it makes.
   */
  | { t: "abort"; pick: number; idle: boolean; withReason: boolean }
  | { t: "contains"; key: number; alt: boolean };

type Command = OwnCommand | CommonCommand;

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
      withReason: fc.boolean(),
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

interface RealController {
  controller: AbortController;
  listeners: ListenerCount;
}

class CoreReal extends RealSide {
  readonly config: ModelConfig;
  readonly cached: CachedFunction<unknown[], unknown>;
  draws = 0;
  readonly controllers: RealController[] = [];

  constructor(config: ModelConfig) {
    super(config.signal);
    this.config = config;
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
    this.cached = alruCache<unknown[], unknown>(this.fn, options);
  }

  args(key: number, alt: boolean): unknown[] {
    return argsOf(this.config.shape, key, alt);
  }

  override abortReason(controller: number): unknown {
    return this.controllers[controller].controller.signal.reason;
  }

  call(key: number, alt: boolean, mode: Mode, controller?: number): void {
    const args = this.args(key, alt);
    const signal = controller === undefined
      ? undefined
      : this.controllers[controller].controller.signal;
    this.callWith(
      args,
      mode,
      () =>
        signal === undefined
          ? this.cached(...args)
          : this.cached.withSignal(signal, ...args),
    );
  }

  newController(): number {
    const controller = new AbortController();
    const listeners = watchListeners(controller.signal);
    return this.controllers.push({ controller, listeners }) - 1;
  }

  abort(controller: number, withReason: boolean): void {
    this.controllers[controller].controller.abort(
      withReason ? { abortReason: controller } : undefined,
    );
  }
}

// ---------------------------------------------------------------------------
// Applying and comparing

function checkShared(
  real: CoreReal,
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
      signal.reason === real.abortReason(expected.controller),
      `${what}: reason ${
        show(signal.reason)
      }, expected controller ${expected.controller}'s`,
    );
  } else {
    real.checkAbandonReason(expected.work, signal.reason, what);
  }
}

function compare(model: ReferenceModel, real: CoreReal): void {
  real.compareCommon(model);
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
    name: "fn",
    softTimeout: undefined,
    hardTimeout: undefined,
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
  model.works.forEach((work) => checkShared(real, work.id, work.shared));
  // A caller's signal keeps no listener once none of its callers waits.
  model.controllers.forEach((_, controller) => {
    const waiting = model.callers.some((caller) =>
      caller.controller === controller && caller.outcome.kind === "pending"
    );
    if (waiting) return;
    assert.equal(
      real.controllers[controller].listeners.count,
      0,
      `listeners left on controller ${controller}'s signal`,
    );
  });
  assert.equal(real.draws, model.draws, "calls of random()");
  assert.equal(
    real.clock.pending,
    model.deadlines().length > 0 ? 1 : 0,
    "timers scheduled on the clock (one while anything waits to expire)",
  );
}

function apply(model: ReferenceModel, real: CoreReal, command: OwnCommand) {
  switch (command.t) {
    case "call":
      model.call(command.key, command.mode);
      real.call(command.key, command.alt, command.mode);
      break;
    case "callSignal": {
      let controller: number;
      if (
        command.reuse === null || command.reuse === "aborted" ||
        model.controllers.length === 0
      ) {
        controller = model.newController();
        assert.equal(real.newController(), controller);
        if (command.reuse === "aborted") {
          model.abort(controller);
          real.abort(controller, true);
        }
      } else {
        controller = command.reuse % model.controllers.length;
      }
      model.call(command.key, command.mode, controller);
      real.call(command.key, command.alt, command.mode, controller);
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
      real.abort(controller, command.withReason);
      break;
    }
    case "contains":
      assert.equal(
        real.cached.cacheContains(...real.args(command.key, command.alt)),
        model.contains(command.key),
        "cacheContains() result",
      );
      break;
  }
}

const core: Suite<ReferenceModel, CoreReal, OwnCommand, ModelConfig> = {
  start: (config) => ({
    model: new ReferenceModel(config),
    real: new CoreReal(config),
  }),
  apply,
  compare,
  deadlines: (model) => model.deadlines(),
  // Let everything finish, then close.
  epilogue: [
    { t: "settleAll" },
    { t: "advance", ms: 10_000 },
    { t: "close", wait: true },
    { t: "call", key: 0, mode: "deferred", alt: false },
    { t: "close", wait: false },
  ],
};

// ---------------------------------------------------------------------------
// The tests

const commandsArb = fc.array(commandArb, {
  maxLength: maxLength(60),
  size: "max",
});

for (const maxSize of [0, 1, 3, Infinity]) {
  for (const timeMode of ["none", "ttl", "ttl0", "jitter"] as const) {
    modelTest(`model: maxSize ${maxSize}, time ${timeMode}`, core, {
      runs: RUNS,
      config: configArb(maxSize, timeMode),
      commands: commandsArb,
    });
  }
}

// Callers with signals over three keys abort at random moments, between work
// settling (with a value, an Error or a reason that is not an Error) and its
// callers hearing of it: the next command often comes in the same turn.

const abortingConfigArb: fc.Arbitrary<ModelConfig> = fc.record({
  maxSize: fc.constantFrom(0, 1, 2, 3, Infinity),
  ttl: fc.constantFrom(undefined, 0, 5, 20),
  jitter: fc.boolean(),
  randoms: fc.array(fc.constantFrom(0, 0.5, 0.9999999), {
    minLength: 1,
    maxLength: 4,
  }),
  signal: fc.boolean(),
}).map(({ ttl, jitter, ...rest }) => ({
  ...rest,
  ttl,
  jitter: ttl !== undefined && jitter ? 10 : undefined,
  shape: "one" as const,
}));

const abortingKeyArb = fc.constantFrom(0, 1, 2);

const abortingCommandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("call" as const),
      key: abortingKeyArb,
      mode: fc.constant<Mode>("deferred"),
      alt: fc.constant(false),
    }),
  },
  {
    weight: 9,
    arbitrary: fc.record({
      t: fc.constant("callSignal" as const),
      key: abortingKeyArb,
      mode: fc.constant<Mode>("deferred"),
      alt: fc.constant(false),
      reuse: fc.constantFrom(null, null, "aborted" as const),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant("abort" as const),
      pick: fc.nat(),
      idle: fc.constant(true),
      withReason: fc.boolean(),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant("settle" as const),
      pick: fc.nat(),
      ok: fc.constant(true),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("settle" as const),
      pick: fc.nat(),
      ok: fc.constant(false),
      reason: fc.constantFrom<ReasonKind>(
        "error",
        "undefined",
        "string",
        "frozen",
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("advance" as const),
      ms: fc.integer({ min: 0, max: 25 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("invalidate" as const),
      key: abortingKeyArb,
    }),
  },
  { weight: 2, arbitrary: fc.constant({ t: "clear" as const }) },
);

/** Either everything settles and a fresh call behaves normally, or the cache closes. */
const abortingEndings: Command[][] = [
  [
    { t: "settleAll" },
    { t: "invalidate", key: 0 },
    { t: "call", key: 0, mode: "deferred", alt: false },
    { t: "settleAll" },
  ],
  [
    { t: "close", wait: false },
    { t: "call", key: 0, mode: "deferred", alt: false },
  ],
];

modelTest(
  "model: callers aborting at random moments, between work settling and its callers hearing of it",
  core,
  {
    runs: Math.ceil(RUNS / 2),
    config: abortingConfigArb,
    commands: fc.tuple(
      fc.array(abortingCommandArb, { maxLength: maxLength(40) }),
      fc.constantFrom(...abortingEndings),
    ).map(([commands, ending]) => [...commands, ...ending]),
    flushes: fc.array(fc.constantFrom(true, true, false), {
      minLength: 1,
      maxLength: 6,
    }),
    rejectionReportsPerSequence: true,
  },
);
