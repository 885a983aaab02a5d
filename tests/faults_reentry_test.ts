/**
 * The cached function acting on its own cache while it runs: calling it with
 * the same key or others, clearing it, invalidating keys or closing it; and
 * the function or the `key` option aborting the caller's signal.
 *
 * After each fault: no unhandled rejection (each test fails on one), every
 * caller's promise settles, the counters agree with the entries, no expiry
 * timer is left behind, no listener stays on a caller's signal, and a fresh
 * call behaves normally. Time only moves through `ManualClock`.
 */
import assert from "node:assert/strict";
import { alruCache, CacheClosedError, ManualClock } from "../mod.ts";
import {
  assertAbortError,
  assertFulfilled,
  assertRejected,
  checkLru,
  type Deferred,
  deferred,
  flush,
  track,
  type Tracked,
  watchListeners,
  withoutUnhandledRejections,
} from "./_helpers.ts";

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
