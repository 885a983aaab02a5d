/**
 * docs/behaviour.md §2: how a call's arguments become a cache key, with and without the
 * `key` option, and how cacheContains / cacheInvalidate derive the same key.
 */
import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import { memoryStore } from "../memory.ts";
import { runCommand } from "./_helpers.ts";
import { exerciseLongArguments } from "./_long_arguments.ts";

/**
 * A function that records each call's arguments and resolves to the call's
 * number (1 for the first call of fn, 2 for the second, ...), so a result
 * says which run of fn produced it.
 */
function counting() {
  const calls: unknown[][] = [];
  const fn = (...args: unknown[]): Promise<number> => {
    calls.push(args);
    return Promise.resolve(calls.length);
  };
  return { fn, calls };
}

/** Calls `f` with each argument list in turn; returns the results. */
async function callAll(
  f: (...args: unknown[]) => Promise<number>,
  lists: unknown[][],
): Promise<number[]> {
  const results: number[] = [];
  for (const args of lists) results.push(await f(...args));
  return results;
}

// Each row: two argument lists and whether they are the same key.
const TABLE: [string, unknown[], unknown[], boolean][] = (() => {
  const obj = { a: 1 };
  const fnArg = () => 1;
  const sym = Symbol("s");
  return [
    ["same number", [1], [1], true],
    ["same string", ["x"], ["x"], true],
    ["same boolean", [true], [true], true],
    ["null", [null], [null], true],
    ["undefined", [undefined], [undefined], true],
    ["same bigint value", [10n], [10n], true],
    ["same symbol", [sym], [sym], true],
    ["different symbols with one description", [Symbol("s")], [
      Symbol("s"),
    ], false],
    ["same object", [obj], [obj], true],
    ["equal-looking objects", [{ a: 1 }], [{ a: 1 }], false],
    ["equal-looking arrays", [[1, 2]], [[1, 2]], false],
    ["same function", [fnArg], [fnArg], true],
    ["different functions", [() => 1], [() => 1], false],
    ["NaN and NaN", [NaN], [NaN], true],
    ["NaN and 0/0", [NaN], [0 / 0], true],
    ["0 and -0", [0], [-0], true],
    ["-0 and 0", [-0], [0], true],
    ["1 and '1'", [1], ["1"], false],
    ["1 and 1n", [1], [1n], false],
    ["'1' and 1n", ["1"], [1n], false],
    ["null and undefined", [null], [undefined], false],
    ["0 and false", [0], [false], false],
    ["'' and 0", [""], [0], false],
    ["f() and f(undefined)", [], [undefined], false],
    ["f(undefined) and f()", [undefined], [], false],
    ["f(1, 2) and f(2, 1)", [1, 2], [2, 1], false],
    ["f(1, 2) and f(1, 2)", [1, 2], [1, 2], true],
    ["f('a,b') and f('a', 'b')", ["a,b"], ["a", "b"], false],
    ["f('a', 'b') and f('a,b')", ["a", "b"], ["a,b"], false],
    ["f(x) and f(x, undefined)", [obj], [obj, undefined], false],
    ["f(1) and f(1, undefined)", [1], [1, undefined], false],
    ["f(1) and f([1])", [1], [[1]], false],
    ["f(NaN, -0) and f(NaN, 0)", [NaN, -0], [NaN, 0], true],
    ["f(1, '2') and f(1, 2)", [1, "2"], [1, 2], false],
    ["f() and f()", [], [], true],
  ];
})();

