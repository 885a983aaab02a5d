/**
 * The hot paths measured as paired rounds in one process: in each round every
 * variant of a case makes the same awaited calls, in an order shuffled anew
 * for the round, and each ratio is taken within the round; the report gives
 * the median of each ratio over the rounds and its spread. On a machine whose
 * speed drifts by a third within minutes, a ratio of two cases measured
 * milliseconds apart holds where two runs of `deno bench` do not.
 *
 * - **hit**: 1,000 warm keys in a cache of 1,000, beside a bare `Map` of
 *   promises (no bound, no counters: the limit), and the same hit on a cache
 *   with a store (a local hit never touches it).
 * - **churn**: 2,000 keys cycled through a cache of 1,000, so that every call
 *   is a miss that evicts, beside the abandonable floor: a minimal LRU of
 *   promises (mnemonist's) that hands out a promise of its own, settled by
 *   one reaction on the work, which also drops a rejected entry.
 * - **hit tinylfu**, **churn over 100 × the cache**: the same hit, and a miss
 *   that evicts, under `policy: "tinylfu"` beside `"lru"` (SPEC §14 rule 13's
 *   speed targets).
 *
 * - **weighed**: the same hit and churn on a cache with `maxWeight` and a
 *   `weigher` (this tree only): for the hit, a bound it never reaches; for the
 *   churn, half the capacity's weight, so that each settlement sheds weight.
 *
 * - **subscribed**: the same hit and churn while a subscriber that does
 *   nothing listens on both of the package's channels (this tree only),
 *   subscribed just for that variant's timing.
 *
 * `--before <path to another tree's mod.ts>` adds that tree's `alruCache` to
 * every round, for a before/after comparison of the same cases in the same
 * process:
 *
 * ```sh
 * git worktree add /tmp/before <commit>
 * deno task bench:paired --before /tmp/before/mod.ts
 * ```
 *
 * `--rounds N` (default 21) and `--calls N` (awaited calls per variant per
 * round, default 20,000) set the size.
 *
 * @module
 */
import dc from "node:diagnostics_channel";
import { parseArgs } from "node:util";
import * as after from "../mod.ts";
import { bareMap, floor, type Load, load } from "./floors.ts";

type AlruCache = typeof after.alruCache;

const CAPACITY = 1_000;

// A store that grants every lease and keeps nothing: enough to warm a cache
// with a store, whose local hits never reach it. It takes both the store
// contract of this tree and that of trees before the shared tier moved onto
// the cache's clock.
function idleStore(): after.CacheStore {
  const none = Promise.resolve();
  return {
    notifies: true,
    readOrLease: () =>
      Promise.resolve({ status: "leased", lease: { token: "t" } }),
    wait: () => none,
    write: () => none,
    renew: () => Promise.resolve(true),
    release: () => none,
    delete: () => Promise.resolve(false),
    clear: () => none,
    subscribe: () => Promise.resolve({ close: () => none }),
  } as after.CacheStore;
}

interface Variant {
  name: string;
  make(): Load | Promise<Load>;
  /** Set up just before each of the variant's timings, and undone after. */
  around?: { start(): void; stop(): void };
}

// Subscribers that do nothing on both of the package's channels, for the
// length of one variant's timing: the other variants run unheard.
function subscribed(): { start(): void; stop(): void } {
  const ignore = () => {};
  const handlers = {
    start: ignore,
    end: ignore,
    asyncStart: ignore,
    asyncEnd: ignore,
    error: ignore,
  };
  const tracing = dc.tracingChannel("async-lru");
  return {
    start() {
      dc.subscribe("async-lru:events", ignore);
      tracing.subscribe(handlers);
    },
    stop() {
      dc.unsubscribe("async-lru:events", ignore);
      tracing.unsubscribe(handlers);
    },
  };
}

interface Case {
  name: string;
  keys: number;
  warm: boolean;
  variants: Variant[];
  ratios: [numerator: string, denominator: string][];
}

function alruVariants(
  label: string,
  alruCache: AlruCache,
): { hit: Variant[]; churn: Variant[] } {
  return {
    hit: [
      {
        name: `hit ${label}`,
        make: () => alruCache(load, { maxSize: CAPACITY }),
      },
      {
        name: `hit with a store ${label}`,
        make: () =>
          alruCache(load, {
            maxSize: CAPACITY,
            ttl: 3_600_000,
            store: idleStore(),
          }),
      },
    ],
    churn: [{
      name: `churn ${label}`,
      make: () => alruCache(load, { maxSize: CAPACITY }),
    }],
  };
}

