import assert from "node:assert/strict";
import { alruCache, cacheOf, ManualClock } from "../mod.ts";
import { deferred, FinalizationWatch, flush, runCommand } from "./_helpers.ts";
import { decoratedClasses } from "./_legacy_decorators.ts";

class Service {
  calls = 0;
  readonly label: string;
  constructor(label = "service") {
    this.label = label;
  }

  @alruCache
  async describe(id: number): Promise<string> {
    this.calls++;
    return await Promise.resolve(`${this.label} ${id}`);
  }

  @alruCache({ maxSize: 2 })
  async pair(a: number, b: number): Promise<number> {
    this.calls++;
    return await Promise.resolve(a + b);
  }

  @alruCache()
  async label0(): Promise<string> {
    return await Promise.resolve(this.label);
  }
}

Deno.test("the three forms: bare, with options, and alruCache(fn, options)", async () => {
  const service = new Service();
  // The decorated methods keep their TypeScript types.
  const describe: (id: number) => Promise<string> = service.describe;
  const pair: (a: number, b: number) => Promise<number> = service.pair;
  assert.equal(await describe.call(service, 1), "service 1");
  assert.equal(await pair.call(service, 1, 2), 3);
  assert.equal(await service.label0(), "service");
  const plain = alruCache(async (n: number) => await Promise.resolve(n * 2), {
    maxSize: 2,
  });
  assert.equal(await plain(2), 4);
  assert.equal(cacheOf(service.pair).cacheParameters().maxSize, 2);
  assert.equal(cacheOf(service.describe).cacheParameters().maxSize, 128);
  assert.equal(cacheOf(plain).cacheParameters().maxSize, 2);
});

Deno.test("a method caches per instance and reads the instance's fields", async () => {
  const first = new Service("first");
  const second = new Service("second");
  assert.equal(await first.describe(1), "first 1");
  assert.equal(await first.describe(1), "first 1");
  assert.equal(await second.describe(1), "second 1");
  assert.equal(first.calls, 1);
  assert.equal(second.calls, 1);
  assert.deepEqual(cacheOf(first.describe).cacheInfo(), {
    hits: 1,
    misses: 1,
    maxSize: 128,
    currSize: 1,
  });
  assert.deepEqual(cacheOf(second.describe).cacheInfo(), {
    hits: 0,
    misses: 1,
    maxSize: 128,
    currSize: 1,
  });
});

Deno.test("obj.method is stable and carries that instance's cache", async () => {
  const service = new Service();
  assert.equal(service.describe, service.describe);
  assert.notEqual(service.describe, new Service().describe);
  const method = cacheOf(service.describe);
  // cacheOf only types what is there: the methods hang off obj.method itself.
  assert.equal(method, service.describe);
  assert.equal(typeof Reflect.get(service.describe, "cacheInfo"), "function");
  await service.describe(7);
  assert.equal(method.cacheContains(7), true);
  assert.deepEqual(method.cacheParameters(), {
    maxSize: 128,
    ttl: undefined,
    jitter: undefined,
    tasks: 0,
    closed: false,
    name: "describe",
    softTimeout: undefined,
    hardTimeout: undefined,
  });
  assert.equal(method.cacheInvalidate(7), true);
  assert.equal(method.cacheContains(7), false);
  await service.describe(8);
  method.cacheClear();
  assert.equal(method.cacheInfo().currSize, 0);
  assert.equal(method.cacheInfo().misses, 0);
  // A detached reference still calls on its own instance.
  const detached = service.describe;
  assert.equal(await detached(9), "service 9");
  assert.equal(method.cacheContains(9), true);
});

Deno.test("wrapped is the undecorated method, and this is the instance", async () => {
  const service = new Service("raw");
  const wrapped = cacheOf(service.describe).wrapped;
  assert.equal(await wrapped.call(service, 3), "raw 3");
  assert.equal(cacheOf(service.describe).cacheInfo().misses, 0);
  assert.equal(service.calls, 1);
  assert.equal(wrapped.name, "describe");
  assert.equal(service.describe.name, "describe");
});

