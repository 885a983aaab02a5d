/**
 * The context guard: a cache on the default clock binds to the timer
 * functions in effect at its first call; when a later miss, or the cache's
 * expiry timer work, finds them replaced (fake timers installed or removed),
 * it drops its entries, cancels their timers on the old scheduler, resets
 * hits and misses, rebinds and warns once per cache. A hit does not look: it
 * reads no global, as it reads no clock.
 */
import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { alruCache, ManualClock } from "../mod.ts";
import { deferred, flush, withConsole } from "./_helpers.ts";

const originalWarn = console.warn;
// The fake clock installed now, if any. A test that fails while awaiting
// something that never settles is abandoned without running its `finally`;
// the next test then removes what it left installed.
let installed: FakeClock | undefined;

function cleanUpAfterAbandonedTest(): void {
  if (installed !== undefined) {
    installed.uninstall();
    installed = undefined;
  }
  console.warn = originalWarn;
}

// Deno 2.9 runs tests with sanitizers off unless asked; these tests ask.
function test(name: string, fn: () => void | Promise<void>): void {
  Deno.test({
    name,
    fn: () => {
      cleanUpAfterAbandonedTest();
      return fn();
    },
    sanitizeOps: true,
    sanitizeResources: true,
    sanitizeExit: true,
  });
}

const WARNING_START = "alruCache detected a scheduler change";

type FakeClock = ReturnType<typeof FakeTimers.install>;

/**
 * Installs fake timers. Microtasks are left real (so `await` works), and
 * `performance`/`Date` are faked with the timers so that a cache's notion of
 * time follows the fake clock.
 */
function installFakeTimers(): FakeClock {
  const clock = FakeTimers.install({
    toFake: [
      "setTimeout",
      "clearTimeout",
      "setInterval",
      "clearInterval",
      "Date",
      "performance",
    ],
  });
  installed = clock;
  const uninstall = clock.uninstall.bind(clock);
  clock.uninstall = () => {
    if (installed === clock) installed = undefined;
    return uninstall();
  };
  return clock;
}

/** Records console.warn calls for the length of `body`. */
function withWarnings(
  body: (warnings: unknown[][]) => Promise<void>,
): Promise<void> {
  return withConsole("warn", body);
}

function assertSchedulerWarning(warnings: unknown[][], count: number): void {
  assert.equal(warnings.length, count, Deno.inspect(warnings));
  for (const args of warnings) {
    assert.equal(typeof args[0], "string");
    assert.ok(
      (args[0] as string).startsWith(WARNING_START),
      `warning ${JSON.stringify(args[0])} should begin "${WARNING_START}"`,
    );
  }
}

function counting() {
  let runs = 0;
  const fn = (n: number) => {
    runs++;
    return Promise.resolve(n * 10);
  };
  return { fn, runs: () => runs };
}

