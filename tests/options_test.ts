/**
 * docs/behaviour.md §1: option validation (error class, message naming the option and
 * showing the bad value), valid edge values reported by cacheParameters(),
 * and the wrapper's name and `wrapped`.
 */
import assert from "node:assert/strict";
import { alruCache, type AlruCacheOptions, ManualClock } from "../mod.ts";

const work = (n: number) => Promise.resolve(n);
// Options are passed as loosely typed objects: invalid values are the point.
type LooseOptions = Record<string, unknown>;
const make = (options: LooseOptions) => alruCache(work, options as never);

function assertRejectsOption(
  options: LooseOptions,
  errorClass: typeof RangeError | typeof TypeError,
  pattern: RegExp,
  shown?: string,
): void {
  assert.throws(
    () => make(options),
    (error: unknown) => {
      assert.ok(
        error instanceof errorClass,
        `expected ${errorClass.name} for ${Deno.inspect(options)}, got ${
          Deno.inspect(error)
        }`,
      );
      // A RangeError is not a TypeError and vice versa.
      assert.equal((error as Error).constructor, errorClass);
      assert.match((error as Error).message, pattern);
      if (shown !== undefined) {
        assert.ok(
          (error as Error).message.includes(shown),
          `message ${
            JSON.stringify((error as Error).message)
          } should show the bad value ${shown}`,
        );
      }
      return true;
    },
  );
}

const rangeCases: [string, LooseOptions, RegExp, string][] = [
  ["maxSize negative", { maxSize: -1 }, /maxSize/, "-1"],
  ["maxSize -Infinity", { maxSize: -Infinity }, /maxSize/, "-Infinity"],
  ["maxSize NaN", { maxSize: NaN }, /maxSize/, "NaN"],
  ["maxSize non-integer", { maxSize: 1.5 }, /maxSize/, "1.5"],
  ["maxSize small non-integer", { maxSize: 0.25 }, /maxSize/, "0.25"],
  ["ttl negative", { ttl: -1 }, /ttl/, "-1"],
  ["ttl negative fraction", { ttl: -0.5 }, /ttl/, "-0.5"],
  ["ttl -Infinity", { ttl: -Infinity }, /ttl/, "-Infinity"],
  ["ttl NaN", { ttl: NaN }, /ttl/, "NaN"],
  ["jitter negative (with ttl)", { ttl: 10, jitter: -5 }, /jitter/, "-5"],
  ["jitter NaN (with ttl)", { ttl: 10, jitter: NaN }, /jitter/, "NaN"],
  // An infinite draw would make the lifetime NaN, and the entry immortal.
  [
    "jitter Infinity (with ttl)",
    { ttl: 10, jitter: Infinity },
    /"jitter"/,
    "Infinity",
  ],
  [
    "jitter Infinity (with ttl Infinity)",
    {
      ttl: Infinity,
      jitter: Infinity,
    },
    /"jitter"/,
    "Infinity",
  ],
];

for (const [label, options, pattern, shown] of rangeCases) {
  Deno.test(`invalid option: ${label} -> RangeError`, () => {
    assertRejectsOption(options, RangeError, pattern, shown);
  });
}

const clockMethods = {
  now: () => 0,
  setTimeout: () => 1,
  clearTimeout: () => {},
};

