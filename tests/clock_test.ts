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
