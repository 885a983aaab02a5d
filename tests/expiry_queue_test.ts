import assert from "node:assert/strict";
import { ManualClock } from "../clock.ts";
import { ExpiryQueue } from "../ttl.ts";

function queueWithLog(clock: ManualClock) {
  const expired: [slot: number, at: number][] = [];
  const queue = new ExpiryQueue(
    clock,
    (slot) => expired.push([slot, clock.now()]),
  );
  return { queue, expired };
}

Deno.test("ExpiryQueue expires each slot at its own deadline with one timer", () => {
  const clock = new ManualClock();
  const { queue, expired } = queueWithLog(clock);
  queue.schedule(0, 300);
  queue.schedule(1, 100);
  queue.schedule(2, 200);
  assert.equal(clock.pending, 1);
  clock.advance(1_000);
  assert.deepEqual(expired, [[1, 100], [2, 200], [0, 300]]);
  assert.equal(clock.pending, 0);
  assert.equal(queue.size, 0);
});

Deno.test("ExpiryQueue re-arms for an earlier deadline and drops its timer when empty", () => {
  const clock = new ManualClock();
  const { queue, expired } = queueWithLog(clock);
  queue.schedule(0, 500);
  queue.schedule(1, 50);
  assert.equal(clock.pending, 1);
  clock.advance(50);
  assert.deepEqual(expired, [[1, 50]]);
  queue.cancel(0);
  assert.equal(clock.pending, 0);
  clock.advance(1_000);
  assert.deepEqual(expired, [[1, 50]]);
});

Deno.test("ExpiryQueue cancel keeps the heap ordered", () => {
  const clock = new ManualClock();
  const { queue, expired } = queueWithLog(clock);
  const lifetimes = [70, 10, 40, 90, 20, 60, 30, 80, 50, 100];
  lifetimes.forEach((lifetime, slot) => queue.schedule(slot, lifetime));
  for (const slot of [0, 4, 9]) queue.cancel(slot);
  queue.cancel(4); // twice is harmless
  clock.advance(200);
  assert.deepEqual(
    expired.map(([, at]) => at),
    [10, 30, 40, 50, 60, 80, 90],
  );
});

Deno.test("ExpiryQueue rebind cancels the timer on the old clock", () => {
  const oldClock = new ManualClock();
  const newClock = new ManualClock();
  const { queue, expired } = queueWithLog(oldClock);
  queue.schedule(3, 10);
  queue.rebind(newClock);
  assert.equal(oldClock.pending, 0);
  queue.schedule(3, 10);
  assert.equal(newClock.pending, 1);
  newClock.advance(10);
  assert.equal(expired.length, 1);
});

Deno.test("ExpiryQueue grows up to its capacity limit and still orders every deadline", () => {
  const clock = new ManualClock();
  const expired: number[] = [];
  const queue = new ExpiryQueue(clock, (slot) => expired.push(slot), {
    capacityLimit: 20,
  });
  for (let slot = 19; slot >= 0; slot--) queue.schedule(slot, 100 + slot);
  assert.equal(queue.size, 20);
  queue.cancel(7);
  clock.advance(200);
  assert.deepEqual(
    expired,
    Array.from({ length: 20 }, (_, slot) => slot).filter((slot) => slot !== 7),
  );
  assert.equal(clock.pending, 0);
});
