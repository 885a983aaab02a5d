/**
 * §15.3 and §15.4: how a batch settles into entries of their own, what load
 * may return, and how it fails.
 */
import assert from "node:assert/strict";
import { alruBatch, ManualClock } from "../mod.ts";
import {
  checkLru,
  flush,
  rejectionOf,
  track,
  withoutUnhandledRejections,
} from "./_helpers.ts";
import { heldLoad, recordingLoad, turnEnd } from "./_batch.ts";

Deno.test("each key's lifetime starts when its batch settles, with its own jitter, and it expires alone", async () => {
  const clock = new ManualClock();
  const draws = [0, 0.5];
  const { load, batches } = heldLoad<number, number[]>();
  const cached = alruBatch(load, {
    clock,
    ttl: 100,
    jitter: 100,
    random: () => draws.shift()!,
  });
  const calling = cached.many([1, 2]);
  await turnEnd();
  clock.advance(1_000);
  batches[0].resolve([10, 20]);
  assert.deepEqual(await calling, [10, 20]);
  clock.advance(99);
  assert.equal(cached.cacheContains(1), true);
  clock.advance(1);
  assert.equal(cached.cacheContains(1), false, "1 lives 100 ms");
  assert.equal(cached.cacheContains(2), true);
  clock.advance(49);
  assert.equal(cached.cacheContains(2), true);
  clock.advance(1);
  assert.equal(cached.cacheContains(2), false, "2 lives 150 ms");
});

Deno.test("the ttl function and shouldCache are asked per key, of that key's value", async () => {
  const clock = new ManualClock();
  const { load } = recordingLoad((key: number) => ({ key, life: key * 10 }));
  const cached = alruBatch(load, {
    clock,
    ttl: (value) => value.life,
    shouldCache: (value) => value.key !== 3,
  });
  await cached.many([1, 2, 3]);
  assert.deepEqual([1, 2, 3].map((k) => cached.cacheContains(k)), [
    true,
    true,
    false,
  ]);
  clock.advance(10);
  assert.deepEqual([1, 2].map((k) => cached.cacheContains(k)), [false, true]);
  clock.advance(10);
  assert.equal(cached.cacheContains(2), false);
});

Deno.test("a key evicted or invalidated while its batch is open or running stays in the batch; its callers get its value, which is not stored", async () => {
  const { load, batches } = heldLoad<number, string[]>();
  const cached = alruBatch(load, { maxSize: 2 });
  const calling = cached.many([1, 2, 3]);
  assert.equal(cached.cacheContains(1), false, "evicted by 3");
  await turnEnd();
  assert.deepEqual(batches[0].keys, [1, 2, 3]);
  assert.equal(cached.cacheInvalidate(2), true);
  batches[0].resolve(["a", "b", "c"]);
  assert.deepEqual(await calling, ["a", "b", "c"]);
  checkLru(cached, {
    hits: 0,
    misses: 3,
    currSize: 1,
    tasks: 0,
    maxSize: 2,
    present: [[3]],
    absent: [[1], [2]],
  });
});

Deno.test("a key whose entry was replaced while its batch ran never touches the newer entry", async () => {
  const clock = new ManualClock();
  const { load, batches } = heldLoad<number, string[]>();
  const cached = alruBatch(load, { clock, ttl: 100 });
  const old = cached(1);
  await turnEnd();
  cached.cacheInvalidate(1);
  const newer = cached(1);
  await turnEnd();
  assert.equal(batches.length, 2);
  batches[1].resolve(["new"]);
  assert.equal(await newer, "new");
  clock.advance(50);
  batches[0].resolve(["old"]);
  assert.equal(await old, "old");
  assert.equal(await cached(1), "new");
  clock.advance(50);
  assert.equal(
    cached.cacheContains(1),
    false,
    "the newer entry expires on its own time",
  );
});

Deno.test("an iterable result: item i is the value of key i, a generator included", async () => {
  const cached = alruBatch(function* (keys: string[]) {
    for (const key of keys) yield key.toUpperCase();
  });
  assert.deepEqual(await cached.many(["a", "b"]), ["A", "B"]);
  const fromSet = alruBatch((keys: number[]) => new Set(keys.map((k) => -k)));
  assert.deepEqual(await fromSet.many([1, 2]), [-1, -2]);
});

Deno.test("a Map result is read by the key option's result, else by the argument; a missing key is undefined and kept unless shouldCache says no", async () => {
  const byId = alruBatch(
    (users: { id: number }[]) =>
      new Map(
        users.filter((u) => u.id !== 2).map((u) => [u.id, `user ${u.id}`]),
      ),
    { key: (user) => user.id },
  );
  assert.deepEqual(await byId.many([{ id: 1 }, { id: 2 }]), [
    "user 1",
    undefined,
  ]);
  assert.equal(
    byId.cacheContains({ id: 2 }),
    true,
    "undefined is kept like any value",
  );
  const found = alruBatch(
    (ids: number[]) =>
      new Map(ids.filter((id) => id % 2 === 1).map((id) => [id, id])),
    { shouldCache: (value) => value !== undefined },
  );
  assert.deepEqual(await found.many([1, 2, 3]), [1, undefined, 3]);
  assert.deepEqual([1, 2, 3].map((id) => found.cacheContains(id)), [
    true,
    false,
    true,
  ]);
});

