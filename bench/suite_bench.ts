/**
 * The scenarios of Python async-lru's own benchmark suite, with the same
 * sizes, so that the numbers can be read side by side. Eight configurations
 * (function or method, bounded or unbounded, without or with ttl) run through
 * each scenario. Run with `deno task bench`, or on its own with
 * `deno task bench bench/suite_bench.ts`.
 *
 * Every configuration with a ttl gets a {@linkcode ManualClock}, so expiry
 * happens only when a bench advances the clock and no real timer is ever
 * scheduled; the configurations without a ttl never arm a timer. Mind that a
 * cache given a clock skips the check for a replaced global `setTimeout` that
 * a cache on the runtime's timers makes on every call, so part of the gap
 * between a configuration and its ttl twin is that check, not the ttl.
 */
import {
  alruCache,
  type AlruCacheOptions,
  type CachedFunction,
  type CacheInfo,
  cacheOf,
  ManualClock,
} from "../mod.ts";

type Cached = CachedFunction<[key: unknown], unknown>;

/** Milliseconds an entry lives in the ttl configurations. */
const TTL = 10;
const BOUNDED_SIZE = 128;
const BOUNDED_TTL_SIZE = 16;

// What one iteration of each scenario does.
const HIT_KEYS = range(0, 10);
const HIT_ROUNDS = 100;
const MISSES = 2_048;
const CLEAR_FILL = 100;
const EXPIRY_KEY = 99;
const INVALIDATE_KEYS = range(123, 321);
const INFO_CALLS = 1_000;
const CONCURRENT_KEYS = range(600, 700);
const CONCURRENT_ROUNDS = 10;
const FILL_MISSES = 5_000;

// The scenarios whose iterations take about a millisecond and allocate
// thousands of objects: more iterations, so that garbage collection pauses
// average out. Even so, whichever cached case runs first in the miss group
// reads high (in reversed order too), so compare its min and p75 as well.
const LONG_RUN = { warmup: 200, n: 1_000 };

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, index) => start + index);
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`suite_bench setup: ${message}`);
}

// The function the function configurations wrap.
// deno-lint-ignore require-await
async function identity(key: unknown): Promise<unknown> {
  return key;
}

// The uncached baseline: the same body, but a function of its own, so that
// the baseline's hot loop does not shape how V8 optimises `identity`.
// deno-lint-ignore require-await
async function uncached(key: unknown): Promise<unknown> {
  return key;
}

// --- configurations -----------------------------------------------------------

interface Configuration {
  readonly name: string;
  readonly method: boolean;
  readonly bounded: boolean;
  readonly ttl: boolean;
}

function configuration(
  method: boolean,
  bounded: boolean,
  ttl: boolean,
): Configuration {
  const name = `${method ? "meth" : "func"}-${
    bounded ? "bounded" : "unbounded"
  }${ttl ? "-ttl" : ""}`;
  return { name, method, bounded, ttl };
}

// In the order of Python's suite: without ttl, then with.
const CONFIGURATIONS: readonly Configuration[] = [false, true].flatMap((ttl) =>
  [false, true].flatMap((method) =>
    [true, false].map((bounded) => configuration(method, bounded, ttl))
  )
);

/** A fresh cache in one configuration, and its clock when it has a ttl. */
interface Subject {
  readonly cached: Cached;
  readonly clock: ManualClock | undefined;
}

function createSubject(config: Configuration): Subject {
  const clock = config.ttl ? new ManualClock() : undefined;
  const options: AlruCacheOptions = config.ttl
    ? {
      maxSize: config.bounded ? BOUNDED_TTL_SIZE : Infinity,
      ttl: TTL,
      clock,
    }
    : { maxSize: config.bounded ? BOUNDED_SIZE : Infinity };
  if (!config.method) return { cached: alruCache(identity, options), clock };

  // A class per subject, as the clock is fixed when the decorator runs.
  class Service {
    @alruCache(options)
    // deno-lint-ignore require-await
    async get(key: unknown): Promise<unknown> {
      return key;
    }
  }
  // Read once and called detached, like a bound method in Python; it still
  // calls on (and caches for) this one instance.
  return { cached: cacheOf(new Service().get), clock };
}

async function callAll(cached: Cached, keys: readonly unknown[]) {
  for (const key of keys) await cached(key);
}

function freshObjects(count: number): object[] {
  return Array.from({ length: count }, () => ({}));
}

/**
 * Brings an unbounded cache back to empty between iterations of the miss
 * scenario, which would otherwise grow by 2,048 entries per iteration for as
 * long as the bench runs. With a ttl this is the clock moving past the
 * entries' lifetime, as real time would between Python's rounds.
 */
function resetUnbounded(config: Configuration, subject: Subject): void {
  if (config.bounded) return;
  if (subject.clock !== undefined) subject.clock.advance(2 * TTL);
  else subject.cached.cacheClear();
}

// --- 1. hit: 10 x 100 hits over keys 0..9 ------------------------------------

Deno.bench("hit: uncached", { group: "hit", baseline: true }, async () => {
  for (let round = 0; round < HIT_ROUNDS; round++) {
    for (const key of HIT_KEYS) await uncached(key);
  }
});

