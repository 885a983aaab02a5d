/**
 * `alruBatch` beside `alruCache` and DataLoader, as paired rounds in one
 * process (see `paired.ts` for why): in each round every variant of a case
 * runs, in an order shuffled anew, and each ratio is taken within the round;
 * the report gives each ratio's median over the rounds and its quartiles.
 *
 * - **hit**: awaited calls cycling through 1,000 warm keys, through
 *   `alruBatch` and through `alruCache` over the same values (target: the
 *   batched hit within 1.1 × the cached one).
 * - **batch of 1,000**: 1,000 single-key calls for keys not cached, made in
 *   one synchronous run and awaited together, on a fresh loader each time:
 *   `alruBatch` (no bound, so that nothing is evicted), DataLoader with its
 *   own cache, and the floor, one call of the load function on the 1,000 keys
 *   with nothing around it. A loader's own cost is its time minus the
 *   floor's (target: alruBatch's at most 2 × DataLoader's). Beside them,
 *   `alruCache` missing the same 1,000 keys one by one: what the cache
 *   under a batch costs before any batching.
 * - **many of 1,000**: the same keys through `alruBatch`'s `many` and
 *   DataLoader's `loadMany`.
 *
 * ```sh
 * deno run --config bench/deno.json --allow-all bench/batch_paired.ts --rounds 21
 * ```
 *
 * `--rounds N` (default 21) and `--reps N` (batches, or rounds of 1,000
 * hits, per variant per round; default 20) set the size.
 *
 * @module
 */
import { parseArgs } from "node:util";
import DataLoader from "dataloader";
import { alruBatch, alruCache } from "../mod.ts";
import { printTable, shuffle } from "./rounds.ts";

const KEYS = 1_000;
const keys = Array.from({ length: KEYS }, (_, i) => i);

// The load function every loader batches: the values at once, in order.
function loadMany(ids: readonly number[]): Promise<number[]> {
  return Promise.resolve(ids.map((id) => id * 2));
}

interface Variant {
  name: string;
  // ns for one repetition (1,000 keys), the loader made inside when it must
  // be fresh.
  run(): Promise<void>;
}

interface Case {
  name: string;
  variants: Variant[];
  ratios: [numerator: string, denominator: string][];
  // Ratios of costs over the floor: [numerator, denominator, floor].
  overheads: [numerator: string, denominator: string, floor: string][];
}

async function hitCase(): Promise<Case> {
  const batched = alruBatch(loadMany, { maxSize: KEYS });
  const cached = alruCache((id: number) => Promise.resolve(id * 2), {
    maxSize: KEYS,
  });
  await batched.many(keys);
  await Promise.all(keys.map((key) => cached(key)));
  const cycle = (call: (key: number) => Promise<number>) => async () => {
    for (let key = 0; key < KEYS; key++) await call(key);
  };
  return {
    name: "hit (1,000 awaited calls on warm keys)",
    variants: [
      { name: "alruBatch hit", run: cycle(batched) },
      { name: "alruCache hit", run: cycle(cached) },
    ],
    ratios: [["alruBatch hit", "alruCache hit"]],
    overheads: [],
  };
}

function batchCase(): Case {
  return {
    name: "batch of 1,000 keys not cached (calls in one synchronous run)",
    variants: [
      {
        name: "floor: load(1,000 keys)",
        run: async () => {
          await loadMany(keys);
        },
      },
      {
        name: "DataLoader",
        run: async () => {
          const loader = new DataLoader(loadMany);
          const calls = new Array<Promise<number>>(KEYS);
          for (let i = 0; i < KEYS; i++) calls[i] = loader.load(i);
          await Promise.all(calls);
        },
      },
      {
        name: "alruBatch",
        run: async () => {
          const loader = alruBatch(loadMany, { maxSize: null });
          const calls = new Array<Promise<number>>(KEYS);
          for (let i = 0; i < KEYS; i++) calls[i] = loader(i);
          await Promise.all(calls);
        },
      },
      {
        name: "alruCache, 1,000 misses",
        run: async () => {
          const cached = alruCache((id: number) => Promise.resolve(id * 2), {
            maxSize: null,
          });
          const calls = new Array<Promise<number>>(KEYS);
          for (let i = 0; i < KEYS; i++) calls[i] = cached(i);
          await Promise.all(calls);
        },
      },
      {
        name: "DataLoader loadMany",
        run: async () => {
          await new DataLoader(loadMany).loadMany(keys);
        },
      },
      {
        name: "alruBatch many",
        run: async () => {
          await alruBatch(loadMany, { maxSize: null }).many(keys);
        },
      },
    ],
    ratios: [
      ["alruBatch", "DataLoader"],
      ["alruBatch many", "DataLoader loadMany"],
      ["alruBatch", "alruCache, 1,000 misses"],
      ["alruCache, 1,000 misses", "DataLoader"],
    ],
    overheads: [
      ["alruBatch", "DataLoader", "floor: load(1,000 keys)"],
      ["alruBatch many", "DataLoader loadMany", "floor: load(1,000 keys)"],
    ],
  };
}

// ns per key over `reps` repetitions of 1,000 keys.
async function time(variant: Variant, reps: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < reps; i++) await variant.run();
  return (performance.now() - start) * 1e6 / (reps * KEYS);
}

async function main(): Promise<void> {
  const args = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "21" },
      reps: { type: "string", default: "20" },
    },
  });
  const rounds = Number(args.values.rounds);
  const reps = Number(args.values.reps);
  for (const benchCase of [await hitCase(), batchCase()]) {
    // Warm-up: every variant compiled before the first timed round.
    for (const variant of benchCase.variants) await time(variant, reps);
    const perRound = new Map<string, number[]>();
    const ratios = new Map<string, number[]>();
    for (let round = 0; round < rounds; round++) {
      const measured = new Map<string, number>();
      for (const variant of shuffle(benchCase.variants)) {
        const ns = await time(variant, reps);
        measured.set(variant.name, ns);
        perRound.set(variant.name, [...perRound.get(variant.name) ?? [], ns]);
      }
      for (const [numerator, denominator] of benchCase.ratios) {
        const name = `${numerator} / ${denominator}`;
        const ratio = measured.get(numerator)! / measured.get(denominator)!;
        ratios.set(name, [...ratios.get(name) ?? [], ratio]);
      }
      for (const [numerator, denominator, floor] of benchCase.overheads) {
        const name = `(${numerator} − floor) / (${denominator} − floor)`;
        const base = measured.get(floor)!;
        const ratio = (measured.get(numerator)! - base) /
          (measured.get(denominator)! - base);
        ratios.set(name, [...ratios.get(name) ?? [], ratio]);
      }
    }
    console.log(`\n## ${benchCase.name} (${rounds} rounds × ${reps} reps)\n`);
    printTable("variant | median ns per key", perRound, 1);
    console.log();
    printTable("ratio | median", ratios, 3);
  }
}

await main();
