/**
 * Faults in what the cached function does: it throws synchronously, returns
 * an already-rejected promise, a plain value, a thenable that breaks the
 * rules or a native promise whose own `then` or constructor throws, or
 * rejects with a reason that is not an Error.
 *
 * After each fault: no unhandled rejection (each test fails on one), every
 * caller's promise settles, the counters agree with the entries, no expiry
 * timer is left behind, no listener stays on a caller's signal, and a fresh
 * call behaves normally. Time only moves through `ManualClock`.
 */
import assert from "node:assert/strict";
import { alruCache, type CachedFunction, ManualClock } from "../mod.ts";
import {
  assertFulfilled,
  assertRejected,
  attempt,
  checkLru,
  deferred,
  flush,
  track,
  type Tracked,
  watchListeners,
  withoutUnhandledRejections,
} from "./_helpers.ts";

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

async function assertSharedValue<T>(
  shared: Shared<T>,
  value: T,
  label?: string,
) {
  const { calls, load, clock, listeners } = shared;
  for (const call of calls) assertFulfilled(call, value, label);
  assert.equal(listeners.count, 0, label);
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

async function assertSharedReason<T>(
  shared: Shared<T>,
  reason: unknown,
  label?: string,
) {
  const { calls, load, clock, listeners } = shared;
  for (const call of calls) assertRejected(call, reason, label);
  assert.equal(listeners.count, 0, label);
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

      type Resolve = (v: unknown) => void;
      type Reject = (r: unknown) => void;
      // What fn returns, and whether its callers share `value` or `error`.
      const thenables: [string, () => unknown, "value" | "error"][] = [
        ["calls both resolve and reject: resolved", () => ({
          then(resolve: Resolve, reject: Reject) {
            resolve(value);
            reject(error);
          },
        }), "value"],
        ["calls reject, then resolve: rejected", () => ({
          then(resolve: Resolve, reject: Reject) {
            reject(error);
            resolve(value);
          },
        }), "error"],
        ["resolves twice: the first value", () => ({
          then(resolve: Resolve) {
            resolve(value);
            resolve(other);
          },
        }), "value"],
        [
          "resolves with another thenable, which resolves: its value is adopted",
          () => ({
            then(resolve: Resolve) {
              resolve({
                then(inner: Resolve) {
                  inner(value);
                },
              });
            },
          }),
          "value",
        ],
        ["resolves with another thenable, which rejects: rejected", () => ({
          then(resolve: Resolve) {
            resolve({
              then(_: unknown, reject: Reject) {
                reject(error);
              },
            });
          },
        }), "error"],
        ["resolves with a rejected native promise: rejected", () => ({
          then(resolve: Resolve) {
            const rejected = Promise.reject(error);
            resolve(rejected);
          },
        }), "error"],
        ["`then` throws before settling: rejected with what it threw", () => ({
          then() {
            throw error;
          },
        }), "error"],
        ["`then` throws after resolving: the value stands", () => ({
          then(resolve: Resolve) {
            resolve(value);
            throw error;
          },
        }), "value"],
      ];
      for (const [label, result, shares] of thenables) {
        const shared = await shareResult<typeof value>(result);
        if (shares === "value") await assertSharedValue(shared, value, label);
        else await assertSharedReason(shared, error, label);
      }
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
        then(resolve: Resolve) {
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