for (const [label, first, second, same] of TABLE) {
  Deno.test(`default key: ${label} -> ${same ? "same key" : "different keys"}`, async () => {
    const { fn, calls } = counting();
    const f = alruCache(fn, { maxSize: Infinity });
    assert.equal(await f(...first), 1);
    assert.equal(await f(...second), same ? 1 : 2);
    assert.equal(calls.length, same ? 1 : 2);
    assert.deepEqual(f.cacheInfo(), {
      hits: same ? 1 : 0,
      misses: same ? 1 : 2,
      maxSize: Infinity,
      currSize: same ? 1 : 2,
    });
    // cacheContains derives the key exactly as a call does.
    assert.equal(f.cacheContains(...first), true);
    assert.equal(f.cacheContains(...second), true);
    // fn receives the caller's arguments as given.
    assert.equal(calls[0].length, first.length);
    if (!same) assert.equal(calls[1].length, second.length);
  });
}

Deno.test("three different keys: 1, '1' and 1n each run fn once", async () => {
  const { fn, calls } = counting();
  const f = alruCache(fn);
  assert.deepEqual(
    await callAll(f, [[1], ["1"], [1n], [1], ["1"], [1n]]),
    [1, 2, 3, 1, 2, 3],
  );
  assert.equal(calls.length, 3);
  assert.equal(f.cacheInfo().hits, 3);
  assert.equal(f.cacheInfo().misses, 3);
  assert.equal(f.cacheInfo().currSize, 3);
});

Deno.test("arity keys: f(), f(undefined), f(undefined, undefined) are three keys", async () => {
  const { fn, calls } = counting();
  const f = alruCache(fn);
  assert.deepEqual(
    await callAll(f, [
      [],
      [undefined],
      [undefined, undefined],
      [],
      [undefined],
      [undefined, undefined],
    ]),
    [1, 2, 3, 1, 2, 3],
  );
  assert.deepEqual(calls.map((args) => args.length), [0, 1, 2]);
});

Deno.test("an object argument keeps its identity as the key, whatever happens to its contents", async () => {
  const { fn } = counting();
  const f = alruCache(fn);
  const obj = { n: 1 };
  assert.equal(await f(obj), 1);
  obj.n = 2;
  assert.equal(await f(obj), 1);
  assert.equal(await f({ n: 1 }), 2);
  assert.equal(f.cacheContains(obj), true);
  assert.equal(f.cacheContains({ n: 2 }), false);
});

Deno.test("many-argument keys (3 to 5 arguments) with objects", async () => {
  const { fn, calls } = counting();
  const f = alruCache(fn, { maxSize: Infinity });
  const a = { a: 1 };
  const b = [2];
  const c = () => 3;
  const d = new Map();
  const lists: unknown[][] = [
    [a, b, c], // 1
    [a, b, c, d], // 2
    [a, b, c, d, "e"], // 3
    [a, c, b], // 4: same values, other order
    [{ a: 1 }, b, c], // 5: look-alike object
    [a, b, c, undefined], // 6: trailing undefined
    [a, b, "c"], // 7
    [NaN, a, -0, b, 1n], // 8
  ];
  assert.deepEqual(await callAll(f, lists), [1, 2, 3, 4, 5, 6, 7, 8]);
  // Every list again, with fresh but equal primitives: all hits.
  assert.deepEqual(
    await callAll(f, [
      [a, b, c],
      [a, b, c, d],
      [a, b, c, d, "e"],
      [a, c, b],
      [a, b, c, undefined],
      [a, b, "c"],
      [0 / 0, a, 0, b, BigInt(1)],
    ]),
    [1, 2, 3, 4, 6, 7, 8],
  );
  assert.equal(calls.length, 8);
  // fn got the arguments by identity.
  assert.equal(calls[1][3], d);
  assert.equal(calls[0][0], a);
  assert.deepEqual(f.cacheInfo(), {
    hits: 7,
    misses: 8,
    maxSize: Infinity,
    currSize: 8,
  });
  // A look-alike of the fourth object is a different key.
  assert.equal(f.cacheContains(a, b, c, new Map()), false);
  assert.equal(f.cacheContains(a, b, c, d, "e", undefined), false);
  assert.equal(f.cacheContains(a, b), false);
});

