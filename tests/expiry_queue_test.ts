import assert from "node:assert/strict";
import fc from "fast-check";
import { type Clock, ManualClock } from "../clock.ts";
import { NO_SLOT, type Slot } from "../policy.ts";
import { ExpiryQueue } from "../ttl.ts";
import { ArmingLogClock } from "./_helpers.ts";

/**
 * A queue with an owner as the cache is one: on each timer it takes what is
 * due, and after every change it brings the timer in line.
 */
function queueWithLog(clock: Clock, capacityLimit?: number) {
  const expired: [slot: number, at: number][] = [];
  const sync = () => {
    while (queue.timerOutOfDate) queue.syncTimer();
  };
  const queue: ExpiryQueue = new ExpiryQueue(clock, () => {
    const now = queue.now();
    for (
      let slot = queue.takeDue(now);
      slot !== NO_SLOT;
      slot = queue.takeDue(now)
    ) {
      expired.push([slot, clock.now()]);
    }
    sync();
  }, { capacityLimit });
  return {
    queue,
    expired,
    schedule(slot: number, lifetime: number) {
      queue.schedule(slot as Slot, queue.now() + lifetime);
      sync();
    },
    cancel(slot: number) {
      queue.cancel(slot as Slot);
      sync();
    },
  };
}

Deno.test("ExpiryQueue expires each slot at its own deadline with one timer", () => {
  const clock = new ManualClock();
  const { queue, expired, schedule } = queueWithLog(clock);
  schedule(0, 300);
  schedule(1, 100);
  schedule(2, 200);
  assert.equal(clock.pending, 1);
  clock.advance(1_000);
  assert.deepEqual(expired, [[1, 100], [2, 200], [0, 300]]);
  assert.equal(clock.pending, 0);
  assert.equal(queue.size, 0);
});

Deno.test("ExpiryQueue re-arms for an earlier deadline and drops its timer when empty", () => {
  const clock = new ManualClock();
  const { expired, schedule, cancel } = queueWithLog(clock);
  schedule(0, 500);
  schedule(1, 50);
  assert.equal(clock.pending, 1);
  clock.advance(50);
  assert.deepEqual(expired, [[1, 50]]);
  cancel(0);
  assert.equal(clock.pending, 0);
  clock.advance(1_000);
  assert.deepEqual(expired, [[1, 50]]);
});

Deno.test("ExpiryQueue cancel keeps the heap ordered", () => {
  const clock = new ManualClock();
  const { expired, schedule, cancel } = queueWithLog(clock);
  const lifetimes = [70, 10, 40, 90, 20, 60, 30, 80, 50, 100];
  lifetimes.forEach((lifetime, slot) => schedule(slot, lifetime));
  for (const slot of [0, 4, 9]) cancel(slot);
  cancel(4); // twice is harmless
  clock.advance(200);
  assert.deepEqual(
    expired.map(([, at]) => at),
    [10, 30, 40, 50, 60, 80, 90],
  );
});

Deno.test("ExpiryQueue cancel moves the last entry up when it is due before the gap's parent", () => {
  // Cancelling 21 puts the last entry (due at 5) into 21's place, under 20:
  // without a sift up there, 5 would wait behind 20.
  const clock = new ManualClock();
  const { expired, schedule, cancel } = queueWithLog(clock);
  const deadlines = [1, 20, 2, 21, 22, 3, 4, 23, 24, 25, 26, 5];
  deadlines.forEach((deadline, slot) => schedule(slot, deadline));
  cancel(deadlines.indexOf(21));
  clock.advance(30);
  assert.deepEqual(
    expired.map(([, at]) => at),
    [1, 2, 3, 4, 5, 20, 22, 23, 24, 25, 26],
  );
});

Deno.test("ExpiryQueue rebind leaves the timer on the old clock to be cancelled there", () => {
  const oldClock = new ManualClock();
  const newClock = new ManualClock();
  const { queue, expired, schedule } = queueWithLog(oldClock);
  schedule(3, 10);
  queue.rebind(newClock);
  assert.equal(queue.timerOutOfDate, true);
  queue.syncTimer();
  assert.equal(oldClock.pending, 0);
  schedule(3, 10);
  assert.equal(newClock.pending, 1);
  newClock.advance(10);
  assert.equal(expired.length, 1);
});

Deno.test("ExpiryQueue grows up to its capacity limit and still orders every deadline", () => {
  const clock = new ManualClock();
  const { queue, expired, schedule, cancel } = queueWithLog(clock, 20);
  for (let slot = 19; slot >= 0; slot--) schedule(slot, 100 + slot);
  assert.equal(queue.size, 20);
  cancel(7);
  clock.advance(200);
  assert.deepEqual(
    expired.map(([slot]) => slot),
    Array.from({ length: 20 }, (_, slot) => slot).filter((slot) => slot !== 7),
  );
  assert.equal(clock.pending, 0);
});

