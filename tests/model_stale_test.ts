/**
 * Model-based property tests of SPEC §11 and §12: random command sequences
 * run against the reference model of tests/model/stale_reference.ts and the
 * real cache side by side, both under manual time, with `shouldCache`, `ttl`
 * as a number or a function of the value, `errorTtl` as a number or a
 * function of the reason, `staleWhileRevalidate`, `staleIfError`,
 * `cacheRefresh`, `cacheStats()` and `onEvent`. After each command every
 * caller's outcome, the counters, the entries and the events are compared.
 *
 * On failure fast-check prints the seed, the path and the shrunk
 * counterexample (the configuration and the command list). To replay one:
 *
 *   STALE_MODEL_SEED=<seed> STALE_MODEL_PATH=<path> deno test --allow-all \
 *     --filter "<test name>" tests/model_stale_test.ts
 *
 * STALE_MODEL_RUNS=<n> (default 1,500) sets the number of sequences per
 * configuration group (20 groups: maxSize 1, 2, Infinity and, with a fifth of
 * the runs, 0, times five option sets: 25,200 sequences by default);
 * STALE_MODEL_LENGTH=<n> (default 100) the longest sequence. Each sequence
 * ends with a fixed epilogue that settles all work, lets everything expire
 * and closes the cache.
 *
 * Besides the outcomes and counters it checks what `onEvent` is told per
 * command (as a multiset: the order within one command is not compared),
 * that each option function is asked at most once per outcome and with the
 * call's arguments, the timers pending on the clock, and that the cache's
 * own bookkeeping stays whole (`assertWhole`).
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
import { assertWhole, flush } from "./_helpers.ts";
import {
  type Mode,
  type Outcome,
  type StaleConfig,
  StaleModel,
} from "./model/stale_reference.ts";

// ---------------------------------------------------------------------------
// Commands

type Command =
  | { t: "call"; key: number; mode: Mode }
  | { t: "refresh"; key: number; mode: Mode }
  | { t: "settle"; pick: number; ok: boolean }
  | { t: "settleAll" }
  | { t: "advance"; ms: number }
  /** To one of the model's next boundaries (freshness, expiry, ...), plus delta. */
  | { t: "toBoundary"; pick: number; delta: number }
  | { t: "invalidate"; key: number }
  | { t: "clear" }
  | { t: "close"; wait: boolean };

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
      t: fc.constant("toBoundary" as const),
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

/** Run after every generated sequence: let everything finish, then close. */
const EPILOGUE: Command[] = [
  { t: "settleAll" },
  { t: "advance", ms: 10_000 },
  { t: "close", wait: true },
  { t: "call", key: 0, mode: "deferred" },
  { t: "refresh", key: 0, mode: "deferred" },
  { t: "close", wait: false },
];

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

interface Value {
  work: number;
}

interface RealWork {
  key: number;
  signal: AbortSignal | undefined;
  value: Value;
  error: Error;
  resolve?: (value: unknown) => void;
  reject?: (reason: unknown) => void;
}

interface RealCaller {
  state: "pending" | "fulfilled" | "rejected";
  result: unknown;
}

interface RealEvent {
  type: string;
  key: unknown;
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

function fromTable<T>(values: T[], work: number): T {
  return values[work % values.length];
}

class RealSystem {
  readonly config: StaleConfig;
  readonly clock = new ManualClock();
  readonly cached: CachedFunction<[number], unknown>;
  works: RealWork[] = [];
  callers: RealCaller[] = [];
  closes: RealCaller[] = [];
  events: RealEvent[] = [];
  /** The AbortError each work abandoned by close got, once seen. */
  abandonReasons = new Map<number, unknown>();
  /** Contract violations seen inside fn or the option functions. */
  violations: string[] = [];
  nextMode: Mode = "deferred";
  expectedKey: number | undefined = undefined;

  constructor(config: StaleConfig) {
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
      if (args.length !== 1 || args[0] !== this.expectedKey) {
        this.violations.push(
          `work ${id}: fn got (${String(args)}) for ${this.expectedKey}`,
        );
      }
      const work: RealWork = {
        signal,
        key: this.expectedKey!,
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
    // SPEC §11: each option function is asked once per outcome, with the
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
      if (args.length !== 1 || args[0] !== this.works[work].key) {
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
      fn as (key: number) => unknown,
      options,
    );
  }

  #run(key: number, mode: Mode, run: () => Promise<unknown>): void {
    this.nextMode = mode;
    this.expectedKey = key;
    const promise = run();
    this.expectedKey = undefined;
    this.callers.push(track(promise));
  }

  call(key: number, mode: Mode): void {
    this.#run(key, mode, () => this.cached(key));
  }

