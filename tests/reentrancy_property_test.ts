/**
 * Re-entrancy, as a property: random sequences of calls, aborts, settlements,
 * time, invalidation, clearing and closing, where every piece of user code
 * the cache calls (the clock's now, setTimeout and clearTimeout, the random
 * source, the key function, the function itself and its abort listener, and
 * the options that judge outcomes and watch the cache: shouldCache, ttl and
 * errorTtl as functions, the weigher, onEvent, and the subscribers of the
 * events and tracing channels) may, on any call, call any public method of
 * the same cache, cacheRefresh and cacheStats included.
 *
 * Checked at every step, and each time user code is entered (by the hooks,
 * and by the cache itself at its one door to user code): the cache is
 * whole (its index, recency list, slot arrays, expiry queue and timer agree),
 * holds at most maxSize entries of at most maxWeight in all, and counts no negative tasks. After every
 * step: the hit and miss counters match the calls counted since the last
 * clear (exactly where no stale hit or onEvent runs user code after a hit is
 * counted; otherwise every counted call is one hit or one miss, and
 * cacheStats agrees with cacheInfo), at most one timer is pending and none on
 * a closed cache. At the end:
 * every call returned a promise, each settled once its work did, with a value
 * of its own key, and no rejection went unhandled.
 *
 * REENTRANCY_SEED, REENTRANCY_PATH replay a failure; REENTRANCY_RUNS (default
 * 4,000) sets the number of sequences.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import dc from "node:diagnostics_channel";
import {
  alruCache,
  type AlruCacheOptions,
  CacheClosedError,
  ManualClock,
} from "../mod.ts";
import {
  assertWhole,
  checkEachEntryToUserCode,
  type Deferred,
  deferred,
  flush,
  recordUnhandledRejections,
} from "./_helpers.ts";

const KEYS = [0, 1, 2, 3];
// The key function throws for this key; the function throws for the next.
const KEY_THROWS = 13;
const FN_THROWS = 12;

type Action =
  | { t: "call"; key: number }
  | { t: "callSignal"; key: number; abort: boolean }
  | { t: "invalidate"; key: number }
  | { t: "contains"; key: number }
  | { t: "refresh"; key: number }
  | { t: "clear" }
  | { t: "close"; wait: boolean }
  | { t: "inspect" };

type Step =
  | Action
  | { t: "abort"; pick: number }
  | { t: "settle"; pick: number; ok: boolean }
  | { t: "advance"; ms: number };

type Hook =
  | "now"
  | "setTimeout"
  | "clearTimeout"
  | "random"
  | "key"
  | "fn"
  | "abortListener"
  | "shouldCache"
  | "ttl"
  | "errorTtl"
  | "weigher"
  | "onEvent"
  | "channel"
  | "trace";

interface Config {
  maxSize: number;
  ttl: number | undefined;
  jitter: number | undefined;
  signal: boolean;
  keyOption: boolean;
  arity: 1 | 2;
  stale: "none" | "swr" | "sie" | "both";
  errorTtl: number | "function" | undefined;
  shouldCache: boolean;
  ttlFunction: boolean;
  onEvent: boolean;
  maxWeight: number | undefined;
  /** Subscribers on both channels. */
  channels: boolean;
  hardTimeout: number | undefined;
  /** Only with staleIfError. */
  softTimeout: number | undefined;
}

const keyArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...KEYS) },
  { weight: 1, arbitrary: fc.constantFrom(KEY_THROWS, FN_THROWS) },
);

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant("call"), key: keyArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("callSignal"),
      key: keyArb,
      abort: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("invalidate"), key: keyArb }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("contains"), key: keyArb }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("refresh"), key: keyArb }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("clear") }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("close"), wait: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("inspect") }) },
) as fc.Arbitrary<Action>;

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: actionArb },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("abort"), pick: fc.nat(7) }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant("settle"),
      pick: fc.nat(15),
      ok: fc.oneof(
        { weight: 3, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("advance"),
      ms: fc.constantFrom(0, 1, 10, 49, 50, 70, 200),
    }),
  },
) as fc.Arbitrary<Step>;

