/**
 * Fake timers that replace setTimeout but not performance, as a common
 * `toFake` list does: the cache's clock reads real time while its timers run
 * on fake time. A fired expiry timer proves that its deadline has passed, so
 * entries expire when fake time reaches them and the timer never re-arms in
 * a loop.
 */
import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { alruCache } from "../mod.ts";
import { assertWhole, flush } from "./_helpers.ts";

function installWithoutPerformance() {
  return FakeTimers.install({
    toFake: [
      "setTimeout",
      "clearTimeout",
      "setInterval",
      "clearInterval",
      "Date",
    ],
  });
}

Deno.test("entries expire under fake timers that leave performance.now() real", async () => {
  const fake = installWithoutPerformance();
  try {
    const load = alruCache(async (key: number) => await Promise.resolve(key), {
      ttl: 1_000,
    });
    await load(1);
    await flush();
    assert.equal(fake.countTimers(), 1);
    fake.tick(998);
    assert.equal(load.cacheContains(1), true);
    // The cache reads real time, which has hardly moved; the fired timer is
    // what tells it that 1,000 ms have passed.
    fake.tick(2);
    assert.equal(load.cacheContains(1), false);
    assert.equal(fake.countTimers(), 0);
    // Entries made after a firing are timed from it.
    await load(2);
    await flush();
    fake.tick(998);
    assert.equal(load.cacheContains(2), true);
    fake.tick(2);
    assert.equal(load.cacheContains(2), false);
    assert.equal(fake.countTimers(), 0);
    assertWhole(load);
  } finally {
    fake.uninstall();
  }
});

Deno.test("runAll() ends under fake timers that leave performance.now() real", async () => {
  const fake = installWithoutPerformance();
  try {
    const load = alruCache(async (key: number) => await Promise.resolve(key), {
      ttl: 60_000,
      jitter: 1_000,
    });
    for (let key = 0; key < 20; key++) await load(key);
    await flush();
    // Without the proof, each firing found nothing due by the real clock and
    // re-armed, until runAll gave up after 1,000 timers.
    fake.runAll();
    assert.equal(load.cacheInfo().currSize, 0);
    assert.equal(fake.countTimers(), 0);
    assertWhole(load);
  } finally {
    fake.uninstall();
  }
});

Deno.test("a ttl past the host's longest delay is reached by one host timer at a time under fake timers", async () => {
  const fake = installWithoutPerformance();
  try {
    const longest = 2 ** 31 - 1;
    const load = alruCache(async (key: number) => await Promise.resolve(key), {
      ttl: longest + 1_000,
    });
    await load(1);
    await flush();
    assert.equal(fake.countTimers(), 1);
    // The host clamps a longer delay, so the first timer is a step.
    fake.tick(longest);
    assert.equal(load.cacheContains(1), true);
    assert.equal(fake.countTimers(), 1);
    fake.tick(1_000);
    assert.equal(load.cacheContains(1), false);
    assert.equal(fake.countTimers(), 0);
    assertWhole(load);
  } finally {
    fake.uninstall();
  }
});