  refresh(key: number, mode: Mode): void {
    this.#run(key, mode, () => this.cached.cacheRefresh(key));
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
  switch (expected.kind) {
    case "pending":
      assert.equal(
        actual.state,
        "pending",
        `${what}: expected pending, ${got}`,
      );
      return;
    case "value":
      assert.ok(
        actual.state === "fulfilled" &&
          actual.result === real.works[expected.work].value,
        `${what}: expected the value of work ${expected.work}, ${got}`,
      );
      return;
    case "error":
      assert.ok(
        actual.state === "rejected" &&
          actual.result === real.works[expected.work].error,
        `${what}: expected the error of work ${expected.work}, ${got}`,
      );
      return;
    case "closed":
      assert.ok(
        actual.state === "rejected" &&
          actual.result instanceof CacheClosedError,
        `${what}: expected a CacheClosedError, ${got}`,
      );
      return;
    case "abandoned":
      assert.equal(
        actual.state,
        "rejected",
        `${what}: expected abandoned, ${got}`,
      );
      checkAbandonReason(real, expected.work, actual.result, what);
      return;
  }
}

function compare(model: StaleModel, real: RealSystem): void {
  assert.deepEqual(real.violations, [], "violations inside fn or options");
  assert.equal(real.works.length, model.works.length, "number of fn calls");
  const { cached, config } = real;
  assert.deepEqual(cached.cacheInfo(), {
    hits: model.stats.hits,
    misses: model.stats.misses,
    maxSize: config.maxSize,
    currSize: model.entries.length,
  }, "cacheInfo()");
  assert.deepEqual(cached.cacheStats(), model.stats, "cacheStats()");
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
  model.callers.forEach((caller, i) => {
    checkOutcome(
      real,
      caller.outcome,
      real.callers[i],
      `${caller.kind === "call" ? "caller" : "cacheRefresh caller"} ${i}`,
    );
  });
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
      checkAbandonReason(real, work.id, signal!.reason, `signal ${work.id}`);
    }
  }
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
  assert.equal(real.clock.now(), model.now, "clock");
  assertWhole(cached);
}

function sortEvents(events: RealEvent[]): string[] {
  return events.map((event) => `${event.type} ${show(event.key)}`).sort();
}

async function step(
  model: StaleModel,
  real: RealSystem,
  command: Command,
): Promise<void> {
  const modelEvents = model.events.length;
  real.events = [];
  switch (command.t) {
    case "call":
      model.call(command.key, command.mode);
      real.call(command.key, command.mode);
      break;
    case "refresh":
      model.refresh(command.key, command.mode);
      real.refresh(command.key, command.mode);
      break;
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
    case "advance":
      model.advance(command.ms);
      real.clock.advance(command.ms);
      break;
    case "toBoundary": {
      const boundaries = model.boundaries();
      if (boundaries.length === 0) break;
      const boundary = boundaries[command.pick % boundaries.length];
      const ms = Math.max(0, boundary - model.now + command.delta);
      model.advance(ms);
      real.clock.advance(ms);
      break;
    }
    case "invalidate":
      assert.equal(
        real.cached.cacheInvalidate(command.key),
        model.invalidate(command.key),
        "cacheInvalidate() result",
      );
      break;
    case "clear":
      model.clear();
      real.cached.cacheClear();
      break;
    case "close":
      model.close(command.wait);
      real.closes.push(track(real.cached.cacheClose({ wait: command.wait })));
      break;
  }
  // fn runs synchronously on a miss and on the start of a refresh.
  assert.equal(real.works.length, model.works.length, "fn calls, at once");
  await flush();
  assert.deepEqual(
    sortEvents(real.events),
    sortEvents(model.events.slice(modelEvents)),
    "onEvent events",
  );
  compare(model, real);
}

async function runSequence(
  config: StaleConfig,
  commands: Command[],
): Promise<void> {
  const model = new StaleModel(config);
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

const SEED = env("STALE_MODEL_SEED");
const PATH = env("STALE_MODEL_PATH");
const RUNS = Number(env("STALE_MODEL_RUNS") ?? 1500);
const MAX_LENGTH = Number(env("STALE_MODEL_LENGTH") ?? 100);

const commandsArb = fc.array(commandArb, {
  maxLength: MAX_LENGTH,
  size: "max",
});

for (const maxSize of [0, 1, 2, Infinity]) {
  for (const set of OPTION_SETS) {
    const name =
      `cache agrees with the §11/§12 model: maxSize ${maxSize}, ${set} options`;
    Deno.test(name, async () => {
      await fc.assert(
        fc.asyncProperty(configArb(maxSize, set), commandsArb, runSequence),
        {
          // Without entries there is little to check.
          numRuns: maxSize === 0 ? Math.ceil(RUNS / 5) : RUNS,
          ...(SEED === undefined ? {} : { seed: Number(SEED) }),
          ...(PATH === undefined ? {} : { path: PATH }),
        },
      );
    });
  }
}
