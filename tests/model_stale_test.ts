/**
 * Model-based property tests of docs/behaviour.md §11 and §12: random command sequences
 * run against the reference model of tests/model/stale_reference.ts and the
 * real cache side by side by the runner of tests/model/runner.ts (which says
 * how to replay a failure and which environment variables scale the runs),
 * with `shouldCache`, `ttl` as a number or a function of the value,
 * `errorTtl` as a number or a function of the reason,
 * `staleWhileRevalidate`, `staleIfError`, `cacheRefresh`, `cacheStats()` and
 * `onEvent`. After each command every caller's outcome, the counters, the
 * entries and the events are compared.
 *
 * Twenty groups: maxSize 1, 2 and Infinity with 3 × MODEL_RUNS sequences
 * each (1,500 by default), and maxSize 0 with a fifth of that, times five
 * option sets: 25,200 sequences by default.
 *
 * Besides the outcomes and counters it checks what `onEvent` is told between
 * two comparisons (as a multiset: the order within one command is not
 * compared), that each option function is asked at most once per outcome
 * and with the call's arguments, the timers pending on the clock, and that
 * the cache's own bookkeeping stays whole (`assertWhole`).
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  alruCache,
  type AlruCacheOptions,
  type CachedFunction,
} from "../mod.ts";
import { assertWhole, statsOf } from "./_helpers.ts";
import {
  type Mode,
  type StaleConfig,
  type StaleEvent,
  StaleModel,
} from "./model/stale_reference.ts";
import {
  type CommonCommand,
  maxLength,
  modelTest,
  RealSide,
  RUNS,
  show,
  type Suite,
} from "./model/runner.ts";

// ---------------------------------------------------------------------------
// Commands

/**
 * The stale model's own commands; the runner's common ones come too, its
 * `toDeadline` going to one of the model's next boundaries (freshness,
 * expiry, ...).
 */
type OwnCommand =
  | { t: "call"; key: number; mode: Mode }
  | { t: "refresh"; key: number; mode: Mode };

type Command = OwnCommand | CommonCommand;

const KEYS = [0, 1, 2, 3];

// Mostly two keys, so that an entry goes through many states.
const keyArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, 1) },
  { weight: 1, arbitrary: fc.constantFrom(...KEYS) },
);
const modeArb: fc.Arbitrary<Mode> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Mode>("deferred") },
  { weight: 3, arbitrary: fc.constant<Mode>("value") },
  { weight: 2, arbitrary: fc.constant<Mode>("rejected") },
  { weight: 1, arbitrary: fc.constant<Mode>("throw") },
);

