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
 * round, default 20,000) set the size; `--case <text>` runs only the cases
 * whose name contains it.
 *
 * @module
 */
import dc from "node:diagnostics_channel";
import { parseArgs } from "node:util";
import * as after from "../mod.ts";
import { bareMap, floor, type Load, load } from "./floors.ts";
import { generator, zipf } from "./hit_ratio.ts";
import { printTable, shuffle } from "./rounds.ts";

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
  /** The keys in the order the timed calls make them; else a cycle. */
  order?: Int32Array;
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
  // The same warm hits, keys drawn by popularity (Zipf α = 0.9) rather than
  // cycled: the cycle is segmented LRU's worst case, where every hit
  // promotes its entry from probation and demotes another.
  const hitSkewed: Case = {
    name: "hit, zipf 0.9 keys",
    keys: CAPACITY,
    order: zipfOrder(CAPACITY, 0.9, 65_536),
    warm: true,
    variants: [
      {
        name: "skewed hit lru",
        make: () => after.alruCache(load, { maxSize: CAPACITY }),
      },
      {
        name: "skewed hit tinylfu",
        make: () =>
          after.alruCache(load, { maxSize: CAPACITY, policy: "tinylfu" }),
      },
    ],
    ratios: [["skewed hit tinylfu", "skewed hit lru"]],
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
  return await Promise.resolve([hit, hitSkewed, churn, churnWide]);
}

// ns per awaited call over `calls` calls cycling through `keys` keys, or
// through `order` when given.
async function time(
  call: Load,
  keys: number,
  calls: number,
  order?: Int32Array,
): Promise<number> {
  let key = 0;
  const start = performance.now();
  if (order !== undefined) {
    for (let i = 0; i < calls; i++) await call(order[i % order.length]);
  } else {
    for (let i = 0; i < calls; i++) {
      key = key === keys - 1 ? 0 : key + 1;
      await call(key);
    }
  }
  return (performance.now() - start) * 1e6 / calls;
}

// `length` keys below `keys` drawn with probability ∝ 1 / (rank + 1)^alpha,
// from a seeded generator, so that every run makes the same.
function zipfOrder(keys: number, alpha: number, length: number): Int32Array {
  const next = zipf(keys, alpha, generator(0x2545f491));
  return Int32Array.from({ length }, next);
}

async function main(): Promise<void> {
  const args = parseArgs({
    args: Deno.args,
    options: {
      before: { type: "string" },
      rounds: { type: "string", default: "21" },
      calls: { type: "string", default: "20000" },
      case: { type: "string", default: "" },
    },
  });
  const rounds = Number(args.values.rounds);
  const calls = Number(args.values.calls);
  const before = args.values.before === undefined
    ? undefined
    : (await import(new URL(args.values.before, `file://${Deno.cwd()}/`).href))
      .alruCache as AlruCache;

  const only = args.values.case;
  for (const benchCase of await cases(before)) {
    if (!benchCase.name.includes(only)) continue;
    const loads = new Map<string, Load>();
    for (const variant of benchCase.variants) {
      const call = await variant.make();
      // Warm every variant the same way: the keys once (a hit case keeps
      // them), then a few rounds' worth of calls so that V8 has compiled the
      // path before the first timed round.
      variant.around?.start();
      await time(call, benchCase.keys, benchCase.keys);
      await time(call, benchCase.keys, calls, benchCase.order);
      variant.around?.stop();
      loads.set(variant.name, call);
    }
    const perRound = new Map<string, number[]>();
    const ratios = new Map<string, number[]>();
    for (let round = 0; round < rounds; round++) {
      const measured = new Map<string, number>();
      for (const variant of shuffle(benchCase.variants)) {
        variant.around?.start();
        const ns = await time(
          loads.get(variant.name)!,
          benchCase.keys,
          calls,
          benchCase.order,
        );
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
