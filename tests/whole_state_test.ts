/**
 * The cache calls user code (the clock, the random source, the key function)
 * only while it is whole, and any of it may call the cache back. Each test
 * here is a case that once left the cache half-updated when user code ran.
 */
import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import {
  assertWhole,
  checkLru,
  deferred,
  flush,
  hookedClock,
  once,
  withoutUnhandledRejections,
} from "./_helpers.ts";

Deno.test("a miss whose eviction makes clearTimeout close the cache returns a promise, which rejects with an AbortError", async () => {
  await withoutUnhandledRejections(async () => {
    const clock = new ManualClock();
    const hooks: { clearTimeout?: () => void } = {};
    const cached = alruCache(
      async (key: number) => await Promise.resolve(key),
      {
        maxSize: 1,
        ttl: 1_000,
        clock: hookedClock(clock, hooks),
      },
    );
    await cached(1); // timed: the timer is armed
    let closing: Promise<void> | undefined;
    hooks.clearTimeout = once(() => closing = cached.cacheClose());
    const call = cached(2); // evicts 1: the queue empties, the timer goes
    assert.ok(call instanceof Promise, `the call returned ${String(call)}`);
    await assert.rejects(call, { name: "AbortError" });
    await closing;
    checkLru(cached, {
      hits: 0,
      misses: 2,
      currSize: 0,
      tasks: 0,
      maxSize: 1,
      closed: true,
    });
    assert.equal(clock.pending, 0);
    assertWhole(cached);
  });
});

Deno.test("a caller that joins and aborts from clearTimeout during a plain miss leaves the shared work running for the plain caller", async () => {
  await withoutUnhandledRejections(async () => {
    const clock = new ManualClock();
    const hooks: { clearTimeout?: () => void } = {};
    const signals: AbortSignal[] = [];
    const work = deferred<string>();
    const cached = alruCache((key: number, signal: AbortSignal) => {
      signals.push(signal);
      return key === 1 ? Promise.resolve("one") : work.promise;
    }, {
      maxSize: 1,
      ttl: 1_000,
      signal: true,
      clock: hookedClock(clock, hooks),
    });
    await cached(1);
    let joined: Promise<string> | undefined;
    hooks.clearTimeout = once(() => {
      const controller = new AbortController();
      joined = cached.withSignal(controller.signal, 2);
      controller.abort(new Error("gave up"));
    });
    const plain = cached(2);
    assert.ok(plain instanceof Promise, `the call returned ${String(plain)}`);
    await assert.rejects(joined!, /gave up/);
    assert.equal(signals[1].aborted, false, "the plain caller still waits");
    work.resolve("two");
    assert.equal(await plain, "two");
    checkLru(cached, { hits: 1, misses: 2, currSize: 1, tasks: 0, maxSize: 1 });
    assertWhole(cached);
    await cached.cacheClose();
  });
});

Deno.test("a random source that calls the cache for the key that is settling joins that work", async () => {
  await withoutUnhandledRejections(async () => {
    for (const how of ["plain", "withSignal"] as const) {
      const clock = new ManualClock();
      let reenter: (() => void) | undefined;
      const inner: Promise<unknown>[] = [];
      const cached = alruCache(
        async (key: string) => await Promise.resolve({ key }),
        {
          ttl: 100,
          jitter: 10,
          clock,
          random: () => {
            const call = reenter;
            reenter = undefined;
            call?.();
            return 0.5;
          },
        },
      );
      reenter = () => {
        inner.push(
          how === "plain"
            ? cached("a")
            : cached.withSignal(new AbortController().signal, "a"),
        );
      };
      const outer = await cached("a");
      assert.equal(inner.length, 1, how);
      assert.ok(inner[0] instanceof Promise, how);
      assert.equal(await inner[0], outer, how);
      checkLru(cached, { hits: 1, misses: 1, currSize: 1, tasks: 0 });
      assertWhole(cached);
      clock.advance(105);
      assert.equal(cached.cacheContains("a"), false, how);
      assert.equal(clock.pending, 0, how);
    }
  });
});