const configArb: fc.Arbitrary<Config> = fc.record({
  maxSize: fc.constantFrom(0, 1, 3, Infinity),
  ttl: fc.constantFrom(undefined, 0, 50),
  jitter: fc.constantFrom(undefined, 20),
  signal: fc.boolean(),
  keyOption: fc.boolean(),
  arity: fc.constantFrom(1 as const, 2 as const),
  stale: fc.constantFrom("none" as const, "swr", "sie", "both"),
  errorTtl: fc.constantFrom(undefined, 30, "function" as const),
  shouldCache: fc.boolean(),
  ttlFunction: fc.boolean(),
  onEvent: fc.boolean(),
  // 3: key 3's value, which weighs 4, is too heavy to keep.
  maxWeight: fc.constantFrom(undefined, 0, 3, 6),
  channels: fc.boolean(),
  hardTimeout: fc.constantFrom(undefined, 60),
  softTimeout: fc.constantFrom(undefined, 30),
}).map((config): Config =>
  config.ttl === undefined
    ? {
      ...config,
      jitter: undefined,
      stale: "none" as const,
      ttlFunction: false,
      softTimeout: undefined,
    }
    : config
).map((config) =>
  config.stale === "sie" || config.stale === "both"
    ? config
    : { ...config, softTimeout: undefined }
);

// What each hook does when it runs: nothing, or one action, in turn.
const reentryArb = fc.array(fc.option(actionArb, { freq: 2 }), {
  maxLength: 40,
  size: "max",
});

interface CallRecord {
  key: number;
  promise: Promise<unknown> | undefined;
  outcome: "pending" | "fulfilled" | "rejected";
  value?: unknown;
  reason?: unknown;
  // Whether the cache counts the call, and in which clear epoch; a miss is
  // counted when the function returns, a hit when the call returns.
  counted: boolean;
  miss: boolean;
  epoch: number;
}

class Harness {
  readonly clock = new ManualClock();
  readonly calls: CallRecord[] = [];
  readonly refreshes: CallRecord[] = [];
  readonly works: { key: number; work: Deferred<unknown>; done: boolean }[] =
    [];
  readonly controllers: AbortController[] = [];
  readonly cached;
  readonly #config: Config;
  readonly #reentry: (Action | null)[];
  #cursor = 0;
  #epoch = 0;
  // The calls now running, innermost last; null for a contains or
  // invalidate, which derive a key too.
  readonly #stack: (CallRecord | null)[] = [];
  readonly closings: Promise<void>[] = [];
  // Calls made before the first close without wait: all abandoned by it.
  abandonedBefore: number | undefined;
  // Whether each call's hit or miss can be told from the outside: not when
  // user code may run, and clear, after a hit counted.
  readonly exactCounts: boolean;

