/**
 * docs/behaviour.md §11, choosing what is kept: `shouldCache`, `ttl` as a function, the
 * validation of every new option (the error class, the option's name and the
 * bad value in the message), and the types a `ttl`, `shouldCache` or
 * `errorTtl` function and `onEvent` are given.
 */
import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import {
  assertWhole,
  deferred,
  flush,
  rejectionOf,
  withoutUnhandledRejections,
} from "./_helpers.ts";

interface Token {
  user: string;
  lifetime: number;
}

Deno.test("shouldCache false keeps nothing but still shares the concurrent run", async () => {
  const clock = new ManualClock();
  const gate = deferred<Token>();
  let runs = 0;
  const asked: [unknown, unknown][] = [];
  const cached = alruCache((_user: string) => {
    runs++;
    return gate.promise;
  }, {
    ttl: 1_000,
    clock,
    shouldCache: (value, args) => {
      asked.push([value, args]);
      return false;
    },
  });
  const calls = Array.from({ length: 5 }, () => cached("ada"));
  assert.equal(runs, 1, "one run for five concurrent calls");
  assert.equal(cached.cacheContains("ada"), true, "in flight, it is an entry");
  const token = { user: "ada", lifetime: 0 };
  gate.resolve(token);
  for (const value of await Promise.all(calls)) assert.equal(value, token);
  assert.deepEqual(asked, [[token, ["ada"]]], "asked once, with the args");
  assert.equal(asked[0][0], token);

  assert.equal(cached.cacheContains("ada"), false);
  assert.deepEqual(cached.cacheInfo(), {
    hits: 4,
    misses: 1,
    maxSize: 128,
    currSize: 0,
  });
  assert.equal(cached.cacheParameters().tasks, 0);
  assert.equal(clock.pending, 0, "nothing kept, nothing to time");
  await cached("ada");
  assert.equal(runs, 2, "the next call is a miss");
  assert.equal(cached.cacheInfo().misses, 2);
  assertWhole(cached);
});

Deno.test("shouldCache decides value by value, and a kept value expires as usual", async () => {
  const clock = new ManualClock();
  let runs = 0;
  const cached = alruCache(async (id: number) => {
    runs++;
    return await Promise.resolve(id % 2 === 0 ? { id } : null);
  }, { ttl: 100, clock, shouldCache: (value) => value !== null });
  assert.equal(await cached(1), null);
  assert.deepEqual(await cached(2), { id: 2 });
  assert.equal(cached.cacheContains(1), false);
  assert.equal(cached.cacheContains(2), true);
  await cached(1);
  await cached(2);
  assert.equal(runs, 3, "only the kept value answers a later call");
  clock.advance(100);
  assert.equal(cached.cacheContains(2), false);
  assert.equal(clock.pending, 0);
});

Deno.test("a throwing shouldCache drops the entry and rejects every caller with its error", async () => {
  await withoutUnhandledRejections(async () => {
    const clock = new ManualClock();
    const refused = new Error("refused");
    let runs = 0;
    const cached = alruCache(async (n: number) => {
      runs++;
      return await Promise.resolve(n);
    }, {
      ttl: 100,
      clock,
      shouldCache: () => {
        throw refused;
      },
    });
    const reasons = await Promise.all([cached(1), cached(1)].map(rejectionOf));
    assert.equal(reasons[0], refused);
    assert.equal(reasons[1], refused);
    assert.equal(cached.cacheContains(1), false);
    assert.equal(cached.cacheInfo().currSize, 0);
    assert.equal(clock.pending, 0);
    await rejectionOf(cached(1));
    assert.equal(runs, 2, "the next call is a miss");
    assertWhole(cached);
  });
});

Deno.test("shouldCache is not asked about rejections, kept or not", async () => {
  for (const errorTtl of [0, 100]) {
    const clock = new ManualClock();
    let asked = 0;
    const reason = new Error("down");
    const cached = alruCache(async (_n: number): Promise<number> => {
      await Promise.resolve();
      throw reason;
    }, {
      errorTtl,
      clock,
      shouldCache: () => {
        asked++;
        return false;
      },
    });
    assert.equal(await rejectionOf(cached(1)), reason);
    assert.equal(asked, 0, `errorTtl ${errorTtl}`);
    await cached.cacheClose();
  }
});

Deno.test("shouldCache is asked when a background refresh succeeds: false drops the stale entry", async () => {
  const clock = new ManualClock();
  let version = 0;
  const asked: unknown[] = [];
  const cached = alruCache(async (_key: string) => {
    version++;
    return await Promise.resolve({ version });
  }, {
    ttl: 100,
    staleWhileRevalidate: 50,
    clock,
    shouldCache: (value) => {
      asked.push(value);
      return value.version === 1;
    },
  });
  const first = await cached("a");
  clock.advance(100);
  assert.equal(await cached("a"), first, "the stale hit gets the old value");
  await flush();
  assert.deepEqual(asked, [{ version: 1 }, { version: 2 }]);
  assert.equal(cached.cacheContains("a"), false, "the refresh's value refused");
  assert.deepEqual(await cached("a"), { version: 3 });
  assert.equal(cached.cacheInfo().misses, 2);
  await cached.cacheClose();
});