Deno.test("invalidate through the instance, as Python's method tests do", async () => {
  const service = new Service();
  await service.describe(1);
  await service.describe(2);
  assert.equal(cacheOf(service.describe).cacheInvalidate(1), true);
  assert.equal(cacheOf(service.describe).cacheInvalidate(1), false);
  await service.describe(1);
  assert.equal(service.calls, 3);
});

Deno.test("close with wait through the instance", async () => {
  const gate = deferred<string>();
  class Slow {
    @alruCache
    async fetch(_key: string): Promise<string> {
      return await gate.promise;
    }
  }
  const slow = new Slow();
  const pending = slow.fetch("a");
  const closing = cacheOf(slow.fetch).cacheClose({ wait: true });
  await flush();
  assert.equal(cacheOf(slow.fetch).cacheParameters().tasks, 1);
  gate.resolve("done");
  await closing;
  assert.equal(await pending, "done");
  assert.equal(cacheOf(slow.fetch).cacheParameters().closed, true);
  await assert.rejects(slow.fetch("a"), { name: "CacheClosedError" });
  // Another instance's cache is not closed.
  assert.equal(await new Slow().fetch("b").then(() => "ok"), "ok");
});

Deno.test("static methods share one cache per class", async () => {
  let loads = 0;
  class Config {
    static prefix = "cfg";
    @alruCache
    static async get(key: string): Promise<string> {
      loads++;
      return await Promise.resolve(`${this.prefix}:${key}`);
    }
  }
  class LocalConfig extends Config {
    static override prefix = "local";
  }
  assert.equal(await Config.get("a"), "cfg:a");
  assert.equal(await Config.get("a"), "cfg:a");
  assert.equal(Config.get, Config.get);
  assert.deepEqual(cacheOf(Config.get).cacheInfo().hits, 1);
  // A subclass is its own receiver, with its own cache and its own `this`.
  assert.equal(await LocalConfig.get("a"), "local:a");
  assert.equal(loads, 2);
  assert.equal(cacheOf(LocalConfig.get).cacheInfo().misses, 1);
  assert.equal(cacheOf(Config.get).cacheInfo().misses, 1);
});

Deno.test("an override that calls super keeps two separate caches", async () => {
  class Base {
    baseCalls = 0;
    @alruCache
    async value(n: number): Promise<number> {
      this.baseCalls++;
      return await Promise.resolve(n);
    }
  }
  class Derived extends Base {
    derivedCalls = 0;
    @alruCache
    override async value(n: number): Promise<number> {
      this.derivedCalls++;
      return (await super.value(n)) * 10;
    }
  }
  const derived = new Derived();
  assert.equal(await derived.value(1), 10);
  assert.equal(await derived.value(1), 10);
  assert.equal(derived.derivedCalls, 1);
  assert.equal(derived.baseCalls, 1);
  assert.deepEqual(cacheOf(derived.value).cacheInfo().hits, 1);
  // The base cache of this instance holds the un-multiplied value.
  cacheOf(derived.value).cacheClear();
  assert.equal(await derived.value(1), 10);
  assert.equal(derived.derivedCalls, 2);
  assert.equal(
    derived.baseCalls,
    1,
    "super.value(1) was a hit in the base cache",
  );
  // A plain Base instance is unaffected.
  const base = new Base();
  assert.equal(await base.value(1), 1);
  assert.equal(base.baseCalls, 1);
});

Deno.test("an undecorated override calling super still uses the base cache", async () => {
  class Base {
    calls = 0;
    @alruCache
    async value(n: number): Promise<number> {
      this.calls++;
      return await Promise.resolve(n);
    }
  }
  class Plain extends Base {
    override async value(n: number): Promise<number> {
      return (await super.value(n)) + 1;
    }
  }
  const plain = new Plain();
  assert.equal(await plain.value(1), 2);
  assert.equal(await plain.value(1), 2);
  assert.equal(plain.calls, 1);
  assert.throws(() => cacheOf(plain.value), TypeError);
});

