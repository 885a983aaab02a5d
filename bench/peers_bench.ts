/**
 * alruCache beside what a JavaScript user would pick instead, in one run:
 * the uncached call, the limit (a bare Map of promises: no bound, no
 * counters), lru-cache's fetch(), p-memoize with quick-lru,
 * async-cache-dedupe, memoizee with `{ promise: true, max }`, and a minimal
 * LRU of promises (mnemonist's LRUMapWithDelete holding the pending promise),
 * which churn also runs with promises of its own that it could abandon.
 *
 * Every iteration makes BATCH awaited calls, so that the harness's own cost
 * per iteration is spread thin; divide the time by BATCH for one call.
 * Run with `deno task bench`.
 */
import { alruCache, ManualClock } from "../mod.ts";
import { LRUCache } from "lru-cache";
import pMemoize from "p-memoize";
import QuickLRU from "quick-lru";
import { createCache } from "async-cache-dedupe";
// @ts-types="@types/memoizee"
import memoizee from "memoizee";
import { LRUMapWithDelete } from "mnemonist";
import { bareMap as bareMapOf, floor, type Load, load } from "./floors.ts";

/** Calls per bench iteration. */
export const BATCH = 100;
const CAPACITY = 1_000;
const HOUR = 3_600_000;

const bareMap = () => bareMapOf();
const minimalAbandonableLru = () => floor(CAPACITY);

function loadWithSignal(key: number, _signal: AbortSignal): Promise<number> {
  return Promise.resolve(key);
}

function lruCacheFetch(ttl?: number): Load {
  const cache = new LRUCache<number, number>({
    max: CAPACITY,
    ttl,
    fetchMethod: (key) => load(key),
  });
  return (key) => cache.fetch(key) as Promise<number>;
}

function pMemoizeQuickLru(ttl?: number): Load {
  return pMemoize(load, {
    cache: new QuickLRU<number, number>({
      maxSize: CAPACITY,
      maxAge: ttl,
    }),
  });
}

function asyncCacheDedupe(ttlSeconds = 0): Load {
  const cache = createCache({
    ttl: ttlSeconds,
    storage: { type: "memory", options: { size: CAPACITY } },
  }).define("load", load);
  return (key) => cache.load(key) as Promise<number>;
}

function memoizeePromise(): Load {
  return memoizee(load, { promise: true, max: CAPACITY });
}

function minimalLru(): Load {
  const promises = new LRUMapWithDelete<number, Promise<number>>(CAPACITY);
  return (key) => {
    let promise = promises.get(key);
    if (promise === undefined) promises.set(key, promise = load(key));
    return promise;
  };
}

function alru(ttl?: number): Load {
  return alruCache(load, {
    maxSize: CAPACITY,
    ttl,
    clock: ttl === undefined ? undefined : new ManualClock(),
  });
}

const peers: [name: string, make: () => Load][] = [
  ["uncached call", () => load],
  ["bare Map of promises (limit)", bareMap],
  ["alruCache", () => alru()],
  ["lru-cache fetch()", () => lruCacheFetch()],
  ["p-memoize + quick-lru", () => pMemoizeQuickLru()],
  ["async-cache-dedupe", () => asyncCacheDedupe()],
  ["memoizee promise", memoizeePromise],
  ["minimal LRU of promises", minimalLru],
];

// memoizee's maxAge keeps one host timer per entry alive, so it sits out the
// ttl group rather than holding the bench process open for an hour.
const peersWithTtl: [name: string, make: () => Load][] = [
  ["bare Map of promises (limit)", bareMap],
  ["alruCache", () => alru(HOUR)],
  ["lru-cache fetch()", () => lruCacheFetch(HOUR)],
  ["p-memoize + quick-lru", () => pMemoizeQuickLru(HOUR)],
  ["async-cache-dedupe", () => asyncCacheDedupe(HOUR / 1_000)],
  ["minimal LRU of promises", minimalLru],
];