Deno.test("invalidating one multi-argument key leaves the others, including those sharing a prefix", async () => {
  const { fn, calls } = counting();
  const f = alruCache(fn, { maxSize: Infinity });
  const a = { a: 1 };
  const b = { b: 2 };
  const c = { c: 3 };
  const d = { d: 4 };
  const lists: unknown[][] = [
    [a, b], // 1
    [a, b, c], // 2
    [a, b, d], // 3
    [a, b, c, d], // 4
    [a, b, c, d, a], // 5
    [b, a, c], // 6
  ];
  assert.deepEqual(await callAll(f, lists), [1, 2, 3, 4, 5, 6]);

  assert.equal(f.cacheInvalidate(a, b, c), true);
  assert.equal(f.cacheInvalidate(a, b, c), false);
  assert.equal(f.cacheContains(a, b, c), false);
  for (const args of [lists[0], lists[2], lists[3], lists[4], lists[5]]) {
    assert.equal(f.cacheContains(...args), true, `${args.length} args`);
  }
  assert.equal(f.cacheInfo().currSize, 5);
  // The others are still hits with their own values.
  assert.deepEqual(
    await callAll(f, [lists[0], lists[2], lists[3], lists[4], lists[5]]),
    [1, 3, 4, 5, 6],
  );
  assert.equal(calls.length, 6);

  // The invalidated key is a miss again, and is stored again.
  assert.equal(await f(a, b, c), 7);
  assert.equal(await f(a, b, c), 7);

  // Drop the rest one by one; each invalidation touches only its own key.
  assert.equal(f.cacheInvalidate(a, b, c, d), true);
  assert.equal(f.cacheContains(a, b, c, d, a), true);
  assert.equal(f.cacheContains(a, b, c), true);
  assert.equal(f.cacheInvalidate(a, b), true);
  assert.equal(f.cacheContains(a, b, d), true);
  assert.equal(f.cacheInvalidate(a, b, c, d, a), true);
  assert.equal(f.cacheInvalidate(a, b, d), true);
  assert.equal(f.cacheInvalidate(a, b, c), true);
  assert.equal(f.cacheContains(b, a, c), true);
  assert.equal(f.cacheInfo().currSize, 1);
  assert.equal(await f(b, a, c), 6);
  assert.equal(await f(a, b, c, d), 8);
});

Deno.test("eviction of a multi-argument key leaves keys that share its prefix", async () => {
  const { fn } = counting();
  const f = alruCache(fn, { maxSize: 2 });
  const a = {};
  const b = {};
  assert.equal(await f(a, b, 1), 1);
  assert.equal(await f(a, b, 2), 2);
  assert.equal(await f(a, b, 3), 3); // evicts (a, b, 1)
  assert.equal(f.cacheContains(a, b, 1), false);
  assert.equal(f.cacheContains(a, b, 2), true);
  assert.equal(f.cacheContains(a, b, 3), true);
  assert.equal(await f(a, b, 2), 2);
  assert.equal(await f(a, b, 1), 4); // evicts (a, b, 3)
  assert.equal(await f(a, b, 2), 2);
  assert.equal(await f(a, b, 1), 4);
  assert.equal(f.cacheContains(a, b, 3), false);
});

