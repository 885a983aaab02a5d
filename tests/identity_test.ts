/**
 * docs/behaviour.md §4 identity rule: when an old call settles or its timer fires, it
 * touches only its own entry, never a newer entry that has since taken the
 * same key.
 */
import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import { type Deferred, deferred, flush } from "./_helpers.ts";

/** A function whose every run is a deferred, settled by the test. */
function controlled() {
  const runs: { key: number; work: Deferred<string> }[] = [];
  const fn = (key: number): Promise<string> => {
    const work = deferred<string>();
    runs.push({ key, work });
    return work.promise;
  };
  return { fn, runs };
}

Deno.test("(a) invalidate while A is pending, B takes the key and resolves, then A rejects: B stays and is served", async () => {
  const { fn, runs } = controlled();
  const f = alruCache(fn);

  const callerA = f(1);
  assert.equal(f.cacheInvalidate(1), true);
  const callerB = f(1);
  assert.equal(runs.length, 2, "the call after invalidate is a miss");

  runs[1].work.resolve("B");
  assert.equal(await callerB, "B");

  const reasonA = new Error("A failed");
  runs[0].work.reject(reasonA);
  await assert.rejects(callerA, (error) => error === reasonA);
  await flush();

  assert.equal(f.cacheContains(1), true, "A's rejection removed B's entry");
  assert.equal(await f(1), "B");
  assert.equal(runs.length, 2, "B's value is served as a hit");
  assert.deepEqual(f.cacheInfo(), {
    hits: 1,
    misses: 2,
    maxSize: 128,
    currSize: 1,
  });
  assert.equal(f.cacheParameters().tasks, 0);
});

Deno.test("(a') A rejects while B is still in flight: B's entry stays and B's callers share it", async () => {
  const { fn, runs } = controlled();
  const f = alruCache(fn);

  const callerA = f(1);
  f.cacheInvalidate(1);
  const callerB = f(1);
  const reasonA = new Error("A failed");
  runs[0].work.reject(reasonA);
  await assert.rejects(callerA, (error) => error === reasonA);
  await flush();

  assert.equal(f.cacheContains(1), true);
  const joinB = f(1); // joins B: a hit
  assert.equal(runs.length, 2);
  runs[1].work.resolve("B");
  assert.equal(await callerB, "B");
  assert.equal(await joinB, "B");
  assert.equal(await f(1), "B");
  assert.deepEqual(f.cacheInfo(), {
    hits: 2,
    misses: 2,
    maxSize: 128,
    currSize: 1,
  });
});

Deno.test("(a'') A resolves after B took the key: A's value is not stored over B's", async () => {
  const { fn, runs } = controlled();
  const f = alruCache(fn);

  const callerA = f(1);
  f.cacheInvalidate(1);
  const callerB = f(1);

  // A resolves first, while B is in flight; then B.
  runs[0].work.resolve("A");
  assert.equal(await callerA, "A", "invalidate never cancels running work");
  await flush();
  assert.equal(f.cacheParameters().tasks, 1, "B is still in flight");
  runs[1].work.resolve("B");
  assert.equal(await callerB, "B");
  assert.equal(await f(1), "B");

  // And the other order: B resolves, then a stale A resolves.
  const callerC = f(2);
  f.cacheInvalidate(2);
  const callerD = f(2);
  runs[3].work.resolve("D");
  assert.equal(await callerD, "D");
  runs[2].work.resolve("C");
  assert.equal(await callerC, "C");
  await flush();
  assert.equal(await f(2), "D");
  assert.equal(runs.length, 4);
  assert.equal(f.cacheInfo().currSize, 2);
});

