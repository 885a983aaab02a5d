/**
 * §15.1: what `alruBatch` is, what it returns, and its options.
 */
import assert from "node:assert/strict";
import * as mod from "../mod.ts";
import { alruBatch, type CacheEvent, ManualClock } from "../mod.ts";
import { flush } from "./_helpers.ts";
import { recordingLoad } from "./_batch.ts";

Deno.test("alruBatch is exported, and refuses a load that is not a function, the decorator form included", () => {
  assert.equal(typeof mod.alruBatch, "function");
  for (const bad of [undefined, null, 1, "load", {}, { maxSize: 1 }]) {
    assert.throws(
      () => alruBatch(bad as never),
      (error: Error) =>
        error instanceof TypeError &&
        /alruBatch needs a function/.test(error.message),
      String(bad),
    );
  }
});

Deno.test("the batched function has load's name, every member of a cached function, many, and wrapped is load", async () => {
  const { load } = recordingLoad((key: number) => key);
  Object.defineProperty(load, "name", { value: "usersByIds" });
  const user = alruBatch(load);
  assert.equal(user.name, "usersByIds");
  assert.equal(user.wrapped, load);
  for (
    const member of [
      "cacheInfo",
      "cacheParameters",
      "cacheContains",
      "cacheInvalidate",
      "cacheRefresh",
      "cacheStats",
      "cacheClear",
      "cacheClose",
      "withSignal",
      "many",
    ] as const
  ) {
    assert.equal(typeof user[member], "function", member);
  }
  assert.equal(typeof user[Symbol.asyncDispose], "function");
  await user[Symbol.asyncDispose]();
  assert.equal(user.cacheParameters().closed, true);
  await assert.rejects(user(1), mod.CacheClosedError);
  await assert.rejects(user(1), /usersByIds/);
});

Deno.test("a missing argument is undefined, further arguments are ignored, and load is called with this undefined and one argument", async () => {
  const { load, calls } = recordingLoad((key: unknown) => String(key));
  const cached = alruBatch(load);
  const call = cached as unknown as (...args: unknown[]) => Promise<string>;
  const values = await Promise.all([call(), call(1, 2), call(1, 3)]);
  assert.deepEqual(values, ["undefined", "1", "1"]);
  assert.deepEqual(calls.map((c) => c.keys), [[undefined, 1]]);
  assert.equal(calls[0].arity, 1);
  assert.equal(calls[0].thisArg, undefined);
  assert.deepEqual(cached.cacheInfo(), {
    hits: 1,
    misses: 2,
    maxSize: 128,
    currSize: 2,
  });
});

Deno.test("with signal: true, load gets the batch's AbortSignal as its second argument", async () => {
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load, { signal: true });
  await cached(1);
  assert.equal(calls[0].arity, 2);
  assert.ok(calls[0].signal instanceof AbortSignal);
  assert.equal(calls[0].signal.aborted, false);
});

Deno.test("the options of alruCache are validated as there, naming the option", () => {
  const { load } = recordingLoad((key: number) => key);
  assert.throws(
    () => alruBatch(load, { maxSize: -1 }),
    (e: Error) => e instanceof RangeError && /"maxSize"/.test(e.message),
  );
  assert.throws(
    () => alruBatch(load, { ttl: Number.NaN }),
    (e: Error) => e instanceof RangeError && /"ttl"/.test(e.message),
  );
  assert.throws(
    () => alruBatch(load, { jitter: 1 }),
    (e: Error) => e instanceof TypeError && /jitter/.test(e.message),
  );
  assert.throws(
    () => alruBatch(load, { onEvent: 1 as never }),
    (e: Error) => e instanceof TypeError && /"onEvent"/.test(e.message),
  );
  assert.throws(
    () => alruBatch(load, { signal: "yes" as never }),
    (e: Error) => e instanceof TypeError && /"signal"/.test(e.message),
  );
  assert.throws(() => alruBatch(load, 1 as never), TypeError);
});

Deno.test("an unknown option is a TypeError naming it, with a suggestion for a misspelt batch option", () => {
  const { load } = recordingLoad((key: number) => key);
  assert.throws(
    () => alruBatch(load, { maxBatchSise: 3 } as never),
    (e: Error) =>
      e instanceof TypeError && /"maxBatchSise"/.test(e.message) &&
      /"maxBatchSize"/.test(e.message),
  );
  assert.throws(
    () => alruBatch(load, { batchDelya: 3 } as never),
    (e: Error) => e instanceof TypeError && /"batchDelay"/.test(e.message),
  );
  assert.throws(
    () => alruBatch(load, { colour: 3 } as never),
    (e: Error) => e instanceof TypeError && /"colour"/.test(e.message),
  );
});

Deno.test("maxBatchSize: not a number is a TypeError, 0, negative, NaN or fractional a RangeError, both naming it; Infinity and null are unbounded", () => {
  const { load } = recordingLoad((key: number) => key);
  for (const bad of ["10", true, {}]) {
    assert.throws(
      () => alruBatch(load, { maxBatchSize: bad as never }),
      (e: Error) => e instanceof TypeError && /"maxBatchSize"/.test(e.message),
      String(bad),
    );
  }
  for (const bad of [0, -1, Number.NaN, 1.5, -Infinity]) {
    assert.throws(
      () => alruBatch(load, { maxBatchSize: bad }),
      (e: Error) =>
        e instanceof RangeError && /"maxBatchSize"/.test(e.message) &&
        e.message.includes(String(bad)),
      String(bad),
    );
  }
  assert.equal(alruBatch(load).cacheParameters().maxBatchSize, Infinity);
  assert.equal(
    alruBatch(load, { maxBatchSize: null }).cacheParameters().maxBatchSize,
    Infinity,
  );
  assert.equal(
    alruBatch(load, { maxBatchSize: Infinity }).cacheParameters().maxBatchSize,
    Infinity,
  );
  assert.equal(
    alruBatch(load, { maxBatchSize: 7 }).cacheParameters().maxBatchSize,
    7,
  );
});