for (const config of CONFIGURATIONS) {
  const { cached } = createSubject(config);
  await callAll(cached, HIT_KEYS);
  await callAll(cached, HIT_KEYS);
  check(cached.cacheInfo().hits === HIT_KEYS.length, `${config.name}: hits`);
  Deno.bench(`hit: ${config.name}`, { group: "hit" }, async () => {
    for (let round = 0; round < HIT_ROUNDS; round++) {
      for (const key of HIT_KEYS) await cached(key);
    }
  });
}

// --- 2. miss: 2,048 calls on new objects -------------------------------------

Deno.bench(
  "miss: uncached",
  { group: "miss", baseline: true, ...LONG_RUN },
  async (b) => {
    const keys = freshObjects(MISSES);
    b.start();
    for (const key of keys) await uncached(key);
    b.end();
  },
);

for (const config of CONFIGURATIONS) {
  const subject = createSubject(config);
  const { cached } = subject;
  Deno.bench(
    `miss: ${config.name}`,
    { group: "miss", ...LONG_RUN },
    async (b) => {
      resetUnbounded(config, subject);
      const keys = freshObjects(MISSES);
      b.start();
      for (const key of keys) await cached(key);
      b.end();
    },
  );
}

// --- 3. clear: cacheClear of a cache filled with keys 0..99 ------------------
// (The bounded ttl configurations keep only the last 16 of them.)

for (const config of CONFIGURATIONS) {
  const { cached } = createSubject(config);
  const fill = range(0, CLEAR_FILL);
  Deno.bench(`clear: ${config.name}`, { group: "clear" }, async (b) => {
    await callAll(cached, fill);
    b.start();
    cached.cacheClear();
    b.end();
  });
}

// --- 4. ttl expiry: the call after an entry's ttl has passed -----------------

for (const config of CONFIGURATIONS.filter((config) => config.ttl)) {
  const { cached, clock } = createSubject(config);
  if (clock === undefined) throw new Error("a ttl configuration has a clock");
  await cached(EXPIRY_KEY);
  clock.advance(2 * TTL);
  check(!cached.cacheContains(EXPIRY_KEY), `${config.name}: entry expired`);
  await cached(EXPIRY_KEY);
  check(cached.cacheInfo().misses === 2, `${config.name}: expiry misses`);
  // One iteration takes well under 10 µs, where deno bench ignores b.start()
  // and b.end() and times whole iterations in batches of 10,000. So the time
  // includes the expiry itself: advance() runs the cache's timer, which drops
  // the entry.
  Deno.bench(
    `ttl expiry: ${config.name}`,
    { group: "ttl expiry" },
    async () => {
      clock.advance(2 * TTL);
      await cached(EXPIRY_KEY);
    },
  );
}

// --- 5. invalidate: 198 keys, 123..320 ---------------------------------------
// (The bounded configurations hold only the last 128 or 16 of them; the other
// keys are invalidations that find nothing.)

for (const config of CONFIGURATIONS) {
  const { cached } = createSubject(config);
  Deno.bench(`invalidate: ${config.name}`, {
    group: "invalidate",
  }, async (b) => {
    await callAll(cached, INVALIDATE_KEYS);
    b.start();
    for (const key of INVALIDATE_KEYS) cached.cacheInvalidate(key);
    b.end();
  });
}

// --- 6. cacheInfo: 1,000 calls -----------------------------------------------

// Stored so that none of the calls can be optimised away.
let _lastInfo: CacheInfo | undefined;

for (const config of CONFIGURATIONS) {
  const { cached } = createSubject(config);
  await callAll(cached, range(0, INFO_CALLS));
  Deno.bench(`cacheInfo: ${config.name}`, { group: "cacheInfo" }, () => {
    for (let call = 0; call < INFO_CALLS; call++) {
      _lastInfo = cached.cacheInfo();
    }
  });
}

// --- 7. concurrent hit: 10 rounds of 100 calls at once, keys 600..699 ---------
// (100 keys do not fit in the bounded ttl configurations' 16 entries: there,
// as in Python's suite, every call is a miss that evicts.)

for (const config of CONFIGURATIONS) {
  const { cached } = createSubject(config);
  await callAll(cached, CONCURRENT_KEYS);
  Deno.bench(`concurrent hit: ${config.name}`, {
    group: "concurrent hit",
  }, async () => {
    for (let round = 0; round < CONCURRENT_ROUNDS; round++) {
      // One argument per call: a key is the whole argument list.
      await Promise.all(CONCURRENT_KEYS.map((key) => cached(key)));
    }
  });
}

// --- 8. fill and evict: 5,000 misses through a full cache of 128 -------------

for (const config of CONFIGURATIONS.filter((c) => c.bounded && !c.ttl)) {
  const { cached } = createSubject(config);
  await callAll(cached, range(-BOUNDED_SIZE, 0));
  const keys = range(0, FILL_MISSES);
  Deno.bench(`fill and evict: ${config.name}`, {
    group: "fill and evict",
    ...LONG_RUN,
  }, async () => {
    for (const key of keys) await cached(key);
  });
}
