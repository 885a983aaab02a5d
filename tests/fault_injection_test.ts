/**
 * Fault injection (issue 5, point 2). Functions that throw, return odd values
 * or never settle; thenables that break the rules; `key` and `random` options
 * and clocks that misbehave; callers that abort while fn runs; functions that
 * call, clear, invalidate or close their own cache while they run. Callers
 * aborting at random moments are a group of tests/model_test.ts.
 *
 * After every fault: no unhandled rejection (each test listens for
 * `unhandledrejection` and fails on one), every caller's promise settles, the
 * counters agree with the entries (`cacheInfo`, `cacheParameters`,
 * `cacheContains`), no expiry timer is left behind (`clock.pending`), no
 * listener stays on a caller's signal, and a fresh call behaves normally.
 * Time only moves through `ManualClock`.
 */
import assert from "node:assert/strict";
import {
  alruCache,
  type AlruCacheOptions,
  CacheClosedError,
  type CachedFunction,
  ManualClock,
} from "../mod.ts";
import {
  assertAbortError,
  assertFulfilled,
  assertRejected,
  attempt,
  checkLru,
  collectUntil,
  type Deferred,
  deferred,
  flush,
  track,
  type Tracked,
  watchListeners,
  withoutUnhandledRejections,
} from "./_helpers.ts";

// --------------------------------------------------- fn throws or misbehaves

Deno.test(
  "fn throwing synchronously: the call rejects with that error, nothing is counted or stored",
  () =>
    withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      const gate = deferred<void>();
      const errors = new Map<number, Error>();
      let runs = 0;
      const load = alruCache((n: number): Promise<{ n: number }> => {
        runs++;
        if (n < 0) {
          const error = new Error(`sync boom ${n} (${runs})`);
          errors.set(runs, error);
          throw error;
        }
        return gate.promise.then(() => ({ n }));
      }, { ttl: 100, clock });

      const single = track(load(-1));
      await flush();
      assertRejected(single, errors.get(1));
      checkLru(load, {
        hits: 0,
        misses: 0,
        currSize: 0,
        tasks: 0,
        pending: 0,
        absent: [[-1]],
      }, clock);

      // Another key's entry is in flight while concurrent callers fail.
      const inFlight = track(load(3));
      const controller = new AbortController();
      const listeners = watchListeners(controller.signal);
      const failing = [
        track(load(-1)),
        track(load(-1)),
        track(load.withSignal(controller.signal, -1)),
        track(load(-2)),
      ];
      await flush();
      // Nothing is stored, so nothing is shared: each caller ran fn.
      assert.equal(runs, 6);
      failing.forEach((call, i) => assertRejected(call, errors.get(i + 3)));
      assert.equal(listeners.count, 0);
      checkLru(load, {
        hits: 0,
        misses: 1,
        currSize: 1,
        tasks: 1,
        pending: 0,
        present: [[3]],
        absent: [[-1], [-2]],
      }, clock);

      gate.resolve();
      await flush();
      assert.deepEqual(inFlight.outcome, {
        state: "fulfilled",
        value: { n: 3 },
      });
      checkLru(load, {
        hits: 0,
        misses: 1,
        currSize: 1,
        tasks: 0,
        pending: 1,
      }, clock);

      // A fresh call behaves normally.
      assert.deepEqual(await load(4), { n: 4 });
      checkLru(
        load,
        { hits: 0, misses: 2, currSize: 2, tasks: 0, pending: 1 },
        clock,
      );
      clock.advance(100);
      checkLru(
        load,
        { hits: 0, misses: 2, currSize: 0, tasks: 0, pending: 0 },
        clock,
      );
    }),
);

Deno.test(
  "fn throwing synchronously with signal: true: no listener stays, nothing counted",
  () =>
    withoutUnhandledRejections(async () => {
      const boom = new Error("sync boom");
      const signals: AbortSignal[] = [];
      const load = alruCache(
        (_n: number, signal: AbortSignal): Promise<number> => {
          signals.push(signal);
          throw boom;
        },
        { signal: true },
      );
      const controller = new AbortController();
      const listeners = watchListeners(controller.signal);
      const calls = [
        track(load(1)),
        track(load.withSignal(controller.signal, 1)),
      ];
      await flush();
      for (const call of calls) assertRejected(call, boom);
      assert.equal(signals.length, 2);
      assert.ok(signals.every((signal) => !signal.aborted));
      assert.equal(listeners.count, 0);
      controller.abort();
      checkLru(load, { hits: 0, misses: 0, currSize: 0, tasks: 0 });
    }),
);

Deno.test(
  "fn returning an already-rejected promise: one rejection shared, never stored",
  () =>
    withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      const reasons: Error[] = [];
      let fail = true;
      const load = alruCache((n: number): Promise<number> => {
        if (!fail) return Promise.resolve(n * 10);
        const reason = new Error(`rejected ${reasons.length}`);
        reasons.push(reason);
        return Promise.reject(reason);
      }, { ttl: 50, clock });

      const controller = new AbortController();
      const listeners = watchListeners(controller.signal);
      const calls = [
        track(load(1)),
        track(load(1)),
        track(load.withSignal(controller.signal, 1)),
      ];
      checkLru(load, { hits: 2, misses: 1, currSize: 1, tasks: 1 });
      await flush();
      assert.equal(reasons.length, 1);
      for (const call of calls) assertRejected(call, reasons[0]);
      assert.equal(listeners.count, 0);
      checkLru(load, {
        hits: 2,
        misses: 1,
        currSize: 0,
        tasks: 0,
        pending: 0,
        absent: [[1]],
      }, clock);

      // The next call is a miss and runs fn again.
      const again = track(load(1));
      await flush();
      assertRejected(again, reasons[1]);
      checkLru(
        load,
        { hits: 2, misses: 2, currSize: 0, tasks: 0, pending: 0 },
        clock,
      );

      fail = false;
      assert.equal(await load(1), 10);
      assert.equal(await load(1), 10);
      checkLru(load, {
        hits: 3,
        misses: 3,
        currSize: 1,
        tasks: 0,
        pending: 1,
        present: [[1]],
      }, clock);
    }),
);