test("installing and removing fake timers resets a default-clock cache, warning once", async () => {
  await withWarnings(async (warnings) => {
    const { fn, runs } = counting();
    const f = alruCache(fn);
    let fake: FakeClock | undefined;
    try {
      // The first call binds the cache to the real timers.
      assert.equal(await f(1), 10);
      assert.equal(await f(2), 20);
      assert.equal(await f(1), 10);
      assert.deepEqual(f.cacheInfo(), {
        hits: 1,
        misses: 2,
        maxSize: 128,
        currSize: 2,
      });
      assertSchedulerWarning(warnings, 0);

      const realSetTimeout = globalThis.setTimeout;
      fake = installFakeTimers();
      assert.notEqual(globalThis.setTimeout, realSetTimeout, "sanity");

      // The next call finds the timers replaced: the cache resets first.
      assert.equal(await f(3), 30);
      assertSchedulerWarning(warnings, 1);
      assert.deepEqual(f.cacheInfo(), {
        hits: 0,
        misses: 1,
        maxSize: 128,
        currSize: 1,
      });
      assert.equal(f.cacheContains(1), false);
      assert.equal(f.cacheContains(2), false);
      assert.equal(f.cacheContains(3), true);
      assert.equal(runs(), 3);
      // Earlier keys are misses now.
      assert.equal(await f(1), 10);
      assert.equal(runs(), 4);
      assert.equal(await f(3), 30);
      assert.deepEqual(f.cacheInfo(), {
        hits: 1,
        misses: 2,
        maxSize: 128,
        currSize: 2,
      });
      // Calls while the same fake timers stay installed do not reset again.
      assert.equal(await f(1), 10);
      assert.equal(f.cacheInfo().hits, 2);
      assertSchedulerWarning(warnings, 1);

      fake.uninstall();
      fake = undefined;

      // Back on the real timers: reset again, but no second warning.
      assert.equal(await f(4), 40);
      assert.deepEqual(f.cacheInfo(), {
        hits: 0,
        misses: 1,
        maxSize: 128,
        currSize: 1,
      });
      assert.equal(f.cacheContains(1), false);
      assert.equal(f.cacheContains(3), false);
      assertSchedulerWarning(warnings, 1);

      // And once more, with another installation: still one warning.
      fake = installFakeTimers();
      assert.equal(await f(5), 50);
      assert.equal(f.cacheContains(4), false);
      assert.deepEqual(f.cacheInfo(), {
        hits: 0,
        misses: 1,
        maxSize: 128,
        currSize: 1,
      });
      assertSchedulerWarning(warnings, 1);
    } finally {
      fake?.uninstall();
    }
  });
});

test("a hit after a scheduler change is answered from its entry; the first miss resets", async () => {
  await withWarnings(async (warnings) => {
    const a = counting();
    const one = alruCache(a.fn); // one argument
    const b = counting();
    const two = alruCache((x: number, _y: number) => b.fn(x)); // two
    const c = counting();
    const keyed = alruCache(c.fn, { key: (n: number) => `k${n}` });
    let fake: FakeClock | undefined;
    try {
      await one(1);
      await two(1, 2);
      await keyed(1);
      fake = installFakeTimers();
      // Hits read no global: they do not notice the change.
      assert.equal(await one(1), 10);
      assert.equal(await two(1, 2), 10);
      assert.equal(await keyed(1), 10);
      assertSchedulerWarning(warnings, 0);
      for (const f of [one, two, keyed]) {
        assert.equal(f.cacheInfo().hits, 1);
      }
      // The first miss does, and starts over before it runs the function.
      assert.equal(await one(2), 20);
      assert.equal(await two(2, 2), 20);
      assert.equal(await keyed(2), 20);
      assertSchedulerWarning(warnings, 3);
      for (const f of [one, two, keyed]) {
        assert.deepEqual(f.cacheInfo(), {
          hits: 0,
          misses: 1,
          maxSize: 128,
          currSize: 1,
        });
      }
      assert.equal(one.cacheContains(1), false);
      assert.equal(two.cacheContains(1, 2), false);
      assert.equal(keyed.cacheContains(1), false);
      assert.equal(a.runs() + b.runs() + c.runs(), 6);
    } finally {
      fake?.uninstall();
    }
  });
});

test("the guard writes no global, and a hit reads none", async () => {
  const before = Object.getOwnPropertyDescriptor(globalThis, "setTimeout");
  const f = alruCache(counting().fn, { ttl: 60_000 });
  await f(1);
  await f(1);
  f.cacheClear();
  assert.deepEqual(
    Object.getOwnPropertyDescriptor(globalThis, "setTimeout"),
    before,
  );
  // Count the reads of the global from here on.
  let reads = 0;
  const current = globalThis.setTimeout;
  Object.defineProperty(globalThis, "setTimeout", {
    get() {
      reads++;
      return current;
    },
    set: before!.set ?? (() => {}),
    configurable: true,
    enumerable: true,
  });
  try {
    await f(2); // a miss: one read; its settling arms the timer: one more
    const missReads = reads;
    assert.ok(missReads >= 1, "a miss looks");
    for (let i = 0; i < 10; i++) await f(2);
    assert.equal(reads, missReads, "hits do not look");
  } finally {
    Object.defineProperty(globalThis, "setTimeout", before!);
  }
  f.cacheClear();
});