Deno.test("ttl works per instance with a ManualClock", async () => {
  const clock = new ManualClock();
  class Rates {
    @alruCache({ ttl: 1_000, clock })
    async of(currency: string): Promise<number> {
      return await Promise.resolve(currency.length);
    }
  }
  const a = new Rates();
  const b = new Rates();
  await a.of("EUR");
  clock.advance(500);
  await b.of("EUR");
  assert.equal(clock.pending, 2, "one timer per instance cache");
  clock.advance(500);
  assert.equal(cacheOf(a.of).cacheContains("EUR"), false);
  assert.equal(cacheOf(b.of).cacheContains("EUR"), true);
  clock.advance(500);
  assert.equal(clock.pending, 0);
});

Deno.test("cancellation works through methods", async () => {
  const runs: AbortSignal[] = [];
  class Search {
    @alruCache({ signal: true })
    query(_text: string, signal?: AbortSignal): Promise<string[]> {
      runs.push(signal!);
      return new Promise(() => {});
    }
  }
  const search = new Search();
  const callers = [new AbortController(), new AbortController()];
  const calls = callers.map((caller) =>
    cacheOf(search.query).withSignal(caller.signal, "cats")
  );
  callers[0].abort();
  await assert.rejects(calls[0], { name: "AbortError" });
  assert.equal(runs[0].aborted, false);
  callers[1].abort();
  await assert.rejects(calls[1], { name: "AbortError" });
  assert.equal(runs.length, 1);
  assert.equal(runs[0].aborted, true);
  assert.equal(cacheOf(search.query).cacheContains("cats"), false);
});

Deno.test("assigning to a cached method replaces it on that instance only", async () => {
  const mocked = new Service();
  mocked.describe = () => Promise.resolve("mock");
  assert.equal(await mocked.describe(1), "mock");
  assert.equal(await new Service().describe(1), "service 1");
});

Deno.test("a decorated method never keeps its instance alive", async () => {
  const clock = new ManualClock();
  class Holder {
    payload = new Array(1_000).fill(0);
    @alruCache({ ttl: 60_000, clock })
    async self(n: number): Promise<number> {
      return await Promise.resolve(n + this.payload.length);
    }
  }
  const finalisation = new FinalizationWatch();
  await (async () => {
    for (const name of ["a", "b"]) {
      const holder = new Holder();
      await holder.self(1);
      await holder.self(1);
      assert.equal(cacheOf(holder.self).cacheInfo().hits, 1);
      finalisation.watch(holder, name);
    }
  })();
  assert.deepEqual(await finalisation.uncollected(), []);
  // The caches' expiry timers are still there, holding only the caches.
  assert.equal(clock.pending, 2);
  clock.advance(60_000);
  assert.equal(clock.pending, 0);
});

Deno.test("decorating anything but a public method fails at decoration time", () => {
  const decorate = alruCache as unknown as (
    value: unknown,
    context: DecoratorContext,
  ) => void;
  const decorateWithOptions = alruCache({
    maxSize: 1,
  }) as unknown as typeof decorate;
  const cases: [string, () => unknown, RegExp][] = [
    ["private method", () => {
      class C {
        @alruCache
        async #secret(): Promise<number> {
          return await Promise.resolve(1);
        }
        use() {
          return this.#secret();
        }
      }
      return C;
    }, /private method #secret.*Make the method public/],
    ["getter", () => {
      class C {
        @decorate
        get value() {
          return 1;
        }
      }
      return C;
    }, /getter value.*Decorate a method instead/],
    ["setter", () => {
      class C {
        @decorate
        set value(_v: number) {}
      }
      return C;
    }, /setter value/],
    ["field", () => {
      class C {
        @decorate
        load = () => Promise.resolve(1);
      }
      return C;
    }, /field load.*alruCache\(fn, options\)/],
    ["accessor", () => {
      class C {
        @decorate
        accessor count = 0;
      }
      return C;
    }, /accessor count/],
    ["field, with options", () => {
      class C {
        @decorateWithOptions
        load = () => Promise.resolve(1);
      }
      return C;
    }, /field load/],
    ["class", () => {
      @decorate
      class C {}
      return C;
    }, /class C.*Decorate its methods/],
  ];
  for (const [what, define, message] of cases) {
    assert.throws(
      define,
      (error) => error instanceof TypeError && message.test(error.message),
      what,
    );
  }
});