Deno.test("key option: its result is the key, compared with SameValueZero", async () => {
  const { fn, calls } = counting();
  const f = alruCache(fn, {
    maxSize: Infinity,
    key: (user: unknown) => (user as { id: unknown }).id,
  });
  assert.equal(await f({ id: 1, name: "a" }), 1);
  assert.equal(await f({ id: 1, name: "b" }), 1); // other object, same key
  assert.equal(await f({ id: "1" }), 2); // "1" is not 1
  assert.equal(await f({ id: 1n }), 3);
  assert.equal(await f({ id: NaN }), 4);
  assert.equal(await f({ id: NaN }), 4); // NaN equals NaN
  assert.equal(await f({ id: 0 }), 5);
  assert.equal(await f({ id: -0 }), 5); // 0 equals -0
  const shared = { shared: true };
  assert.equal(await f({ id: shared }), 6);
  assert.equal(await f({ id: shared }), 6); // objects by identity
  assert.equal(await f({ id: { shared: true } }), 7);
  assert.equal(await f({ id: undefined }), 8);
  assert.equal(await f({ id: undefined }), 8);
  assert.equal(calls.length, 8);
  // fn still receives the caller's own arguments.
  assert.deepEqual(calls[0], [{ id: 1, name: "a" }]);
  assert.deepEqual(f.cacheInfo(), {
    hits: 5,
    misses: 8,
    maxSize: Infinity,
    currSize: 8,
  });
});

Deno.test("key option: a key result is not spread into an argument list", async () => {
  // An array returned by key is one key, compared by identity.
  const { fn } = counting();
  const f = alruCache(fn, { key: (...args: unknown[]) => args });
  assert.equal(await f(1, 2), 1);
  assert.equal(await f(1, 2), 2); // a fresh array each time: a new key
  const g = alruCache(counting().fn, { key: (a: unknown) => String(a) });
  assert.equal(await g(1), 1);
  assert.equal(await g("1"), 1); // both map to "1"
});

Deno.test("key option: called with the call's arguments", async () => {
  const seen: unknown[][] = [];
  const { fn, calls } = counting();
  const f = alruCache(fn, {
    key: (...args: unknown[]) => {
      seen.push(args);
      return args.length;
    },
  });
  const a = {};
  const b = () => 0;
  assert.equal(await f(a, b, undefined), 1);
  assert.equal(seen.length >= 1, true);
  const last = seen[seen.length - 1];
  assert.equal(last.length, 3);
  assert.equal(last[0], a);
  assert.equal(last[1], b);
  assert.equal(last[2], undefined);
  assert.equal(await f(1, 2, 3), 1); // three arguments: same key
  assert.deepEqual(seen[seen.length - 1], [1, 2, 3]);
  assert.equal(await f(), 2);
  assert.deepEqual(seen[seen.length - 1], []);
  assert.equal(calls.length, 2);
});

Deno.test("key option throwing: the call rejects with that error; nothing is counted, stored or run", async () => {
  const boom = new Error("bad key");
  const { fn, calls } = counting();
  const f = alruCache(fn, {
    key: (n: unknown) => {
      if (n === "bad") throw boom;
      return n;
    },
  });
  await f(1);
  await f(1);
  const before = f.cacheInfo();
  const paramsBefore = f.cacheParameters();
  assert.deepEqual(before, { hits: 1, misses: 1, maxSize: 128, currSize: 1 });

  let result: Promise<unknown> | undefined;
  assert.doesNotThrow(() => {
    result = f("bad");
  }, "a throwing key rejects; it does not throw synchronously");
  assert.ok(result instanceof Promise);
  await assert.rejects(result!, (error) => error === boom);

  assert.deepEqual(f.cacheInfo(), before);
  assert.deepEqual(f.cacheParameters(), paramsBefore);
  assert.equal(calls.length, 1);
  // The cache still works, and 1 is still a hit.
  assert.equal(await f(1), 1);
  assert.equal(f.cacheInfo().hits, 2);
  assert.equal(await f(2), 2);
  assert.equal(f.cacheInfo().misses, 2);
});

Deno.test("key option throwing a non-Error value: the call rejects with that very value", async () => {
  const reason = { custom: "reason" };
  const { fn, calls } = counting();
  const f = alruCache(fn, {
    key: (..._args: unknown[]) => {
      throw reason;
    },
  });
  await assert.rejects(f(1), (error) => error === reason);
  await assert.rejects(f(1), (error) => error === reason);
  assert.deepEqual(f.cacheInfo(), {
    hits: 0,
    misses: 0,
    maxSize: 128,
    currSize: 0,
  });
  assert.equal(calls.length, 0);
});