Deno.test("(b) invalidate: B settles at t=0 with ttl 100, stale A settles at t=50; B still expires at exactly t=100", async () => {
  for (const outcomeA of ["resolve", "reject"] as const) {
    const clock = new ManualClock();
    const { fn, runs } = controlled();
    const f = alruCache(fn, { ttl: 100, clock });

    const callerA = f(1);
    callerA.catch(() => {});
    assert.equal(f.cacheInvalidate(1), true);
    const callerB = f(1);
    runs[1].work.resolve("B");
    assert.equal(await callerB, "B");
    await flush();
    assert.equal(clock.now(), 0);

    clock.advance(50);
    if (outcomeA === "resolve") {
      runs[0].work.resolve("A");
      assert.equal(await callerA, "A");
    } else {
      const reason = new Error("A failed");
      runs[0].work.reject(reason);
      await assert.rejects(callerA, (error) => error === reason);
    }
    await flush();

    // A is neither stored nor allowed to remove B.
    assert.equal(f.cacheContains(1), true, outcomeA);
    assert.equal(await f(1), "B", outcomeA);
    assert.equal(runs.length, 2);

    clock.advance(49); // t = 99
    await flush();
    assert.equal(f.cacheContains(1), true, `${outcomeA}: present at 99`);
    clock.advance(1); // t = 100
    await flush();
    assert.equal(
      f.cacheContains(1),
      false,
      `${outcomeA}: gone at 100 (A must not re-time B to 150)`,
    );
    assert.equal(clock.pending, 0, outcomeA);
    assert.equal(f.cacheInfo().currSize, 0);

    // Nothing comes back later either.
    clock.advance(200);
    await flush();
    assert.equal(f.cacheContains(1), false);
    const callerC = f(1);
    assert.equal(runs.length, 3, "after expiry the key is a miss");
    runs[2].work.resolve("C");
    assert.equal(await callerC, "C");
    f.cacheClear();
    assert.equal(clock.pending, 0);
  }
});

Deno.test("(c) eviction: A evicted while pending, B takes the key at t=0, A settles at t=50; B expires at exactly t=100", async () => {
  for (const outcomeA of ["resolve", "reject"] as const) {
    const clock = new ManualClock();
    const { fn, runs } = controlled();
    const f = alruCache(fn, { ttl: 100, clock, maxSize: 1 });

    const callerA = f(1); // runs[0]
    callerA.catch(() => {});
    const callerOther = f(2); // runs[1], evicts 1 (A in flight)
    assert.equal(f.cacheContains(1), false);
    const callerB = f(1); // runs[2], evicts 2
    assert.equal(f.cacheContains(2), false);
    assert.equal(runs.length, 3);

    runs[2].work.resolve("B");
    assert.equal(await callerB, "B");
    await flush();

    clock.advance(50);
    runs[1].work.resolve("other");
    assert.equal(await callerOther, "other", "eviction never cancels work");
    if (outcomeA === "resolve") {
      runs[0].work.resolve("A");
      assert.equal(await callerA, "A");
    } else {
      const reason = new Error("A failed");
      runs[0].work.reject(reason);
      await assert.rejects(callerA, (error) => error === reason);
    }
    await flush();

    assert.equal(f.cacheContains(2), false, "evicted work is not stored");
    assert.equal(f.cacheContains(1), true, outcomeA);
    assert.equal(f.cacheInfo().currSize, 1);
    assert.equal(await f(1), "B");

    clock.advance(49); // t = 99
    await flush();
    assert.equal(f.cacheContains(1), true, `${outcomeA}: present at 99`);
    clock.advance(1); // t = 100
    await flush();
    assert.equal(f.cacheContains(1), false, `${outcomeA}: gone at 100`);
    assert.equal(clock.pending, 0);
    assert.deepEqual(f.cacheInfo(), {
      hits: 1,
      misses: 3,
      maxSize: 1,
      currSize: 0,
    });
  }
});

Deno.test("(c') cacheClear while A is pending, then B: A's settling does not touch B", async () => {
  const clock = new ManualClock();
  const { fn, runs } = controlled();
  const f = alruCache(fn, { ttl: 100, clock });

  const callerA = f(1);
  f.cacheClear();
  const callerB = f(1);
  runs[1].work.resolve("B");
  assert.equal(await callerB, "B");
  clock.advance(50);
  runs[0].work.resolve("A");
  assert.equal(await callerA, "A");
  await flush();
  assert.equal(await f(1), "B");
  clock.advance(49);
  assert.equal(f.cacheContains(1), true);
  clock.advance(1);
  assert.equal(f.cacheContains(1), false);
  assert.equal(clock.pending, 0);
});

Deno.test("(d) an old entry's expiry never removes a newer entry under the same key (invalidate)", async () => {
  const clock = new ManualClock();
  const { fn, runs } = controlled();
  const f = alruCache(fn, { ttl: 100, clock });

  const callerA = f(1);
  runs[0].work.resolve("A");
  assert.equal(await callerA, "A"); // A expires at 100
  await flush();

  clock.advance(50);
  assert.equal(f.cacheInvalidate(1), true);
  const callerB = f(1);
  runs[1].work.resolve("B");
  assert.equal(await callerB, "B"); // B expires at 150
  await flush();

  clock.advance(50); // t = 100: A's old deadline
  await flush();
  assert.equal(f.cacheContains(1), true, "A's deadline removed B");
  assert.equal(await f(1), "B");
  clock.advance(49); // t = 149
  await flush();
  assert.equal(f.cacheContains(1), true);
  clock.advance(1); // t = 150
  await flush();
  assert.equal(f.cacheContains(1), false);
  assert.equal(clock.pending, 0);
  assert.equal(runs.length, 2);
});