Deno.test("bad decorator options fail when the class is defined", () => {
  assert.throws(() => {
    class C {
      @alruCache({ maxSize: -1 })
      async m(): Promise<number> {
        return await Promise.resolve(1);
      }
    }
    return C;
  }, (error) => error instanceof RangeError && /maxSize/.test(error.message));
});

Deno.test("the decorator from alruCache(options) refuses to wrap a plain function", () => {
  const decorator = alruCache({ maxSize: 1 }) as unknown as (
    fn: unknown,
    context?: unknown,
  ) => unknown;
  assert.throws(
    () => decorator(() => Promise.resolve(1)),
    (error) =>
      error instanceof TypeError &&
      /alruCache\(fn, options\)/.test(error.message),
  );
});

Deno.test("cacheOf refuses a function that is not cached, naming it", () => {
  async function notCached(): Promise<number> {
    return await Promise.resolve(1);
  }
  assert.throws(
    () => cacheOf(notCached),
    (error) =>
      error instanceof TypeError &&
      /notCached is not cached/.test(error.message),
  );
});

Deno.test("decorated methods keep their parameter and return types", () => {
  const service = new Service();
  const misuse = () => {
    // @ts-expect-error: describe takes a number
    service.describe("1");
    // @ts-expect-error: describe resolves to a string
    const wrong: Promise<number> = service.describe(1);
    return wrong;
  };
  assert.equal(typeof misuse, "function");
  const syncMethod = () => {
    class Sync {
      // @ts-expect-error: a cached method returns a promise, so a synchronous method cannot be decorated
      @alruCache
      now(): number {
        return 1;
      }
    }
    return Sync;
  };
  assert.equal(typeof syncMethod, "function");
});

/** A class whose decorated method records the `this` of every run. */
function whoClass() {
  class Svc {
    readonly runs: [Svc, number][] = [];
    @alruCache
    async who(n: number): Promise<string> {
      this.runs.push([this, n]);
      return await Promise.resolve(`${this.name} ${n}`);
    }
    constructor(readonly name: string) {}
  }
  return Svc;
}

Deno.test("a method read from the prototype runs on the `this` it is called with", async () => {
  const Svc = whoClass();
  const a = new Svc("a");
  const b = new Svc("b");
  assert.equal(await a.who(1), "a 1");

  const fromPrototype = Svc.prototype.who;
  assert.equal(fromPrototype.name, "who");
  assert.equal(fromPrototype.length, 1);
  assert.equal(await fromPrototype.call(b, 2), "b 2");
  assert.deepEqual(b.runs, [[b, 2]]);
  assert.equal(await Svc.prototype.who.call(b, 2), "b 2");
  assert.equal(b.runs.length, 1, "the second call was a hit in b's cache");
  assert.deepEqual(cacheOf(b.who).cacheInfo(), {
    hits: 1,
    misses: 1,
    maxSize: 128,
    currSize: 1,
  });
  assert.equal(cacheOf(b.who).cacheContains(2), true);
  assert.equal(cacheOf(a.who).cacheContains(2), false);
  assert.equal(await fromPrototype.call(a, 1), "a 1");
  assert.equal(a.runs.length, 1);

  // Instances still read their own cached function, stable and inspectable.
  assert.equal(b.who, b.who);
  assert.notEqual(b.who, a.who);
  assert.notEqual(b.who, fromPrototype);
  assert.equal(typeof Reflect.get(b.who, "cacheInfo"), "function");
});

Deno.test("a method called on the prototype itself caches for it, and reads from it stay unbound", async () => {
  let runs = 0;
  class Doubler {
    @alruCache
    async twice(n: number): Promise<number> {
      runs++;
      return await Promise.resolve(n * 2);
    }
  }
  const instance = new Doubler();
  assert.equal(await Doubler.prototype.twice(2), 4);
  assert.equal(await Doubler.prototype.twice(2), 4);
  assert.equal(runs, 1);
  const fromPrototype = Doubler.prototype.twice;
  assert.equal(fromPrototype, Doubler.prototype.twice);
  assert.throws(() => cacheOf(fromPrototype), TypeError);
  assert.equal(await fromPrototype.call(instance, 2), 4);
  assert.equal(runs, 2, "the instance has a cache of its own");
  assert.equal(cacheOf(instance.twice).cacheInfo().misses, 1);
});

