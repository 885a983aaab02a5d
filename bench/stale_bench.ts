/**
 * What a stale hit costs beside a fresh one: alruCache with `ttl` and
 * `staleWhileRevalidate`, lru-cache's `fetch()` with `allowStale`, and
 * cachified with `staleWhileRevalidate`, each fresh and stale, against
 * alruCache's plain hit (no ttl, no new option) as the baseline.
 *
 * Every iteration makes BATCH awaited calls over 1,000 warm keys, as
 * peers_bench.ts does; divide by BATCH for one call. What makes entries
 * stale, and the wait for the refreshes that stale hits start, happen between
 * batches, outside the timed part.
 *
 * Run with `deno task bench bench/stale_bench.ts`.
 */
import { alruCache, ManualClock } from "../mod.ts";
import { LRUCache } from "lru-cache";
import { type CacheEntry, cachified } from "@epic-web/cachified";

// Not imported from peers_bench.ts: importing it would register its cases.
const BATCH = 100;
const KEYS = 1_000;
const HOUR = 3_600_000;
const TTL = HOUR;
// Long enough that no entry leaves its stale window in a run: a key is called
// every KEYS / BATCH batches, and each batch moves time by STEP.
const STALE_WINDOW = 1_000 * HOUR;
// Past the ttl by any measure (lru-cache counts an entry exactly ttl old as
// fresh), so that every entry is stale when the next batch comes.
const STEP = 2 * TTL;

type Load = (key: number) => Promise<number>;

function load(key: number): Promise<number> {
  return Promise.resolve(key);
}

// The refresh that a stale hit joins: it never ends, so the entry stays stale.
const NEVER = new Promise<number>(() => {});

type Mode = "fresh" | "stale" | "started" | "joining";

/** A cache ready for timed batches, with what runs untimed around them. */
interface Subject {
  call: Load;
  /** Before each batch: makes every entry stale where the case needs it. */
  before?: () => void;
  /** After each batch, given its keys: waits for refreshes, checks them. */
  after?: (keys: readonly number[]) => Promise<void>;
}

async function warm(call: Load): Promise<void> {
  for (let key = 0; key < KEYS; key++) await call(key);
}

// Our refreshes and lru-cache's settle within a few promise turns; cachified
// starts each refresh after a timer, so it needs macrotasks.
async function settle(what: string, done: () => boolean): Promise<void> {
  for (let turn = 0; turn < 1_000; turn++) {
    if (done()) return;
    await (turn < 50
      ? Promise.resolve()
      : new Promise((resolve) => setTimeout(resolve, 0)));
  }
  throw new Error(`${what}: refreshes did not settle`);
}

// A case whose premise fails (no stale hit, no refresh) would time something
// else, so it stops the run instead.
function expectCount(what: string, got: number, expected: number): void {
  if (got !== expected) {
    throw new Error(`${what}: expected ${expected}, got ${got}`);
  }
}

// --- alruCache ---------------------------------------------------------------

function alruPlain(): Subject {
  return { call: alruCache(load, { maxSize: KEYS }) };
}

function alruTtl(): Subject {
  return {
    call: alruCache(load, {
      maxSize: KEYS,
      ttl: TTL,
      clock: new ManualClock(),
    }),
  };
}

/**
 * "stale": each stale hit starts a refresh, and `load` resolves at once, so
 * the refreshes finish (most within the batch, the rest before `after`
 * returns) and leave fresh entries; `before` moves the clock past the ttl
 * again. "started": the same, but each refresh's work stays pending until
 * `after` lets it resolve, so a batch times what the caller pays for starting
 * a refresh and not the refresh's own completion. "joining": one untimed pass
 * starts a refresh of every key that never ends, so every timed call is a
 * stale hit that joins the running refresh.
 */
async function alruSwr(mode: Mode): Promise<Subject> {
  const clock = new ManualClock();
  let hold = false;
  let deferring = false;
  const deferred: (() => void)[] = [];
  const cached = alruCache(
    (key: number) =>
      hold
        ? NEVER
        : deferring
        ? new Promise<number>((resolve) => deferred.push(() => resolve(key)))
        : load(key),
    {
      maxSize: KEYS,
      ttl: TTL,
      staleWhileRevalidate: STALE_WINDOW,
      clock,
    },
  );
  await warm(cached);
  if (mode === "fresh") return { call: cached };
  if (mode === "joining") {
    clock.advance(STEP);
    hold = true;
    await warm(cached);
    expectCount(
      "alruCache refreshes running",
      cached.cacheParameters().tasks,
      KEYS,
    );
  }
  let seen = cached.cacheStats();
  deferring = mode === "started";
  return {
    call: cached,
    before: mode === "joining" ? undefined : () => clock.advance(STEP),
    async after() {
      for (const resolve of deferred.splice(0)) resolve();
      await settle(
        "alruCache",
        () => cached.cacheParameters().tasks === (hold ? KEYS : 0),
      );
      const stats = cached.cacheStats();
      expectCount(
        "alruCache stale hits",
        stats.staleHits - seen.staleHits,
        BATCH,
      );
      expectCount(
        "alruCache refreshes started",
        stats.refreshes - seen.refreshes,
        mode === "joining" ? 0 : BATCH,
      );
      seen = stats;
    },
  };
}

// --- lru-cache fetch() with allowStale ----------------------------------------