Deno.test(
  "fn returning a plain value (number, undefined, null, object...): treated as a resolved value",
  () =>
    withoutUnhandledRejections(async () => {
      const object = { kind: "object" };
      const notThenable = { then: 5 };
      const aFunction = () => "function value";
      const values: unknown[] = [
        42,
        0,
        -0,
        NaN,
        undefined,
        null,
        false,
        "",
        object,
        notThenable,
        aFunction,
        Symbol("value"),
        10n,
      ];
      for (const value of values) {
        const clock = new ManualClock();
        let runs = 0;
        const load = alruCache((_key: string): unknown => {
          runs++;
          return value;
        }, { ttl: 10, clock });
        const calls = [track(load("k")), track(load("k"))];
        // The value is adopted a microtask later: until then the entry is in flight.
        checkLru(load, {
          hits: 1,
          misses: 1,
          currSize: 1,
          tasks: 1,
          pending: 0,
        }, clock);
        await flush();
        for (const call of calls) assertFulfilled(call, value, String(value));
        assert.equal(runs, 1);
        checkLru(load, {
          hits: 1,
          misses: 1,
          currSize: 1,
          tasks: 0,
          pending: 1,
          present: [["k"]],
        }, clock);
        assert.ok(Object.is(await load("k"), value));
        clock.advance(10);
        checkLru(load, {
          hits: 2,
          misses: 1,
          currSize: 0,
          tasks: 0,
          pending: 0,
        }, clock);
      }
    }),
);

// ----------------------------------------------- work that never settles

Deno.test(
  "work that never settles: cacheClose() without wait frees everything",
  () =>
    withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      const workSignals: AbortSignal[] = [];
      const load = alruCache((_key: string, signal: AbortSignal) => {
        workSignals.push(signal);
        return new Promise<never>(() => {});
      }, { ttl: 50, maxSize: 3, signal: true, clock });

      const controllers = [new AbortController(), new AbortController()];
      const listeners = controllers.map((c) => watchListeners(c.signal));
      const calls = [
        track(load("a")),
        track(load("a")),
        track(load.withSignal(controllers[0].signal, "a")),
        track(load.withSignal(controllers[1].signal, "b")),
        track(load("c")),
        track(load("d")), // evicts "a", whose work keeps running
      ];
      assert.equal(load.cacheInvalidate("b"), true); // "b" keeps running too
      clock.advance(1_000); // in-flight entries never expire
      await flush();
      assert.ok(calls.every((call) => call.outcome.state === "pending"));
      assert.equal(listeners[0].count + listeners[1].count, 2);
      checkLru(load, {
        maxSize: 3,
        hits: 2,
        misses: 4,
        currSize: 2,
        tasks: 2,
        pending: 0,
        present: [["c"], ["d"]],
        absent: [["a"], ["b"]],
      }, clock);

      const closing = track(load.cacheClose());
      await flush();
      assert.deepEqual(closing.outcome, {
        state: "fulfilled",
        value: undefined,
      });
      // All work the cache started is abandoned, evicted and invalidated too.
      for (const call of calls) assertAbortError(call);
      const reasonOf = (i: number) =>
        (calls[i].outcome as { reason: unknown }).reason;
      assert.equal(
        reasonOf(0),
        reasonOf(1),
        "callers of one work share a reason",
      );
      assert.equal(reasonOf(0), reasonOf(2));
      assert.equal(workSignals.length, 4);
      for (const signal of workSignals) {
        assert.equal(signal.aborted, true);
        assert.equal((signal.reason as DOMException).name, "AbortError");
      }
      assert.equal(listeners[0].count + listeners[1].count, 0);
      checkLru(load, {
        maxSize: 3,
        hits: 2,
        misses: 4,
        currSize: 0,
        tasks: 0,
        closed: true,
        pending: 0,
        absent: [["a"], ["b"], ["c"], ["d"]],
      }, clock);

      // Calls after close reject and count nothing; closing again is harmless.
      await assert.rejects(load("c"), CacheClosedError);
      await assert.rejects(
        load.withSignal(controllers[0].signal, "c"),
        CacheClosedError,
      );
      await load.cacheClose();
      await load.cacheClose({ wait: true });
      load.cacheClear();
      checkLru(load, {
        maxSize: 3,
        hits: 0,
        misses: 0,
        currSize: 0,
        tasks: 0,
        closed: true,
        pending: 0,
      }, clock);
      assert.equal(listeners[0].count, 0);
    }),
);

