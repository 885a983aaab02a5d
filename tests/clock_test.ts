/** SPEC §5: ManualClock semantics. */
import assert from "node:assert/strict";
import { type Clock, ManualClock } from "../mod.ts";

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