Deno.test("cacheContains and cacheInvalidate derive keys exactly as a call does (default key)", async () => {
  const { fn } = counting();
  const f = alruCache(fn, { maxSize: Infinity });
  const obj = {};
  await f(NaN);
  await f(0);
  await f();
  await f(1, 2);
  await f("a,b");
  await f(obj);
  await f(1n);

  assert.equal(f.cacheContains(NaN), true);
  assert.equal(f.cacheContains(-0), true);
  assert.equal(f.cacheContains(), true);
  assert.equal(f.cacheContains(undefined), false);
  assert.equal(f.cacheContains(1, 2), true);
  assert.equal(f.cacheContains(2, 1), false);
  assert.equal(f.cacheContains("a,b"), true);
  assert.equal(f.cacheContains("a", "b"), false);
  assert.equal(f.cacheContains(obj), true);
  assert.equal(f.cacheContains({}), false);
  assert.equal(f.cacheContains(obj, undefined), false);
  assert.equal(f.cacheContains(1n), true);
  assert.equal(f.cacheContains(1), false);
  assert.equal(f.cacheContains("1"), false);

  // Misses of cacheInvalidate remove nothing.
  assert.equal(f.cacheInvalidate(undefined), false);
  assert.equal(f.cacheInvalidate(2, 1), false);
  assert.equal(f.cacheInvalidate("a", "b"), false);
  assert.equal(f.cacheInvalidate(obj, undefined), false);
  assert.equal(f.cacheInvalidate(1), false);
  assert.equal(f.cacheInfo().currSize, 7);

  // Hits remove exactly their entry.
  assert.equal(f.cacheInvalidate(0 / 0), true);
  assert.equal(f.cacheContains(NaN), false);
  assert.equal(f.cacheInvalidate(-0), true);
  assert.equal(f.cacheContains(0), false);
  assert.equal(f.cacheInvalidate(), true);
  assert.equal(f.cacheContains(), false);
  assert.equal(f.cacheInvalidate(1, 2), true);
  assert.equal(f.cacheInvalidate("a,b"), true);
  assert.equal(f.cacheInvalidate(obj), true);
  assert.equal(f.cacheInvalidate(BigInt(1)), true);
  assert.equal(f.cacheInfo().currSize, 0);

  // Contains and invalidate count nothing.
  assert.equal(f.cacheInfo().hits, 0);
  assert.equal(f.cacheInfo().misses, 7);
});

Deno.test("cacheContains and cacheInvalidate go through the key option", async () => {
  const seen: unknown[][] = [];
  const { fn, calls } = counting();
  const f = alruCache(fn, {
    key: (...args: unknown[]) => {
      seen.push(args);
      return (args[0] as { id: number }).id;
    },
  });
  assert.equal(await f({ id: 7 }), 1);
  assert.equal(f.cacheContains({ id: 7 }), true);
  assert.deepEqual(seen[seen.length - 1], [{ id: 7 }]);
  assert.equal(f.cacheContains({ id: 8 }), false);
  assert.equal(f.cacheContains(7), false);
  assert.equal(f.cacheInvalidate({ id: 8 }), false);
  assert.equal(f.cacheInvalidate({ id: 7, other: true }), true);
  assert.deepEqual(seen[seen.length - 1], [{ id: 7, other: true }]);
  assert.equal(f.cacheContains({ id: 7 }), false);
  assert.equal(await f({ id: 7 }), 2);
  assert.equal(calls.length, 2);
  assert.deepEqual(f.cacheInfo(), {
    hits: 0,
    misses: 2,
    maxSize: 128,
    currSize: 1,
  });
});