Deno.test(
  "after cacheClose(), the keys, signals and promises of callers of never-settling work can be collected",
  () =>
    withoutUnhandledRejections(async () => {
      // Work that never answers and stays reachable, like a socket left open.
      const hung: Promise<never>[] = [];
      const collected = new Set<string>();
      const registry = new FinalizationRegistry<string>((name) => {
        collected.add(name);
      });
      const load = alruCache((_key: object, _signal: AbortSignal) => {
        const work = new Promise<never>(() => {});
        hung.push(work);
        return work;
      }, { signal: true, maxSize: 2 });
      const names: string[] = [];
      await (async () => {
        const calls: Promise<unknown>[] = [];
        for (let i = 0; i < 4; i++) {
          const key = { key: i, payload: new Array(100).fill(i) };
          const controller = new AbortController();
          const caller = load.withSignal(controller.signal, key);
          calls.push(caller, load(key));
          registry.register(key, `key ${i}`);
          registry.register(controller.signal, `signal ${i}`);
          registry.register(caller, `caller ${i}`);
          names.push(`key ${i}`, `signal ${i}`, `caller ${i}`);
        }
        await load.cacheClose();
        for (const settled of await Promise.allSettled(calls)) {
          assert.equal(settled.status, "rejected");
          assert.equal(
            (settled as PromiseRejectedResult).reason.name,
            "AbortError",
          );
        }
      })();
      await collectUntil(() => names.every((name) => collected.has(name)));
      assert.deepEqual([...collected].sort(), [...names].sort());
      assert.equal(hung.length, 4);
      checkLru(load, {
        maxSize: 2,
        hits: 4,
        misses: 4,
        currSize: 0,
        tasks: 0,
        closed: true,
      });
    }),
);

Deno.test(
  "a closed cache is not kept alive by abandoned work that never settles",
  () =>
    withoutUnhandledRejections(async () => {
      const hung: Promise<never>[] = [];
      const collected = new Set<string>();
      const registry = new FinalizationRegistry<string>((name) => {
        collected.add(name);
      });
      const names = ["cached function", "stored value", "abandoned call"];
      await (async () => {
        const load = alruCache((key: string) => {
          if (key !== "hang") return Promise.resolve({ key });
          const work = new Promise<never>(() => {});
          hung.push(work);
          return work;
        });
        const value = await load("ok");
        const abandoned = load("hang");
        registry.register(load, names[0]);
        registry.register(value, names[1]);
        registry.register(abandoned, names[2]);
        await load.cacheClose();
        await assert.rejects(abandoned, { name: "AbortError" });
        // The closed cache keeps its settled entry, as documented.
        assert.equal(load.cacheContains("ok"), true);
      })();
      await collectUntil(() => names.every((name) => collected.has(name)));
      assert.equal(hung.length, 1, "the hung work is still reachable");
      assert.deepEqual(
        [...collected].sort(),
        [...names].sort(),
        "nothing of the dropped, closed cache stays reachable through the hung work",
      );
    }),
);

// ----------------------------------------------------------- thenables

interface Shared<T> {
  calls: Tracked<T>[];
  load: CachedFunction<[string], T, unknown>;
  clock: ManualClock;
  listeners: { readonly count: number };
}

/** Two plain callers and one with a signal, all for one key. */
async function shareResult<T>(result: () => unknown): Promise<Shared<T>> {
  const clock = new ManualClock();
  const load = alruCache((_key: string) => result(), {
    ttl: 10,
    clock,
  }) as unknown as CachedFunction<[string], T, unknown>;
  const controller = new AbortController();
  const listeners = watchListeners(controller.signal);
  const calls = [
    attempt(() => load("k")),
    attempt(() => load("k")),
    attempt(() => load.withSignal(controller.signal, "k")),
  ];
  await flush();
  return { calls, load, clock, listeners };
}

async function assertSharedValue<T>(shared: Shared<T>, value: T) {
  const { calls, load, clock, listeners } = shared;
  for (const call of calls) assertFulfilled(call, value);
  assert.equal(listeners.count, 0);
  checkLru(load, {
    hits: 2,
    misses: 1,
    currSize: 1,
    tasks: 0,
    pending: 1,
    present: [["k"]],
  }, clock);
  assert.ok(Object.is(await load("k"), value));
  clock.advance(10);
  checkLru(
    load,
    { hits: 3, misses: 1, currSize: 0, tasks: 0, pending: 0 },
    clock,
  );
}

async function assertSharedReason<T>(shared: Shared<T>, reason: unknown) {
  const { calls, load, clock, listeners } = shared;
  for (const call of calls) assertRejected(call, reason);
  assert.equal(listeners.count, 0);
  checkLru(load, {
    hits: 2,
    misses: 1,
    currSize: 0,
    tasks: 0,
    pending: 0,
    absent: [["k"]],
  }, clock);
  // A fresh call is a miss that runs fn again.
  const again = track(load("k"));
  await flush();
  assert.notEqual(again.outcome.state, "pending");
  assert.equal(load.cacheInfo().misses, 2);
}