Deno.test("a clearTimeout that calls the cache during cacheClear leaves a whole cache", async () => {
  await withoutUnhandledRejections(async () => {
    const clock = new ManualClock();
    const hooks: { clearTimeout?: () => void } = {};
    const cached = alruCache(
      async (key: number) => await Promise.resolve(key),
      {
        maxSize: 4,
        ttl: 1_000,
        clock: hookedClock(clock, hooks),
      },
    );
    await cached(1);
    await cached(2);
    let nested: Promise<number> | undefined;
    hooks.clearTimeout = once(() => nested = cached(3));
    cached.cacheClear();
    assert.equal(await nested, 3);
    // The nested miss came after the clear: it counts, and its entry stays.
    checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 0, maxSize: 4 });
    assertWhole(cached);
    for (let key = 10; key < 30; key++) assert.equal(await cached(key), key);
    checkLru(cached, {
      hits: 0,
      misses: 21,
      currSize: 4,
      tasks: 0,
      maxSize: 4,
    });
    assert.ok(cached.cacheParameters().tasks >= 0);
    clock.advance(1_000);
    checkLru(cached, {
      hits: 0,
      misses: 21,
      currSize: 0,
      tasks: 0,
      maxSize: 4,
    });
    assert.equal(clock.pending, 0);
    assertWhole(cached);
  });
});

Deno.test("a clock whose now() clears the cache while an entry is timed never expires a newer entry of that key", async () => {
  await withoutUnhandledRejections(async () => {
    const clock = new ManualClock();
    const hooks: { now?: () => void } = {};
    const runs: ReturnType<typeof deferred<string>>[] = [];
    const cached = alruCache((_key: number) => {
      const work = deferred<string>();
      runs.push(work);
      return work.promise;
    }, { maxSize: 4, ttl: 100, clock: hookedClock(clock, hooks) });
    const first = cached(1);
    hooks.now = once(() => cached.cacheClear());
    runs[0].resolve("old");
    assert.equal(await first, "old");
    await flush();
    assert.equal(cached.cacheContains(1), false, "cleared while being timed");
    const second = cached(1); // a newer entry, in flight
    clock.advance(1_000);
    assert.equal(
      cached.cacheContains(1),
      true,
      "in-flight entries never expire",
    );
    runs[1].resolve("new");
    assert.equal(await second, "new");
    assert.equal(await cached(1), "new");
    clock.advance(99);
    assert.equal(cached.cacheContains(1), true);
    clock.advance(1);
    assert.equal(cached.cacheContains(1), false);
    assert.equal(clock.pending, 0);
    assertWhole(cached);
  });
});

Deno.test("no timer stays armed when the clock or the random source drops or closes the entry being timed", async () => {
  await withoutUnhandledRejections(async () => {
    const sources = ["setTimeout", "now", "random"] as const;
    const actions = ["invalidate", "clear", "close", "close and wait"] as const;
    for (const source of sources) {
      for (const action of actions) {
        const label = `${source} -> ${action}`;
        const clock = new ManualClock();
        let reenter: (() => void) | undefined;
        const hook = (name: string) => () => {
          if (name !== source) return;
          const call = reenter;
          reenter = undefined;
          call?.();
        };
        const cached = alruCache(
          async (key: number) => await Promise.resolve(key),
          {
            ttl: 100,
            jitter: 10,
            random: () => {
              hook("random")();
              return 0;
            },
            clock: hookedClock(clock, {
              now: hook("now"),
              setTimeout: hook("setTimeout"),
            }),
          },
        );
        let closing: Promise<void> | undefined;
        const call = cached(1);
        // Set once the load has started, which reads the clock too (§16.6).
        reenter = () => {
          if (action === "invalidate") cached.cacheInvalidate(1);
          else if (action === "clear") cached.cacheClear();
          else {closing = cached.cacheClose({
              wait: action === "close and wait",
            });}
        };
        // Closing without wait while the entry still runs abandons its work.
        if (action === "close" && source !== "setTimeout") {
          await assert.rejects(call, { name: "AbortError" }, label);
        } else {
          assert.equal(await call, 1, label);
        }
        await closing;
        assert.equal(reenter, undefined, `${label}: the hook ran`);
        assert.equal(clock.pending, 0, `${label}: a timer stayed armed`);
        // Closing keeps settled entries; the setTimeout hook runs once the
        // entry has settled, the others while it still runs.
        const kept = action === "close and wait" ||
          (action === "close" && source === "setTimeout");
        assert.equal(cached.cacheContains(1), kept, label);
        assertWhole(cached);
      }
    }
  });
});