Deno.test("a spy-style wrapper installed on the prototype wraps existing and new instances", async () => {
  const Svc = whoClass();
  const existing = new Svc("existing");
  assert.equal(await existing.who(1), "existing 1");
  const existingCache = cacheOf(existing.who);
  const accessor = Object.getOwnPropertyDescriptor(Svc.prototype, "who")!;
  assert.equal(typeof accessor.get, "function");

  const calls: unknown[][] = [];
  const original = Svc.prototype.who;
  // The accessor's setter makes the assignment an own data property of the
  // prototype, which every instance then inherits.
  Svc.prototype.who = function (this: InstanceType<typeof Svc>, ...args) {
    calls.push([this.name, ...args]);
    return original.apply(this, args);
  };
  const installed = Object.getOwnPropertyDescriptor(Svc.prototype, "who")!;
  assert.equal(installed.get, undefined);
  assert.equal(installed.writable, true);
  assert.equal(installed.enumerable, false);

  const later = new Svc("later");
  assert.equal(await existing.who(1), "existing 1");
  assert.equal(await existing.who(2), "existing 2");
  assert.equal(await later.who(1), "later 1");
  assert.equal(await later.who(1), "later 1");
  assert.deepEqual(calls, [
    ["existing", 1],
    ["existing", 2],
    ["later", 1],
    ["later", 1],
  ]);
  assert.deepEqual(existing.runs, [[existing, 1], [existing, 2]]);
  assert.deepEqual(later.runs, [[later, 1]]);
  assert.deepEqual(existingCache.cacheInfo(), {
    hits: 1,
    misses: 2,
    maxSize: 128,
    currSize: 2,
  });

  // Putting the saved descriptor back, as spy libraries restore, brings back
  // the per-instance cached functions with the caches they had.
  Object.defineProperty(Svc.prototype, "who", accessor);
  assert.equal(existing.who, existingCache);
  assert.equal(cacheOf(later.who).cacheInfo().hits, 1);
  // Assigning the original back instead keeps caching per instance, but
  // instances then read the plain method, without the cache's methods.
  Svc.prototype.who = original;
  assert.equal(existing.who, original);
  assert.equal(await existing.who(2), "existing 2");
  assert.equal(existingCache.cacheInfo().hits, 2);
  assert.throws(() => cacheOf(existing.who), TypeError);
});

Deno.test("a method read from a subclass prototype runs on the `this` it is called with", async () => {
  const Base = whoClass();
  class Sub extends Base {}
  const base = new Base("base");
  const sub = new Sub("sub");
  assert.equal(await base.who(1), "base 1");
  assert.equal(await sub.who(1), "sub 1");

  const fromSub = Sub.prototype.who;
  assert.equal(fromSub, Base.prototype.who);
  assert.equal(await fromSub.call(sub, 1), "sub 1");
  assert.equal(await fromSub.call(sub, 2), "sub 2");
  assert.deepEqual(sub.runs, [[sub, 1], [sub, 2]]);
  assert.equal(cacheOf(sub.who).cacheInfo().hits, 1);

  // A wrapper on the subclass prototype leaves the base class alone.
  const calls: string[] = [];
  Sub.prototype.who = function (this: Sub, n: number) {
    calls.push(this.name);
    return fromSub.call(this, n);
  };
  assert.equal(await sub.who(2), "sub 2");
  assert.equal(await new Sub("other").who(3), "other 3");
  assert.equal(await base.who(1), "base 1");
  assert.deepEqual(calls, ["sub", "other"]);
  assert.equal(cacheOf(base.who).cacheInfo().hits, 1);
  assert.throws(() => cacheOf(sub.who), TypeError);
});