Deno.test("a shouldCache that throws on a refresh drops the stale entry without an unhandled rejection", async () => {
  await withoutUnhandledRejections(async () => {
    const clock = new ManualClock();
    let version = 0;
    const cached = alruCache(async (_key: string) => {
      version++;
      return await Promise.resolve({ version });
    }, {
      ttl: 100,
      staleWhileRevalidate: 50,
      clock,
      shouldCache: (value) => {
        if (value.version > 1) throw new Error("refused");
        return true;
      },
    });
    await cached("a");
    clock.advance(100);
    assert.deepEqual(await cached("a"), { version: 1 });
    await flush();
    assert.equal(cached.cacheContains("a"), false);
    assertWhole(cached);
    await cached.cacheClose();
  });
});

Deno.test("shouldCache false on a cacheRefresh resolves with the value and drops the entry", async () => {
  let version = 0;
  const cached = alruCache(async (_key: string) => {
    version++;
    return await Promise.resolve({ version });
  }, { shouldCache: (value) => value.version === 1 });
  await cached("a");
  assert.deepEqual(await cached.cacheRefresh("a"), { version: 2 });
  assert.equal(cached.cacheContains("a"), false);
});

Deno.test("a ttl function sets each entry's lifetime from its value and arguments", async () => {
  const clock = new ManualClock();
  const asked: [unknown, unknown][] = [];
  const cached = alruCache(
    async (user: string, lifetime: number): Promise<Token> =>
      await Promise.resolve({ user, lifetime }),
    {
      clock,
      ttl: (value, args) => {
        asked.push([value, args]);
        return value.lifetime;
      },
    },
  );
  const short = await cached("ada", 10);
  await cached("bob", 50);
  await cached("cy", Infinity);
  assert.deepEqual(asked, [
    [short, ["ada", 10]],
    [{ user: "bob", lifetime: 50 }, ["bob", 50]],
    [{ user: "cy", lifetime: Infinity }, ["cy", Infinity]],
  ]);
  assert.equal(asked[0][0], short, "the value object itself");

  clock.advance(9);
  assert.equal(cached.cacheContains("ada", 10), true);
  clock.advance(1);
  assert.equal(cached.cacheContains("ada", 10), false, "10 ms");
  clock.advance(39);
  assert.equal(cached.cacheContains("bob", 50), true);
  clock.advance(1);
  assert.equal(cached.cacheContains("bob", 50), false, "50 ms");
  assert.equal(clock.pending, 0, "an Infinity lifetime needs no timer");
  clock.advance(1e12);
  assert.equal(cached.cacheContains("cy", Infinity), true, "never expires");
  assert.equal(asked.length, 3, "hits do not ask again");
  await cached.cacheClose();
});

Deno.test("a ttl function returning 0 drops the entry at once but still shares the concurrent run", async () => {
  const clock = new ManualClock();
  const gate = deferred<number>();
  let runs = 0;
  const cached = alruCache((_n: number) => {
    runs++;
    return gate.promise;
  }, { ttl: () => 0, clock });
  const calls = [cached(1), cached(1), cached(1)];
  gate.resolve(7);
  assert.deepEqual(await Promise.all(calls), [7, 7, 7]);
  assert.equal(runs, 1);
  assert.equal(cached.cacheContains(1), false);
  assert.equal(cached.cacheInfo().currSize, 0);
  assert.equal(clock.pending, 0);
});

const badLifetimes: [string, () => number][] = [
  ["a negative number", () => -1],
  ["-Infinity", () => -Infinity],
  ["NaN", () => NaN],
  ["a numeric string", () => "5" as unknown as number],
  ["undefined", () => undefined as unknown as number],
  ["null", () => null as unknown as number],
  ["a bigint", () => 5n as unknown as number],
];

for (const [label, ttl] of badLifetimes) {
  Deno.test(`a ttl function returning ${label} rejects every caller with a RangeError naming ttl and keeps nothing`, async () => {
    await withoutUnhandledRejections(async () => {
      const clock = new ManualClock();
      let runs = 0;
      const cached = alruCache(async (n: number) => {
        runs++;
        return await Promise.resolve(n);
      }, { ttl, clock });
      const [first, second] = await Promise.all(
        [cached(1), cached(1)].map(rejectionOf),
      );
      assert.ok(first instanceof RangeError, Deno.inspect(first));
      assert.match(first.message, /\bttl\b/);
      assert.equal(second, first, "every caller gets the same reason");
      assert.equal(cached.cacheContains(1), false);
      assert.equal(cached.cacheInfo().currSize, 0);
      assert.equal(clock.pending, 0);
      await rejectionOf(cached(1));
      assert.equal(runs, 2, "nothing was kept");
      assertWhole(cached);
    });
  });
}