Deno.test("a key function that closes the cache gets no function run", async () => {
  let runs = 0;
  const cached = alruCache(async (key: number) => {
    runs++;
    return await Promise.resolve(key);
  }, {
    key: (key: number) => {
      if (key === 2) void cached.cacheClose();
      return key;
    },
  });
  assert.equal(await cached(1), 1);
  await assert.rejects(cached(2), { name: "CacheClosedError" });
  assert.equal(runs, 1);
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 0, closed: true });
});

Deno.test("fn closing its own cache with wait: true waits for its own work", async () => {
  const work = deferred<string>();
  let closing: Promise<void> | undefined;
  const load = alruCache((_key: string): Promise<string> => {
    closing = load.cacheClose({ wait: true });
    return work.promise;
  });
  const call = load("k");
  let closed = false;
  void closing!.then(() => closed = true);
  await flush();
  assert.equal(closed, false, "close resolved before the work settled");
  work.resolve("v");
  assert.equal(await call, "v");
  await closing;
  assert.equal(closed, true);
});

Deno.test("a then getter on a cached value that drops its own entry during the first hit leaves a whole cache", async () => {
  const value: { then?: unknown } = {};
  const cached = alruCache(async (_key: number) =>
    await Promise.resolve(value)
  );
  assert.equal(await cached(1), value);
  // The value gains a then (known and accepted: the first hit adopts it);
  // reading it drops the entry the hit is about to share, and a new entry
  // takes its slot.
  let nested: Promise<unknown> | undefined;
  const reenter = once(() => {
    cached.cacheInvalidate(1);
    nested = cached(2);
  });
  Object.defineProperty(value, "then", {
    get() {
      reenter();
      return undefined;
    },
    configurable: true,
  });
  assert.equal(await cached(1), value);
  assert.equal(cached.cacheContains(1), false);
  assertWhole(cached);
  assert.equal(await nested, value);
  assert.equal(cached.cacheContains(2), true);
  assertWhole(cached);
});

Deno.test("a caller's signal whose listener methods call the cache: the work that fails is gone before they run", async () => {
  await withoutUnhandledRejections(async () => {
    const runs: ReturnType<typeof deferred<string>>[] = [];
    const cached = alruCache((_key: number) => {
      const work = deferred<string>();
      runs.push(work);
      return work.promise;
    });
    const controller = new AbortController();
    const signal = controller.signal;
    const nested: Promise<string>[] = [];
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      add(...args);
      assertWhole(cached);
    }) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      remove(...args);
      assertWhole(cached);
      // The failed work's entry is gone already: this is a new miss.
      nested.push(cached(1));
    }) as typeof remove;
    const first = cached.withSignal(signal, 1);
    runs[0].reject(new Error("failed"));
    await assert.rejects(first, /failed/);
    assert.equal(nested.length, 1);
    assert.equal(runs.length, 2, "the nested call ran the function again");
    runs[1].resolve("again");
    assert.equal(await nested[0], "again");
    assertWhole(cached);
  });
});