Deno.test("a static method read from its class stays bound to that class", async () => {
  class Registry {
    static label = "registry";
    @alruCache
    static async lookup(n: number): Promise<string> {
      return await Promise.resolve(`${this.label} ${n}`);
    }
  }
  class Child extends Registry {
    static override label = "child";
  }
  const lookup = Registry.lookup;
  assert.equal(lookup, Registry.lookup);
  assert.equal(await lookup(1), "registry 1");
  assert.equal(cacheOf(Registry.lookup).cacheContains(1), true);
  const childLookup = Child.lookup;
  assert.equal(await childLookup(1), "child 1");
  assert.notEqual(childLookup, lookup);
  assert.equal(cacheOf(Child.lookup).cacheInfo().misses, 1);
  assert.equal(cacheOf(Registry.lookup).cacheInfo().misses, 1);
});

// Calls `method` with `receiver` as `this`, whatever the method's type says.
function callOn(
  method: (this: never, ...args: never[]) => unknown,
  receiver: unknown,
  ...args: unknown[]
): unknown {
  return (method as (this: unknown, ...args: unknown[]) => unknown).call(
    receiver,
    ...args,
  );
}

// Asserts that `call` returns, without throwing, a promise that rejects with
// a TypeError naming `name` and saying what it must be called on.
async function assertRejectsWithoutReceiver(
  call: () => unknown,
  name: string,
  needs: RegExp,
  message: string,
): Promise<void> {
  let result: unknown;
  assert.doesNotThrow(() => {
    result = call();
  }, message);
  assert.ok(result instanceof Promise, `${message}: returns a promise`);
  await assert.rejects(result, (error: unknown) => {
    assert.ok(error instanceof TypeError, message);
    assert.match(error.message, new RegExp(`\\b${name}\\b`), message);
    assert.match(error.message, needs, message);
    return true;
  }, message);
}

const NOT_OBJECTS: [string, unknown][] = [
  ["undefined", undefined],
  ["null", null],
  ["5", 5],
  ['"text"', "text"],
  ["a symbol", Symbol("receiver")],
];

Deno.test("a method read from a prototype and called on no object rejects, never throws", async () => {
  const Svc = whoClass();
  class Sub extends Svc {}
  const check = async (label: string) => {
    for (const [name, receiver] of NOT_OBJECTS) {
      await assertRejectsWithoutReceiver(
        () => callOn(Svc.prototype.who, receiver, 1),
        "who",
        /must be called on an instance/,
        `${label}: Svc.prototype.who.call(${name})`,
      );
      await assertRejectsWithoutReceiver(
        () => callOn(Sub.prototype.who, receiver, 1),
        "who",
        /must be called on an instance/,
        `${label}: Sub.prototype.who.call(${name})`,
      );
    }
  };
  // Before any instance, the prototype holds the method itself; after, the
  // accessor that the first instance installed.
  await check("before any instance");
  const svc = new Svc("svc");
  const installed = Object.getOwnPropertyDescriptor(Svc.prototype, "who");
  assert.equal(typeof installed?.get, "function");
  await check("after an instance");

  // Calls on instances, directly or through a prototype, are unaffected.
  assert.equal(await svc.who(1), "svc 1");
  assert.equal(await Svc.prototype.who.call(svc, 1), "svc 1");
  assert.deepEqual(svc.runs, [[svc, 1]]);
  assert.equal(cacheOf(svc.who).cacheInfo().hits, 1);
  const sub = new Sub("sub");
  assert.equal(await Sub.prototype.who.call(sub, 2), "sub 2");
  assert.equal(await sub.who(2), "sub 2");
  assert.deepEqual(sub.runs, [[sub, 2]]);
});