Deno.test("a ttl function that throws rejects its callers and keeps nothing", async () => {
  await withoutUnhandledRejections(async () => {
    let runs = 0;
    const cached = alruCache(async (n: number) => {
      runs++;
      return await Promise.resolve(n);
    }, {
      ttl: () => {
        throw new Error("no lifetime");
      },
    });
    await rejectionOf(cached(1));
    assert.equal(cached.cacheContains(1), false);
    await rejectionOf(cached(1));
    assert.equal(runs, 2);
  });
});

Deno.test("jitter is added on top of a ttl function's result", async () => {
  const clock = new ManualClock();
  const cached = alruCache(async (n: number) => await Promise.resolve(n), {
    ttl: (value) => value * 10,
    jitter: 100,
    random: () => 0.5,
    clock,
  });
  await cached(10); // 100 ms plus 50 ms of jitter
  clock.advance(149);
  assert.equal(cached.cacheContains(10), true);
  clock.advance(1);
  assert.equal(cached.cacheContains(10), false);
});

Deno.test("a ttl function counts as ttl for staleWhileRevalidate and staleIfError", async () => {
  const clock = new ManualClock();
  let runs = 0;
  let failing = false;
  const cached = alruCache(async (n: number) => {
    runs++;
    await Promise.resolve();
    if (failing) throw new Error("down");
    return { n, run: runs };
  }, {
    ttl: (value) => value.n,
    staleWhileRevalidate: 20,
    staleIfError: 100,
    clock,
  });
  const first = await cached(30);
  clock.advance(30); // stale from t=30 until t=50
  failing = true;
  assert.equal(await cached(30), first, "a stale hit");
  assert.equal(runs, 2, "that started a refresh");
  await flush();
  clock.advance(20);
  assert.equal(cached.cacheContains(30), false, "the stale window ended");
  assert.equal(await cached(30), first, "the staleIfError fallback");
  clock.advance(79); // t=129: expired 99 ms ago
  assert.equal(await cached(30), first);
  clock.advance(1);
  await rejectionOf(cached(30));
  await cached.cacheClose();
});

// Options are passed loosely typed: invalid values are the point.
type LooseOptions = Record<string, unknown>;
const make = (options: LooseOptions) =>
  alruCache(async (n: number) => await Promise.resolve(n), options as never);

function assertBadOption(
  options: LooseOptions,
  errorClass: typeof RangeError | typeof TypeError,
  name: string,
  shown?: string,
): void {
  assert.throws(() => make(options), (error: unknown) => {
    assert.ok(error instanceof Error, Deno.inspect(error));
    assert.equal(
      error.constructor,
      errorClass,
      `${Deno.inspect(options)}: ${error}`,
    );
    assert.ok(
      error.message.includes(`"${name}"`) || error.message.includes(name),
      `message ${JSON.stringify(error.message)} should name ${name}`,
    );
    if (shown !== undefined) {
      assert.ok(
        error.message.includes(shown),
        `message ${JSON.stringify(error.message)} should show ${shown}`,
      );
    }
    return true;
  });
}

const invalid: [
  LooseOptions,
  typeof RangeError | typeof TypeError,
  string,
  string?,
][] = [
  [{ shouldCache: true }, TypeError, "shouldCache", "true"],
  [{ shouldCache: 1 }, TypeError, "shouldCache", "1"],
  [{ shouldCache: "yes" }, TypeError, "shouldCache", "yes"],
  [{ shouldCache: {} }, TypeError, "shouldCache"],
  [{ ttl: {} }, TypeError, "ttl"],
  [{ errorTtl: -1 }, RangeError, "errorTtl", "-1"],
  [{ errorTtl: -Infinity }, RangeError, "errorTtl", "-Infinity"],
  [{ errorTtl: NaN }, RangeError, "errorTtl", "NaN"],
  [{ errorTtl: "10" }, TypeError, "errorTtl", "10"],
  [{ errorTtl: {} }, TypeError, "errorTtl"],
  [
    { ttl: 10, staleWhileRevalidate: -1 },
    RangeError,
    "staleWhileRevalidate",
    "-1",
  ],
  [
    { ttl: 10, staleWhileRevalidate: NaN },
    RangeError,
    "staleWhileRevalidate",
    "NaN",
  ],
  [
    { ttl: 10, staleWhileRevalidate: "5" },
    TypeError,
    "staleWhileRevalidate",
    "5",
  ],
  [{ staleWhileRevalidate: 5 }, TypeError, "staleWhileRevalidate"],
  [{ ttl: null, staleWhileRevalidate: 5 }, TypeError, "staleWhileRevalidate"],
  [{ ttl: 10, staleIfError: -1 }, RangeError, "staleIfError", "-1"],
  [{ ttl: 10, staleIfError: NaN }, RangeError, "staleIfError", "NaN"],
  [{ ttl: 10, staleIfError: false }, TypeError, "staleIfError", "false"],
  [{ staleIfError: 5 }, TypeError, "staleIfError"],
  [{ ttl: null, staleIfError: 5 }, TypeError, "staleIfError"],
  [{ onEvent: 1 }, TypeError, "onEvent", "1"],
  [{ onEvent: "log" }, TypeError, "onEvent", "log"],
  [{ onEvent: {} }, TypeError, "onEvent"],
];

