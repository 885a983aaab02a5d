/**
 * A clock whose setTimeout, clearTimeout or now throws. What the cache needs
 * to answer a call (the time an entry settles at) fails that call; what it
 * does for upkeep (arming, cancelling, firing the expiry timer) is reported
 * once per cache through console.error, and the entries it could not time
 * are dropped. Either way no caller hangs, the cache stays whole, and later
 * entries expire on time.
 */
import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import {
  assertWhole,
  checkLru,
  hookedClock,
  once,
  withErrors,
  withoutUnhandledRejections,
} from "./_helpers.ts";

const boom = new Error("clock boom");
const throwBoom = () => {
  throw boom;
};

function assertReported(errors: unknown[][], count: number): void {
  assert.equal(errors.length, count, Deno.inspect(errors));
  for (const [message, error] of errors) {
    assert.match(String(message), /alruCache's clock failed for load/);
    assert.equal(error, boom);
  }
}

Deno.test("clearTimeout throwing during eviction: the call resolves, the key is not left in flight", async () => {
  await withErrors(async (errors) => {
    await withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      const hooks: { clearTimeout?: () => void } = {};
      const load = alruCache(async function load(key: number) {
        return await Promise.resolve(key);
      }, { maxSize: 1, ttl: 100, clock: hookedClock(clock, hooks) });
      await load(1);
      hooks.clearTimeout = once(throwBoom);
      const call = load(2); // evicts 1, so the timer is cancelled
      assert.ok(call instanceof Promise);
      assert.equal(await call, 2);
      assert.equal(await load(2), 2, "later callers are answered");
      checkLru(load, { hits: 1, misses: 2, currSize: 1, tasks: 0, maxSize: 1 });
      assertReported(errors, 1);
      assertWhole(load);
      clock.advance(100);
      assert.equal(load.cacheContains(2), false, "the entry still expires");
      // The timer whose cancel failed fired too, harmlessly.
      assert.equal(clock.pending, 0);
      assertWhole(load);
    });
  });
});

Deno.test("setTimeout throwing when an entry settles: its callers get the value, the entry that cannot expire is not kept", async () => {
  await withErrors(async (errors) => {
    await withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      const hooks: { setTimeout?: () => void } = {};
      const load = alruCache(async function load(key: number) {
        return await Promise.resolve(key);
      }, { ttl: 100, clock: hookedClock(clock, hooks) });
      hooks.setTimeout = once(throwBoom);
      const calls = [load(1), load(1)];
      assert.deepEqual(await Promise.all(calls), [1, 1]);
      assert.equal(load.cacheContains(1), false);
      assertReported(errors, 1);
      assertWhole(load);
      // The next entry is timed as usual.
      assert.equal(await load(2), 2);
      assert.equal(clock.pending, 1);
      clock.advance(100);
      assert.equal(load.cacheContains(2), false);
      checkLru(
        load,
        { hits: 1, misses: 2, currSize: 0, tasks: 0, pending: 0 },
        clock,
      );
    });
  });
});

Deno.test("setTimeout throwing when the timer re-arms: the remaining entries are dropped, never served stale", async () => {
  await withErrors(async (errors) => {
    const clock = new ManualClock();
    const hooks: { setTimeout?: () => void } = {};
    let runs = 0;
    const load = alruCache(async function load(key: number) {
      runs++;
      return await Promise.resolve(key);
    }, { ttl: 100, clock: hookedClock(clock, hooks) });
    await load(1);
    clock.advance(50);
    await load(2); // due at 150
    hooks.setTimeout = once(throwBoom);
    clock.advance(50); // 1 expires; re-arming for 2 fails
    assert.equal(load.cacheContains(1), false);
    assert.equal(load.cacheContains(2), false, "2 would never have expired");
    assertReported(errors, 1);
    assertWhole(load);
    assert.equal(await load(2), 2);
    assert.equal(runs, 3);
    clock.advance(100);
    assert.equal(load.cacheContains(2), false, "timing works again");
    assert.equal(clock.pending, 0);
  });
});

Deno.test("now() throwing when the timer fires: the fired timer still proves its deadline", async () => {
  await withErrors(async (errors) => {
    const clock = new ManualClock();
    const hooks: { now?: () => void } = {};
    const load = alruCache(async function load(key: number) {
      return await Promise.resolve(key);
    }, { ttl: 100, clock: hookedClock(clock, hooks) });
    await load(1);
    await load(2);
    hooks.now = once(throwBoom);
    clock.advance(100);
    assert.equal(load.cacheContains(1), false);
    assert.equal(load.cacheContains(2), false);
    assertReported(errors, 1);
    assert.equal(clock.pending, 0);
    assertWhole(load);
  });
});

Deno.test("now() throwing when an entry settles: its callers reject with the error, nothing is kept", async () => {
  await withErrors(async (errors) => {
    await withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      const hooks: { now?: () => void } = {};
      const load = alruCache(async function load(key: number) {
        return await Promise.resolve(key);
      }, { ttl: 100, clock: hookedClock(clock, hooks) });
      const calls = [load(1), load(1)];
      // From the start of the load to its settling: timing the load loses
      // its time only (§16.6), and keeping its value fails.
      hooks.now = throwBoom;
      for (const call of calls) await assert.rejects(call, (e) => e === boom);
      hooks.now = undefined;
      checkLru(load, { hits: 1, misses: 1, currSize: 0, tasks: 0 });
      assert.equal(load.cacheStats().loads, 1);
      assert.equal(load.cacheStats().loadTime, 0);
      assertReported(errors, 0);
      assert.equal(await load(1), 1);
      assert.equal(clock.pending, 1);
      assertWhole(load);
    });
  });
});

Deno.test("a clock that always throws: calls still settle and nothing is kept that cannot expire; it is reported once", async () => {
  await withErrors(async (errors) => {
    await withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      const load = alruCache(async function load(key: number) {
        return await Promise.resolve(key);
      }, {
        ttl: 100,
        clock: hookedClock(clock, {
          setTimeout: throwBoom,
          clearTimeout: throwBoom,
        }),
      });
      for (let i = 0; i < 5; i++) assert.equal(await load(i), i);
      checkLru(load, { hits: 0, misses: 5, currSize: 0, tasks: 0 });
      assertReported(errors, 1);
      assertWhole(load);
    });
  });
});
