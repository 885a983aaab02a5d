/**
 * What cancellation costs: the same call plain, with a caller's signal that
 * never aborts, and with a function that takes the shared work's signal. Hits
 * cycle over 1,000 settled entries; misses cycle 2,000 keys through a cache
 * of 1,000, so each one also evicts. Run with `deno task bench`.
 */
import { alruCache } from "../mod.ts";

const KEYS = 1_000;
const neverAborted = new AbortController().signal;

function load(key: number): Promise<number> {
  return Promise.resolve(key);
}

function loadWithSignal(key: number, _signal: AbortSignal): Promise<number> {
  return Promise.resolve(key);
}

const plain = alruCache(load, { maxSize: KEYS });
const sharedSignal = alruCache(loadWithSignal, { maxSize: KEYS, signal: true });
for (let key = 0; key < KEYS; key++) {
  await plain(key);
  await sharedSignal(key);
}
let hitKey = 0;

Deno.bench("hit: plain call", { group: "signal hit", baseline: true }, () => {
  hitKey = (hitKey + 1) % KEYS;
  plain(hitKey);
});

Deno.bench("hit: caller's signal", { group: "signal hit" }, () => {
  hitKey = (hitKey + 1) % KEYS;
  plain.withSignal(neverAborted, hitKey);
});

Deno.bench("hit: function takes the shared signal", {
  group: "signal hit",
}, () => {
  hitKey = (hitKey + 1) % KEYS;
  sharedSignal(hitKey);
});

const plainChurn = alruCache(load, { maxSize: KEYS });
const sharedChurn = alruCache(loadWithSignal, { maxSize: KEYS, signal: true });
let missKey = 0;

Deno.bench("miss+evict: plain call", {
  group: "signal miss",
  baseline: true,
}, async () => {
  missKey = (missKey + 1) % (2 * KEYS);
  await plainChurn(missKey);
});

Deno.bench("miss+evict: caller's signal", {
  group: "signal miss",
}, async () => {
  missKey = (missKey + 1) % (2 * KEYS);
  await plainChurn.withSignal(neverAborted, missKey);
});

Deno.bench("miss+evict: function takes the shared signal", {
  group: "signal miss",
}, async () => {
  missKey = (missKey + 1) % (2 * KEYS);
  await sharedChurn(missKey);
});