const typeCases: [string, LooseOptions, RegExp][] = [
  ["jitter without ttl", { jitter: 10 }, /jitter requires ttl/],
  ["jitter 0 without ttl", { jitter: 0 }, /jitter requires ttl/],
  ["key a string", { key: "id" }, /key/],
  ["key a number", { key: 1 }, /key/],
  ["key an object", { key: {} }, /key/],
  ["clock without methods", { clock: {} }, /clock/],
  ["clock a number", { clock: 5 }, /clock/],
  ["clock missing now", {
    clock: { setTimeout: clockMethods.setTimeout, clearTimeout: () => {} },
  }, /clock/],
  ["clock missing setTimeout", {
    clock: { now: () => 0, clearTimeout: () => {} },
  }, /clock/],
  ["clock missing clearTimeout", {
    clock: { now: () => 0, setTimeout: clockMethods.setTimeout },
  }, /clock/],
  ["clock with a non-function method", {
    clock: { ...clockMethods, now: 0 },
  }, /clock/],
  ["random a number", { random: 0.5 }, /random/],
  ["random a string", { random: "Math.random" }, /random/],
  // The shared tier's options mean nothing without a store.
  ["lease without store", { ttl: 10, lease: 5_000 }, /lease requires store/],
  [
    "storeTimeout without store",
    { ttl: 10, storeTimeout: 100 },
    /storeTimeout requires store/,
  ],
  [
    "localTtl without store",
    { ttl: 10, localTtl: 500 },
    /localTtl requires store/,
  ],
  [
    "serialize without store",
    { ttl: 10, serialize: JSON.stringify },
    /serialize requires store/,
  ],
  [
    "deserialize without store",
    { ttl: 10, deserialize: JSON.parse },
    /deserialize requires store/,
  ],
];

for (const [label, options, pattern] of typeCases) {
  Deno.test(`invalid option: ${label} -> TypeError`, () => {
    assertRejectsOption(options, TypeError, pattern);
  });
}

Deno.test("invalid option values of the wrong type are rejected, naming the option", () => {
  for (
    const [name, value] of [
      ["maxSize", "5"],
      ["maxSize", {}],
      ["ttl", "100"],
      ["ttl", true],
    ] as const
  ) {
    assert.throws(
      () => make({ [name]: value }),
      (error: unknown) =>
        (error instanceof TypeError || error instanceof RangeError) &&
        error.message.includes(name),
      `${name}: ${Deno.inspect(value)}`,
    );
  }
  assert.throws(
    () => make({ ttl: 10, jitter: "5" }),
    (error: unknown) =>
      (error instanceof TypeError || error instanceof RangeError) &&
      error.message.includes("jitter"),
  );
});

Deno.test("fn not a function -> TypeError", () => {
  for (const fn of [undefined, null, 1, "fn", [], Symbol("fn")]) {
    assert.throws(
      () => alruCache(fn as unknown as typeof work),
      (error: unknown) => error instanceof TypeError,
      Deno.inspect(fn),
    );
  }
});

Deno.test("valid option edge values are accepted and reported back", () => {
  const cases: [LooseOptions, Record<string, unknown>][] = [
    [{}, { maxSize: 128, ttl: undefined, jitter: undefined }],
    [{ maxSize: undefined, ttl: undefined, jitter: undefined }, {
      maxSize: 128,
      ttl: undefined,
      jitter: undefined,
    }],
    [{ maxSize: 0 }, { maxSize: 0, ttl: undefined, jitter: undefined }],
    [{ maxSize: 1 }, { maxSize: 1, ttl: undefined, jitter: undefined }],
    [{ maxSize: Infinity }, {
      maxSize: Infinity,
      ttl: undefined,
      jitter: undefined,
    }],
    [{ maxSize: null }, {
      maxSize: Infinity,
      ttl: undefined,
      jitter: undefined,
    }],
    [{ ttl: 0 }, { maxSize: 128, ttl: 0, jitter: undefined }],
    [{ ttl: 1.5 }, { maxSize: 128, ttl: 1.5, jitter: undefined }],
    [{ ttl: 100, jitter: 0 }, { maxSize: 128, ttl: 100, jitter: 0 }],
    [{ ttl: 0, jitter: 0 }, { maxSize: 128, ttl: 0, jitter: 0 }],
    [{ ttl: 100, jitter: 200 }, { maxSize: 128, ttl: 100, jitter: 200 }],
    [{ ttl: Infinity }, { maxSize: 128, ttl: Infinity, jitter: undefined }],
    [{ ttl: Infinity, jitter: 5 }, { maxSize: 128, ttl: Infinity, jitter: 5 }],
    [{ ttl: 10, jitter: Number.MAX_VALUE }, {
      maxSize: 128,
      ttl: 10,
      jitter: Number.MAX_VALUE,
    }],
    [{ maxSize: 32, ttl: 5_000, jitter: 1_000 }, {
      maxSize: 32,
      ttl: 5_000,
      jitter: 1_000,
    }],
  ];
  for (const [options, expected] of cases) {
    const f = make(options);
    assert.deepEqual(
      f.cacheParameters(),
      {
        ...expected,
        tasks: 0,
        closed: false,
        name: "work",
        softTimeout: undefined,
        hardTimeout: undefined,
      },
      Deno.inspect(options),
    );
    assert.deepEqual(f.cacheInfo(), {
      hits: 0,
      misses: 0,
      maxSize: expected.maxSize,
      currSize: 0,
    }, Deno.inspect(options));
  }
});