async function cases(before: AlruCache | undefined): Promise<Case[]> {
  const now = alruVariants("after", after.alruCache);
  const then = before === undefined
    ? undefined
    : alruVariants("before", before);
  const hit: Case = {
    name: "hit",
    keys: CAPACITY,
    warm: true,
    variants: [
      { name: "bare Map", make: bareMap },
      ...now.hit,
      {
        name: "hit tinylfu after",
        make: () =>
          after.alruCache(load, { maxSize: CAPACITY, policy: "tinylfu" }),
      },
      ...(then?.hit ?? []),
      {
        name: "hit weighed after",
        make: () =>
          after.alruCache(load, {
            maxSize: CAPACITY,
            maxWeight: Infinity,
            weigher: () => 1,
          }),
      },
      {
        name: "hit subscribed after",
        make: () => after.alruCache(load, { maxSize: CAPACITY }),
        around: subscribed(),
      },
    ],
    ratios: [
      ["hit after", "bare Map"],
      ["hit subscribed after", "hit after"],
      ["hit with a store after", "hit after"],
      ["hit weighed after", "hit after"],
      ["hit tinylfu after", "hit after"],
    ],
  };
  // Misses that evict under both policies: a cycle through 100 × the cache,
  // since on a cycle of twice the cache W-TinyLFU keeps half the keys and
  // hits them. Here it still hits the 1% its main region holds.
  const churnWide: Case = {
    name: "churn over 100 × the cache",
    keys: 100 * CAPACITY,
    warm: false,
    variants: [
      {
        name: "churn lru",
        make: () => after.alruCache(load, { maxSize: CAPACITY }),
      },
      {
        name: "churn tinylfu",
        make: () =>
          after.alruCache(load, { maxSize: CAPACITY, policy: "tinylfu" }),
      },
    ],
    ratios: [["churn tinylfu", "churn lru"]],
  };
  const churn: Case = {
    name: "churn",
    keys: 2 * CAPACITY,
    warm: false,
    variants: [
      { name: "abandonable floor", make: () => floor(CAPACITY) },
      ...now.churn,
      ...(then?.churn ?? []),
      {
        name: "churn weighed after",
        make: () =>
          after.alruCache(load, {
            maxSize: CAPACITY,
            maxWeight: CAPACITY / 2,
            weigher: () => 1,
          }),
      },
      {
        name: "churn subscribed after",
        make: () => after.alruCache(load, { maxSize: CAPACITY }),
        around: subscribed(),
      },
    ],
    ratios: [
      ["churn after", "abandonable floor"],
      ["churn subscribed after", "churn after"],
      ["churn weighed after", "churn after"],
    ],
  };
  if (then !== undefined) {
    hit.ratios.push(
      ["hit before", "bare Map"],
      ["hit with a store before", "hit before"],
      ["hit after", "hit before"],
      ["hit with a store after", "hit with a store before"],
    );
    churn.ratios.push(
      ["churn before", "abandonable floor"],
      ["churn after", "churn before"],
    );
  }
  return await Promise.resolve([hit, churn, churnWide]);
}

function shuffle<T>(items: T[]): T[] {
  const shuffled = items.slice();
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  return shuffled;
}

// ns per awaited call over `calls` calls cycling through `keys` keys.
async function time(call: Load, keys: number, calls: number): Promise<number> {
  let key = 0;
  const start = performance.now();
  for (let i = 0; i < calls; i++) {
    key = key === keys - 1 ? 0 : key + 1;
    await call(key);
  }
  return (performance.now() - start) * 1e6 / calls;
}

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

function quartiles(values: number[]): [number, number] {
  const sorted = values.slice().sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.round(q * (sorted.length - 1))];
  return [at(0.25), at(0.75)];
}

// A Markdown table of each row's median and quartiles.
function printTable(
  heading: string,
  rows: Map<string, number[]>,
  digits: number,
): void {
  console.log(`| ${heading} | quartiles |`);
  console.log("| --- | ---: | --- |");
  for (const [name, values] of rows) {
    const [low, high] = quartiles(values);
    console.log(
      `| ${name} | ${median(values).toFixed(digits)} | ${low.toFixed(digits)}–${
        high.toFixed(digits)
      } |`,
    );
  }
}

async function main(): Promise<void> {
  const args = parseArgs({
    args: Deno.args,
    options: {
      before: { type: "string" },
      rounds: { type: "string", default: "21" },
      calls: { type: "string", default: "20000" },
    },
  });
  const rounds = Number(args.values.rounds);
  const calls = Number(args.values.calls);
  const before = args.values.before === undefined
    ? undefined
    : (await import(new URL(args.values.before, `file://${Deno.cwd()}/`).href))
      .alruCache as AlruCache;

  for (const benchCase of await cases(before)) {
    const loads = new Map<string, Load>();
    for (const variant of benchCase.variants) {
      const call = await variant.make();
      // Warm every variant the same way: the keys once (a hit case keeps
      // them), then a few rounds' worth of calls so that V8 has compiled the
      // path before the first timed round.
      variant.around?.start();
      await time(call, benchCase.keys, benchCase.keys);
      await time(call, benchCase.keys, calls);
      variant.around?.stop();
      loads.set(variant.name, call);
    }
    const perRound = new Map<string, number[]>();
    const ratios = new Map<string, number[]>();
    for (let round = 0; round < rounds; round++) {
      const measured = new Map<string, number>();
      for (const variant of shuffle(benchCase.variants)) {
        variant.around?.start();
        const ns = await time(loads.get(variant.name)!, benchCase.keys, calls);
        variant.around?.stop();
        measured.set(variant.name, ns);
        perRound.set(variant.name, [...perRound.get(variant.name) ?? [], ns]);
      }
      for (const [numerator, denominator] of benchCase.ratios) {
        const name = `${numerator} / ${denominator}`;
        const ratio = measured.get(numerator)! / measured.get(denominator)!;
        ratios.set(name, [...ratios.get(name) ?? [], ratio]);
      }
    }
    console.log(`\n## ${benchCase.name} (${rounds} rounds × ${calls} calls)\n`);
    printTable("variant | median ns per call", perRound, 1);
    console.log();
    printTable("ratio | median", ratios, 3);
  }
}

await main();