Deno.test("ExpiryQueue: a fired timer proves its deadline even when now() stands still", () => {
  // Fake timers that replace setTimeout but not the clock now() reads.
  const timers = new ManualClock();
  const frozen: Clock = {
    now: () => 0,
    setTimeout: (callback, delay) => timers.setTimeout(callback, delay),
    clearTimeout: (handle) => timers.clearTimeout(handle),
  };
  const { queue, expired, schedule } = queueWithLog(frozen);
  schedule(0, 100);
  schedule(1, 150);
  timers.advance(100);
  assert.deepEqual(expired.map(([slot]) => slot), [0]);
  // Time is measured from the proven 100, not from the frozen 0.
  assert.equal(queue.now(), 100);
  timers.advance(50);
  assert.deepEqual(expired.map(([slot]) => slot), [0, 1]);
  assert.equal(timers.pending, 0);
  // An entry timed after the proof lives its full lifetime from there.
  schedule(2, 30);
  timers.advance(29);
  assert.equal(expired.length, 2);
  timers.advance(1);
  assert.equal(expired.length, 3);
});

Deno.test("ExpiryQueue: a timer of a former clock, or one whose cancel failed, proves nothing wrong", () => {
  const clock = new ManualClock();
  let failClear = true;
  const flaky: Clock = {
    now: () => clock.now(),
    setTimeout: (callback, delay) => clock.setTimeout(callback, delay),
    clearTimeout(handle) {
      if (failClear) {
        failClear = false;
        throw new Error("clearTimeout failed");
      }
      clock.clearTimeout(handle);
    },
  };
  const { queue, expired, schedule } = queueWithLog(flaky);
  schedule(0, 100);
  // An earlier deadline re-arms; cancelling the old timer fails, so it stays.
  queue.schedule(1 as Slot, queue.now() + 50);
  assert.throws(() => queue.syncTimer(), /clearTimeout failed/);
  assert.equal(queue.armed, true);
  assert.equal(clock.pending, 2);
  clock.advance(50);
  assert.deepEqual(expired, [[1, 50]]);
  // The stale timer (for 100) fires at 100 and expires what is due then.
  clock.advance(50);
  assert.deepEqual(expired, [[1, 50], [0, 100]]);
  assert.equal(clock.pending, 0);
});

Deno.test("ExpiryQueue: a throwing setTimeout leaves no timer armed, and the queue can arm again", () => {
  const clock = new ManualClock();
  let failSet = true;
  const flaky: Clock = {
    now: () => clock.now(),
    setTimeout(callback, delay) {
      if (failSet) {
        failSet = false;
        throw new Error("setTimeout failed");
      }
      return clock.setTimeout(callback, delay);
    },
    clearTimeout: (handle) => clock.clearTimeout(handle),
  };
  const queue = new ExpiryQueue(flaky, () => {});
  queue.schedule(0 as Slot, 10);
  assert.throws(() => queue.syncTimer(), /setTimeout failed/);
  assert.equal(queue.armed, false);
  assert.equal(queue.timerOutOfDate, true);
  queue.syncTimer();
  assert.equal(queue.armed, true);
  assert.equal(clock.pending, 1);
});

Deno.test("ExpiryQueue: deadlines past the host's longest delay are reached through shorter timers", () => {
  const clock = new ManualClock();
  const delays: number[] = [];
  const recording: Clock = {
    now: () => clock.now(),
    setTimeout(callback, delay) {
      delays.push(delay);
      return clock.setTimeout(callback, delay);
    },
    clearTimeout: (handle) => clock.clearTimeout(handle),
  };
  const { expired, schedule } = queueWithLog(recording);
  const longest = 2 ** 31 - 1;
  schedule(0, longest + 1_000);
  assert.deepEqual(delays, [longest]);
  clock.advance(longest);
  assert.deepEqual(expired, []);
  assert.deepEqual(delays, [longest, 1_000]);
  clock.advance(1_000);
  assert.deepEqual(expired, [[0, longest + 1_000]]);
});