for (const [options, errorClass, name, shown] of invalid) {
  Deno.test(`invalid option ${Deno.inspect(options)} -> ${errorClass.name} naming ${name}`, () => {
    assertBadOption(options, errorClass, name, shown);
  });
}

Deno.test("new option names are known, so a slip in one is told apart", () => {
  const slips: [string, string][] = [
    ["shouldcache", "shouldCache"],
    ["errorTTL", "errorTtl"],
    ["stale_while_revalidate", "staleWhileRevalidate"],
    ["staleIfEror", "staleIfError"],
    ["onevent", "onEvent"],
  ];
  for (const [slip, meant] of slips) {
    assert.throws(
      () => make({ [slip]: 1 }),
      (error: unknown) =>
        error instanceof TypeError && error.message.includes(`"${meant}"`),
      slip,
    );
  }
});

Deno.test("valid values of the new options are accepted", async () => {
  const accepted: LooseOptions[] = [
    { shouldCache: () => true },
    { ttl: () => 5 },
    { errorTtl: 0 },
    { errorTtl: 1_000 },
    { errorTtl: () => 5 },
    { ttl: 10, staleWhileRevalidate: 0 },
    { ttl: 10, staleWhileRevalidate: 5 },
    { ttl: 10, staleIfError: 5 },
    { ttl: () => 10, staleWhileRevalidate: 5, staleIfError: 5, jitter: 3 },
    { onEvent: () => {} },
  ];
  for (const options of accepted) {
    const cached = make({ clock: new ManualClock(), ...options });
    assert.equal(await cached(1), 1, Deno.inspect(options));
    await cached.cacheClose();
  }
});

Deno.test("@alruCache(options) checks the new options when the class is defined", () => {
  assert.throws(() => alruCache({ staleIfError: 5 }), TypeError);
  assert.throws(() => alruCache({ ttl: 5, staleIfError: -5 }), RangeError);
  assert.throws(
    () => alruCache({ shouldCache: "yes" as never }),
    /shouldCache/,
  );
});

Deno.test("ttl, shouldCache and errorTtl functions get the resolved value type and the argument types", async () => {
  const clock = new ManualClock();
  const load = alruCache(
    async (user: string, scope: number): Promise<Token> =>
      await Promise.resolve({ user, lifetime: scope }),
    {
      clock,
      ttl: (value, args) => {
        const lifetime: number = value.lifetime;
        // @ts-expect-error: a Token has no such property
        const missing: unknown = value.missing;
        // @ts-expect-error: the first argument is a string
        const wrong: number = args[0];
        return lifetime + args[1] + (missing === wrong ? 0 : 0);
      },
      shouldCache: (value, [user, scope]) => {
        // @ts-expect-error: user is a string, not a number
        const wrong: number = user;
        return value.user === user && scope >= 0 && wrong !== undefined;
      },
      errorTtl: (error, [user]) => {
        const known: unknown = error;
        return known === user ? 0 : 10;
      },
      onEvent: (event) => {
        // @ts-expect-error: "bogus" is not an event type
        if (event.type === "bogus") throw new Error("unreachable");
      },
    },
  );
  const token: Token = await load("ada", 10);
  const refreshed: Promise<Token> = load.cacheRefresh("ada", 10);
  assert.deepEqual(await refreshed, token);
  const refreshWithWrongArgs = () =>
    // @ts-expect-error: cacheRefresh takes the function's arguments
    load.cacheRefresh(10, "ada");
  assert.equal(typeof refreshWithWrongArgs, "function");
  const stats = load.cacheStats();
  const counters: number[] = [
    stats.hits,
    stats.misses,
    stats.staleHits,
    stats.errorHits,
    stats.refreshes,
    stats.refreshFailures,
    stats.evictions,
    stats.expirations,
    stats.invalidations,
  ];
  assert.ok(counters.every(Number.isInteger));
  await load.cacheClose();
});