test("expiry timer work notices a change too: a timer armed on the old scheduler is cancelled there", async () => {
  await withWarnings(async (warnings) => {
    const { fn } = counting();
    const f = alruCache(fn, { ttl: 1_000 });
    const work = deferred<number>();
    let fake: FakeClock | undefined;
    try {
      const running = alruCache((_n: number) => work.promise, { ttl: 1_000 });
      const call = running(1); // binds to the real timers; nothing timed yet
      fake = installFakeTimers();
      work.resolve(1); // settling arms the timer: the guard looks first
      assert.equal(await call, 1);
      await flush();
      assertSchedulerWarning(warnings, 1);
      assert.equal(
        running.cacheContains(1),
        false,
        "the entry went with the reset",
      );
      assert.equal(fake.countTimers(), 0, "nothing armed on either scheduler");
      await f(1); // a cache first used under the fake timers binds to them
      await flush();
      assert.equal(fake.countTimers(), 1);
      fake.tick(1_000);
      assert.equal(f.cacheContains(1), false);
      assertSchedulerWarning(warnings, 1);
    } finally {
      fake?.uninstall();
    }
  });
});

test("the warning is once per cache: a second cache warns on its own", async () => {
  await withWarnings(async (warnings) => {
    const f = alruCache(counting().fn);
    const g = alruCache(counting().fn);
    let fake: FakeClock | undefined;
    try {
      await f(1);
      await g(1);
      fake = installFakeTimers();
      await f(2);
      assertSchedulerWarning(warnings, 1);
      await g(2);
      assertSchedulerWarning(warnings, 2);
      await f(3);
      await g(3);
      assertSchedulerWarning(warnings, 2);
    } finally {
      fake?.uninstall();
    }
  });
});

test("a cache first called under fake timers binds to them; it resets when they are removed", async () => {
  await withWarnings(async (warnings) => {
    const { fn } = counting();
    const f = alruCache(fn);
    const fake = installFakeTimers();
    try {
      await f(1);
      await f(1);
      assert.deepEqual(f.cacheInfo().hits, 1);
      assertSchedulerWarning(warnings, 0);
    } finally {
      fake.uninstall();
    }
    await f(2);
    assertSchedulerWarning(warnings, 1);
    assert.equal(f.cacheContains(1), false);
    assert.deepEqual(f.cacheInfo(), {
      hits: 0,
      misses: 1,
      maxSize: 128,
      currSize: 1,
    });
  });
});

test("no scheduler change, no reset: a cache created before a call is not reset by its own first call", async () => {
  await withWarnings(async (warnings) => {
    const f = alruCache(counting().fn);
    await f(1);
    await f(2);
    await f(1);
    assert.deepEqual(f.cacheInfo(), {
      hits: 1,
      misses: 2,
      maxSize: 128,
      currSize: 2,
    });
    assertSchedulerWarning(warnings, 0);
  });
});

test("in-flight work at the moment of reset still delivers to its callers", async () => {
  await withWarnings(async (warnings) => {
    const runs: ReturnType<typeof deferred<string>>[] = [];
    const f = alruCache((_n: number) => {
      const work = deferred<string>();
      runs.push(work);
      return work.promise;
    });
    let fake: FakeClock | undefined;
    try {
      const first = f(1); // runs[0]
      const joined = f(1); // a hit on the in-flight entry
      const failing = f(2); // runs[1]
      assert.equal(f.cacheParameters().tasks, 2);
      assert.equal(f.cacheInfo().hits, 1);

      fake = installFakeTimers();
      const after = f(3); // finds the timers replaced: reset, then runs[2]
      assertSchedulerWarning(warnings, 1);
      assert.equal(f.cacheContains(1), false);
      assert.equal(f.cacheContains(2), false);
      assert.deepEqual(f.cacheInfo(), {
        hits: 0,
        misses: 1,
        maxSize: 128,
        currSize: 1,
      });

      // A call for 1 now is a miss and starts new work.
      const fresh = f(1); // runs[3]
      assert.equal(runs.length, 4);

      // The old work settles: its callers get its outcome, not the new one.
      const reason = new Error("old work failed");
      runs[1].reject(reason);
      await assert.rejects(failing, (error) => error === reason);
      runs[0].resolve("old value");
      assert.equal(await first, "old value");
      assert.equal(await joined, "old value");
      runs[3].resolve("new value");
      assert.equal(await fresh, "new value");
      runs[2].resolve("three");
      assert.equal(await after, "three");
      await flush();
      assert.equal(await f(1), "new value");
      assert.equal(f.cacheContains(2), false);
      assert.equal(runs.length, 4);
    } finally {
      fake?.uninstall();
    }
  });
});

