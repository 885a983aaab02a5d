/**
 * The watchdog that bounds a cache's store operations (watchdog.ts), on a
 * ManualClock: a bound measures how long the store has answered nothing,
 * not how long an operation has queued, with a hard cap; operations of
 * different bounds each end at their own; a patience ends the wait but not
 * the operation; and one timer serves them all.
 */

import assert from "node:assert/strict";
import { type Clock, ManualClock } from "../clock.ts";
import { HARD_CAP, StoreTimeoutError, Watchdog } from "../watchdog.ts";
import { deferred, type Outcome, track, type Tracked } from "./_helpers.ts";

function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}

function setUp() {
  const clock = new ManualClock();
  return { clock, watchdog: new Watchdog(() => clock) };
}

function assertTimedOut(
  outcome: Outcome<unknown>,
  what: string,
): StoreTimeoutError {
  assert.equal(outcome.state, "rejected", `${what} did not time out`);
  const { reason } = outcome as { reason: unknown };
  assert.ok(reason instanceof StoreTimeoutError, `${what}: ${reason}`);
  return reason;
}

Deno.test("an operation with a shorter bound, begun after one with a longer bound, ends at its own bound, not at the other's", async () => {
  const { clock, watchdog } = setUp();
  const long = track(watchdog.bound(never(), 500));
  const short = track(watchdog.bound(never(), 250));
  await clock.advanceAsync(249);
  assert.equal(short.outcome.state, "pending", "ended early");
  await clock.advanceAsync(1);
  assertTimedOut(short.outcome, "the operation bound by 250 ms");
  assert.equal(long.outcome.state, "pending", "the longer bound ended early");
  await clock.advanceAsync(249);
  assert.equal(long.outcome.state, "pending");
  await clock.advanceAsync(1);
  assertTimedOut(long.outcome, "the operation bound by 500 ms");
  watchdog.close();
  assert.equal(clock.pending, 0, "a closed watchdog left a timer");
});

Deno.test("a store that answers nothing fails each operation its bound after it began", async () => {
  const { clock, watchdog } = setUp();
  const first = track(watchdog.bound(never(), 250));
  await clock.advanceAsync(100);
  const second = track(watchdog.bound(never(), 250));
  await clock.advanceAsync(149);
  assert.equal(first.outcome.state, "pending");
  await clock.advanceAsync(1);
  assertTimedOut(first.outcome, "the first");
  assert.equal(second.outcome.state, "pending");
  await clock.advanceAsync(99);
  assert.equal(second.outcome.state, "pending");
  await clock.advanceAsync(1);
  assertTimedOut(second.outcome, "the second");
});

Deno.test("an operation queued behind others does not time out while the store answers them: only once the store has answered nothing for its bound", async () => {
  const { clock, watchdog } = setUp();
  const queued = track(watchdog.bound(never(), 250));
  const answered = deferred<string>();
  const other = track(watchdog.bound(answered.promise, 250));
  await clock.advanceAsync(200);
  answered.resolve("done");
  await clock.advanceAsync(0);
  assert.deepEqual(other.outcome, { state: "fulfilled", value: "done" });
  await clock.advanceAsync(50);
  assert.equal(
    queued.outcome.state,
    "pending",
    "timed out as the store answered",
  );
  await clock.advanceAsync(199);
  assert.equal(queued.outcome.state, "pending");
  await clock.advanceAsync(1);
  assertTimedOut(queued.outcome, "the operation after 250 ms of silence");
});

Deno.test(`no operation waits more than ${HARD_CAP} times its bound, however often the store answers others`, async () => {
  const { clock, watchdog } = setUp();
  const lost = track(watchdog.bound(never(), 250));
  const answers: Tracked<number>[] = [];
  for (let at = 100; at < HARD_CAP * 250; at += 100) {
    await clock.advanceAsync(100);
    answers.push(track(watchdog.bound(Promise.resolve(at), 250)));
    assert.equal(lost.outcome.state, "pending", `timed out at ${at} ms`);
  }
  await clock.advanceAsync(HARD_CAP * 250 - clock.now() - 1);
  assert.equal(lost.outcome.state, "pending");
  await clock.advanceAsync(1);
  const error = assertTimedOut(lost.outcome, "the lost operation");
  assert.match(error.message, /took over 1000 ms/);
  assert.ok(answers.every((a) => a.outcome.state === "fulfilled"));
});

Deno.test("a late answer to an operation that timed out still counts as the store answering", async () => {
  const { clock, watchdog } = setUp();
  const late = deferred<void>();
  const timedOut = track(watchdog.bound(late.promise, 100));
  await clock.advanceAsync(50);
  const waiting = track(watchdog.bound(never(), 250));
  await clock.advanceAsync(50);
  assertTimedOut(timedOut.outcome, "the first");
  await clock.advanceAsync(100);
  late.resolve(); // at 200
  await clock.advanceAsync(100); // 300: 250 after the second began
  assert.equal(waiting.outcome.state, "pending");
  await clock.advanceAsync(149);
  assert.equal(waiting.outcome.state, "pending");
  await clock.advanceAsync(1); // 450: 250 after the late answer
  assertTimedOut(waiting.outcome, "the second");
});

