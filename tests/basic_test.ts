import assert from "node:assert/strict";
import { alruCache } from "../mod.ts";
import { checkLru, deferred } from "./_helpers.ts";

Deno.test("the wrapper keeps fn's name and exposes fn as wrapped", () => {
  async function loadUser(id: number): Promise<number> {
    return await Promise.resolve(id);
  }
  const cached = alruCache(loadUser);
  assert.equal(cached.name, "loadUser");
  assert.equal(cached.wrapped, loadUser);
  assert.notEqual(cached as unknown, loadUser);
});

Deno.test("the result is always a promise, whatever fn returns", async () => {
  const syncValue = alruCache((n: number) => n * 2);
  const result = syncValue(21);
  assert.ok(result instanceof Promise);
  assert.equal(await result, 42);

  const asyncValue = alruCache(async (n: number) => await Promise.resolve(n));
  const asyncResult = asyncValue(7);
  assert.ok(asyncResult instanceof Promise);
  assert.equal(await asyncResult, 7);

  const thenable = alruCache((n: number) => ({
    then(onFulfilled: (value: number) => void) {
      onFulfilled(n + 1);
    },
  }));
  const thenableResult = thenable(1);
  assert.ok(thenableResult instanceof Promise);
  assert.equal(await thenableResult, 2);
  assert.equal(await thenable(1), 2);
  checkLru(thenable, { hits: 1, misses: 1, currSize: 1, tasks: 0 });

  const nothing = alruCache(async () => {});
  const nothingResult = nothing();
  assert.ok(nothingResult instanceof Promise);
  assert.equal(await nothingResult, undefined);
  checkLru(nothing, { hits: 0, misses: 1, currSize: 1, tasks: 0 });
});

Deno.test("arguments reach fn unchanged", async () => {
  const seen: unknown[][] = [];
  const cached = alruCache(async (...args: unknown[]) => {
    seen.push(args);
    return await Promise.resolve(args.length);
  });
  const obj = {};
  assert.equal(await cached(1, "two", obj, undefined), 4);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].length, 4);
  assert.equal(seen[0][0], 1);
  assert.equal(seen[0][1], "two");
  assert.equal(seen[0][2], obj);
  assert.equal(seen[0][3], undefined);
});

Deno.test("100 concurrent callers share one run of fn", async () => {
  let calls = 0;
  const gate = deferred<void>();
  const value = { answer: 42 };
  const cached = alruCache(async () => {
    calls++;
    await gate.promise;
    return value;
  });

  const callers = Array.from({ length: 100 }, () => cached());
  assert.equal(calls, 1);
  checkLru(cached, { hits: 99, misses: 1, currSize: 1, tasks: 1 });

  gate.resolve();
  const results = await Promise.all(callers);
  assert.equal(results.length, 100);
  for (const result of results) assert.equal(result, value);
  checkLru(cached, { hits: 99, misses: 1, currSize: 1, tasks: 0 });

  assert.equal(await cached(), value);
  assert.equal(calls, 1);
  checkLru(cached, { hits: 100, misses: 1, currSize: 1, tasks: 0 });
});

Deno.test("a settled value is served from the cache", async () => {
  let calls = 0;
  const cached = alruCache(async (n: number) => {
    calls++;
    return await Promise.resolve({ n });
  });
  const first = await cached(1);
  const second = await cached(1);
  assert.equal(first, second);
  assert.equal(calls, 1);
  checkLru(cached, { hits: 1, misses: 1, currSize: 1, tasks: 0 });
});

Deno.test("two wrappers of one function keep separate caches", async () => {
  let calls = 0;
  const fn = async (n: number) => {
    calls++;
    return await Promise.resolve(n);
  };
  const first = alruCache(fn);
  const second = alruCache(fn);

  assert.equal(await first(1), 1);
  checkLru(first, { hits: 0, misses: 1, currSize: 1, tasks: 0 });
  checkLru(second, { hits: 0, misses: 0, currSize: 0, tasks: 0 });
  assert.equal(second.cacheContains(1), false);

  assert.equal(await second(1), 1);
  checkLru(second, { hits: 0, misses: 1, currSize: 1, tasks: 0 });
  assert.equal(calls, 2);

  assert.equal(first.cacheInvalidate(1), true);
  assert.equal(first.cacheContains(1), false);
  assert.equal(second.cacheContains(1), true);
  second.cacheClear();
  checkLru(first, { hits: 0, misses: 1, currSize: 0, tasks: 0 });
});