/**
 * The same two ways to be stale as alruCache's. A stale `fetch()` returns the
 * stale value and starts a background fetch; `fetch()` during one returns the
 * stale value too. Time comes from a ManualClock through the `perf` option;
 * `ttlResolution: 0` makes it read the clock on every check (by default it
 * keeps a reading for 1 ms on a real timer, which would hide the clock's
 * moves).
 */
async function lruCacheFetch(mode: Mode): Promise<Subject> {
  // lru-cache takes an entry made at time 0 for one without a ttl.
  const clock = new ManualClock(1);
  let hold = false;
  let runs = 0;
  const cache = new LRUCache<number, number>({
    max: KEYS,
    ttl: TTL,
    allowStale: true,
    ttlAutopurge: false,
    ttlResolution: 0,
    perf: clock,
    fetchMethod: (key) => {
      runs++;
      return hold ? NEVER : load(key);
    },
  });
  const call: Load = (key) => cache.fetch(key) as Promise<number>;
  await warm(call);
  if (mode === "fresh") return { call };
  if (mode === "joining") {
    clock.advance(STEP);
    hold = true;
    await warm(call);
    expectCount("lru-cache background fetches", runs, 2 * KEYS);
  }
  let seen = runs;
  return {
    call,
    before: mode === "stale" ? () => clock.advance(STEP) : undefined,
    async after(keys) {
      expectCount(
        "lru-cache fetches started",
        runs - seen,
        mode === "stale" ? BATCH : 0,
      );
      seen = runs;
      if (mode === "stale") {
        await settle(
          "lru-cache",
          () => keys.every((key) => cache.getRemainingTTL(key) === TTL),
        );
      }
    },
  };
}

// --- cachified with staleWhileRevalidate --------------------------------------

/**
 * cachified reads `Date.now()` and takes no clock, so entries are made stale
 * by moving their `createdTime` back by STEP instead. Its store is a bare
 * `Map` (unbounded), the least a store can cost. Each stale hit starts a
 * refresh after a timer of its own (`staleRefreshTimeout`, 0 ms); `after`
 * waits for every refresh to write its entry.
 */
async function cachifiedSwr(mode: Exclude<Mode, "joining">): Promise<Subject> {
  const entries = new Map<string, CacheEntry<number>>();
  let writes = 0;
  const cache = {
    get: (key: string) => entries.get(key),
    set(key: string, entry: CacheEntry<number>) {
      writes++;
      entries.set(key, entry);
    },
    delete: (key: string) => entries.delete(key),
  };
  // Its keys are strings; made once, so that no case pays for String(key).
  const names = Array.from({ length: KEYS }, (_, key) => String(key));
  const call: Load = (key) =>
    cachified({
      key: names[key],
      cache,
      ttl: TTL,
      staleWhileRevalidate: STALE_WINDOW,
      getFreshValue: () => load(key),
    });
  await warm(call);
  if (mode === "fresh") return { call };
  let seen = writes;
  return {
    call,
    before() {
      for (const entry of entries.values()) entry.metadata.createdTime -= STEP;
    },
    async after() {
      await settle("cachified", () => writes - seen >= BATCH);
      expectCount("cachified refreshes written", writes - seen, BATCH);
      seen = writes;
    },
  };
}

// --- the runs ------------------------------------------------------------------

const cases: [name: string, setup: () => Subject | Promise<Subject>][] = [
  ["alruCache fresh hit, no new option (baseline)", alruPlain],
  ["alruCache fresh hit, ttl", alruTtl],
  ["alruCache fresh hit, ttl + staleWhileRevalidate", () => alruSwr("fresh")],
  ["alruCache stale hit, starting a refresh", () => alruSwr("stale")],
  [
    "alruCache stale hit, starting a refresh (its completion untimed)",
    () => alruSwr("started"),
  ],
  ["alruCache stale hit, joining a refresh", () => alruSwr("joining")],
  [
    "lru-cache fetch() fresh hit, allowStale + ttl",
    () => lruCacheFetch("fresh"),
  ],
  [
    "lru-cache fetch() stale hit, starting a refresh",
    () => lruCacheFetch("stale"),
  ],
  [
    "lru-cache fetch() stale hit, joining a refresh",
    () => lruCacheFetch("joining"),
  ],
  ["cachified fresh hit, staleWhileRevalidate", () => cachifiedSwr("fresh")],
  ["cachified stale hit, starting a refresh", () => cachifiedSwr("stale")],
];

for (const [name, setup] of cases) {
  let subject: Subject | undefined;
  let key = 0;
  const keys: number[] = new Array(BATCH);
  Deno.bench(
    name,
    { group: "stale hits", baseline: name.endsWith("(baseline)") },
    async (b) => {
      // Set up in the first iteration, so that a run filtered to one case
      // builds and warms that case's cache alone.
      subject ??= await setup();
      const { call, before, after } = subject;
      before?.();
      const first = key;
      let sum = 0;
      b.start();
      for (let i = 0; i < BATCH; i++) {
        key = key === KEYS - 1 ? 0 : key + 1;
        sum += await call(key);
      }
      b.end();
      let expected = 0;
      for (let i = 0, k = first; i < BATCH; i++) {
        k = k === KEYS - 1 ? 0 : k + 1;
        keys[i] = k;
        expected += k;
      }
      // Every call, stale or fresh, must have given the key's value.
      expectCount(`${name}: sum of the values`, sum, expected);
      await after?.(keys);
    },
  );
}