Deno.test("the accessor read with no object gives a method that rejects when called", async () => {
  const Svc = whoClass();
  class Sub extends Svc {}
  const svc = new Svc("svc");
  assert.equal(await svc.who(1), "svc 1");
  const get = Object.getOwnPropertyDescriptor(Svc.prototype, "who")!.get!;
  for (const [name, receiver] of NOT_OBJECTS) {
    let method: unknown;
    assert.doesNotThrow(() => {
      method = get.call(receiver);
    }, `get.call(${name})`);
    assert.equal(typeof method, "function", `get.call(${name})`);
    await assertRejectsWithoutReceiver(
      () => (method as (n: number) => unknown)(1),
      "who",
      /must be called on an instance/,
      `get.call(${name})(1)`,
    );
  }
  // Read through the subclass prototype's chain, the same accessor.
  assert.equal(
    Object.getOwnPropertyDescriptor(Sub.prototype, "who"),
    undefined,
  );
  await assertRejectsWithoutReceiver(
    () => (get.call(undefined) as (n: number) => unknown).call(undefined, 1),
    "who",
    /must be called on an instance/,
    "get.call(undefined) called on undefined",
  );
  assert.equal(get.call(svc), svc.who, "an instance still reads its own");
  assert.equal(get.call(Sub.prototype), Svc.prototype.who);
  assert.equal(await svc.who(1), "svc 1");
  assert.deepEqual(svc.runs, [[svc, 1]]);
});

Deno.test("a static method's accessor read with no object gives a method that rejects when called", async () => {
  class Registry {
    @alruCache
    static async lookup(n: number): Promise<number> {
      return await Promise.resolve(n);
    }
  }
  const get = Object.getOwnPropertyDescriptor(Registry, "lookup")!.get!;
  for (const [name, receiver] of NOT_OBJECTS) {
    let method: unknown;
    assert.doesNotThrow(() => {
      method = get.call(receiver);
    }, `get.call(${name})`);
    await assertRejectsWithoutReceiver(
      () => (method as (n: number) => unknown)(1),
      "lookup",
      /must be called on its class/,
      `static get.call(${name})(1)`,
    );
  }
  // The class itself is unaffected.
  const lookup = Registry.lookup;
  assert.equal(get.call(Registry), lookup);
  assert.equal(await lookup(1), 1);
  assert.equal(cacheOf(Registry.lookup).cacheInfo().misses, 1);
});

/** How TypeScript's legacy decorators (`experimentalDecorators`) call one. */
type LegacyDecorator = (
  target: object,
  propertyKey: string | symbol,
  descriptor?: PropertyDescriptor,
) => unknown;

/** A class as legacy decorators see it, undecorated. */
class LegacyTarget {
  async byId(id: number): Promise<number> {
    return await Promise.resolve(id);
  }
  static async load(id: number): Promise<number> {
    return await Promise.resolve(id);
  }
  async [Symbol.for("tagged")](): Promise<number> {
    return await Promise.resolve(1);
  }
  get size(): number {
    return 1;
  }
}

function legacyError(member: RegExp) {
  return (error: unknown) =>
    error instanceof TypeError &&
    member.test(error.message) &&
    /legacy decorator/.test(error.message) &&
    /TC39 standard decorators/.test(error.message) &&
    /experimentalDecorators/.test(error.message) &&
    /alruCache\(fn, options\)/.test(error.message);
}

Deno.test("bare @alruCache called as a legacy decorator fails at decoration time, naming the member", () => {
  const bare = alruCache as unknown as LegacyDecorator;
  const proto = LegacyTarget.prototype;
  const method = Object.getOwnPropertyDescriptor(proto, "byId")!;
  assert.throws(
    () => bare(proto, "byId", method),
    legacyError(/method byId of class LegacyTarget/),
  );
  // A static method: the target is the constructor, not a function to wrap.
  const staticMethod = Object.getOwnPropertyDescriptor(LegacyTarget, "load")!;
  assert.throws(
    () => bare(LegacyTarget, "load", staticMethod),
    legacyError(/static method load of class LegacyTarget/),
  );
  const tagged = Symbol.for("tagged");
  assert.throws(
    () => bare(proto, tagged, Object.getOwnPropertyDescriptor(proto, tagged)),
    legacyError(/method Symbol\(tagged\) of class LegacyTarget/),
  );
  // Legacy property decorators get no descriptor; accessors get get and set.
  assert.throws(
    () => bare(proto, "count", undefined),
    legacyError(/property count of class LegacyTarget/),
  );
  assert.throws(
    () => bare(proto, "size", Object.getOwnPropertyDescriptor(proto, "size")),
    legacyError(/accessor size of class LegacyTarget/),
  );
  // A subclass prototype is no plain object, but the shape is the same.
  class Sub extends LegacyTarget {}
  assert.throws(
    () => bare(Sub.prototype, "byId", method),
    legacyError(/method byId of class Sub/),
  );
  // Nothing was wrapped or redefined.
  assert.equal(
    Object.getOwnPropertyDescriptor(proto, "byId")!.value,
    method.value,
  );
});