  constructor(config: Config, reentry: (Action | null)[]) {
    this.#config = config;
    this.#reentry = reentry;
    const clock = this.clock;
    const options: AlruCacheOptions<number[], unknown> = {
      maxSize: config.maxSize,
      ttl: config.ttl,
      jitter: config.jitter,
      random: () => {
        this.hook("random");
        return 0.5;
      },
      clock: {
        now: () => {
          this.hook("now");
          return clock.now();
        },
        setTimeout: (callback, delay) => {
          this.hook("setTimeout");
          return clock.setTimeout(callback, delay);
        },
        clearTimeout: (handle) => {
          this.hook("clearTimeout");
          clock.clearTimeout(handle);
        },
      },
    };
    const stale = config.stale;
    if (stale === "swr" || stale === "both") options.staleWhileRevalidate = 40;
    if (stale === "sie" || stale === "both") options.staleIfError = 100;
    if (config.ttlFunction) {
      const ttl = config.ttl!;
      options.ttl = (value) => {
        this.hook("ttl");
        // Some values are dropped at once.
        return (value as { key: number }).key === 3 ? 0 : ttl;
      };
    }
    if (config.errorTtl === "function") {
      options.errorTtl = () => {
        this.hook("errorTtl");
        return 30;
      };
    } else {
      options.errorTtl = config.errorTtl;
    }
    if (config.shouldCache) {
      options.shouldCache = (value) => {
        this.hook("shouldCache");
        return (value as { key: number }).key !== 2;
      };
    }
    if (config.onEvent) {
      options.onEvent = () => this.hook("onEvent");
    }
    if (config.maxWeight !== undefined) {
      options.maxWeight = config.maxWeight;
      options.weigher = (value) => {
        this.hook("weigher");
        return (value as { key: number }).key + 1;
      };
    }
    // A hit on a stale entry or a kept failure may run the clock's timer
    // functions after it counts, and so may onEvent: they may clear.
    // So may the clock a caller's hard deadline is read from.
    this.exactCounts = !config.onEvent && !config.channels &&
      config.hardTimeout === undefined && stale !== "swr" &&
      stale !== "both" && config.errorTtl === undefined;
    options.hardTimeout = config.hardTimeout;
    options.softTimeout = config.softTimeout;
    if (config.channels) this.#listen();
    if (config.keyOption) {
      options.key = (...args: number[]) => {
        this.hook("key");
        if (args[0] === KEY_THROWS) throw new Error("key throws");
        const call = this.#stack.at(-1);
        // A key function that closed the cache: its call is not counted.
        if (call && this.cached.cacheParameters().closed) call.counted = false;
        return `k${args[0]}`;
      };
    }
    const fn = (...args: unknown[]) => {
      this.hook("fn");
      const key = args[0] as number;
      // null for a refresh, or a contains or invalidate.
      const call = this.#stack.at(-1) ?? null;
      if (key === FN_THROWS) {
        if (call !== null) call.counted = false;
        throw new Error("fn throws");
      }
      if (config.signal) {
        const signal = args[args.length - 1] as AbortSignal;
        signal.addEventListener("abort", () => this.hook("abortListener"));
      }
      const work = deferred<unknown>();
      this.works.push({ key, work, done: false });
      if (call !== null) {
        call.miss = true;
        call.epoch = this.#epoch;
      }
      return work.promise;
    };
    this.cached = config.signal
      ? alruCache(fn, { ...options, signal: true } as AlruCacheOptions)
      : alruCache(fn, options as AlruCacheOptions);
    // Besides the hooks' own checks, the cache checks itself at its one
    // door to user code, each time it opens it: thenables and sharing a
    // settled value included.
    checkEachEntryToUserCode(this.cached);
  }