Deno.test("cacheContains and cacheInvalidate see in-flight entries under the same key", async () => {
  let release!: (value: string) => void;
  const f = alruCache(
    (..._args: unknown[]) =>
      new Promise<string>((resolve) => {
        release = resolve;
      }),
  );
  const a = {};
  const pending = f(a, 1);
  assert.equal(f.cacheContains(a, 1), true);
  assert.equal(f.cacheContains(a, 1, undefined), false);
  assert.equal(f.cacheInvalidate(a, 1), true);
  assert.equal(f.cacheContains(a, 1), false);
  release("done");
  assert.equal(await pending, "done");
  assert.equal(f.cacheContains(a, 1), false);
});

// Releasing a key once recursed per argument and overflowed the stack from
// some 10,000 arguments on; this is well past that, yet small enough for the
// default stack to hold the call, which has the list on it three times over
// (the caller's, the wrapper's and the function's own frame).
Deno.test("a list of 20,000 arguments: call, hit, contains, invalidate, eviction and rejection", async () => {
  await exerciseLongArguments(20_000);
});

// A list of 100,000 arguments takes some 800 KiB of stack per frame that
// holds it, and V8's default stack is under 1 MiB: no wrapper can pass such
// a list on in the test process, whatever it does with it. A child process
// with a larger stack shows that the cache itself sets no limit.
const LONG_LIST_STACK_KIB = 4_000;
const LONG_LIST_KILL_AFTER_MS = 30_000;

Deno.test("a list of 100,000 arguments works end to end, given a stack that can hold it", async () => {
  const run = await runCommand(Deno.execPath(), [
    "run",
    "--quiet",
    `--v8-flags=--stack-size=${LONG_LIST_STACK_KIB}`,
    new URL("./_long_arguments.ts", import.meta.url).pathname,
    "100000",
  ], { killAfterMs: LONG_LIST_KILL_AFTER_MS });
  const detail =
    `code ${run.code}, signal ${run.signal}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`;
  assert.equal(run.code, 0, detail);
  assert.equal(run.stdout.trim(), "ok 100000", detail);
});

Deno.test("cacheContains, cacheInvalidate and withSignal give the key function the this a call would", async () => {
  const seen: unknown[] = [];
  const owner = {
    id: "owner",
    load: alruCache(function (this: { id: string }, n: number) {
      return Promise.resolve(`${this.id}:${n}`);
    }, {
      key(this: { id: string } | undefined, n: number) {
        seen.push(this);
        return `${this?.id}:${n}`;
      },
    }),
  };
  assert.equal(await owner.load(1), "owner:1");
  assert.equal(seen.at(-1), owner);
  // Called on the cached function, they have no object to pass: none.
  assert.equal(owner.load.cacheContains(1), false);
  assert.equal(seen.at(-1), undefined);
  // Given one, they derive the key as the call did.
  assert.equal(owner.load.cacheContains.call(owner, 1), true);
  assert.equal(seen.at(-1), owner);
  assert.equal(
    await owner.load.withSignal.call(owner, new AbortController().signal, 1),
    "owner:1",
  );
  assert.equal(owner.load.cacheInfo().hits, 1);
  assert.equal(owner.load.cacheInvalidate.call(owner, 1), true);
  assert.equal(owner.load.cacheInfo().currSize, 0);
});

Deno.test("with a store, a call with object arguments encodes its key once: a miss, and then a hit", async () => {
  const clock = new ManualClock();
  let reads = 0;
  // Encoding the key reads `id` through its getter; so does the function.
  const argument = {
    get id() {
      reads++;
      return 7;
    },
  };
  const cached = alruCache((item: { id: number }) => Promise.resolve(item.id), {
    ttl: 60_000,
    store: memoryStore({ clock }),
    clock,
  });
  assert.equal(await cached(argument), 7);
  assert.equal(reads, 2, "one encoding for the miss, one read by fn");
  assert.equal(await cached(argument), 7);
  assert.equal(reads, 3, "one encoding for the hit");
  await cached.cacheClose();
});