test("in-flight work at reset: its late outcome neither comes back as an entry nor removes a new one", async () => {
  await withWarnings(async (warnings) => {
    const runs: ReturnType<typeof deferred<string>>[] = [];
    const f = alruCache((_n: number) => {
      const work = deferred<string>();
      runs.push(work);
      return work.promise;
    });
    let fake: FakeClock | undefined;
    try {
      const oldCaller = f(1); // runs[0]
      const oldFailing = f(2); // runs[1]
      fake = installFakeTimers();
      const third = f(3); // a miss: reset, then runs[2]
      const newCaller = f(1); // runs[3]
      const newOther = f(2); // runs[4]
      assertSchedulerWarning(warnings, 1);
      assert.equal(runs.length, 5, "calls after the reset are misses");

      runs[2].resolve("three");
      assert.equal(await third, "three");
      runs[4].resolve("new 2");
      assert.equal(await newOther, "new 2");
      // Old work settles after the new entries exist.
      runs[0].resolve("old 1");
      assert.equal(await oldCaller, "old 1");
      const reason = new Error("old 2 failed");
      runs[1].reject(reason);
      await assert.rejects(oldFailing, (error) => error === reason);
      await flush();

      // The new entries are untouched: 1 still in flight, 2 still held.
      assert.equal(f.cacheContains(1), true);
      assert.equal(f.cacheContains(2), true);
      assert.equal(f.cacheParameters().tasks, 1);
      assert.equal(await f(2), "new 2");
      const joined = f(1);
      assert.equal(runs.length, 5);
      runs[3].resolve("new 1");
      assert.equal(await newCaller, "new 1");
      assert.equal(await joined, "new 1");
      assert.equal(await f(1), "new 1");
      assert.deepEqual(f.cacheInfo(), {
        hits: 3,
        misses: 3,
        maxSize: 128,
        currSize: 3,
      });
    } finally {
      fake?.uninstall();
    }
  });
});

test("a cache given an explicit clock never resets", async () => {
  await withWarnings(async (warnings) => {
    const clock = new ManualClock();
    const { fn, runs } = counting();
    const f = alruCache(fn, { clock, ttl: 1_000 });
    let fake: FakeClock | undefined;
    try {
      await f(1);
      await f(2);
      fake = installFakeTimers();
      assert.equal(await f(1), 10);
      assert.equal(await f(3), 30);
      fake.uninstall();
      fake = undefined;
      assert.equal(await f(2), 20);
      fake = installFakeTimers();
      assert.equal(await f(1), 10);
      assert.equal(runs(), 3);
      assert.deepEqual(f.cacheInfo(), {
        hits: 3,
        misses: 3,
        maxSize: 128,
        currSize: 3,
      });
      assertSchedulerWarning(warnings, 0);
      // Its timers stay on its own clock.
      assert.equal(fake.countTimers(), 0);
      assert.equal(clock.pending, 1);
      clock.advance(1_000);
      assert.equal(f.cacheInfo().currSize, 0);
      assert.equal(clock.pending, 0);
    } finally {
      fake?.uninstall();
    }
  });
});