Deno.test("an Error value rejects only its key, with that very object; it is not kept, and a later call loads it again alone", async () => {
  const failure = new RangeError("no such user");
  let fail = true;
  const { load, calls } = recordingLoad((key: number) =>
    key === 2 && fail ? failure : key
  );
  const cached = alruBatch(load);
  const results = [track(cached(1)), track(cached(2)), track(cached(3))];
  await turnEnd();
  await flush();
  assert.deepEqual(results.map((r) => r.outcome.state), [
    "fulfilled",
    "rejected",
    "fulfilled",
  ]);
  assert.equal((results[1].outcome as { reason: unknown }).reason, failure);
  assert.equal(cached.cacheContains(2), false);
  fail = false;
  assert.equal(await cached(2), 2);
  assert.deepEqual(calls.map((c) => c.keys), [[1, 2, 3], [2]]);
});

Deno.test("an Error value is kept for its key when errorTtl says so", async () => {
  const clock = new ManualClock();
  const failure = new Error("down");
  const { load, calls } = recordingLoad((key: number) =>
    key === 1 ? failure : key
  );
  const cached = alruBatch(load, { clock, errorTtl: 50 });
  assert.equal(await rejectionOf(cached(1)), failure);
  assert.equal(await rejectionOf(cached(1)), failure);
  assert.equal(calls.length, 1);
  clock.advance(50);
  await rejectionOf(cached(1));
  assert.equal(calls.length, 2);
});

Deno.test("load rejecting, or throwing synchronously, rejects every key with that one reason, and nothing is kept", async () => {
  await withoutUnhandledRejections(async () => {
    const reason = new Error("db down");
    const rejecting = alruBatch((_keys: number[]): Promise<number[]> =>
      Promise.reject(reason)
    );
    const throwing = alruBatch((_keys: number[]): number[] => {
      throw reason;
    });
    for (const cached of [rejecting, throwing]) {
      const calls = [cached(1), cached(2)];
      const many = cached.many([3]);
      for (const call of [...calls, many]) {
        assert.equal(await rejectionOf(call), reason);
      }
      checkLru(cached, { hits: 0, misses: 3, currSize: 0, tasks: 0 });
    }
  });
});

Deno.test("a result neither a Map nor an iterable rejects every key with a TypeError naming load", async () => {
  await withoutUnhandledRejections(async () => {
    for (const result of [null, 42, { length: 1, 0: "a" }, "ab"]) {
      const usersByIds = (_keys: number[]) => result as unknown as number[];
      const cached = alruBatch(usersByIds);
      const reasons = await Promise.all([
        rejectionOf(cached(1)),
        rejectionOf(cached(2)),
      ]);
      assert.ok(reasons[0] instanceof TypeError, String(result));
      assert.equal(reasons[0], reasons[1], "one reason object");
      assert.match(
        (reasons[0] as Error).message,
        /load must resolve to an iterable of values or a Map/,
      );
      assert.match((reasons[0] as Error).message, /usersByIds/);
      assert.equal(cached.cacheInfo().currSize, 0);
    }
  });
});

Deno.test("an iterable of another length rejects every key with a TypeError giving both numbers", async () => {
  const cached = alruBatch((keys: number[]) => keys.slice(1));
  const reasons = await Promise.all(
    [1, 2, 3].map((k) => rejectionOf(cached(k))),
  );
  assert.ok(reasons[0] instanceof TypeError);
  assert.match(
    (reasons[0] as Error).message,
    /load returned 2 values for 3 keys/,
  );
  assert.ok(reasons.every((r) => r === reasons[0]));
  const longer = alruBatch((keys: number[]) => [...keys, 0]);
  assert.match(
    String(await rejectionOf(longer(1))),
    /load returned 2 values for 1 keys/,
  );
});

Deno.test("iterating the result throws: every key rejects with that error", async () => {
  const broken = new Error("cursor lost");
  const cached = alruBatch(function* (keys: number[]) {
    yield keys[0];
    throw broken;
  });
  const reasons = await Promise.all([
    rejectionOf(cached(1)),
    rejectionOf(cached(2)),
  ]);
  assert.equal(reasons[0], broken);
  assert.equal(reasons[1], broken);
});

Deno.test("items and Map values that are promises or thenables are adopted for their key", async () => {
  const cached = alruBatch((keys: number[]) =>
    keys.map((key) =>
      key === 1
        ? Promise.resolve("promised")
        : key === 2
        ? { then: (resolve: (v: string) => void) => resolve("thenable") }
        : Promise.reject(new Error("late failure"))
    )
  );
  const results = [track(cached(1)), track(cached(2)), track(cached(3))];
  await turnEnd();
  await flush();
  assert.deepEqual(results.map((r) => r.outcome.state), [
    "fulfilled",
    "fulfilled",
    "rejected",
  ]);
  assert.equal(await cached(1), "promised");
  assert.equal(await cached(2), "thenable");
  assert.equal(cached.cacheContains(3), false);
  const mapped = alruBatch((keys: number[]) =>
    new Map(keys.map((k) => [k, Promise.resolve(k * 3)]))
  );
  assert.deepEqual(await mapped.many([1, 2]), [3, 6]);
});

Deno.test("whatever load does, the cache's bookkeeping leaves no rejection unhandled", async () => {
  await withoutUnhandledRejections(async () => {
    const loads = [
      () => Promise.reject(new Error("x")),
      () => {
        throw new Error("y");
      },
      () => [new Error("z")],
      () => null,
      () => ({
        then: () => {
          throw new Error("then throws");
        },
      }),
      () => [Promise.reject(new Error("inner"))],
    ];
    for (const load of loads) {
      const cached = alruBatch(load as unknown as (keys: number[]) => number[]);
      void cached(1).catch(() => {});
      const controller = new AbortController();
      const left = cached.withSignal(controller.signal, 2);
      controller.abort();
      await rejectionOf(left);
      await turnEnd();
      await flush();
    }
  });
});
