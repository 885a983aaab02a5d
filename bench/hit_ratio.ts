/**
 * Hit ratios of `policy: "lru"` and `policy: "tinylfu"` on seeded synthetic
 * traces, beside Bélády's OPT computed offline (SPEC §14 rule 13). Each trace
 * is replayed call by call through `alruCache`, each call awaited, the
 * function resolving at once; the hit ratio is `hits / (hits + misses)` from
 * `cacheInfo()`. The `"tinylfu"` figure is the median of three caches given
 * different seeded `random` sources.
 *
 * - **zipf 0.9**: Zipf α = 0.9 over 100,000 keys, a cache of 1% (1,000).
 * - **zipf 0.99**: Zipf α = 0.99 over 100,000 keys, a cache of 0.1% (100).
 * - **loop**: keys 0 … 1.5 × the cache in order, again and again.
 * - **recency**: a sliding working set favouring its newest keys (LRU's
 *   ground): the newest key moves on every 4 requests, and each request
 *   takes a key `⌊5,000 × u³⌋` behind it, `u` uniform.
 * - **scan**: zipf 0.9, with a scan of 2 × the cache never-seen keys every
 *   10,000 requests.
 *
 * `--lirs <dir>` also replays every `*.trace` file in `dir`, one key id per
 * line (the LIRS traces Caffeine's simulator ships, gunzipped), at caches of
 * 10% and 25% of each trace's distinct keys; lines that are not a key id (the
 * `*` checkpoints) are skipped. The traces are not in this repository.
 *
 * `--requests N` (default 1,000,000, the size) and `--keys N`
 * (default 100,000) set the size. The full run replays 25 million calls
 * and takes seconds, not minutes, so the default is the full size. The
 * climber needs its samples (10 × `maxSize` requests each): shorter traces
 * leave `"tinylfu"` behind on the recency trace while its window grows.
 *
 * ```sh
 * deno run --config bench/deno.json bench/hit_ratio.ts [--requests N]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { alruCache } from "../mod.ts";

/** A seeded generator of uniform numbers in [0, 1) (mulberry32). */
export function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * Ranks 0 … keys − 1 drawn with probability ∝ 1 / (rank + 1)^alpha, by
 * binary search of the cumulative weights.
 */
export function zipf(
  keys: number,
  alpha: number,
  random: () => number,
): () => number {
  const cumulative = new Float64Array(keys);
  let total = 0;
  for (let rank = 0; rank < keys; rank++) {
    total += 1 / (rank + 1) ** alpha;
    cumulative[rank] = total;
  }
  return () => {
    const target = random() * total;
    let low = 0;
    let high = keys - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (cumulative[middle] < target) low = middle + 1;
      else high = middle;
    }
    return low;
  };
}

interface Trace {
  name: string;
  maxSize: number;
  keys: Int32Array;
  /** What tinylfu must reach, in words, and whether it does. */
  target: (ratios: { lru: number; tinylfu: number; opt: number }) => [
    string,
    boolean,
  ];
}

function traces(requests: number, keyCount: number, seed: number): Trace[] {
  const zipfTrace = (alpha: number, scanEvery: number, scanLength: number) => {
    const random = generator(seed);
    const next = zipf(keyCount, alpha, random);
    const keys = new Int32Array(requests);
    let fresh = keyCount;
    for (let i = 0; i < requests;) {
      if (scanEvery > 0 && i > 0 && i % scanEvery === 0) {
        for (let j = 0; j < scanLength && i < requests; j++) {
          keys[i++] = fresh++;
        }
        if (i >= requests) break;
      }
      keys[i++] = next();
    }
    return keys;
  };
  const big = Math.round(keyCount / 100);
  const small = Math.round(keyCount / 1_000);
  const loop = new Int32Array(requests);
  for (let i = 0; i < requests; i++) loop[i] = i % Math.round(big * 1.5);
  const recency = new Int32Array(requests);
  const random = generator(seed ^ 0x5eed);
  for (let i = 0; i < requests; i++) {
    const newest = Math.floor(i / 4) + 5_000;
    recency[i] = newest - Math.floor(5_000 * random() ** 3);
  }
  return [
    {
      name: "zipf 0.9",
      maxSize: big,
      keys: zipfTrace(0.9, 0, 0),
      target: ({ lru, tinylfu }) => [
        "≥ lru + 9 pp",
        tinylfu >= lru + 0.09,
      ],
    },
    {
      name: "zipf 0.99",
      maxSize: small,
      keys: zipfTrace(0.99, 0, 0),
      target: ({ lru, tinylfu }) => [
        "≥ lru + 8 pp",
        tinylfu >= lru + 0.08,
      ],
    },
    {
      name: "loop 1.5×",
      maxSize: big,
      keys: loop,
      target: ({ tinylfu, opt }) => ["≥ 50% of OPT", tinylfu >= opt / 2],
    },
    {
      name: "recency",
      maxSize: big,
      keys: recency,
      target: ({ lru, tinylfu }) => ["≥ lru − 3 pp", tinylfu >= lru - 0.03],
    },
    {
      name: "zipf 0.9 + scans",
      maxSize: big,
      keys: zipfTrace(0.9, 10_000, 2 * big),
      target: ({ lru, tinylfu }) => [
        "≥ lru + 7.5 pp",
        tinylfu >= lru + 0.075,
      ],
    },
  ];
}