Deno.test("@alruCache(options) called as a legacy decorator fails at decoration time, naming the member", () => {
  const proto = LegacyTarget.prototype;
  const method = Object.getOwnPropertyDescriptor(proto, "byId")!;
  const withOptions = alruCache({ maxSize: 2 }) as unknown as LegacyDecorator;
  assert.throws(
    () => withOptions(proto, "byId", method),
    legacyError(/method byId of class LegacyTarget/),
  );
  const defaults = alruCache() as unknown as LegacyDecorator;
  assert.throws(
    () =>
      defaults(
        LegacyTarget,
        "load",
        Object.getOwnPropertyDescriptor(LegacyTarget, "load"),
      ),
    legacyError(/static method load of class LegacyTarget/),
  );
  assert.throws(
    () => withOptions(proto, "count", undefined),
    legacyError(/property count/),
  );
});

Deno.test("calls that only look like legacy decorators are left to the usual checks", async () => {
  const fn = async (id: number) => await Promise.resolve(id);
  // Two arguments are alruCache(fn, options), whatever their types.
  const cached = alruCache(fn, { maxSize: 2 });
  assert.equal(await cached(1), 1);
  assert.throws(
    () => alruCache(fn, "byId" as never),
    (error) =>
      error instanceof TypeError &&
      /options must be an object; received "byId"/.test(error.message),
  );
  const loose = alruCache as unknown as (...args: unknown[]) => unknown;
  // A third argument that is no descriptor: not a legacy decorator call.
  assert.equal(typeof loose(fn, { maxSize: 2 }, undefined), "function");
  assert.throws(
    () => loose(fn, "byId", 0),
    (error) => error instanceof TypeError && !/legacy/.test(error.message),
  );
  assert.throws(
    () => loose(fn, "byId", { maxSize: 2 }),
    (error) => error instanceof TypeError && !/legacy/.test(error.message),
  );
});

// A process compiling with experimentalDecorators is killed after this.
const LEGACY_KILL_AFTER_MS = 30_000;

Deno.test("compiled with experimentalDecorators, each form fails when its class is defined", async () => {
  // With standard decorators, the same classes define without error.
  for (const [, define] of decoratedClasses) {
    assert.equal(typeof define(), "function");
  }
  const config = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(
      config,
      JSON.stringify({ compilerOptions: { experimentalDecorators: true } }),
    );
    const output = await runCommand(Deno.execPath(), [
      "run",
      "--quiet",
      // Legacy decorators have other types: only the emitted code matters.
      "--no-check",
      "--no-lock",
      "--config",
      config,
      new URL("./_legacy_decorators.ts", import.meta.url).pathname,
    ], { killAfterMs: LEGACY_KILL_AFTER_MS });
    const stdout = output.stdout;
    const detail =
      `code ${output.code}\nstdout: ${stdout}\nstderr: ${output.stderr}`;
    assert.equal(output.code, 0, detail);
    const lines = stdout.trim().split("\n");
    const expected: [string, RegExp][] = [
      ["method", /^@alruCache was .* on method byId of class Users,/],
      [
        "static method",
        /^@alruCache was .* on static method count of class Users,/,
      ],
      [
        "method, with options",
        /^@alruCache\(options\) was .* on method byName of class Users,/,
      ],
      [
        "method, with no options",
        /^@alruCache\(options\) was .* on method all of class Users,/,
      ],
    ];
    assert.equal(lines.length, expected.length, detail);
    expected.forEach(([name, member], i) => {
      const prefix = `${name}: `;
      assert.ok(lines[i].startsWith(prefix), detail);
      const message = lines[i].slice(prefix.length);
      assert.match(message, member);
      assert.ok(legacyError(/./)(new TypeError(message)), message);
    });
  } finally {
    await Deno.remove(config);
  }
});