Deno.test("cacheParameters shows a ttl function as that function, not as unset", async () => {
  const ttl = (value: number) => value * 1_000;
  const clock = new ManualClock();
  const cached = alruCache(work, { ttl, clock });
  assert.equal(cached.cacheParameters().ttl, ttl);
  await cached(2);
  clock.advance(1_999);
  assert.equal(cached.cacheContains(2), true);
  clock.advance(1);
  assert.equal(cached.cacheContains(2), false);
});

Deno.test("valid function options are accepted", async () => {
  const clock = new ManualClock();
  const plainClock = {
    now: () => clock.now(),
    setTimeout: (callback: () => void, delay: number) =>
      clock.setTimeout(callback, delay),
    clearTimeout: (handle: unknown) => clock.clearTimeout(handle),
  };
  const f = make({
    key: (n: unknown) => n,
    clock: plainClock,
    random: () => 0,
    ttl: 10,
    jitter: 5,
  });
  assert.equal(await f(3), 3);
  assert.equal(f.cacheContains(3), true);
  clock.advance(10);
  assert.equal(f.cacheContains(3), false);
  assert.equal(clock.pending, 0);
});

Deno.test("the wrapper keeps fn.name and exposes the original as wrapped", async () => {
  function fetchPep(num: number): Promise<string> {
    return Promise.resolve(`pep-${num}`);
  }
  const f = alruCache(fetchPep);
  assert.equal(f.name, "fetchPep");
  assert.equal(f.wrapped, fetchPep);
  assert.equal(typeof f, "function");
  assert.equal(await f(8), "pep-8");

  const arrow = (n: number) => n + 1;
  const g = alruCache(arrow, { maxSize: 0 });
  assert.equal(g.name, "arrow");
  assert.equal(g.wrapped, arrow);

  // Two caches of one function are two wrappers around the same original.
  const h = alruCache(fetchPep);
  assert.notEqual(h, f);
  assert.equal(h.wrapped, f.wrapped);
});

Deno.test("the wrapper always returns a promise, also for a synchronous fn", async () => {
  const f = alruCache((n: number) => n * 2);
  const first = f(2);
  assert.ok(first instanceof Promise);
  assert.equal(await first, 4);
  const second = f(2);
  assert.ok(second instanceof Promise);
  assert.equal(await second, 4);
});

/** The message a TypeError for `options` has; fails if no TypeError is thrown. */
function typeErrorMessage(options: object): string {
  let message: string | undefined;
  assert.throws(() => alruCache(work, options as never), (error: unknown) => {
    assert.equal((error as Error).constructor, TypeError);
    message = (error as Error).message;
    return true;
  }, Deno.inspect(options));
  return message!;
}

Deno.test("an unknown option is a TypeError naming it and the option it is closest to", () => {
  const cases: [string, string][] = [
    // Same name but for case, `_` and `-`.
    ["maxsize", "maxSize"],
    ["max_size", "maxSize"],
    ["MAXSIZE", "maxSize"],
    ["max-size", "maxSize"],
    ["TTL", "ttl"],
    ["Signal", "signal"],
    // A slip of a letter or two.
    ["tll", "ttl"],
    ["tl", "ttl"],
    ["jiter", "jitter"],
    ["jittre", "jitter"],
    ["clok", "clock"],
    ["clocks", "clock"],
    ["randm", "random"],
    ["keys", "key"],
    ["maxSiz", "maxSize"],
    ["maxSizes", "maxSize"],
    ["sgnl", "signal"],
  ];
  for (const [given, meant] of cases) {
    assert.equal(
      typeErrorMessage({ [given]: 3 }),
      `alruCache option "${given}" is not known; did you mean "${meant}"?`,
    );
  }
});