Deno.test("a patience ends the wait at its bound, never rejects, and leaves the operation to its own bound; its settling is no answer from the store", async () => {
  const { clock, watchdog } = setUp();
  const slow = deferred<void>();
  const bounded = track(watchdog.bound(slow.promise, 300));
  const waited = track(watchdog.patience(slow.promise, 100));
  await clock.advanceAsync(99);
  assert.equal(waited.outcome.state, "pending");
  await clock.advanceAsync(1);
  assert.deepEqual(waited.outcome, { state: "fulfilled", value: undefined });
  assert.equal(bounded.outcome.state, "pending", "the operation was ended");

  // A patience whose operation settles (even by failing) ends then, and
  // moves no other operation's deadline.
  const failing = deferred<void>();
  const quick = track(watchdog.patience(failing.promise, 1_000));
  failing.reject(new Error("failed"));
  await clock.advanceAsync(0);
  assert.deepEqual(quick.outcome, { state: "fulfilled", value: undefined });
  await clock.advanceAsync(199);
  assert.equal(bounded.outcome.state, "pending", "a patience moved it");
  await clock.advanceAsync(1); // 300 since `bounded` began
  assertTimedOut(bounded.outcome, "the operation under its own bound");
});

Deno.test("one timer serves every operation, and none is left once a closed watchdog has nothing in progress", async () => {
  const { clock, watchdog } = setUp();
  const answers = Array.from({ length: 100 }, () => deferred<number>());
  const bounded = answers.map((a) => track(watchdog.bound(a.promise, 250)));
  const patient = track(watchdog.patience(never(), 400));
  assert.equal(clock.pending, 1, "a timer per operation");
  answers.forEach((a, i) => a.resolve(i));
  await clock.advanceAsync(0);
  assert.ok(bounded.every((b) => b.outcome.state === "fulfilled"));
  watchdog.close();
  assert.equal(clock.pending, 1, "the patience in progress lost its timer");
  await clock.advanceAsync(400);
  assert.deepEqual(patient.outcome, { state: "fulfilled", value: undefined });
  assert.equal(clock.pending, 0, "a closed watchdog left a timer");
});

// A clock whose timers fire when the test says, as late as it says: how a
// process that was too busy to run its event loop sees its timers.
class LateClock implements Clock {
  #now = 0;
  #timers = new Map<number, { at: number; callback: () => void }>();
  #next = 1;

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, delay: number): number {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, delay), callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Fires the earliest timer `late` ms after it was due. */
  fire(late = 0): void {
    const [id, timer] = [...this.#timers].sort((a, b) => a[1].at - b[1].at)[0];
    this.#timers.delete(id);
    this.#now = Math.max(this.#now, timer.at + late);
    timer.callback();
  }
}

Deno.test("a stall of the process (its timer fires late) is not the store's silence: the operation gets its bound again from the end of the stall, up to the hard cap", async () => {
  const clock = new LateClock();
  const watchdog = new Watchdog(() => clock);
  const stalled = track(watchdog.bound(never(), 250));
  // The timer looks in every quarter of the bound; the process is busy
  // from before its first look until 290, past the bound.
  clock.fire(227.5); // due at 62.5, run at 290
  await Promise.resolve();
  assert.equal(clock.now(), 290);
  assert.equal(stalled.outcome.state, "pending", "ended by the stall");
  while (stalled.outcome.state === "pending") {
    clock.fire();
    await Promise.resolve();
    assert.ok(clock.now() <= 540, `pending at ${clock.now()} ms`);
  }
  // 250 ms of silence after the stall, and the turn the answers get.
  assert.equal(clock.now(), 540);
  assertTimedOut(stalled.outcome, "the operation after a stall and silence");

  // Stall after stall, the hard cap still holds: it ends once its timer
  // and the turn after it have run, each 200 ms late.
  const busy = track(watchdog.bound(never(), 250));
  const began = clock.now();
  while (busy.outcome.state === "pending") {
    clock.fire(200);
    await Promise.resolve();
    assert.ok(clock.now() - began <= HARD_CAP * 250 + 400, "past the cap");
  }
  assertTimedOut(busy.outcome, "the operation stalled without end");
  assert.ok(clock.now() - began >= HARD_CAP * 250);
});

Deno.test("timers a little late (less than a quarter of the bound) move nothing", async () => {
  const clock = new LateClock();
  const watchdog = new Watchdog(() => clock);
  const operation = track(watchdog.bound(never(), 250));
  while (operation.outcome.state === "pending") {
    clock.fire(10);
    await Promise.resolve();
  }
  assertTimedOut(operation.outcome, "the operation");
  assert.ok(clock.now() <= 270, `ended at ${clock.now()} ms`);
});