Deno.test("(d') an old entry's deadline passes while the newer entry is in flight: it stays in flight and gets its full ttl", async () => {
  const clock = new ManualClock();
  const { fn, runs } = controlled();
  const f = alruCache(fn, { ttl: 100, clock });

  const callerA = f(1);
  runs[0].work.resolve("A");
  await callerA; // A expires at 100
  await flush();

  clock.advance(50);
  f.cacheInvalidate(1);
  const callerB = f(1);
  clock.advance(50); // t = 100
  await flush();
  assert.equal(f.cacheContains(1), true, "in-flight B removed by A's deadline");
  assert.equal(f.cacheParameters().tasks, 1);
  const joined = f(1);
  assert.equal(runs.length, 2, "joining B is a hit");

  clock.advance(20); // t = 120
  runs[1].work.resolve("B");
  assert.equal(await callerB, "B");
  assert.equal(await joined, "B");
  await flush();
  clock.advance(99); // t = 219
  await flush();
  assert.equal(f.cacheContains(1), true);
  clock.advance(1); // t = 220
  await flush();
  assert.equal(f.cacheContains(1), false);
  assert.equal(clock.pending, 0);
});

Deno.test("(d'') old entry evicted, newer entry under the same key keeps its own deadline", async () => {
  const clock = new ManualClock();
  const { fn, runs } = controlled();
  const f = alruCache(fn, { ttl: 100, clock, maxSize: 1 });

  const a = f(1);
  runs[0].work.resolve("A");
  await a; // A expires at 100
  await flush();
  clock.advance(10);
  const other = f(2); // evicts A
  runs[1].work.resolve("other");
  await other; // expires at 110
  await flush();
  clock.advance(10);
  const b = f(1); // evicts 2; B settles at t=20, expires at 120
  runs[2].work.resolve("B");
  await b;
  await flush();

  clock.advance(80); // t = 100
  await flush();
  assert.equal(f.cacheContains(1), true, "A's deadline removed B");
  clock.advance(10); // t = 110
  await flush();
  assert.equal(f.cacheContains(1), true, "2's deadline removed B");
  clock.advance(9); // t = 119
  await flush();
  assert.equal(f.cacheContains(1), true);
  clock.advance(1); // t = 120
  await flush();
  assert.equal(f.cacheContains(1), false);
  assert.equal(clock.pending, 0);
});

Deno.test("(d''') many generations of one key: each expires at its own deadline only", async () => {
  const clock = new ManualClock();
  let generation = 0;
  const f = alruCache((_key: string) => Promise.resolve(++generation), {
    ttl: 100,
    clock,
  });
  // A new generation every 10 ms, each replacing the last by invalidation.
  for (let t = 0; t < 50; t += 10) {
    f.cacheInvalidate("k");
    await f("k");
    await flush();
    clock.advance(10);
  }
  // t = 50; the last generation (5) settled at t = 40 and expires at 140.
  assert.equal(generation, 5);
  clock.advance(89); // t = 139, past every older deadline
  await flush();
  assert.equal(f.cacheContains("k"), true);
  assert.equal(await f("k"), 5);
  clock.advance(1); // t = 140
  await flush();
  assert.equal(f.cacheContains("k"), false);
  assert.equal(clock.pending, 0);
});

Deno.test("(e) ttl 0: a stale call settling does not drop the newer in-flight entry", async () => {
  const clock = new ManualClock();
  const { fn, runs } = controlled();
  const f = alruCache(fn, { ttl: 0, clock });

  const callerA = f(1);
  f.cacheInvalidate(1);
  const callerB = f(1);
  runs[0].work.resolve("A");
  assert.equal(await callerA, "A");
  await flush();
  assert.equal(f.cacheContains(1), true, "A's settling dropped B");
  const joined = f(1);
  assert.equal(runs.length, 2, "B is still shared");
  runs[1].work.resolve("B");
  assert.equal(await callerB, "B");
  assert.equal(await joined, "B");
  await flush();
  assert.equal(f.cacheContains(1), false, "ttl 0 drops B once it settles");
  assert.equal(clock.pending, 0);
});