test("a cache given an explicit plain-object clock built on the global timers never resets", async () => {
  await withWarnings(async (warnings) => {
    // A clock that reads globalThis.setTimeout at each use: replacing the
    // global does not concern the cache, which was told to use this clock.
    const plain = {
      now: () => Date.now(),
      setTimeout: (callback: () => void, delay: number) =>
        globalThis.setTimeout(callback, delay),
      clearTimeout: (handle: unknown) =>
        globalThis.clearTimeout(handle as number),
    };
    const { fn } = counting();
    const f = alruCache(fn, { clock: plain });
    let fake: FakeClock | undefined;
    try {
      await f(1);
      fake = installFakeTimers();
      await f(1);
      fake.uninstall();
      fake = undefined;
      await f(1);
      assert.deepEqual(f.cacheInfo(), {
        hits: 2,
        misses: 1,
        maxSize: 128,
        currSize: 1,
      });
      assertSchedulerWarning(warnings, 0);
    } finally {
      fake?.uninstall();
    }
  });
});

test("reset cancels expiry timers on the old (fake) scheduler and times new entries on the new one", async () => {
  await withWarnings(async (warnings) => {
    const { fn } = counting();
    const f = alruCache(fn, { ttl: 1_000 });
    let first: FakeClock | undefined;
    let firstInstalled = false;
    let second: FakeClock | undefined;
    try {
      first = installFakeTimers();
      firstInstalled = true;
      await f(1);
      await f(2);
      await flush();
      assert.equal(first.countTimers(), 1, "one expiry timer per cache");
      first.tick(999);
      assert.equal(f.cacheContains(1), true);
      first.tick(1);
      assert.equal(f.cacheContains(1), false, "expires on the fake clock");
      assert.equal(first.countTimers(), 0);
      await f(1);
      await flush();
      assert.equal(first.countTimers(), 1);
      first.uninstall();
      firstInstalled = false;

      second = installFakeTimers();
      await f(3); // finds the timers replaced: reset
      await flush();
      assertSchedulerWarning(warnings, 1);
      assert.equal(first.countTimers(), 0, "old scheduler's timer cancelled");
      assert.equal(f.cacheContains(1), false);
      assert.equal(f.cacheContains(3), true);
      assert.equal(second.countTimers(), 1, "new entry timed on new clock");
      second.tick(999);
      assert.equal(f.cacheContains(3), true);
      second.tick(1);
      assert.equal(f.cacheContains(3), false);
      assert.equal(second.countTimers(), 0);

      // A cleared old clock never fires into the cache either.
      first.tick(10_000);
      assert.equal(f.cacheInfo().currSize, 0);
    } finally {
      if (firstInstalled) first?.uninstall();
      second?.uninstall();
    }
  });
});

test("reset from real to fake timers cancels the real expiry timer (no real timer is left pending)", async () => {
  await withWarnings(async (warnings) => {
    const { fn } = counting();
    const f = alruCache(fn, { ttl: 3_600_000 });
    let fake: FakeClock | undefined;
    try {
      await f(1); // binds to the real timers; a real (unref'd) timer is armed
      await flush();
      fake = installFakeTimers();
      await f(2); // reset: the real timer must be cancelled here
      await flush();
      assertSchedulerWarning(warnings, 1);
      assert.equal(fake.countTimers(), 1);
      await f.cacheClose();
      assert.equal(fake.countTimers(), 0, "close cancels the fake timer");
    } finally {
      fake?.uninstall();
    }
    // If the reset had left the real one-hour timer armed, the op sanitizer
    // fails this test.
  });
});

test("reset from fake to real timers cancels the fake timer; the new real timer is cleared by cacheClear", async () => {
  await withWarnings(async (warnings) => {
    const { fn } = counting();
    const f = alruCache(fn, { ttl: 3_600_000, maxSize: 10 });
    const fake = installFakeTimers();
    try {
      await f(1);
      await flush();
      assert.equal(fake.countTimers(), 1);
    } finally {
      fake.uninstall();
    }
    await f(2); // reset, rebinds to the real timers
    await flush();
    assertSchedulerWarning(warnings, 1);
    assert.equal(fake.countTimers(), 0);
    assert.equal(f.cacheContains(2), true);
    f.cacheClear(); // the real timer goes; the sanitizer checks it
    assert.equal(f.cacheInfo().currSize, 0);
  });
});
