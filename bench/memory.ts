/**
 * Bytes per entry: the heap (JS heap plus external memory) after GC with
 * 100,000 settled entries, minus the heap before, divided by the entries;
 * alruCache beside lru-cache's fetch() holding the same entries. Run with
 * `deno task bench:memory`.
 *
 * Keys and values are small integers, which V8 stores inline, so what is
 * measured is each cache's own bookkeeping. An alruCache entry holds its
 * value until its first hit, and from then on also the promise that hits
 * hand out, so it is measured both ways.
 */
import { alruCache, ManualClock } from "../mod.ts";
import { LRUCache } from "lru-cache";

const ENTRIES = 100_000;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  throw new Error("run with --v8-flags=--expose-gc (deno task bench:memory)");
}

// Typed arrays keep their contents outside the JS heap, so both count.
function heapAfterGc(): number {
  for (let i = 0; i < 4; i++) gc!();
  const { heapUsed, external } = Deno.memoryUsage();
  return heapUsed + external;
}

function load(key: number): Promise<number> {
  return Promise.resolve(key);
}

type Fill = () => Promise<unknown>;

const contenders: [name: string, fill: Fill][] = [
  ["alruCache", async () => {
    const cached = alruCache(load, { maxSize: ENTRIES });
    for (let key = 0; key < ENTRIES; key++) await cached(key);
    return cached;
  }],
  // A hit makes the promise that later hits share, and the entry keeps it.
  ["alruCache, every entry hit once", async () => {
    const cached = alruCache(load, { maxSize: ENTRIES });
    for (let key = 0; key < ENTRIES; key++) await cached(key);
    for (let key = 0; key < ENTRIES; key++) await cached(key);
    return cached;
  }],
  // The sketch (at most 16 bytes per unit of maxSize), the segments and the
  // hash kept per slot.
  ["alruCache, policy tinylfu", async () => {
    const cached = alruCache(load, { maxSize: ENTRIES, policy: "tinylfu" });
    for (let key = 0; key < ENTRIES; key++) await cached(key);
    return cached;
  }],
  ["alruCache with ttl and jitter", async () => {
    const cached = alruCache(load, {
      maxSize: ENTRIES,
      ttl: 3_600_000,
      jitter: 60_000,
      clock: new ManualClock(),
    });
    for (let key = 0; key < ENTRIES; key++) await cached(key);
    return cached;
  }],
  ["lru-cache fetch()", async () => {
    const cache = new LRUCache<number, number>({
      max: ENTRIES,
      fetchMethod: (key) => load(key),
    });
    for (let key = 0; key < ENTRIES; key++) await cache.fetch(key);
    return cache;
  }],
  ["lru-cache fetch() with ttl", async () => {
    const cache = new LRUCache<number, number>({
      max: ENTRIES,
      ttl: 3_600_000,
      fetchMethod: (key) => load(key),
    });
    for (let key = 0; key < ENTRIES; key++) await cache.fetch(key);
    return cache;
  }],
];

/** Heap growth per entry for the contender called `name`, in this process. */
async function bytesPerEntry(name: string): Promise<number> {
  const fill = contenders.find(([candidate]) => candidate === name)?.[1];
  if (fill === undefined) throw new Error(`no contender named ${name}`);
  const before = heapAfterGc();
  const held = await fill();
  const after = heapAfterGc();
  if (held === undefined) {
    throw new Error("the cache must stay alive until now");
  }
  return (after - before) / ENTRIES;
}

// Each contender runs in a process of its own, so that no garbage of one
// run, nor its JIT state, is counted against another.
if (import.meta.main) {
  const [name] = Deno.args;
  if (name !== undefined) {
    console.log((await bytesPerEntry(name)).toFixed(1));
  } else {
    console.log(
      `bytes per entry at ${ENTRIES.toLocaleString("en")} settled entries`,
    );
    for (const [contender] of contenders) {
      const { stdout, success } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          "--v8-flags=--expose-gc",
          new URL(import.meta.url).pathname,
          contender,
        ],
        stderr: "inherit",
      }).output();
      if (!success) throw new Error(`${contender} failed`);
      const bytes = new TextDecoder().decode(stdout).trim();
      console.log(`${contender.padEnd(32)} ${bytes}`);
    }
  }
}
