/** docs/behaviour.md §5: ManualClock semantics. */
import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { alruCache, type Clock, ManualClock } from "../mod.ts";
import { flush } from "./_helpers.ts";

/** A promise that `clock` resolves `ms` from now, as work under test would sleep. */
function sleep(clock: ManualClock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

Deno.test("constructor: starts at 0 by default, or at the given start", () => {
  assert.equal(new ManualClock().now(), 0);
  assert.equal(new ManualClock(1_000).now(), 1_000);
  assert.equal(new ManualClock(0.5).now(), 0.5);
  assert.equal(new ManualClock().pending, 0);
});

Deno.test("ManualClock is a Clock", () => {
  const clock: Clock = new ManualClock(5);
  assert.equal(clock.now(), 5);
  assert.equal(typeof clock.setTimeout, "function");
  assert.equal(typeof clock.clearTimeout, "function");
});

Deno.test("now() moves only with advance", () => {
  const clock = new ManualClock(10);
  assert.equal(clock.now(), 10);
  assert.equal(clock.now(), 10);
  clock.advance(5);
  assert.equal(clock.now(), 15);
  clock.advance(0);
  assert.equal(clock.now(), 15);
  clock.advance(0.25);
  assert.equal(clock.now(), 15.25);
});

Deno.test("setTimeout returns a handle, distinct per timer, and counts as pending", () => {
  const clock = new ManualClock();
  const a = clock.setTimeout(() => {}, 10);
  const b = clock.setTimeout(() => {}, 10);
  assert.notEqual(a, undefined);
  assert.notEqual(a, b);
  assert.equal(clock.pending, 2);
});

Deno.test("a callback runs at its deadline, not before", () => {
  const clock = new ManualClock(100);
  const ran: number[] = [];
  clock.setTimeout(() => ran.push(clock.now()), 50);
  clock.advance(49);
  assert.deepEqual(ran, []);
  assert.equal(clock.pending, 1);
  clock.advance(1);
  assert.deepEqual(ran, [150]);
  assert.equal(clock.pending, 0);
  clock.advance(1_000);
  assert.deepEqual(ran, [150], "a callback runs once");
});

Deno.test("clearTimeout cancels; unknown and spent handles are ignored", () => {
  const clock = new ManualClock();
  const ran: string[] = [];
  const a = clock.setTimeout(() => ran.push("a"), 10);
  const b = clock.setTimeout(() => ran.push("b"), 20);
  clock.clearTimeout(a);
  assert.equal(clock.pending, 1);
  clock.clearTimeout(a); // twice
  clock.clearTimeout(12345);
  clock.clearTimeout(undefined);
  clock.clearTimeout({});
  assert.equal(clock.pending, 1);
  clock.advance(30);
  assert.deepEqual(ran, ["b"]);
  clock.clearTimeout(b); // spent
  assert.equal(clock.pending, 0);
  // A spent handle's clearTimeout does not cancel a newer timer.
  clock.setTimeout(() => ran.push("c"), 5);
  clock.clearTimeout(b);
  assert.equal(clock.pending, 1);
  clock.advance(5);
  assert.deepEqual(ran, ["b", "c"]);
});

Deno.test("advance runs due callbacks in deadline order, each with now() at its own deadline", () => {
  const clock = new ManualClock(1_000);
  const ran: [string, number][] = [];
  const at = (name: string, delay: number) =>
    clock.setTimeout(() => ran.push([name, clock.now()]), delay);
  at("c", 30);
  at("a", 10);
  at("d", 40);
  at("b", 20);
  at("late", 100);
  clock.advance(50);
  assert.deepEqual(ran, [
    ["a", 1_010],
    ["b", 1_020],
    ["c", 1_030],
    ["d", 1_040],
  ]);
  assert.equal(clock.now(), 1_050, "after advance, now() is start + ms");
  assert.equal(clock.pending, 1);
});

Deno.test("equal deadlines run in scheduling order", () => {
  const clock = new ManualClock();
  const ran: string[] = [];
  clock.setTimeout(() => ran.push("first"), 10);
  clock.setTimeout(() => ran.push("second"), 10);
  clock.advance(5);
  // Scheduled later, same deadline (5 + 5 = 10).
  clock.setTimeout(() => ran.push("third"), 5);
  clock.setTimeout(() => ran.push("early"), 4);
  clock.setTimeout(() => ran.push("fourth"), 5);
  clock.advance(5);
  assert.deepEqual(ran, ["early", "first", "second", "third", "fourth"]);
});

Deno.test("callbacks scheduled during advance run too if they fall within the window", () => {
  const clock = new ManualClock();
  const ran: [string, number][] = [];
  clock.setTimeout(() => {
    ran.push(["outer", clock.now()]);
    clock.setTimeout(() => ran.push(["inner", clock.now()]), 15);
    clock.setTimeout(() => ran.push(["beyond", clock.now()]), 100);
    clock.setTimeout(() => ran.push(["now", clock.now()]), 0);
  }, 10);
  clock.setTimeout(() => ran.push(["other", clock.now()]), 20);
  clock.advance(50);
  assert.deepEqual(ran, [
    ["outer", 10],
    ["now", 10],
    ["other", 20],
    ["inner", 25],
  ]);
  assert.equal(clock.pending, 1);
  clock.advance(60);
  assert.deepEqual(ran.at(-1), ["beyond", 110]);
  assert.equal(clock.pending, 0);
});

Deno.test("a chain of re-arming callbacks runs at each deadline within the window", () => {
  const clock = new ManualClock();
  const ran: number[] = [];
  const tick = () => {
    ran.push(clock.now());
    clock.setTimeout(tick, 10);
  };
  clock.setTimeout(tick, 10);
  clock.advance(45);
  assert.deepEqual(ran, [10, 20, 30, 40]);
  assert.equal(clock.pending, 1);
  assert.equal(clock.now(), 45);
});

Deno.test("a callback can cancel a later one during advance", () => {
  const clock = new ManualClock();
  const ran: string[] = [];
  const later = clock.setTimeout(() => ran.push("later"), 20);
  clock.setTimeout(() => {
    ran.push("canceller");
    clock.clearTimeout(later);
  }, 10);
  clock.advance(30);
  assert.deepEqual(ran, ["canceller"]);
  assert.equal(clock.pending, 0);
});

Deno.test("advance(0) runs what is due now", () => {
  const clock = new ManualClock(7);
  const ran: number[] = [];
  clock.setTimeout(() => ran.push(clock.now()), 0);
  clock.setTimeout(() => ran.push(-1), 1);
  assert.deepEqual(ran, [], "setTimeout never runs a callback synchronously");
  clock.advance(0);
  assert.deepEqual(ran, [7]);
  assert.equal(clock.now(), 7);
  assert.equal(clock.pending, 1);
});

Deno.test("pending counts scheduled callbacks as they are added, run and cancelled", () => {
  const clock = new ManualClock();
  assert.equal(clock.pending, 0);
  const handles = [10, 20, 30, 40].map((delay) =>
    clock.setTimeout(() => {}, delay)
  );
  assert.equal(clock.pending, 4);
  clock.clearTimeout(handles[3]);
  assert.equal(clock.pending, 3);
  clock.advance(10);
  assert.equal(clock.pending, 2);
  clock.advance(100);
  assert.equal(clock.pending, 0);
});

Deno.test("invalid advance values throw RangeError and change nothing", () => {
  const clock = new ManualClock(10);
  let ran = 0;
  clock.setTimeout(() => ran++, 0);
  for (const bad of [-1, -0.5, -Infinity, NaN]) {
    assert.throws(() => clock.advance(bad), RangeError, String(bad));
  }
  assert.equal(clock.now(), 10);
  assert.equal(ran, 0);
  assert.equal(clock.pending, 1);
  clock.advance(0);
  assert.equal(ran, 1);
});

Deno.test("advance that would move time past the largest number throws RangeError and changes nothing", () => {
  const clock = new ManualClock(0);
  clock.advance(Number.MAX_VALUE);
  let ran = 0;
  clock.setTimeout(() => ran++, 0);
  assert.throws(
    () => clock.advance(Number.MAX_VALUE),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        `ManualClock advance(${Number.MAX_VALUE}) at ${Number.MAX_VALUE} would move time past the largest finite number; time is unchanged`,
  );
  assert.equal(clock.now(), Number.MAX_VALUE);
  assert.equal(ran, 0, "no callback runs");
  assert.equal(clock.pending, 1);
  clock.advance(0);
  assert.equal(ran, 1);

  // From the most negative start, the whole range is one step.
  const wide = new ManualClock(-Number.MAX_VALUE);
  wide.advance(Number.MAX_VALUE);
  assert.equal(wide.now(), 0);
});

Deno.test("advance with a value that is not a number throws TypeError and changes nothing", () => {
  const clock = new ManualClock(10);
  let ran = 0;
  clock.setTimeout(() => ran++, 0);
  for (const bad of ["5", 5n, null, undefined, {}]) {
    assert.throws(
      () => clock.advance(bad as never),
      (error: unknown) =>
        error instanceof TypeError && /advance\(ms\) needs a number/.test(
          error.message,
        ),
      Deno.inspect(bad),
    );
  }
  assert.equal(clock.now(), 10);
  assert.equal(ran, 0);
});

Deno.test("setTimeout with an infinite delay never comes due", () => {
  const clock = new ManualClock();
  const ran: string[] = [];
  const never = clock.setTimeout(() => ran.push("never"), Infinity);
  clock.setTimeout(() => ran.push("finite"), 10);
  assert.equal(clock.pending, 2);
  clock.advance(Number.MAX_VALUE);
  assert.deepEqual(ran, ["finite"]);
  assert.equal(clock.pending, 1, "it waits for good, until cancelled");
  // A deadline past the largest number is infinite too.
  clock.setTimeout(() => ran.push("overflowing"), Number.MAX_VALUE);
  clock.advance(0);
  assert.deepEqual(ran, ["finite"]);
  assert.equal(clock.pending, 2);
  clock.clearTimeout(never);
  assert.equal(clock.pending, 1);
});

Deno.test("setTimeout with a NaN or negative delay means now", () => {
  const clock = new ManualClock(20);
  const ran: [string, number][] = [];
  clock.setTimeout(() => ran.push(["later", clock.now()]), 1);
  clock.setTimeout(() => ran.push(["nan", clock.now()]), NaN);
  clock.setTimeout(() => ran.push(["negative", clock.now()]), -5);
  clock.setTimeout(() => ran.push(["-Infinity", clock.now()]), -Infinity);
  assert.deepEqual(ran, []);
  clock.advance(0);
  assert.deepEqual(ran, [["nan", 20], ["negative", 20], ["-Infinity", 20]]);
  assert.equal(clock.pending, 1);
});

Deno.test("advance and advanceAsync reach a far deadline in one step, whatever the distance", async () => {
  for (const advance of ["advance", "advanceAsync"] as const) {
    const clock = new ManualClock();
    const ran: number[] = [];
    clock.setTimeout(() => ran.push(clock.now()), 1e300);
    clock.setTimeout(() => ran.push(clock.now()), Number.MAX_VALUE);
    await clock[advance](1e299);
    assert.deepEqual(ran, [], advance);
    await clock[advance](1e300);
    assert.deepEqual(ran, [1e300], advance);
    assert.equal(clock.now(), 1.1e300, advance);
    await clock[advance](Number.MAX_VALUE - clock.now());
    assert.deepEqual(ran, [1e300, Number.MAX_VALUE], advance);
    assert.equal(clock.pending, 0, advance);
  }
});

Deno.test("advanceAsync lets promise reactions run after each timer, before the next", async () => {
  const log: string[] = [];
  const schedule = (clock: ManualClock) => {
    for (const [name, delay] of [["a", 10], ["b", 20], ["c", 20]] as const) {
      clock.setTimeout(() => {
        log.push(name);
        Promise.resolve().then(() => log.push(`${name}'s reaction`));
      }, delay);
    }
  };

  const clock = new ManualClock();
  schedule(clock);
  await clock.advanceAsync(30);
  assert.deepEqual(log, [
    "a",
    "a's reaction",
    "b",
    "b's reaction",
    "c",
    "c's reaction",
  ]);
  assert.equal(clock.now(), 30);
  assert.equal(clock.pending, 0);

  // advance runs every due timer before any reaction.
  log.length = 0;
  const synchronous = new ManualClock();
  schedule(synchronous);
  synchronous.advance(30);
  await flush();
  assert.deepEqual(log, [
    "a",
    "b",
    "c",
    "a's reaction",
    "b's reaction",
    "c's reaction",
  ]);
});

Deno.test("advanceAsync first lets reactions pending at the call settle, however deep", async () => {
  const clock = new ManualClock(5);
  const log: [string, number][] = [];
  clock.setTimeout(() => log.push(["timer", clock.now()]), 0);
  (async () => {
    for (let i = 0; i < 100; i++) await null;
    log.push(["chain", clock.now()]);
  })();
  await clock.advanceAsync(0);
  assert.deepEqual(log, [["chain", 5], ["timer", 5]]);
});

Deno.test("advanceAsync: now() is each timer's deadline, for its callback and for the reactions after it", async () => {
  const clock = new ManualClock(100);
  const seen: [string, number][] = [];
  for (const delay of [25, 10]) {
    clock.setTimeout(() => {
      seen.push(["callback", clock.now()]);
      queueMicrotask(() => seen.push(["reaction", clock.now()]));
    }, delay);
  }
  (async () => {
    await sleep(clock, 15);
    seen.push(["sleeper", clock.now()]);
  })();
  await clock.advanceAsync(40);
  assert.deepEqual(seen, [
    ["callback", 110],
    ["reaction", 110],
    ["sleeper", 115],
    ["callback", 125],
    ["reaction", 125],
  ]);
  assert.equal(clock.now(), 140);
});

Deno.test("advanceAsync runs timers that reactions schedule within the window, each at its own deadline", async () => {
  const clock = new ManualClock();
  const woke: [string, number][] = [];
  (async () => {
    await sleep(clock, 10);
    woke.push(["first", clock.now()]);
    await sleep(clock, 15);
    woke.push(["second", clock.now()]);
    await sleep(clock, 0);
    woke.push(["third", clock.now()]);
    await sleep(clock, 15); // due at 40: the end of the window is inside it
    woke.push(["fourth", clock.now()]);
    await sleep(clock, 30); // due at 70: outside
    woke.push(["fifth", clock.now()]);
  })();
  await clock.advanceAsync(40);
  assert.deepEqual(woke, [
    ["first", 10],
    ["second", 25],
    ["third", 25],
    ["fourth", 40],
  ]);
  assert.equal(clock.now(), 40);
  assert.equal(clock.pending, 1, "the timer due at 70 waits");
  await clock.advanceAsync(29);
  assert.equal(woke.length, 4);
  await clock.advanceAsync(1);
  assert.deepEqual(woke.at(-1), ["fifth", 70]);
  assert.equal(clock.pending, 0);
});

Deno.test("advance, unlike advanceAsync, only sees timers that reactions schedule after it returns", async () => {
  const clock = new ManualClock();
  const woke: number[] = [];
  (async () => {
    await sleep(clock, 10);
    woke.push(clock.now());
    await sleep(clock, 15);
    woke.push(clock.now());
  })();
  clock.advance(40);
  await flush();
  assert.deepEqual(woke, [40], "the first wake-up is seen at the end");
  clock.advance(15);
  await flush();
  assert.deepEqual(woke, [40, 55]);
});

Deno.test("invalid advanceAsync values reject as advance throws, and change nothing", async () => {
  const clock = new ManualClock(10);
  let ran = 0;
  clock.setTimeout(() => ran++, 0);
  for (const bad of [-1, -0.5, -Infinity, NaN, Infinity]) {
    const step = clock.advanceAsync(bad);
    assert.ok(step instanceof Promise, "it rejects, never throws");
    await assert.rejects(
      step,
      (error: unknown) =>
        error instanceof RangeError &&
        error.message ===
          `ManualClock advanceAsync(ms) needs a finite, non-negative number; received ${bad}`,
    );
  }
  for (const bad of ["5", 5n, undefined]) {
    await assert.rejects(
      clock.advanceAsync(bad as never),
      (error: unknown) =>
        error instanceof TypeError &&
        /^ManualClock advanceAsync\(ms\) needs a number/.test(error.message),
    );
  }
  assert.equal(clock.now(), 10);
  assert.equal(ran, 0);
  assert.equal(clock.pending, 1);

  const far = new ManualClock(Number.MAX_VALUE);
  far.setTimeout(() => ran++, 0);
  await assert.rejects(
    far.advanceAsync(Number.MAX_VALUE),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        `ManualClock advanceAsync(${Number.MAX_VALUE}) at ${Number.MAX_VALUE} would move time past the largest finite number; time is unchanged`,
  );
  assert.equal(far.now(), Number.MAX_VALUE);
  assert.equal(ran, 0);
  assert.equal(far.pending, 1);
});

Deno.test("while advanceAsync runs, advance throws and advanceAsync rejects, changing nothing", async () => {
  const clock = new ManualClock();
  const ran: number[] = [];
  clock.setTimeout(() => ran.push(clock.now()), 10);
  clock.setTimeout(() => ran.push(clock.now()), 30);
  const running = clock.advanceAsync(20);
  const busy =
    "ManualClock advance(5) was called while advanceAsync is running; await it first";
  assert.throws(() => clock.advance(5), { name: "Error", message: busy });
  await assert.rejects(clock.advanceAsync(5), {
    name: "Error",
    message: busy.replace("advance(5)", "advanceAsync(5)"),
  });
  assert.equal(clock.now(), 0);
  assert.deepEqual(ran, []);
  await running;
  assert.deepEqual(ran, [10]);
  assert.equal(clock.now(), 20);
  // Once it is done, either may run again.
  clock.advance(5);
  await clock.advanceAsync(5);
  assert.deepEqual(ran, [10, 30]);
  assert.equal(clock.now(), 30);
});

Deno.test("a callback or reaction that advances during advanceAsync gets the error", async () => {
  const clock = new ManualClock();
  const errors: unknown[] = [];
  clock.setTimeout(() => {
    Promise.resolve().then(() => clock.advance(1)).catch((error) =>
      errors.push(error)
    );
  }, 10);
  clock.setTimeout(() => clock.advance(1), 20);
  await assert.rejects(
    clock.advanceAsync(30),
    /advance\(1\) was called while advanceAsync is running/,
  );
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /while advanceAsync is running/);
  // As with advance, a throwing callback leaves time at its deadline.
  assert.equal(clock.now(), 20);
  await clock.advanceAsync(10);
  assert.equal(clock.now(), 30);
});