  // Subscribes to both channels until dispose().
  #listen(): void {
    const onEvent = () => this.hook("channel");
    const trace = () => this.hook("trace");
    const handlers = {
      start: trace,
      // A miss counts once its trace has ended, which may have cleared.
      end: () => {
        trace();
        const call = this.#stack.at(-1);
        if (call?.miss) call.epoch = this.#epoch;
      },
      asyncStart: trace,
      asyncEnd: trace,
      error: trace,
    };
    const tracing = dc.tracingChannel("async-lru");
    dc.subscribe("async-lru:events", onEvent);
    tracing.subscribe(handlers);
    this.#unsubscribe = () => {
      dc.unsubscribe("async-lru:events", onEvent);
      tracing.unsubscribe(handlers);
    };
  }

  #unsubscribe: (() => void) | undefined = undefined;

  /** Removes the channels' subscribers. */
  dispose(): void {
    this.#unsubscribe?.();
  }

  /** User code runs: the cache must be whole; then maybe call it back. */
  hook(_where: Hook): void {
    this.check();
    const action = this.#reentry[this.#cursor++];
    if (action) this.run(action);
  }

  check(): void {
    assertWhole(this.cached);
    const { currSize, maxSize } = this.cached.cacheInfo();
    assert.ok(currSize <= maxSize, `currSize ${currSize} > maxSize ${maxSize}`);
    const { currWeight, maxWeight } = this.cached.cacheParameters();
    assert.ok(
      !(currWeight! > maxWeight!),
      `currWeight ${currWeight} > maxWeight ${maxWeight}`,
    );
    assert.ok(this.cached.cacheParameters().tasks >= 0);
  }

  args(key: number): unknown[] {
    return this.#config.arity === 1 ? [key] : [key, key % 2];
  }

  call(key: number, signal?: AbortSignal): void {
    const record: CallRecord = {
      key,
      promise: undefined,
      outcome: "pending",
      counted: !this.cached.cacheParameters().closed &&
        !(signal?.aborted ?? false) &&
        !(this.#config.keyOption && key === KEY_THROWS),
      miss: false,
      epoch: -1,
    };
    this.calls.push(record);
    this.#stack.push(record);
    let returned: unknown;
    try {
      returned = signal === undefined
        ? (this.cached as (...args: unknown[]) => Promise<unknown>)(
          ...this.args(key),
        )
        : (this.cached.withSignal as (
          signal: AbortSignal,
          ...args: unknown[]
        ) => Promise<unknown>)(signal, ...this.args(key));
    } finally {
      this.#stack.pop();
    }
    assert.ok(
      returned instanceof Promise,
      `call ${key} returned ${String(returned)}`,
    );
    if (!record.miss) record.epoch = this.#epoch;
    record.promise = returned;
    returned.then((value) => {
      record.outcome = "fulfilled";
      record.value = value;
    }, (reason) => {
      record.outcome = "rejected";
      record.reason = reason;
    });
  }

  run(action: Action | Step): void {
    switch (action.t) {
      case "call":
        return this.call(action.key);
      case "callSignal": {
        const controller = new AbortController();
        this.controllers.push(controller);
        this.call(action.key, controller.signal);
        if (action.abort) controller.abort(new Error("caller left"));
        return;
      }
      case "invalidate":
      case "contains": {
        const args = this.args(action.key);
        const method = action.t === "invalidate"
          ? this.cached.cacheInvalidate
          : this.cached.cacheContains;
        this.#stack.push(null);
        try {
          (method as (...args: unknown[]) => boolean)(...args);
        } catch (error) {
          assert.ok(this.#config.keyOption && action.key === KEY_THROWS);
          assert.equal((error as Error).message, "key throws");
        } finally {
          this.#stack.pop();
        }
        return;
      }
      case "refresh": {
        const record: CallRecord = {
          key: action.key,
          promise: undefined,
          outcome: "pending",
          counted: false,
          miss: false,
          epoch: -1,
        };
        this.refreshes.push(record);
        this.#stack.push(null);
        let returned: unknown;
        try {
          returned = (this.cached.cacheRefresh as (
            ...args: unknown[]
          ) => Promise<unknown>)(...this.args(action.key));
        } finally {
          this.#stack.pop();
        }
        assert.ok(
          returned instanceof Promise,
          "cacheRefresh returned no promise",
        );
        record.promise = returned;
        returned.then((value) => {
          record.outcome = "fulfilled";
          record.value = value;
        }, (reason) => {
          record.outcome = "rejected";
          record.reason = reason;
        });
        return;
      }
      case "clear":
        // The counters reset before clearing runs any user code.
        this.#epoch++;
        this.cached.cacheClear();
        return;
      case "close": {
        if (!action.wait) this.abandonedBefore ??= this.calls.length;
        const closing = this.cached.cacheClose({ wait: action.wait });
        assert.ok(closing instanceof Promise);
        this.closings.push(closing);
        return;
      }
      case "inspect":
        this.cached.cacheInfo();
        this.cached.cacheParameters();
        this.cached.cacheStats();
        return;
      case "abort": {
        const controller =
          this.controllers[action.pick % (this.controllers.length || 1)];
        controller?.abort(new Error("caller left"));
        return;
      }
      case "settle": {
        const open = this.works.filter((entry) => !entry.done);
        const entry = open[action.pick % (open.length || 1)];
        if (entry === undefined) return;
        entry.done = true;
        if (action.ok) entry.work.resolve({ key: entry.key });
        else entry.work.reject(new Error(`work for ${entry.key} failed`));
        return;
      }
      case "advance":
        this.clock.advance(action.ms);
        return;
    }
  }

  /** Checks made between steps, once reactions have run. */
  checkCounters(): void {
    let hits = 0;
    let misses = 0;
    for (const call of this.calls) {
      if (!call.counted || call.epoch !== this.#epoch) continue;
      if (call.miss) misses++;
      else hits++;
    }
    const info = this.cached.cacheInfo();
    const stats = this.cached.cacheStats();
    assert.deepEqual(
      { hits: stats.hits, misses: stats.misses },
      { hits: info.hits, misses: info.misses },
      "cacheStats and cacheInfo",
    );
    // A caller answered at a soft deadline is a stale hit and not a hit.
    if (this.#config.softTimeout === undefined) {
      assert.ok(stats.hits >= stats.staleHits + stats.errorHits, "hits");
    }
    if (this.exactCounts) {
      assert.deepEqual(
        { hits: info.hits, misses: info.misses },
        { hits, misses },
        "counters",
      );
    } else {
      assert.ok(info.hits + info.misses <= hits + misses, "counters");
    }
    assert.ok(this.clock.pending <= 1, `${this.clock.pending} timers pending`);
    for (const call of this.calls.slice(0, this.abandonedBefore ?? 0)) {
      assert.notEqual(call.outcome, "pending", "closing left a call waiting");
    }
    // Callers still waiting keep their hard deadlines through a close with
    // wait (§16.9); nothing else keeps a timer.
    const waiting = this.#config.hardTimeout !== undefined &&
      [...this.calls, ...this.refreshes].some((call) =>
        call.outcome === "pending"
      );
    if (this.cached.cacheParameters().closed && !waiting) {
      assert.equal(this.clock.pending, 0, "a closed cache keeps a timer");
    }
  }
}

Deno.test("re-entrant user code: random sequences leave the cache whole, counting right, every call settled", async () => {
  const runs = Number(Deno.env.get("REENTRANCY_RUNS") ?? 4_000);
  const seed = Deno.env.get("REENTRANCY_SEED");
  const unhandled = recordUnhandledRejections();
  try {
    await fc.assert(
      fc.asyncProperty(
        configArb,
        fc.array(stepArb, { minLength: 1, maxLength: 30, size: "max" }),
        reentryArb,
        async (config, steps, reentry) => {
          const harness = new Harness(config, reentry);
          try {
            await exercise(harness, steps);
          } finally {
            harness.dispose();
          }
        },
      ),
      {
        numRuns: runs,
        ...(seed === undefined ? {} : {
          seed: Number(seed),
          path: Deno.env.get("REENTRANCY_PATH"),
        }),
      },
    );
  } finally {
    unhandled.stop();
  }

  async function exercise(harness: Harness, steps: Step[]): Promise<void> {
    for (const step of steps) {
      harness.run(step);
      harness.check();
      await flush();
      harness.check();
      harness.checkCounters();
    }
    // Every work settles (settling may start more); then every call
    // has settled.
    for (;;) {
      const open = harness.works.filter((entry) => !entry.done);
      if (open.length === 0) break;
      for (const entry of open) {
        entry.done = true;
        entry.work.resolve({ key: entry.key });
      }
      await flush();
    }
    for (const call of [...harness.calls, ...harness.refreshes]) {
      assert.notEqual(call.outcome, "pending", `call ${call.key} hangs`);
      if (call.outcome === "fulfilled") {
        assert.deepEqual(call.value, { key: call.key });
      }
    }
    await Promise.all(harness.closings);
    await harness.cached.cacheClose();
    harness.check();
    assert.equal(harness.clock.pending, 0);
    if (
      unhandled.reasons.length > 0 ||
      harness.calls.some((call) =>
        call.outcome === "rejected" &&
        call.reason instanceof CacheClosedError && call.counted
      )
    ) {
      assert.fail(
        `unhandled rejections: ${unhandled.reasons.map(String).join(", ")}`,
      );
    }
  }
});
