/**
 * Faults in the options that are functions: a `key` option that throws, and
 * a `random` option that returns the ends of [0, 1), throws, or returns a
 * value outside it. (A clock that fails is tests/failing_clock_test.ts.)
 *
 * After each fault: no unhandled rejection (each test fails on one), every
 * caller's promise settles, the counters agree with the entries, no expiry
 * timer is left behind, no listener stays on a caller's signal, and a fresh
 * call behaves normally. Time only moves through `ManualClock`.
 */
import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import {
  assertFulfilled,
  assertRejected,
  checkLru,
  deferred,
  flush,
  track,
  watchListeners,
  withoutUnhandledRejections,
} from "./_helpers.ts";

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
      const random = () => {
        draws++;
        return 0;
      };
      const load = alruCache((_n: number) => work.promise, {
        ttl: 100,
        jitter: 200,
        random,
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
        random,
        clock,
      });
      await assert.rejects(failing(), { message: "no" });
      assert.equal(draws, 1);
    }),
);

Deno.test(
  "random throwing when an entry settles: callers still settle alike, no unhandled rejection",
  () =>
    withoutUnhandledRejections(async () => {
      const boom = new Error("random boom");
      const clock = new ManualClock();
      let first = true;
      const load = alruCache(
        async (key: string) => await Promise.resolve({ key }),
        {
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
        },
      );
      const calls = [track(load("a")), track(load("a"))];
      await flush();
      for (const call of calls) {
        assert.notEqual(call.outcome.state, "pending", "caller hangs");
      }
      assert.deepEqual(calls[0].outcome, calls[1].outcome);
      // The entry may be dropped or kept, as long as it still expires.
      const { currSize } = load.cacheInfo();
      checkLru(load, { hits: 1, misses: 1, currSize, tasks: 0 });
      assert.equal(load.cacheContains("a"), currSize === 1);
      assert.ok(clock.pending <= currSize, "timers without entries");
      // Afterwards, a fresh entry expires on time.
      assert.deepEqual(await load("b"), { key: "b" });
      assert.equal(clock.pending, 1, "the fresh entry has a timer");
      clock.advance(20);
      checkLru(load, {
        hits: 1,
        misses: 2,
        currSize: 0,
        tasks: 0,
        pending: 0,
        absent: [["a"], ["b"]],
      }, clock);
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