Deno.test(
  "thenables that break the rules: the first settlement wins and is shared",
  () =>
    withoutUnhandledRejections(async () => {
      const value = { value: 1 };
      const other = { value: 2 };
      const error = new Error("thenable boom");

      // Calls both resolve and reject: resolved.
      await assertSharedValue(
        await shareResult<typeof value>(() => ({
          then(resolve: (v: unknown) => void, reject: (r: unknown) => void) {
            resolve(value);
            reject(error);
          },
        })),
        value,
      );
      // Calls reject, then resolve: rejected.
      await assertSharedReason(
        await shareResult<typeof value>(() => ({
          then(resolve: (v: unknown) => void, reject: (r: unknown) => void) {
            reject(error);
            resolve(value);
          },
        })),
        error,
      );
      // Resolves twice: the first value.
      await assertSharedValue(
        await shareResult<typeof value>(() => ({
          then(resolve: (v: unknown) => void) {
            resolve(value);
            resolve(other);
          },
        })),
        value,
      );
      // Resolves with another thenable, which resolves: its value is adopted.
      await assertSharedValue(
        await shareResult<typeof value>(() => ({
          then(resolve: (v: unknown) => void) {
            resolve({
              then(inner: (v: unknown) => void) {
                inner(value);
              },
            });
          },
        })),
        value,
      );
      // Resolves with another thenable, which rejects: rejected.
      await assertSharedReason(
        await shareResult<typeof value>(() => ({
          then(resolve: (v: unknown) => void) {
            resolve({
              then(_: unknown, reject: (r: unknown) => void) {
                reject(error);
              },
            });
          },
        })),
        error,
      );
      // Resolves with a rejected native promise: rejected.
      await assertSharedReason(
        await shareResult<typeof value>(() => ({
          then(resolve: (v: unknown) => void) {
            const rejected = Promise.reject(error);
            resolve(rejected);
          },
        })),
        error,
      );
      // `then` throws before settling: rejected with what it threw.
      await assertSharedReason(
        await shareResult<typeof value>(() => ({
          then() {
            throw error;
          },
        })),
        error,
      );
      // `then` throws after resolving: the value stands.
      await assertSharedValue(
        await shareResult<typeof value>(() => ({
          then(resolve: (v: unknown) => void) {
            resolve(value);
            throw error;
          },
        })),
        value,
      );
      // The `then` getter throws: rejected with what it threw.
      let getterCalls = 0;
      await assertSharedReason(
        await shareResult<typeof value>(() =>
          Object.defineProperty({}, "then", {
            get() {
              getterCalls++;
              throw error;
            },
          })
        ),
        error,
      );
      assert.equal(
        getterCalls,
        2,
        "once for the miss, once for the fresh call",
      );
      // `then` settles later, from outside: still shared.
      let settleLater = (_: unknown) => {};
      const later = await shareResult<typeof value>(() => ({
        then(resolve: (v: unknown) => void) {
          settleLater = resolve;
        },
      }));
      assert.ok(later.calls.every((call) => call.outcome.state === "pending"));
      checkLru(later.load, { hits: 2, misses: 1, currSize: 1, tasks: 1 });
      settleLater(value);
      settleLater(other);
      await flush();
      await assertSharedValue(later, value);
    }),
);

Deno.test(
  "a native promise whose own then or constructor throws: the call rejects, the cache stays consistent",
  () =>
    withoutUnhandledRejections(async () => {
      const error = new Error("native boom");
      const withThrowingThen = () => {
        const promise = Promise.resolve({ value: 1 });
        Object.defineProperty(promise, "then", {
          value: () => {
            throw error;
          },
        });
        return promise;
      };
      const withThrowingConstructor = () => {
        const promise = Promise.resolve({ value: 1 });
        Object.defineProperty(promise, "constructor", {
          get() {
            throw error;
          },
        });
        return promise;
      };
      for (
        const [name, make] of [
          ["own then throws", withThrowingThen],
          ["constructor getter throws", withThrowingConstructor],
        ] as const
      ) {
        const clock = new ManualClock();
        let fault = true;
        const load = alruCache(
          (key: string) => fault ? make() : Promise.resolve({ key }),
          { ttl: 10, clock },
        );
        const first = attempt(() => load("k"));
        await flush();
        // Like a thenable whose then throws: a rejection, not a synchronous throw.
        assert.notEqual(
          first.outcome.state,
          "threw",
          `${name}: ${
            first.outcome.state === "threw" ? String(first.outcome.error) : ""
          }`,
        );
        assertRejected(first, error, name);
        const { hits, misses } = load.cacheInfo();
        assert.equal(hits, 0, name);
        checkLru(load, {
          hits: 0,
          misses,
          currSize: 0,
          tasks: 0,
          pending: 0,
          absent: [["k"]],
        }, clock);
        // A fresh call behaves normally.
        fault = false;
        const value = attempt(() => load("k"));
        await flush();
        assert.deepEqual(value.outcome, {
          state: "fulfilled",
          value: { key: "k" },
        }, name);
        checkLru(load, {
          hits: 0,
          misses: misses + 1,
          currSize: 1,
          tasks: 0,
          pending: 1,
        }, clock);
        // Nothing stays in flight: closing with wait does not hang.
        const closing = track(load.cacheClose({ wait: true }));
        await flush();
        assert.equal(
          closing.outcome.state,
          "fulfilled",
          `${name}: close waits forever`,
        );
      }
    }),
);

// ------------------------------------------------------- key option throws

