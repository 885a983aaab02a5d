/** The circuit breaker alone, on a ManualClock. */

import assert from "node:assert/strict";
import { ManualClock } from "../mod.ts";
import { CircuitBreaker } from "../breaker.ts";

function breaker(threshold: number, cooldown: number) {
  const clock = new ManualClock();
  const changes: boolean[] = [];
  const it = new CircuitBreaker({
    threshold,
    cooldown,
    clock: () => clock,
    changed: (open) => changes.push(open),
  });
  return { it, clock, changes };
}

Deno.test("the breaker opens after threshold failures in a row; a success between them starts the count again", () => {
  const { it, changes } = breaker(3, 1_000);
  it.failed();
  it.failed();
  it.succeeded();
  it.failed();
  it.failed();
  assert.equal(it.open, false);
  assert.ok(it.allows());
  it.failed();
  assert.equal(it.open, true);
  assert.deepEqual(changes, [true]);
  assert.equal(it.allows(), false);
});

Deno.test("open, it lets one call through per cool-down: that call's success closes it, its failure keeps it open, and a call that never reports holds nobody up past another cool-down", () => {
  const { it, clock, changes } = breaker(1, 1_000);
  it.failed();
  clock.advance(999);
  assert.equal(it.allows(), false);
  clock.advance(1);
  assert.equal(it.allows(), true, "the try after the cool-down");
  assert.equal(it.allows(), false, "a second try beside the first");
  // The try was abandoned before it reached the store: no outcome.
  clock.advance(1_000);
  assert.equal(it.allows(), true, "held up by a try that never reported");
  it.failed();
  assert.deepEqual(changes, [true], "a failed try opened it again");
  clock.advance(999);
  assert.equal(it.allows(), false);
  clock.advance(1);
  assert.equal(it.allows(), true);
  it.succeeded();
  assert.equal(it.open, false);
  assert.deepEqual(changes, [true, false]);
  assert.equal(it.allows(), true);
});

Deno.test("a closed breaker reads no time", () => {
  let reads = 0;
  const clock = new ManualClock();
  const it = new CircuitBreaker({
    threshold: 2,
    cooldown: 10,
    clock: () => ({
      now: () => (reads++, clock.now()),
      setTimeout: clock.setTimeout.bind(clock),
      clearTimeout: clock.clearTimeout.bind(clock),
    }),
    changed: () => {},
  });
  for (let i = 0; i < 100; i++) {
    it.allows();
    it.failed();
    it.succeeded();
  }
  assert.equal(reads, 0);
});