Deno.test("advanceAsync called from a callback of advance rejects: its start would be stale", async () => {
  const clock = new ManualClock();
  let nested: Promise<void> | undefined;
  clock.setTimeout(() => {
    nested = clock.advanceAsync(5);
  }, 10);
  clock.advance(20);
  await assert.rejects(nested!, {
    name: "Error",
    message:
      "ManualClock advanceAsync(5) was called while advance is running; call it once advance has returned",
  });
  assert.equal(clock.now(), 20);
});

Deno.test("advanceAsync yields on the runtime's own timers, not on fake ones installed later", async () => {
  const clock = new ManualClock();
  const woke: number[] = [];
  sleep(clock, 5).then(() => woke.push(clock.now()));
  const fake = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  try {
    const step = clock.advanceAsync(10);
    assert.equal(fake.countTimers(), 0, "nothing waits on the fake timers");
    await step;
  } finally {
    fake.uninstall();
  }
  assert.deepEqual(woke, [5]);
});

Deno.test("advanceAsync: a cached function's work that sleeps on the clock settles at its own time, and expires ttl after", async () => {
  const clock = new ManualClock();
  const load = alruCache(async (id: number) => {
    await sleep(clock, 5);
    return id;
  }, { ttl: 3, clock });
  const call = load(1);
  await clock.advanceAsync(7);
  assert.equal(await call, 1);
  assert.equal(load.cacheContains(1), true, "settled at 5, so kept until 8");
  await clock.advanceAsync(1);
  assert.equal(load.cacheContains(1), false, "expired at 8");
  assert.equal(clock.pending, 0);

  const again = load(2);
  await clock.advanceAsync(50);
  assert.equal(await again, 2);
  assert.equal(load.cacheContains(2), false, "settled at 13, expired at 16");
  assert.equal(clock.pending, 0);
});

// Documents why advanceAsync exists: advance alone lets the cache hear of the
// settlement only once it has returned, so the ttl counts from the window's end.
Deno.test("advance: a cached function's work that sleeps on the clock is seen to settle at the end of the window", async () => {
  const clock = new ManualClock();
  const load = alruCache(async (id: number) => {
    await sleep(clock, 5);
    return id;
  }, { ttl: 3, clock });
  const call = load(1);
  clock.advance(50);
  assert.equal(await call, 1);
  await flush();
  assert.equal(load.cacheContains(1), true, "still present at 50");
  clock.advance(2);
  assert.equal(load.cacheContains(1), true);
  clock.advance(1);
  assert.equal(load.cacheContains(1), false, "expired at 53");
  assert.equal(clock.pending, 0);
});