async function replay(
  keys: Int32Array,
  maxSize: number,
  policy: "lru" | "tinylfu",
  random: () => number,
): Promise<number> {
  const cached = alruCache((key: number) => Promise.resolve(key), {
    maxSize,
    policy,
    random,
  });
  for (let i = 0; i < keys.length; i++) await cached(keys[i]);
  const { hits, misses } = cached.cacheInfo();
  return hits / (hits + misses);
}

// Bélády's MIN: on a miss in a full cache, the key used furthest in the
// future goes, the requested one included (so OPT may decline to keep it).
function optimal(keys: Int32Array, maxSize: number): number {
  const n = keys.length;
  const nextUse = new Float64Array(n);
  const seen = new Map<number, number>();
  for (let i = n - 1; i >= 0; i--) {
    nextUse[i] = seen.get(keys[i]) ?? Infinity;
    seen.set(keys[i], i);
  }
  // Held keys with their next use; a max-heap of [next use, key], whose
  // entries that no longer match are skipped.
  const held = new Map<number, number>();
  const heapUse: number[] = [];
  const heapKey: number[] = [];
  const push = (use: number, key: number) => {
    let at = heapUse.length;
    heapUse.push(use);
    heapKey.push(key);
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (heapUse[parent] >= use) break;
      heapUse[at] = heapUse[parent];
      heapKey[at] = heapKey[parent];
      at = parent;
    }
    heapUse[at] = use;
    heapKey[at] = key;
  };
  const pop = () => {
    const lastUse = heapUse.pop()!;
    const lastKey = heapKey.pop()!;
    if (heapUse.length === 0) return;
    let at = 0;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= heapUse.length) break;
      if (child + 1 < heapUse.length && heapUse[child + 1] > heapUse[child]) {
        child++;
      }
      if (heapUse[child] <= lastUse) break;
      heapUse[at] = heapUse[child];
      heapKey[at] = heapKey[child];
      at = child;
    }
    heapUse[at] = lastUse;
    heapKey[at] = lastKey;
  };
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const key = keys[i];
    const use = nextUse[i];
    if (held.has(key)) {
      hits++;
    } else if (held.size >= maxSize) {
      while (held.get(heapKey[0]) !== heapUse[0]) pop();
      if (heapUse[0] <= use) continue;
      held.delete(heapKey[0]);
      pop();
    }
    held.set(key, use);
    push(use, key);
  }
  return hits / n;
}

function percent(ratio: number): string {
  return (100 * ratio).toFixed(1);
}

// lru, the median of three tinylfu caches (all three), and OPT.
async function measure(
  keys: Int32Array,
  maxSize: number,
): Promise<{ lru: number; tinylfu: number; runs: number[]; opt: number }> {
  const lru = await replay(keys, maxSize, "lru", Math.random);
  const runs: number[] = [];
  for (const seed of [1, 2, 3]) {
    runs.push(await replay(keys, maxSize, "tinylfu", generator(seed)));
  }
  runs.sort((a, b) => a - b);
  return { lru, tinylfu: runs[1], runs, opt: optimal(keys, maxSize) };
}

// The key ids of a LIRS trace file, in order.
async function readLirsTrace(path: string): Promise<Int32Array> {
  const text = await Deno.readTextFile(path);
  const keys: number[] = [];
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (/^\d+$/.test(trimmed)) keys.push(Number(trimmed));
  }
  return Int32Array.from(keys);
}

async function lirsTable(dir: string): Promise<void> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".trace")) files.push(entry.name);
  }
  if (files.length === 0) throw new Error(`no *.trace files in ${dir}`);
  files.sort();
  console.log(
    "\n| LIRS trace | requests | keys | maxSize | lru | tinylfu (median of 3) | OPT | tinylfu − lru |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const file of files) {
    const keys = await readLirsTrace(`${dir}/${file}`);
    const distinct = new Set(keys).size;
    for (const share of [0.1, 0.25]) {
      const maxSize = Math.ceil(distinct * share);
      const { lru, tinylfu, runs, opt } = await measure(keys, maxSize);
      console.log(
        `| ${
          file.replace(/\.trace$/, "")
        } | ${keys.length} | ${distinct} | ${maxSize} | ${percent(lru)} | ${
          percent(tinylfu)
        } (${runs.map(percent).join(", ")}) | ${percent(opt)} | ${
          (100 * (tinylfu - lru)).toFixed(1)
        } pp |`,
      );
    }
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      requests: { type: "string" },
      keys: { type: "string", default: "100000" },
      lirs: { type: "string" },
    },
  });
  const requests = Number(values.requests ?? 1_000_000);
  const keyCount = Number(values.keys);
  const started = performance.now();
  console.log(
    `${requests.toLocaleString("en")} requests per trace, ${
      keyCount.toLocaleString("en")
    } keys; hit ratios in %\n`,
  );
  console.log(
    "| trace | maxSize | lru | tinylfu (median of 3) | OPT | tinylfu − lru | target | met |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---|---|");
  for (const trace of traces(requests, keyCount, 42)) {
    const { lru, tinylfu, runs, opt } = await measure(
      trace.keys,
      trace.maxSize,
    );
    const [target, met] = trace.target({ lru, tinylfu, opt });
    console.log(
      `| ${trace.name} | ${trace.maxSize} | ${percent(lru)} | ${
        percent(tinylfu)
      } (${runs.map(percent).join(", ")}) | ${percent(opt)} | ${
        (100 * (tinylfu - lru)).toFixed(1)
      } pp | ${target} | ${met ? "yes" : "**no**"} |`,
    );
  }
  if (values.lirs !== undefined) await lirsTable(values.lirs);
  console.log(
    `\n${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
}