Deno.test("batchDelay: not a number is a TypeError, negative, NaN or Infinity a RangeError, both naming it; null is 0", () => {
  const { load } = recordingLoad((key: number) => key);
  for (const bad of ["1", false]) {
    assert.throws(
      () => alruBatch(load, { batchDelay: bad as never }),
      (e: Error) => e instanceof TypeError && /"batchDelay"/.test(e.message),
      String(bad),
    );
  }
  for (const bad of [-1, Number.NaN, Infinity]) {
    assert.throws(
      () => alruBatch(load, { batchDelay: bad }),
      (e: Error) => e instanceof RangeError && /"batchDelay"/.test(e.message),
      String(bad),
    );
  }
  assert.equal(alruBatch(load).cacheParameters().batchDelay, 0);
  assert.equal(
    alruBatch(load, { batchDelay: null }).cacheParameters().batchDelay,
    0,
  );
  assert.equal(
    alruBatch(load, { batchDelay: 2.5 }).cacheParameters().batchDelay,
    2.5,
  );
});

Deno.test("cacheParameters has the fields of alruCache's (load's name among them), maxBatchSize and batchDelay; tasks counts keys waiting in an open batch", async () => {
  const clock = new ManualClock();
  const { load, calls } = recordingLoad((key: number) => key);
  const cached = alruBatch(load, {
    ttl: 100,
    clock,
    batchDelay: 5,
    maxBatchSize: 10,
  });
  const calling = cached.many([1, 2, 3]);
  assert.deepEqual(cached.cacheParameters(), {
    maxSize: 128,
    ttl: 100,
    jitter: undefined,
    tasks: 3,
    closed: false,
    name: "load",
    softTimeout: undefined,
    hardTimeout: undefined,
    maxBatchSize: 10,
    batchDelay: 5,
  });
  assert.equal(calls.length, 0);
  clock.advance(5);
  assert.deepEqual(await calling, [1, 2, 3]);
  assert.equal(cached.cacheParameters().tasks, 0);
  await cached.cacheClose();
});

Deno.test("functions of options get [key], the key option maps the argument to the cache key, and onEvent's key is the cache key", async () => {
  const seen: unknown[][] = [];
  const events: CacheEvent[] = [];
  const { load, calls } = recordingLoad((user: { id: number }) => ({
    name: `u${user.id}`,
  }));
  const cached = alruBatch(load, {
    key: (user) => user.id,
    ttl: (value, args) => {
      seen.push(["ttl", value, args]);
      return 1_000;
    },
    shouldCache: (value, args) => {
      seen.push(["shouldCache", value, args]);
      return true;
    },
    errorTtl: (error, args) => {
      seen.push(["errorTtl", error, args]);
      return 0;
    },
    onEvent: (event) => events.push(event),
    clock: new ManualClock(),
  });
  const one = { id: 1 };
  const value = await cached(one);
  assert.deepEqual(calls.map((c) => c.keys), [[one]]);
  assert.equal(calls[0].keys[0], one);
  assert.deepEqual(seen.map(([name, , args]) => [name, args]), [[
    "shouldCache",
    [one],
  ], ["ttl", [one]]]);
  assert.equal(seen[0][1], value);
  assert.equal((seen[0][2] as unknown[])[0], one);
  assert.equal(await cached({ id: 1 }), value);
  assert.equal(cached.cacheContains({ id: 1 }), true);
  assert.deepEqual(events.map((e) => [e.type, e.key]), [["miss", 1], [
    "hit",
    1,
  ]]);
  await flush();
});

Deno.test("the weigher weighs each key's value with [key], and maxWeight bounds the keys' entries", async () => {
  const weighed: unknown[][] = [];
  const { load } = recordingLoad((key: string) => key.repeat(2));
  const cached = alruBatch(load, {
    maxWeight: 6,
    weigher: (value, args) => {
      weighed.push([value, args]);
      return value.length;
    },
  });
  await cached.many(["a", "bb", "ccc"]);
  assert.deepEqual(weighed, [["aa", ["a"]], ["bbbb", ["bb"]], [
    "cccccc",
    ["ccc"],
  ]]);
  assert.deepEqual(["a", "bb", "ccc"].map((k) => cached.cacheContains(k)), [
    false,
    false,
    true,
  ]);
  assert.equal(cached.cacheParameters().currWeight, 6);
});

Deno.test("the key option is asked once a call, a miss included; a Map is read by its result", async () => {
  let asked = 0;
  const cached = alruBatch(
    (users: { id: number }[]) => new Map(users.map((u) => [u.id, u.id * 2])),
    {
      key: (user) => {
        asked++;
        return user.id;
      },
    },
  );
  assert.deepEqual(await cached.many([{ id: 1 }, { id: 2 }, { id: 1 }]), [
    2,
    4,
    2,
  ]);
  assert.equal(asked, 3);
  assert.equal(await cached({ id: 2 }), 4);
  assert.equal(asked, 4);
});
