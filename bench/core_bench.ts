/**
 * The core hot paths: a hit, a miss that evicts, and a burst of concurrent
 * calls for one key, each beside the cheapest thing that does the same job (a
 * bare Map of promises, no bound, no counters). Run with `deno task bench`.
 */
import { alruCache } from "../mod.ts";

const WARM_KEYS = 1_000;

async function load(key: number): Promise<number> {
  return await Promise.resolve(key);
}

// --- hit: 1,000 warm keys in a cache of 1,000 --------------------------------

const cachedHit = alruCache(load, { maxSize: WARM_KEYS });
const bareHit = new Map<number, Promise<number>>();
for (let key = 0; key < WARM_KEYS; key++) {
  await cachedHit(key);
  bareHit.set(key, load(key));
}
let hitKey = 0;

Deno.bench(
  "hit: bare Map of promises",
  { group: "hit", baseline: true },
  () => {
    hitKey = (hitKey + 1) % WARM_KEYS;
    bareHit.get(hitKey);
  },
);

Deno.bench("hit: alruCache", { group: "hit" }, () => {
  hitKey = (hitKey + 1) % WARM_KEYS;
  cachedHit(hitKey);
});

const cachedHitTtl = alruCache(load, { maxSize: WARM_KEYS, ttl: 3_600_000 });
for (let key = 0; key < WARM_KEYS; key++) await cachedHitTtl(key);

Deno.bench("hit: alruCache with ttl", { group: "hit" }, () => {
  hitKey = (hitKey + 1) % WARM_KEYS;
  cachedHitTtl(hitKey);
});

// --- miss + evict: 2,000 keys cycled through a cache of 1,000 ----------------

const cachedChurn = alruCache(load, { maxSize: WARM_KEYS });
let churnKey = 0;

Deno.bench("miss+evict: uncached call", {
  group: "miss+evict",
  baseline: true,
}, async () => {
  churnKey = (churnKey + 1) % (2 * WARM_KEYS);
  await load(churnKey);
});

Deno.bench("miss+evict: alruCache", { group: "miss+evict" }, async () => {
  churnKey = (churnKey + 1) % (2 * WARM_KEYS);
  await cachedChurn(churnKey);
});

// --- burst: 100 concurrent calls for one new key ------------------------------

const BURST = 100;
const cachedBurst = alruCache(load, { maxSize: WARM_KEYS });
const bareBurst = new Map<number, Promise<number>>();
let burstKey = 0;

Deno.bench("burst of 100: bare Map of promises", {
  group: "burst",
  baseline: true,
}, async () => {
  const key = burstKey++;
  const calls: Promise<number>[] = [];
  for (let i = 0; i < BURST; i++) {
    let promise = bareBurst.get(key);
    if (promise === undefined) bareBurst.set(key, promise = load(key));
    calls.push(promise);
  }
  await Promise.all(calls);
  bareBurst.delete(key);
});

Deno.bench("burst of 100: alruCache", { group: "burst" }, async () => {
  const key = burstKey++;
  const calls: Promise<number>[] = [];
  for (let i = 0; i < BURST; i++) calls.push(cachedBurst(key));
  await Promise.all(calls);
});