Deno.test(
  "the key option throwing: the call rejects with it, nothing counted or stored; contains and invalidate throw it",
  () =>
    withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      const keyError = new Error("key boom");
      let runs = 0;
      const load = alruCache(async (id: number, _label?: string) => {
        runs++;
        return await Promise.resolve({ id });
      }, {
        ttl: 20,
        clock,
        key: (id: number, _label?: string) => {
          if (id < 0) throw keyError;
          return id;
        },
      });
      const stored = await load(1);
      checkLru(
        load,
        { hits: 0, misses: 1, currSize: 1, tasks: 0, pending: 1 },
        clock,
      );

      const controller = new AbortController();
      const listeners = watchListeners(controller.signal);
      const calls = [
        track(load(-1)),
        track(load(-1, "x")),
        track(load.withSignal(controller.signal, -1)),
      ];
      await flush();
      for (const call of calls) assertRejected(call, keyError);
      assert.equal(runs, 1, "fn is not called");
      assert.equal(listeners.count, 0);
      assert.throws(() => load.cacheContains(-1), (e) => e === keyError);
      assert.throws(() => load.cacheInvalidate(-1), (e) => e === keyError);
      checkLru(load, {
        hits: 0,
        misses: 1,
        currSize: 1,
        tasks: 0,
        pending: 1,
        present: [[1]],
      }, clock);

      // The cache goes on as before.
      assert.equal(await load(1), stored);
      assert.deepEqual(await load(2), { id: 2 });
      checkLru(
        load,
        { hits: 1, misses: 2, currSize: 2, tasks: 0, pending: 1 },
        clock,
      );
      clock.advance(20);
      checkLru(
        load,
        { hits: 1, misses: 2, currSize: 0, tasks: 0, pending: 0 },
        clock,
      );
    }),
);

// ------------------------------------------------------ the random option

Deno.test(
  "random at the ends of [0, 1): entries expire at exactly ttl, and just before ttl + jitter",
  () =>
    withoutUnhandledRejections(async () => {
      const ttl = 100;
      const jitter = 200;
      const cases = [
        { random: 0, lifetime: ttl, before: ttl - 0.001 },
        {
          random: 0.9999999,
          lifetime: ttl + 0.9999999 * jitter,
          before: ttl + jitter - 0.0001,
        },
      ];
      for (const { random, lifetime, before } of cases) {
        assert.ok(before < lifetime && lifetime < ttl + jitter);
        const setup = async () => {
          const clock = new ManualClock();
          let draws = 0;
          const load = alruCache(
            async (n: number) => await Promise.resolve({ n }),
            {
              ttl,
              jitter,
              random: () => {
                draws++;
                return random;
              },
              clock,
            },
          );
          await load(1);
          assert.equal(draws, 1);
          return { clock, load, draws: () => draws };
        };
        // Just before the deadline: present, one timer.
        const early = await setup();
        early.clock.advance(before);
        checkLru(early.load, {
          hits: 0,
          misses: 1,
          currSize: 1,
          tasks: 0,
          pending: 1,
          present: [[1]],
        }, early.clock);
        early.clock.advance(ttl + jitter - before);
        checkLru(early.load, {
          hits: 0,
          misses: 1,
          currSize: 0,
          tasks: 0,
          pending: 0,
        }, early.clock);
        // At the deadline exactly: gone, no timer left.
        const exact = await setup();
        exact.clock.advance(lifetime);
        checkLru(exact.load, {
          hits: 0,
          misses: 1,
          currSize: 0,
          tasks: 0,
          pending: 0,
          absent: [[1]],
        }, exact.clock);
        // A fresh call is a miss with a fresh draw.
        await exact.load(1);
        assert.equal(exact.draws(), 2);
        checkLru(exact.load, {
          hits: 0,
          misses: 2,
          currSize: 1,
          tasks: 0,
          pending: 1,
        }, exact.clock);
      }
    }),
);

Deno.test(
  "random 0 with ttl 0 drops the entry on settling; expiry counts from settling, not from the call",
  () =>
    withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      const dedupe = alruCache(async (n: number) => await Promise.resolve(n), {
        ttl: 0,
        jitter: 5,
        random: () => 0,
        clock,
      });
      assert.equal(await dedupe(1), 1);
      checkLru(dedupe, {
        hits: 0,
        misses: 1,
        currSize: 0,
        tasks: 0,
        pending: 0,
      }, clock);

      const work = deferred<string>();
      let draws = 0;
      const load = alruCache((_n: number) => work.promise, {
        ttl: 100,
        jitter: 200,
        random: () => {
          draws++;
          return 0;
        },
        clock,
      });
      const call = track(load(1));
      clock.advance(500); // in flight: never expires, nothing drawn
      assert.equal(draws, 0);
      checkLru(
        load,
        { hits: 0, misses: 1, currSize: 1, tasks: 1, pending: 0 },
        clock,
      );
      work.resolve("v");
      await flush();
      assertFulfilled(call, "v");
      assert.equal(draws, 1);
      clock.advance(99);
      assert.equal(load.cacheContains(1), true);
      clock.advance(1);
      checkLru(
        load,
        { hits: 0, misses: 1, currSize: 0, tasks: 0, pending: 0 },
        clock,
      );

      // Rejected work draws nothing.
      const failing = alruCache(() => Promise.reject(new Error("no")), {
        ttl: 100,
        jitter: 200,
        random: () => {
          draws++;
          return 0;
        },
        clock,
      });
      await assert.rejects(failing(), { message: "no" });
      assert.equal(draws, 1);
    }),
);

