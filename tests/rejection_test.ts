import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import {
  checkLru,
  type Deferred,
  deferred,
  flush,
  rejectionOf,
} from "./_helpers.ts";

Deno.test("concurrent callers of failing work all get the same reason; nothing is cached", async () => {
  let calls = 0;
  const cached = alruCache(async (_n: number) => {
    calls++;
    await Promise.resolve();
    throw new RangeError(`failure ${calls}`);
  });

  const reasons = await Promise.all(
    [1, 1, 1].map((n) => rejectionOf(cached(n))),
  );
  checkLru(cached, { hits: 2, misses: 1, currSize: 0, tasks: 0 });
  assert.equal(calls, 1);
  assert.ok(reasons[0] instanceof RangeError);
  assert.equal((reasons[0] as Error).message, "failure 1");
  assert.equal(reasons[1], reasons[0]);
  assert.equal(reasons[2], reasons[0]);

  const again = await rejectionOf(cached(1));
  assert.ok(again instanceof RangeError);
  assert.notEqual(again, reasons[0], "the rejection was not served from cache");
  assert.equal(calls, 2);
  checkLru(cached, { hits: 2, misses: 2, currSize: 0, tasks: 0 });
});

Deno.test("after a rejection the next call runs fn again and its value is cached", async () => {
  let calls = 0;
  const cached = alruCache(async (n: number) => {
    calls++;
    await Promise.resolve();
    if (calls === 1) throw new Error("transient");
    return n * 10;
  });
  await assert.rejects(cached(4), /transient/);
  assert.equal(cached.cacheContains(4), false);
  assert.equal(await cached(4), 40);
  assert.equal(await cached(4), 40);
  assert.equal(calls, 2);
  checkLru(cached, { hits: 1, misses: 2, currSize: 1, tasks: 0 });
});

Deno.test("a rejection removes the entry while it is still in flight for the other callers", async () => {
  const gate = deferred<number>();
  const cached = alruCache((_n: number) => gate.promise);
  const callers = [cached(1), cached(1)].map(rejectionOf);
  checkLru(cached, { hits: 1, misses: 1, currSize: 1, tasks: 1 });
  const reason = { code: 503 };
  gate.reject(reason);
  const reasons = await Promise.all(callers);
  assert.equal(reasons[0], reason);
  assert.equal(reasons[1], reason);
  await flush();
  checkLru(cached, { hits: 1, misses: 1, currSize: 0, tasks: 0 });
});

Deno.test("reasons that are not Errors pass through unchanged", async () => {
  const reasons: unknown[] = [undefined, null, "plain string", 0, { a: 1 }];
  let index = 0;
  const cached = alruCache(async () => {
    const reason = reasons[index++];
    await Promise.resolve();
    throw reason;
  });
  for (const expected of reasons) {
    assert.equal(await rejectionOf(cached()), expected);
    assert.equal(cached.cacheContains(), false);
  }
  checkLru(cached, {
    hits: 0,
    misses: reasons.length,
    currSize: 0,
    tasks: 0,
  });
});

Deno.test("a thenable that rejects is handled like a rejected promise", async () => {
  const reason = new Error("thenable failed");
  const cached = alruCache((_n: number) => ({
    then(
      _onFulfilled: (value: number) => void,
      onRejected: (e: unknown) => void,
    ) {
      onRejected(reason);
    },
  }));
  assert.equal(await rejectionOf(cached(1)), reason);
  await flush();
  checkLru(cached, { hits: 0, misses: 1, currSize: 0, tasks: 0 });
});

Deno.test("fn throwing synchronously rejects the call and counts nothing", async () => {
  let calls = 0;
  const reason = new TypeError("bad input");
  const cached = alruCache((n: number) => {
    calls++;
    if (n < 0) throw reason;
    return Promise.resolve(n);
  });
  const result = cached(-1);
  assert.ok(result instanceof Promise, "no synchronous throw from the wrapper");
  assert.equal(await rejectionOf(result), reason);
  checkLru(cached, { hits: 0, misses: 0, currSize: 0, tasks: 0 });
  assert.equal(cached.cacheContains(-1), false);

  assert.equal(await rejectionOf(cached(-1)), reason);
  assert.equal(calls, 2);
  checkLru(cached, { hits: 0, misses: 0, currSize: 0, tasks: 0 });

  assert.equal(await cached(1), 1);
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 0 });
});

Deno.test("a throwing key function rejects the call, counts nothing and does not call fn", async () => {
  let calls = 0;
  const reason = new Error("no key");
  const cached = alruCache(async (n: number) => {
    calls++;
    return await Promise.resolve(n);
  }, {
    key: (n) => {
      if (n === 13) throw reason;
      return n;
    },
  });
  const result = cached(13);
  assert.ok(result instanceof Promise, "no synchronous throw from the wrapper");
  assert.equal(await rejectionOf(result), reason);
  assert.equal(calls, 0);
  checkLru(cached, { hits: 0, misses: 0, currSize: 0, tasks: 0 });
  assert.equal(await cached(12), 12);
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 0 });
});

Deno.test("many failing keys leave nothing behind", async () => {
  const cached = alruCache(async (n: number) => {
    await Promise.resolve();
    throw new Error(`failed ${n}`);
  });
  const keys = Array.from({ length: 1000 }, (_, i) => i);
  const results = await Promise.allSettled(keys.map((n) => cached(n)));
  assert.ok(results.every((r) => r.status === "rejected"));
  await flush();
  checkLru(cached, { hits: 0, misses: 1000, currSize: 0, tasks: 0 });
});

Deno.test("a rejection schedules no expiry", async () => {
  const clock = new ManualClock();
  const cached = alruCache(async (_n: number) => {
    await Promise.resolve();
    throw new Error("nope");
  }, { ttl: 100, clock });
  await assert.rejects(cached(1), /nope/);
  await flush();
  assert.equal(clock.pending, 0);
  assert.equal(cached.cacheContains(1), false);
});

Deno.test("old work rejecting after invalidation never removes the newer entry", async () => {
  const gates: Deferred<string>[] = [];
  const cached = alruCache((_n: number) => {
    const gate = deferred<string>();
    gates.push(gate);
    return gate.promise;
  });
  const old = rejectionOf(cached(1));
  assert.equal(cached.cacheInvalidate(1), true);
  const fresh = cached(1);
  checkLru(cached, { hits: 0, misses: 2, currSize: 1, tasks: 1 });

  const reason = new Error("old failed");
  gates[0].reject(reason);
  assert.equal(await old, reason);
  await flush();
  assert.equal(cached.cacheContains(1), true);
  checkLru(cached, { hits: 0, misses: 2, currSize: 1, tasks: 1 });

  gates[1].resolve("new");
  assert.equal(await fresh, "new");
  assert.equal(await cached(1), "new");
  checkLru(cached, { hits: 1, misses: 2, currSize: 1, tasks: 0 });
});

Deno.test("evicted work that rejects still reaches its callers", async () => {
  const gates = new Map<number, Deferred<number>>();
  const cached = alruCache((n: number) => {
    const gate = deferred<number>();
    gates.set(n, gate);
    return gate.promise;
  }, { maxSize: 1 });
  const evicted = rejectionOf(cached(1));
  const kept = cached(2);
  const reason = new Error("evicted failed");
  gates.get(1)!.reject(reason);
  assert.equal(await evicted, reason);
  await flush();
  assert.equal(cached.cacheContains(2), true);
  gates.get(2)!.resolve(2);
  assert.equal(await kept, 2);
  checkLru(cached, { hits: 0, misses: 2, currSize: 1, tasks: 0, maxSize: 1 });
});