Deno.test("an unknown option with no close name lists the options", () => {
  for (const given of ["maxAge", "size", "k", "expires", "capacity", ""]) {
    assert.equal(
      typeErrorMessage({ [given]: 1 }),
      `alruCache option "${given}" is not known; the options are maxSize, ttl, jitter, key, clock, random, policy, signal, shouldCache, errorTtl, staleWhileRevalidate, staleIfError, onEvent, maxWeight, weigher, store, lease, storeTimeout, localTtl, breakerThreshold, breakerCooldown, serialize, deserialize, name, softTimeout and hardTimeout`,
    );
  }
});

Deno.test("Python's typed flag is rejected with the reason it has no counterpart", () => {
  for (const options of [{ typed: true }, { typed: false }, { Typed: true }]) {
    const message = typeErrorMessage(options);
    assert.match(message, /^alruCache option "[Tt]yped" is not known/);
    assert.match(message, /keys are always typed/);
    assert.match(message, /SameValueZero/);
  }
});

Deno.test("unknown options are rejected whatever their value, alongside valid ones", () => {
  for (const value of [undefined, null, 0, false, "x", {}]) {
    assert.match(
      typeErrorMessage({ maxSize: 3, maxsize: value }),
      /"maxsize" is not known; did you mean "maxSize"\?/,
    );
  }
  // A misspelt option is named even when another option is invalid too.
  assert.match(
    typeErrorMessage({ ttl: -1, jiter: 5 }),
    /"jiter" is not known/,
  );
});

Deno.test("an unknown option cannot leave the bound at its default", () => {
  const options = JSON.parse('{ "maxsize": 3 }');
  assert.throws(() => alruCache(work, options), TypeError);
});

Deno.test("a symbol key is an unknown option, described in the message", () => {
  const tag = Symbol("maxSize");
  assert.equal(
    typeErrorMessage({ [tag]: 3 }),
    "alruCache option Symbol(maxSize) is not known; the options are maxSize, ttl, jitter, key, clock, random, policy, signal, shouldCache, errorTtl, staleWhileRevalidate, staleIfError, onEvent, maxWeight, weigher, store, lease, storeTimeout, localTtl, breakerThreshold, breakerCooldown, serialize, deserialize, name, softTimeout and hardTimeout",
  );
  // Not enumerable: not an option, like any hidden key.
  const hidden = Object.defineProperty({ maxSize: 3 }, tag, { value: 3 });
  assert.equal(alruCache(work, hidden).cacheParameters().maxSize, 3);
});

Deno.test("only own enumerable keys are checked: inherited and hidden ones are not options", () => {
  class Base {
    helper(): number {
      return 1;
    }
    get describe(): string {
      return "base";
    }
  }
  class Options extends Base {
    maxSize = 3;
  }
  assert.equal(alruCache(work, new Options()).cacheParameters().maxSize, 3);
  const inheriting = Object.assign(Object.create({ unknownAbove: 1 }), {
    ttl: 5,
  });
  assert.equal(alruCache(work, inheriting).cacheParameters().ttl, 5);
  const hidden = Object.defineProperty({}, "maxsize", { value: 3 });
  assert.equal(alruCache(work, hidden).cacheParameters().maxSize, 128);

  class Misspelt extends Base {
    maxsize = 3;
  }
  assert.equal(
    typeErrorMessage(new Misspelt()),
    'alruCache option "maxsize" is not known; did you mean "maxSize"?',
  );
});

Deno.test("the method decorator's options are checked when the class is defined", () => {
  const options = { maxsize: 3 } as unknown as AlruCacheOptions<never[]>;
  assert.throws(
    () => {
      class Service {
        @alruCache(options)
        async get(id: number): Promise<number> {
          return await Promise.resolve(id);
        }
      }
      return Service;
    },
    (error: unknown) =>
      error instanceof TypeError &&
      error.message ===
        'alruCache option "maxsize" is not known; did you mean "maxSize"?',
  );
  assert.throws(() => alruCache({ typed: true } as never), TypeError);
  assert.throws(() => alruCache({ clok: undefined } as never), /"clock"/);
});