Deno.test(
  "random or the clock throwing when an entry settles: callers still settle, no unhandled rejection",
  () =>
    withoutUnhandledRejections(async () => {
      const boom = new Error("random boom");
      const faults: {
        name: string;
        make(clock: ManualClock): AlruCacheOptions<[string]>;
      }[] = [
        {
          name: "random throws once",
          make(clock) {
            let first = true;
            return {
              ttl: 10,
              jitter: 10,
              clock,
              random: () => {
                if (first) {
                  first = false;
                  throw boom;
                }
                return 0.5;
              },
            };
          },
        },
        {
          name: "clock.setTimeout throws once",
          make(clock) {
            let first = true;
            return {
              ttl: 10,
              clock: {
                now: () => clock.now(),
                setTimeout(callback: () => void, delay: number) {
                  if (first) {
                    first = false;
                    throw boom;
                  }
                  return clock.setTimeout(callback, delay);
                },
                clearTimeout: (handle: unknown) => clock.clearTimeout(handle),
              },
            };
          },
        },
      ];
      for (const { name, make } of faults) {
        const clock = new ManualClock();
        const load = alruCache(
          async (key: string) => await Promise.resolve({ key }),
          make(clock),
        );
        const calls = [track(load("a")), track(load("a"))];
        await flush();
        for (const call of calls) {
          assert.notEqual(
            call.outcome.state,
            "pending",
            `${name}: caller hangs`,
          );
        }
        assert.deepEqual(calls[0].outcome, calls[1].outcome, name);
        // The entry may be dropped or kept, as long as it still expires.
        const { currSize } = load.cacheInfo();
        checkLru(load, { hits: 1, misses: 1, currSize, tasks: 0 });
        assert.equal(load.cacheContains("a"), currSize === 1, name);
        assert.ok(clock.pending <= currSize, `${name}: timers without entries`);
        // Afterwards, a fresh entry expires on time.
        assert.deepEqual(await load("b"), { key: "b" });
        assert.equal(clock.pending, 1, `${name}: the fresh entry has a timer`);
        clock.advance(20);
        checkLru(load, {
          hits: 1,
          misses: 2,
          currSize: 0,
          tasks: 0,
          pending: 0,
          absent: [["a"], ["b"]],
        }, clock);
      }
    }),
);

// ------------------------------------------- rejection reasons not Errors

Deno.test(
  "rejection reasons that are not Errors are shared as they are",
  () =>
    withoutUnhandledRejections(async () => {
      const frozen = Object.freeze({ code: "E_FROZEN" });
      const reasons: unknown[] = [
        undefined,
        null,
        "a string",
        0,
        frozen,
        Symbol("s"),
      ];
      for (const reason of reasons) {
        const clock = new ManualClock();
        const work = deferred<number>();
        const load = alruCache((_n: number) => work.promise, {
          ttl: 10,
          clock,
        });
        const controller = new AbortController();
        const listeners = watchListeners(controller.signal);
        const calls = [
          track(load(1)),
          track(load(1)),
          track(load.withSignal(controller.signal, 1)),
        ];
        work.reject(reason);
        await flush();
        for (const call of calls) assertRejected(call, reason, String(reason));
        assert.equal(listeners.count, 0);
        checkLru(load, {
          hits: 2,
          misses: 1,
          currSize: 0,
          tasks: 0,
          pending: 0,
          absent: [[1]],
        }, clock);
        // Already rejected with it: the same.
        const again = alruCache(() => Promise.reject(reason));
        const both = [track(again()), track(again())];
        await flush();
        for (const call of both) assertRejected(call, reason, String(reason));
      }
      assert.ok(Object.isFrozen(frozen));
    }),
);

// ---------------------------------------------------------- re-entrancy

Deno.test(
  "fn calling its own cache with the same key before returning: the outer entry wins, both callers get their own work",
  () =>
    withoutUnhandledRejections(async () => {
      for (const innerFirst of [true, false]) {
        const clock = new ManualClock();
        const works: Deferred<{ run: number }>[] = [];
        let inner: Tracked<{ run: number }> | undefined;
        const load = alruCache((key: string): Promise<{ run: number }> => {
          const work = deferred<{ run: number }>();
          works.push(work);
          if (works.length === 1) inner = track(load(key));
          return work.promise;
        }, { ttl: 10, clock });
        const outer = track(load("k"));
        // The inner call missed too; its entry was replaced by the outer one.
        assert.equal(works.length, 2);
        checkLru(load, {
          hits: 0,
          misses: 2,
          currSize: 1,
          tasks: 1,
          pending: 0,
          present: [["k"]],
        }, clock);
        const outerValue = { run: 0 };
        const innerValue = { run: 1 };
        const innerError = new Error("inner failed");
        if (innerFirst) {
          works[1].resolve(innerValue);
          await flush();
          assertFulfilled(inner!, innerValue);
          // The inner work's result is not stored over the outer entry.
          checkLru(load, {
            hits: 0,
            misses: 2,
            currSize: 1,
            tasks: 1,
            pending: 0,
          }, clock);
          works[0].resolve(outerValue);
        } else {
          works[0].resolve(outerValue);
          await flush();
          // The stale inner work fails later: the outer entry stays.
          works[1].reject(innerError);
        }
        await flush();
        assertFulfilled(outer, outerValue);
        if (!innerFirst) assertRejected(inner!, innerError);
        checkLru(load, {
          hits: 0,
          misses: 2,
          currSize: 1,
          tasks: 0,
          pending: 1,
          present: [["k"]],
        }, clock);
        assert.equal(await load("k"), outerValue);
        clock.advance(10);
        checkLru(load, {
          hits: 1,
          misses: 2,
          currSize: 0,
          tasks: 0,
          pending: 0,
        }, clock);
      }
    }),
);

