/**
 * Work that never settles: closing the cache without wait frees its callers,
 * and neither they nor the closed cache stay reachable through the hung
 * work.
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
  checkLru,
  FinalizationWatch,
  flush,
  track,
  watchListeners,
  withoutUnhandledRejections,
} from "./_helpers.ts";

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
      const finalisation = new FinalizationWatch();
      const load = alruCache((_key: object, _signal: AbortSignal) => {
        const work = new Promise<never>(() => {});
        hung.push(work);
        return work;
      }, { signal: true, maxSize: 2 });
      await (async () => {
        const calls: Promise<unknown>[] = [];
        for (let i = 0; i < 4; i++) {
          const key = { key: i, payload: new Array(100).fill(i) };
          const controller = new AbortController();
          const caller = load.withSignal(controller.signal, key);
          calls.push(caller, load(key));
          finalisation.watch(key, `key ${i}`);
          finalisation.watch(controller.signal, `signal ${i}`);
          finalisation.watch(caller, `caller ${i}`);
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
      assert.deepEqual(await finalisation.uncollected(), []);
      // After the collection, so that the hung work stayed reachable through it.
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
      const finalisation = new FinalizationWatch();
      await (async () => {
        const load = alruCache((key: string) => {
          if (key !== "hang") return Promise.resolve({ key });
          const work = new Promise<never>(() => {});
          hung.push(work);
          return work;
        });
        const value = await load("ok");
        const abandoned = load("hang");
        finalisation.watch(load, "cached function");
        finalisation.watch(value, "stored value");
        finalisation.watch(abandoned, "abandoned call");
        await load.cacheClose();
        await assert.rejects(abandoned, { name: "AbortError" });
        // The closed cache keeps its settled entry, as documented.
        assert.equal(load.cacheContains("ok"), true);
      })();
      assert.deepEqual(
        await finalisation.uncollected(),
        [],
        "nothing of the dropped, closed cache stays reachable through the hung work",
      );
      // After the collection, so that the hung work stayed reachable through it.
      assert.equal(hung.length, 1, "the hung work is still reachable");
    }),
);