Deno.test("ExpiryQueue on a ManualClock arms one timer for a wait past the host's longest delay", () => {
  const clock = new ArmingLogClock();
  const { queue, expired, schedule } = queueWithLog(clock);
  const longest = 2 ** 31 - 1;
  schedule(0, Number.MAX_VALUE);
  assert.deepEqual(clock.delays, [Number.MAX_VALUE]);
  schedule(1, longest + 1_000);
  assert.deepEqual(clock.delays, [Number.MAX_VALUE, longest + 1_000]);
  assert.equal(clock.pending, 1);
  clock.advance(longest + 1_000);
  assert.deepEqual(expired, [[1, longest + 1_000]]);
  // Re-armed once, for the remaining slot's whole wait.
  assert.equal(clock.delays.length, 3);
  clock.advance(1e300);
  assert.deepEqual(expired, [[1, longest + 1_000]]);
  assert.equal(clock.delays.length, 3);
  assert.equal(clock.pending, 1);
  assert.equal(queue.size, 1);
  clock.advance(Number.MAX_VALUE - clock.now());
  assert.deepEqual(expired, [[1, longest + 1_000], [0, Number.MAX_VALUE]]);
  assert.equal(clock.pending, 0);
});

Deno.test("ExpiryQueue on a ManualClock: a wait longer than the largest number takes two timers", () => {
  // From the most negative time, the largest deadline is further away than
  // any finite delay: the first timer is a step of the largest one, to 0.
  const clock = new ArmingLogClock(-Number.MAX_VALUE);
  const { queue, expired } = queueWithLog(clock);
  queue.schedule(0 as Slot, Number.MAX_VALUE);
  queue.syncTimer();
  assert.deepEqual(clock.delays, [Number.MAX_VALUE]);
  clock.advance(Number.MAX_VALUE);
  assert.equal(clock.now(), 0);
  assert.deepEqual(expired, []);
  assert.deepEqual(clock.delays, [Number.MAX_VALUE, Number.MAX_VALUE]);
  clock.advance(Number.MAX_VALUE);
  assert.deepEqual(expired, [[0, Number.MAX_VALUE]]);
  assert.equal(clock.pending, 0);
});

Deno.test("ExpiryQueue: a clock whose now() is not a finite number is an error naming the clock", () => {
  const queue = new ExpiryQueue({
    now: () => NaN,
    setTimeout: () => 0,
    clearTimeout: () => {},
  }, () => {});
  assert.throws(() => queue.now(), (error: Error) => {
    assert.ok(error instanceof TypeError);
    assert.match(error.message, /"clock".*now\(\).*NaN/);
    return true;
  });
});

Deno.test("ExpiryQueue against a sorted array: random schedules, cancels and advances expire exactly what is due, in order", () => {
  type Command =
    | { type: "schedule"; slot: number; lifetime: number }
    | { type: "cancel"; slot: number }
    | { type: "advance"; ms: number };
  const slots = 40;
  const command = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        type: fc.constant("schedule" as const),
        slot: fc.nat(slots - 1),
        lifetime: fc.integer({ min: 0, max: 200 }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        type: fc.constant("cancel" as const),
        slot: fc.nat(slots - 1),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        type: fc.constant("advance" as const),
        ms: fc.integer({ min: 0, max: 60 }),
      }),
    },
  );
  fc.assert(
    fc.property(
      fc.array(command, { maxLength: 300, size: "max" }),
      (commands) => {
        const clock = new ManualClock();
        const { queue, expired, schedule, cancel } = queueWithLog(clock, 16);
        // The model: [slot, deadline, order of scheduling], kept sorted.
        let model: [number, number, number][] = [];
        let order = 0;
        const expect: [number, number][] = [];
        for (const step of commands) {
          if (step.type === "schedule") {
            if (model.some(([slot]) => slot === step.slot)) continue;
            schedule(step.slot, step.lifetime);
            model.push([step.slot, clock.now() + step.lifetime, order++]);
          } else if (step.type === "cancel") {
            cancel(step.slot);
            model = model.filter(([slot]) => slot !== step.slot);
          } else {
            const target = clock.now() + step.ms;
            model.sort((a, b) => a[1] - b[1] || a[2] - b[2]);
            const due = model.filter(([, deadline]) => deadline <= target);
            model = model.filter(([, deadline]) => deadline > target);
            // Equal deadlines may come out in any order: compare as sets.
            expect.push(...due.map(([slot, deadline]): [number, number] => [
              deadline,
              slot,
            ]));
            clock.advance(step.ms);
          }
          queue.assertConsistent(() => {});
          assert.equal(queue.size, model.length);
          assert.equal(clock.pending, model.length === 0 ? 0 : 1);
        }
        const byTimeThenSlot = (a: [number, number], b: [number, number]) =>
          a[0] - b[0] || a[1] - b[1];
        assert.deepEqual(
          expired.map(([slot, at]): [number, number] => [at, slot]).sort(
            byTimeThenSlot,
          ),
          expect.sort(byTimeThenSlot),
        );
        // Expiries come out in deadline order.
        for (let i = 1; i < expired.length; i++) {
          assert.ok(expired[i - 1][1] <= expired[i][1]);
        }
      },
    ),
    { numRuns: 300 },
  );
});