Deno.test(
  "fn calling its own cache with other keys before returning: hits, misses and eviction stay consistent",
  () =>
    withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      const load = alruCache((key: string): Promise<string> => {
        if (key === "a") {
          void load("x"); // a hit on a settled entry: "x" becomes the most recent
          void load("b"); // a miss
        }
        return Promise.resolve(key.toUpperCase());
      }, { maxSize: 3, ttl: 10, clock });
      assert.equal(await load("x"), "X");
      assert.equal(await load("y"), "Y");
      // Order before "a" goes in: y, x, b. "a" makes four: "y" is evicted.
      assert.equal(await load("a"), "A");
      await flush();
      checkLru(load, {
        maxSize: 3,
        hits: 1,
        misses: 4,
        currSize: 3,
        tasks: 0,
        pending: 1,
        present: [["x"], ["b"], ["a"]],
        absent: [["y"]],
      }, clock);
      assert.equal(await load("b"), "B");
      assert.equal(await load("y"), "Y"); // evicts "x", the least recent now
      checkLru(load, {
        maxSize: 3,
        hits: 2,
        misses: 5,
        currSize: 3,
        tasks: 0,
        present: [["b"], ["a"], ["y"]],
        absent: [["x"]],
      });
      clock.advance(10);
      checkLru(
        load,
        { maxSize: 3, hits: 2, misses: 5, currSize: 0, tasks: 0, pending: 0 },
        clock,
      );
    }),
);

Deno.test(
  "fn calling its own cache, then throwing synchronously: the outer call rejects, the inner entry stands",
  () =>
    withoutUnhandledRejections(async () => {
      const boom = new Error("after re-entry");
      const inner = deferred<string>();
      let depth = 0;
      let innerCall: Promise<string> | undefined;
      const load = alruCache((key: string): Promise<string> => {
        depth++;
        if (depth === 1) {
          innerCall = load(key);
          throw boom;
        }
        return inner.promise;
      });
      const outer = track(load("k"));
      const innerTracked = track(innerCall!);
      await flush();
      assertRejected(outer, boom);
      checkLru(load, {
        hits: 0,
        misses: 1,
        currSize: 1,
        tasks: 1,
        present: [["k"]],
      });
      inner.resolve("inner");
      await flush();
      assertFulfilled(innerTracked, "inner");
      assert.equal(await load("k"), "inner");
      checkLru(load, { hits: 1, misses: 1, currSize: 1, tasks: 0 });
    }),
);

// ---------------------------------- fn clears, invalidates, closes its cache

Deno.test(
  "fn calling cacheClear() during its run: older entries go, its own entry is stored, counters restart",
  () =>
    withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      const works = new Map<string, Deferred<string>>();
      const load = alruCache((key: string): Promise<string> => {
        if (key === "clearing") load.cacheClear();
        if (key === "settled") return Promise.resolve("S");
        const work = deferred<string>();
        works.set(key, work);
        return work.promise;
      }, { ttl: 10, clock });
      assert.equal(await load("settled"), "S");
      const flying = track(load("flying"));
      checkLru(
        load,
        { hits: 0, misses: 2, currSize: 2, tasks: 1, pending: 1 },
        clock,
      );

      const clearing = track(load("clearing"));
      // Cleared while fn ran, then its own miss was counted and stored.
      checkLru(load, {
        hits: 0,
        misses: 1,
        currSize: 1,
        tasks: 1,
        pending: 0,
        present: [["clearing"]],
        absent: [["settled"], ["flying"]],
      }, clock);
      works.get("flying")!.resolve("F");
      await flush();
      assertFulfilled(flying, "F"); // cleared work still reaches its callers
      checkLru(
        load,
        { hits: 0, misses: 1, currSize: 1, tasks: 1, pending: 0 },
        clock,
      );
      works.get("clearing")!.resolve("C");
      await flush();
      assertFulfilled(clearing, "C");
      checkLru(load, {
        hits: 0,
        misses: 1,
        currSize: 1,
        tasks: 0,
        pending: 1,
        present: [["clearing"]],
      }, clock);
      // A fresh call for a cleared key is a miss.
      assert.equal(await load("settled"), "S");
      checkLru(
        load,
        { hits: 0, misses: 2, currSize: 2, tasks: 0, pending: 1 },
        clock,
      );
      clock.advance(10);
      checkLru(
        load,
        { hits: 0, misses: 2, currSize: 0, tasks: 0, pending: 0 },
        clock,
      );
    }),
);

Deno.test(
  "fn calling cacheInvalidate() during its run: its own key has no entry yet, other keys go",
  () =>
    withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      const results: boolean[] = [];
      let nested: Promise<string> | undefined;
      let nestedDepth = 0;
      const load = alruCache((key: string): Promise<string> => {
        if (key === "self") results.push(load.cacheInvalidate("self"));
        if (key === "other-and-self") {
          results.push(load.cacheInvalidate("x"));
          results.push(load.cacheInvalidate("other-and-self"));
        }
        if (key === "nested" && ++nestedDepth === 1) {
          // A re-entrant call makes an entry; invalidating it removes that one.
          nested = load("nested");
          results.push(load.cacheInvalidate("nested"));
          return Promise.resolve("outer");
        }
        return Promise.resolve(key);
      }, { ttl: 10, clock });
      await load("x");
      assert.equal(await load("self"), "self");
      assert.equal(await load("other-and-self"), "other-and-self");
      assert.equal(await load("nested"), "outer");
      assert.equal(await nested, "nested"); // the inner call ran fn for itself
      // The entry is inserted when fn returns, so during fn its own key is absent.
      assert.deepEqual(results, [false, true, false, true]);
      checkLru(load, {
        hits: 0,
        misses: 5,
        currSize: 3,
        tasks: 0,
        pending: 1,
        present: [["self"], ["other-and-self"], ["nested"]],
        absent: [["x"]],
      }, clock);
      assert.equal(await load("nested"), "outer");
      clock.advance(10);
      checkLru(
        load,
        { hits: 1, misses: 5, currSize: 0, tasks: 0, pending: 0 },
        clock,
      );
    }),
);