Deno.test("a bound function with preset arguments can be cached", async () => {
  const add = async (a: number, b: number) => await Promise.resolve(a + b);
  const addTwo = alruCache(add.bind(null, 2));
  assert.equal(await addTwo(3), 5);
  assert.equal(await addTwo(3), 5);
  checkLru(addTwo, { hits: 1, misses: 1, currSize: 1, tasks: 0 });
});

Deno.test("separate caches per context can be built from wrapped", async () => {
  const shared = alruCache(
    async (key: string) => await Promise.resolve(`data_${key}`),
    { maxSize: 100 },
  );
  const contexts = new Map<number, typeof shared>();
  const fetcherFor = (context: number) => {
    let fetcher = contexts.get(context);
    if (fetcher === undefined) {
      fetcher = alruCache(shared.wrapped, { maxSize: 100 });
      contexts.set(context, fetcher);
    }
    return fetcher;
  };

  const results = await Promise.all([1, 2, 3].map(async (context) => {
    const fetcher = fetcherFor(context);
    assert.equal(fetcherFor(context), fetcher);
    const value = await fetcher("some_key");
    return { value, info: fetcher.cacheInfo() };
  }));

  assert.equal(results.length, 3);
  for (const { value, info } of results) {
    assert.equal(value, "data_some_key");
    assert.equal(info.misses, 1);
    assert.equal(info.hits, 0);
    assert.equal(info.maxSize, 100);
  }
  assert.equal(new Set(contexts.values()).size, 3);
  checkLru(shared, {
    hits: 0,
    misses: 0,
    currSize: 0,
    tasks: 0,
    maxSize: 100,
  });
});

Deno.test("keys compare arguments by SameValueZero, position and count", async () => {
  let calls = 0;
  const cached = alruCache(async (...args: unknown[]) => {
    calls++;
    return await Promise.resolve(args.length);
  });

  await cached();
  await cached(undefined);
  assert.equal(calls, 2, "f() and f(undefined) are different keys");

  await cached(1, 2);
  await cached(2, 1);
  assert.equal(calls, 4, "argument order matters");

  await cached("a,b");
  await cached("a", "b");
  assert.equal(calls, 6, "no string joining of arguments");

  await cached(1);
  await cached("1");
  await cached(1n);
  assert.equal(calls, 9, "1, '1' and 1n are three keys");

  await cached(NaN);
  await cached(NaN);
  assert.equal(calls, 10, "NaN equals NaN");

  await cached(0);
  await cached(-0);
  assert.equal(calls, 11, "0 equals -0");

  const obj = {};
  await cached(obj);
  await cached(obj);
  await cached({});
  assert.equal(calls, 13, "objects compare by identity");

  await cached(1, 2);
  assert.equal(calls, 13);
  checkLru(cached, { hits: 4, misses: 13, currSize: 13, tasks: 0 });
});

Deno.test("the key option decides which calls share an entry", async () => {
  let calls = 0;
  const cached = alruCache(
    async (user: { id: number; note: string }) => {
      calls++;
      return await Promise.resolve(user.note);
    },
    { key: (user) => user.id },
  );
  assert.equal(await cached({ id: 1, note: "first" }), "first");
  assert.equal(await cached({ id: 1, note: "second" }), "first");
  assert.equal(await cached({ id: 2, note: "third" }), "third");
  assert.equal(calls, 2);
  checkLru(cached, { hits: 1, misses: 2, currSize: 2, tasks: 0 });
  assert.equal(cached.cacheContains({ id: 1, note: "anything" }), true);
  assert.equal(cached.cacheContains({ id: 3, note: "third" }), false);
});
