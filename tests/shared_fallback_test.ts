/**
 * A `staleIfError` fallback and the shared tier (§11.3, §13.5): another
 * process's `cacheInvalidate` or `cacheClear` forgets this process's
 * fallback for the key as a local one does, so that a failing upstream
 * never brings an invalidated value back. Each process is a cache on one
 * memoryStore on a ManualClock.
 */

import assert from "node:assert/strict";
import { alruCache, ManualClock } from "../mod.ts";
import { memoryStore } from "../memory.ts";
import type { CacheStore } from "../store.ts";
import { assertWhole, rejectionOf } from "./_helpers.ts";

const TTL = 1_000;
const STALE_IF_ERROR = 60_000;

/** How the tests call one key: with one argument, two, or an object. */
const SHAPES = [
  { label: "one primitive argument", args: ["k"] },
  { label: "two primitive arguments", args: ["k", 2] },
  { label: "an object argument", args: [{ id: "k" }] },
] as const;

interface Upstream {
  up: boolean;
  runs: number;
}

// One process: a cache whose function fails while the upstream is down.
function processOn(
  clock: ManualClock,
  store: CacheStore,
  upstream: Upstream,
  name: string,
  errorTtl = 0,
) {
  return alruCache(
    // The arguments only key the call: equal ones must meet in the store.
    async (..._args: unknown[]): Promise<string> => {
      await Promise.resolve();
      const run = ++upstream.runs;
      if (!upstream.up) throw new Error(`down (run ${run} in ${name})`);
      return `${name} #${run}`;
    },
    { ttl: TTL, staleIfError: STALE_IF_ERROR, errorTtl, clock, store },
  );
}

type Remote = "none" | "cacheInvalidate" | "cacheClear";

// Process a keeps a fallback for the key; process b does `remote` to it;
// then the upstream fails, and a is called for the key again.
async function afterRemote(
  args: readonly unknown[],
  remote: Remote,
  errorTtl = 0,
): Promise<{ outcome: unknown; upstream: Upstream }> {
  const clock = new ManualClock();
  const store = memoryStore({ clock });
  const upstream: Upstream = { up: true, runs: 0 };
  const a = processOn(clock, store, upstream, "a", errorTtl);
  const b = processOn(clock, store, upstream, "b", errorTtl);
  try {
    assert.equal(await a(...args), "a #1");
    await clock.advanceAsync(TTL); // a's copy expires: its value is a fallback
    assert.equal(a.cacheContains(...args), false);
    upstream.up = false;
    if (errorTtl > 0) {
      // A failed miss: a kept failure answered with the fallback.
      assert.equal(await a(...args), "a #1");
      assert.equal(a.cacheContains(...args), true, "the failure is kept");
    }
    if (remote === "cacheInvalidate") await b.cacheInvalidate(...args);
    if (remote === "cacheClear") await b.cacheClear();
    await clock.advanceAsync(0);
    assert.equal(a.cacheContains(...args), false);
    assertWhole(a);
    let outcome: unknown;
    try {
      outcome = await a(...args);
    } catch (error) {
      outcome = error;
    }
    assertWhole(a);
    return { outcome, upstream };
  } finally {
    await a.cacheClose();
    await b.cacheClose();
  }
}

for (const { label, args } of SHAPES) {
  Deno.test(`${label}: without a remote invalidation, a failing upstream is answered with the fallback`, async () => {
    const { outcome, upstream } = await afterRemote(args, "none");
    assert.equal(outcome, "a #1");
    assert.equal(upstream.runs, 2, "the miss ran, and failed");
  });

  for (const remote of ["cacheInvalidate", "cacheClear"] as const) {
    Deno.test(`${label}: another process's ${remote} forgets the fallback: a failing upstream is not answered with the invalidated value`, async () => {
      const { outcome, upstream } = await afterRemote(args, remote);
      assert.ok(outcome instanceof Error, `got ${Deno.inspect(outcome)}`);
      assert.match(outcome.message, /^down \(run 2 in a\)$/);
      assert.equal(upstream.runs, 2);
    });

    Deno.test(`${label}: another process's ${remote} removes a kept failure and forgets the fallback it answered with`, async () => {
      const { outcome, upstream } = await afterRemote(args, remote, 5_000);
      assert.ok(outcome instanceof Error, `got ${Deno.inspect(outcome)}`);
      assert.match(outcome.message, /^down \(run 3 in a\)$/);
      assert.equal(upstream.runs, 3, "the removed failure ran again");
    });
  }
}

Deno.test("with the key option, another process's cacheInvalidate forgets the fallback too", async () => {
  const clock = new ManualClock();
  const store = memoryStore({ clock });
  let up = true;
  const make = (name: string) =>
    alruCache(async (user: { id: string }) => {
      await Promise.resolve();
      if (!up) throw new Error(`down in ${name}`);
      return `${user.id} from ${name}`;
    }, {
      ttl: TTL,
      staleIfError: STALE_IF_ERROR,
      key: (user) => `user:${user.id}`,
      clock,
      store,
    });
  const a = make("a");
  const b = make("b");
  assert.equal(await a({ id: "ada" }), "ada from a");
  await clock.advanceAsync(TTL);
  up = false;
  assert.equal(await b.cacheInvalidate({ id: "ada" }), false);
  await clock.advanceAsync(0);
  const reason = await rejectionOf(a({ id: "ada" }));
  assert.match(String(reason), /down in a/);
  await a.cacheClose();
  await b.cacheClose();
});

Deno.test("a remote invalidation of another key leaves this key's fallback alone", async () => {
  const clock = new ManualClock();
  const store = memoryStore({ clock });
  const upstream: Upstream = { up: true, runs: 0 };
  const a = processOn(clock, store, upstream, "a");
  const b = processOn(clock, store, upstream, "b");
  assert.equal(await a("k"), "a #1");
  assert.equal(await a("j"), "a #2");
  await clock.advanceAsync(TTL);
  upstream.up = false;
  await b.cacheInvalidate("j");
  await clock.advanceAsync(0);
  assert.equal(await a("k"), "a #1", "k's fallback stays");
  await rejectionOf(a("j"));
  assertWhole(a);
  await a.cacheClose();
  await b.cacheClose();
});