Deno.test(
  "fn calling cacheClose() during its run: that work is abandoned like all in-flight work",
  () =>
    withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      const workSignals: AbortSignal[] = [];
      let closing: Tracked<void> | undefined;
      const load = alruCache(
        (key: string, signal: AbortSignal): Promise<string> => {
          workSignals.push(signal);
          if (key === "close") closing = track(load.cacheClose());
          return new Promise<never>(() => {});
        },
        { ttl: 10, clock, signal: true },
      );
      const before = track(load("before"));
      const call = track(load("close"));
      await flush();
      assert.deepEqual(closing!.outcome, {
        state: "fulfilled",
        value: undefined,
      });
      assertAbortError(before, "work started before the close");
      // The work whose fn closed the cache was in flight when it closed.
      assertAbortError(call, "work whose fn closed the cache");
      assert.ok(workSignals.every((signal) => signal.aborted));
      const { misses } = load.cacheInfo();
      checkLru(load, {
        hits: 0,
        misses,
        currSize: 0,
        tasks: 0,
        closed: true,
        pending: 0,
        absent: [["close"]],
      }, clock);
      await assert.rejects(load("close"), CacheClosedError);
    }),
);

Deno.test(
  "fn calling cacheClose({ wait: true }) during its run: its caller gets the value, no timer is left",
  () =>
    withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      const work = deferred<string>();
      let closing: Tracked<void> | undefined;
      const load = alruCache((_key: string): Promise<string> => {
        closing = track(load.cacheClose({ wait: true }));
        return work.promise;
      }, { ttl: 10, clock });
      const call = track(load("k"));
      work.resolve("v");
      await flush();
      assertFulfilled(call, "v");
      assert.equal(closing!.outcome.state, "fulfilled");
      // A closed cache schedules no expiry; the entry is kept, as with wait: true.
      const { currSize } = load.cacheInfo();
      checkLru(load, {
        hits: 0,
        misses: 1,
        currSize,
        tasks: 0,
        closed: true,
        pending: 0,
      }, clock);
      assert.equal(load.cacheContains("k"), currSize === 1);
      clock.advance(100);
      assert.equal(load.cacheInfo().currSize, currSize);
      await assert.rejects(load("k"), CacheClosedError);
    }),
);

// ------------------------------------------------------ aborting callers

Deno.test(
  "a caller's signal aborted while fn or the key function runs: that caller rejects with its reason",
  () =>
    withoutUnhandledRejections(async () => {
      // fn aborts the caller's signal before returning work that never settles.
      {
        const controller = new AbortController();
        const listeners = watchListeners(controller.signal);
        const reason = new Error("aborted during fn");
        const workSignals: AbortSignal[] = [];
        const load = alruCache((_key: string, signal: AbortSignal) => {
          workSignals.push(signal);
          controller.abort(reason);
          return new Promise<never>(() => {});
        }, { signal: true });
        const call = track(load.withSignal(controller.signal, "k"));
        await flush();
        assertRejected(call, reason, "aborted during fn");
        assert.equal(listeners.count, 0);
        // Nobody waits any more: the work stops and its entry goes.
        assert.equal(workSignals[0].aborted, true);
        checkLru(load, { hits: 0, misses: 1, currSize: 0, tasks: 0 });
        await load.cacheClose();
      }
      // The key function aborts the caller's signal; the call joins work that a
      // plain caller keeps alive.
      {
        const controller = new AbortController();
        const listeners = watchListeners(controller.signal);
        const reason = new Error("aborted during key");
        const work = deferred<string>();
        const load = alruCache((_key: string) => work.promise, {
          key: (key: string) => {
            if (key === "abort") controller.abort(reason);
            return "same";
          },
        });
        const plain = track(load("plain"));
        const call = track(load.withSignal(controller.signal, "abort"));
        await flush();
        assertRejected(call, reason, "aborted during key");
        assert.equal(listeners.count, 0);
        checkLru(load, { hits: 1, misses: 1, currSize: 1, tasks: 1 });
        work.resolve("v");
        await flush();
        assertFulfilled(plain, "v");
        checkLru(load, { hits: 1, misses: 1, currSize: 1, tasks: 0 });
      }
    }),
);

Deno.test(
  "random returning a value outside [0, 1): callers get a RangeError naming the option, nothing is kept",
  () =>
    withoutUnhandledRejections(async () => {
      for (const bad of [Number.NaN, 1, -0.5, Infinity]) {
        const clock = new ManualClock();
        const load = alruCache((key: string) => Promise.resolve(key), {
          ttl: 10,
          jitter: 10,
          random: () => bad,
          clock,
        });
        await assert.rejects(
          load("k"),
          (error) =>
            error instanceof RangeError && /"random"/.test(error.message),
          String(bad),
        );
        assert.equal(load.cacheContains("k"), false);
        assert.equal(clock.pending, 0);
      }
    }),
);
