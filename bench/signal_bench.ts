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

// Many callers of one piece of work, all waiting through the same signal (a
// request's signal handed to every lookup it makes): one listener between
// them, so the cost per caller stays flat as their number grows.
for (const callers of [1_000, 20_000]) {
  Deno.bench(`${callers} callers sharing one signal, then it aborts`, {
    group: "one signal, many callers",
    n: 20,
  }, async () => {
    let finish = (_value: number) => {};
    const shared = alruCache(
      (_key: number) => new Promise<number>((resolve) => finish = resolve),
    );
    const controller = new AbortController();
    const calls: Promise<number>[] = [];
    for (let i = 0; i < callers; i++) {
      calls.push(shared.withSignal(controller.signal, 1));
    }
    const settled = Promise.allSettled(calls);
    controller.abort();
    await settled;
    finish(1);
  });
}