/** Every case's name, in order, for bench/report.ts. */
export const CASES: string[] = [];

function register(
  name: string,
  options: Omit<Deno.BenchDefinition, "name" | "fn">,
  fn: () => Promise<void>,
): void {
  CASES.push(name);
  Deno.bench(name, options, fn);
}

async function warm(call: Load, keys: number): Promise<void> {
  for (let key = 0; key < keys; key++) await call(key);
}

// Setup runs in the first iteration rather than at load time, so that a run
// filtered to one group (as bench/report.ts does) builds and warms only
// that group's caches, and no other group's garbage is in its heap.
function lazily(
  setup: () => Promise<Load> | Load,
  body: (call: Load) => Promise<void>,
): () => Promise<void> {
  let call: Load | undefined;
  return async () => {
    call ??= await setup();
    await body(call);
  };
}

/** BATCH awaited calls cycling over `keys` keys. */
function cycling(keys: number): (call: Load) => Promise<void> {
  let key = 0;
  return async (call) => {
    for (let i = 0; i < BATCH; i++) {
      key = key === keys - 1 ? 0 : key + 1;
      await call(key);
    }
  };
}

// --- hit: 1,000 warm keys, capacity 1,000 ------------------------------------

const hitGroups: [string, [string, () => Load][]][] = [
  ["hit", peers],
  ["hit with ttl", peersWithTtl],
];
for (const [group, list] of hitGroups) {
  for (const [name, make] of list) {
    register(
      `${group}: ${name}`,
      { group, baseline: name.startsWith("bare Map") },
      lazily(async () => {
        const call = make();
        await warm(call, CAPACITY);
        return call;
      }, cycling(CAPACITY)),
    );
  }
}

// --- churn: 2,000 keys cycled through capacity 1,000: every call a miss ------

const churnPeers: [name: string, make: () => Load][] = [
  ...peers.filter(([name]) => !name.startsWith("bare Map")), // it never misses
  ["minimal LRU of abandonable promises", minimalAbandonableLru],
];
for (const [name, make] of churnPeers) {
  register(
    `churn: ${name}`,
    { group: "churn", baseline: name === "minimal LRU of promises" },
    lazily(make, cycling(2 * CAPACITY)),
  );
}

// --- burst: 100 concurrent calls for one new key -----------------------------

for (const [name, make] of peers) {
  let key = 0;
  register(
    `burst of 100: ${name}`,
    { group: "burst", baseline: name.startsWith("bare Map") },
    lazily(make, async (call) => {
      const fresh = key++;
      const calls: Promise<number>[] = [];
      for (let i = 0; i < 100; i++) calls.push(call(fresh));
      await Promise.all(calls);
    }),
  );
}

// --- signals: a caller's signal that never aborts, on churn -------------------

const neverAborted = new AbortController().signal;
const signalVariants: [string, () => Load][] = [
  ["alruCache plain call", () => alruCache(load, { maxSize: CAPACITY })],
  ["alruCache.withSignal", () => {
    const plain = alruCache(load, { maxSize: CAPACITY });
    return (key) => plain.withSignal(neverAborted, key);
  }],
  [
    "alruCache, fn takes the shared signal",
    () => alruCache(loadWithSignal, { maxSize: CAPACITY, signal: true }),
  ],
  ["lru-cache fetch({ signal })", () => {
    const cache = new LRUCache<number, number>({
      max: CAPACITY,
      fetchMethod: (key, _stale, { signal }) => loadWithSignal(key, signal),
    });
    return (key) =>
      cache.fetch(key, { signal: neverAborted }) as Promise<number>;
  }],
];
for (const [name, make] of signalVariants) {
  register(
    `signal churn: ${name}`,
    { group: "signal churn", baseline: name === "alruCache plain call" },
    lazily(make, cycling(2 * CAPACITY)),
  );
}