// Closing is rare: after it nothing but settling changes, and the epilogue
// closes every sequence anyway.
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 90,
    arbitrary: fc.record({
      t: fc.constant("call" as const),
      key: keyArb,
      mode: modeArb,
    }),
  },
  {
    weight: 24,
    arbitrary: fc.record({
      t: fc.constant("refresh" as const),
      key: keyArb,
      mode: modeArb,
    }),
  },
  {
    weight: 60,
    arbitrary: fc.record({
      t: fc.constant("settle" as const),
      pick: fc.nat({ max: 7 }),
      ok: fc.oneof(
        { weight: 2, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
    }),
  },
  {
    weight: 18,
    arbitrary: fc.record({
      t: fc.constant("advance" as const),
      // Mostly short steps, so that entries spend their windows being used.
      ms: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(0, 1, 10, 25, 50) },
        { weight: 1, arbitrary: fc.nat({ max: 400 }) },
      ),
    }),
  },
  {
    weight: 45,
    arbitrary: fc.record({
      t: fc.constant("toDeadline" as const),
      // Mostly the next boundary, so that each state is visited in turn.
      pick: fc.oneof(
        { weight: 3, arbitrary: fc.constant(0) },
        { weight: 1, arbitrary: fc.nat({ max: 3 }) },
      ),
      delta: fc.constantFrom(0, 0, -1, 1, -0.5),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant("invalidate" as const),
      key: keyArb,
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

/**
 * Which §11 options a group turns on. "plain": none (cacheRefresh,
 * cacheStats and onEvent still); "keep": shouldCache, ttl as a function and
 * errorTtl, without stale values; "swr", "sie", "both": staleWhileRevalidate,
 * staleIfError or both, with the "keep" options sometimes.
 */
type OptionSet = "plain" | "keep" | "swr" | "sie" | "both";

const OPTION_SETS: OptionSet[] = ["plain", "keep", "swr", "sie", "both"];

function table<T>(values: fc.Arbitrary<T>): fc.Arbitrary<T[]> {
  return fc.array(values, { minLength: 1, maxLength: 4 });
}

// A ttl function's results: 0 drops the value, Infinity keeps it for good.
const ttlTableArb = table(fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(50, 100, 250) },
  { weight: 1, arbitrary: fc.constantFrom(0, Infinity) },
));
const errorTtlArb: fc.Arbitrary<number | number[]> = fc.oneof(
  fc.constantFrom(0, 30, 150),
  table(fc.constantFrom(0, 30, 150)),
);
const shouldCacheArb = fc.option(
  table(fc.oneof(
    { weight: 3, arbitrary: fc.constant(true) },
    { weight: 1, arbitrary: fc.constant(false) },
  )),
  { nil: undefined },
);
// Integral sums, so that the model and the cache agree on every deadline.
const jitterArb = fc.record({
  jitter: fc.constantFrom(undefined, 0, 40),
  random: fc.constantFrom(0, 0.25, 0.5),
});

function configArb(
  maxSize: number,
  set: OptionSet,
): fc.Arbitrary<StaleConfig> {
  const none = fc.constant(undefined);
  const timed = set !== "plain" && set !== "keep";
  const ttl: fc.Arbitrary<number | number[] | undefined> = timed
    ? fc.oneof(fc.constantFrom(100, 250), ttlTableArb)
    : set === "plain"
    ? fc.constantFrom(undefined, 100, 250)
    : fc.oneof(fc.constantFrom(undefined, 100), ttlTableArb);
  return fc.record({
    ttl,
    jitter: jitterArb,
    staleWhileRevalidate: set === "swr" || set === "both"
      ? fc.constantFrom(0, 50, 200)
      : none,
    staleIfError: set === "sie" || set === "both"
      ? fc.constantFrom(0, 50, 300)
      : none,
    errorTtl: set === "plain"
      ? none
      : set === "keep"
      ? errorTtlArb
      : fc.option(errorTtlArb, { nil: undefined }),
    shouldCache: set === "plain" ? none : shouldCacheArb,
    signal: fc.boolean(),
  }).map(({ jitter, ...rest }) => ({
    ...rest,
    maxSize,
    // jitter needs ttl.
    jitter: rest.ttl === undefined ? undefined : jitter.jitter,
    random: jitter.random,
  }));
}

// ---------------------------------------------------------------------------
// The real side

interface RealEvent {
  type: string;
  key: unknown;
}

function fromTable<T>(values: T[], work: number): T {
  return values[work % values.length];
}

class StaleReal extends RealSide {
  readonly config: StaleConfig;
  readonly cached: CachedFunction<[number], unknown>;
  /** What onEvent was told since the last comparison. */
  readonly events: RealEvent[] = [];
  /** How many of the model's events were compared. */
  modelEventsSeen = 0;

  constructor(config: StaleConfig) {
    super(config.signal);
    this.config = config;
    // docs/behaviour.md §11: each option function is asked once per outcome, with the
    // call's arguments.
    const asked = new Set<string>();
    const ask = (what: string, work: number, args: unknown[]): number => {
      if (work === -1) {
        this.violations.push(`${what} got something no work produced`);
        return 0;
      }
      if (asked.has(`${what} ${work}`)) {
        this.violations.push(`${what} asked twice about work ${work}`);
      }
      asked.add(`${what} ${work}`);
      if (args.length !== 1 || args[0] !== this.works[work].args[0]) {
        this.violations.push(`${what} got arguments (${String(args)})`);
      }
      return work;
    };
    const valueWork = (value: unknown) =>
      this.works.findIndex((work) => work.value === value);
    const options: AlruCacheOptions<[number], unknown> = {
      maxSize: config.maxSize,
      clock: this.clock,
      random: () => config.random,
      onEvent: (event) => {
        this.events.push({ type: event.type, key: event.key });
      },
    };
    const { ttl, errorTtl, shouldCache } = config;
    if (typeof ttl === "number") options.ttl = ttl;
    else if (ttl !== undefined) {
      options.ttl = (value, args) =>
        fromTable(ttl, ask("ttl", valueWork(value), args));
    }
    if (config.jitter !== undefined) options.jitter = config.jitter;
    if (config.staleWhileRevalidate !== undefined) {
      options.staleWhileRevalidate = config.staleWhileRevalidate;
    }
    if (config.staleIfError !== undefined) {
      options.staleIfError = config.staleIfError;
    }
    if (typeof errorTtl === "number") options.errorTtl = errorTtl;
    else if (errorTtl !== undefined) {
      options.errorTtl = (error, args) => {
        const work = this.works.findIndex((work) => work.error === error);
        return fromTable(errorTtl, ask("errorTtl", work, args));
      };
    }
    if (shouldCache !== undefined) {
      options.shouldCache = (value, args) =>
        fromTable(shouldCache, ask("shouldCache", valueWork(value), args));
    }
    if (config.signal) options.signal = true;
    this.cached = alruCache<[number], unknown>(
      this.fn as (key: number) => unknown,
      options,
    );
  }

  args(key: number): unknown[] {
    return [key];
  }

  call(key: number, mode: Mode): void {
    this.callWith([key], mode, () => this.cached(key));
  }

  refresh(key: number, mode: Mode): void {
    this.callWith([key], mode, () => this.cached.cacheRefresh(key));
  }
}

// ---------------------------------------------------------------------------
// Comparing

function sortEvents(events: (RealEvent | StaleEvent)[]): string[] {
  return events.map((event) => `${event.type} ${show(event.key)}`).sort();
}

function compare(model: StaleModel, real: StaleReal): void {
  real.compareCommon(model);
  assert.deepEqual(
    sortEvents(real.events.splice(0)),
    sortEvents(model.events.slice(real.modelEventsSeen)),
    "onEvent events",
  );
  real.modelEventsSeen = model.events.length;
  const { cached, config } = real;
  assert.deepEqual(cached.cacheInfo(), {
    hits: model.stats.hits,
    misses: model.stats.misses,
    maxSize: config.maxSize,
    currSize: model.entries.length,
  }, "cacheInfo()");
  assert.deepEqual(statsOf(cached), model.stats, "cacheStats()");
  const parameters = cached.cacheParameters();
  assert.deepEqual({
    maxSize: parameters.maxSize,
    jitter: parameters.jitter,
    tasks: parameters.tasks,
    closed: parameters.closed,
  }, {
    maxSize: config.maxSize,
    jitter: config.jitter,
    tasks: model.tasks,
    closed: model.closed,
  }, "cacheParameters()");
  if (typeof config.ttl !== "object") {
    assert.equal(parameters.ttl, config.ttl, "cacheParameters().ttl");
  }
  for (const key of KEYS) {
    assert.equal(
      cached.cacheContains(key),
      model.contains(key),
      `cacheContains(${key})`,
    );
  }
  for (const work of model.works) {
    const signal = real.works[work.id].signal;
    if (!config.signal) {
      assert.equal(signal, undefined, `work ${work.id}: a signal unasked`);
      continue;
    }
    assert.equal(
      signal?.aborted,
      work.aborted,
      `shared signal of work ${work.id}: aborted`,
    );
    if (work.aborted) {
      real.checkAbandonReason(work.id, signal!.reason, `signal ${work.id}`);
    }
  }
  // One timer while an entry waits to expire, none when nothing at all
  // waits; forgetting a staleIfError fallback may or may not take a timer.
  const pending = real.clock.pending;
  if (
    model.closed ||
    (model.deadlines().length === 0 && model.fallbacks.length === 0)
  ) {
    assert.equal(pending, 0, "timers scheduled with nothing to expire");
  } else if (model.deadlines().length > 0) {
    assert.equal(pending, 1, "timers scheduled while an entry waits to expire");
  } else {
    assert.ok(pending <= 1, `${pending} timers scheduled`);
  }
  assertWhole(cached);
}

const stale: Suite<StaleModel, StaleReal, OwnCommand, StaleConfig> = {
  start: (config) => ({
    model: new StaleModel(config),
    real: new StaleReal(config),
  }),
  apply(model, real, command) {
    if (command.t === "call") {
      model.call(command.key, command.mode);
      real.call(command.key, command.mode);
    } else {
      model.refresh(command.key, command.mode);
      real.refresh(command.key, command.mode);
    }
  },
  compare,
  deadlines: (model) => model.boundaries(),
  // Let everything finish, then close.
  epilogue: [
    { t: "settleAll" },
    { t: "advance", ms: 10_000 },
    { t: "close", wait: true },
    { t: "call", key: 0, mode: "deferred" },
    { t: "refresh", key: 0, mode: "deferred" },
    { t: "close", wait: false },
  ],
};

// ---------------------------------------------------------------------------
// The tests

const commandsArb = fc.array(commandArb, {
  maxLength: maxLength(100),
  size: "max",
});

for (const maxSize of [0, 1, 2, Infinity]) {
  for (const set of OPTION_SETS) {
    modelTest(
      `cache agrees with the §11/§12 model: maxSize ${maxSize}, ${set} options`,
      stale,
      {
        // Without entries there is little to check.
        runs: maxSize === 0 ? Math.ceil(3 * RUNS / 5) : 3 * RUNS,
        config: configArb(maxSize, set),
        commands: commandsArb,
      },
    );
  }
}
