/**
 * §15's "§1–§13 hold per key", as a property: an `alruBatch` whose `load`
 * maps each key with `f` and an `alruCache` of `f`, given the same random
 * sequence of calls, refreshes, invalidations, clears and time on a
 * ManualClock, with the same options, count the same hits, misses, stale
 * hits, refreshes, evictions, expirations and invalidations, hold the same
 * keys, and give every call its key's value. Each step's calls settle
 * before the next turn step compares them. Which run of a key a call gets
 * may differ, as §15.2 means it to: where `alruCache` runs `f` again for a
 * key with no entry (`maxSize` 0, or after an invalidation), a batch not yet
 * sent shares the key's place.
 *
 * BATCH_EQUIVALENCE_RUNS (default 200) sets the number of sequences.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { alruBatch, alruCache, ManualClock } from "../mod.ts";
import { flush } from "./_helpers.ts";
import { turnEnd } from "./_batch.ts";

const KEYS = [0, 1, 2, 3, 4, 5, 6, 7];

type Step =
  | { t: "call"; key: number }
  | { t: "many"; keys: number[] }
  | { t: "refresh"; key: number }
  | { t: "invalidate"; key: number }
  | { t: "clear" }
  | { t: "advance"; ms: number }
  | { t: "turn" };

const key = fc.constantFrom(...KEYS);
const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: key.map((k) => ({ t: "call" as const, key: k })), weight: 5 },
  {
    arbitrary: fc.array(key, { maxLength: 4 }).map((keys) => ({
      t: "many" as const,
      keys,
    })),
    weight: 2,
  },
  { arbitrary: key.map((k) => ({ t: "refresh" as const, key: k })), weight: 1 },
  {
    arbitrary: key.map((k) => ({ t: "invalidate" as const, key: k })),
    weight: 1,
  },
  { arbitrary: fc.constant({ t: "clear" as const }), weight: 1 },
  {
    arbitrary: fc.constantFrom(1, 10, 50, 100).map((ms) => ({
      t: "advance" as const,
      ms,
    })),
    weight: 2,
  },
  { arbitrary: fc.constant({ t: "turn" as const }), weight: 4 },
);

const settings = fc.record({
  maxSize: fc.constantFrom(0, 2, 4, Infinity),
  ttl: fc.constantFrom(undefined, 0, 50),
  stale: fc.boolean(),
  policy: fc.constantFrom<"lru" | "tinylfu">("lru", "tinylfu"),
});

Deno.test("an alruBatch and an alruCache of the same function count, keep and answer alike, key by key", async () => {
  const runs = Number(Deno.env.get("BATCH_EQUIVALENCE_RUNS") ?? 200);
  await fc.assert(
    fc.asyncProperty(
      settings,
      fc.array(step, { minLength: 5, maxLength: 40, size: "max" }),
      async (options, steps) => {
        // Each key's value changes with every run, so that a refresh shows.
        const versions = {
          batch: new Map<number, number>(),
          cache: new Map<number, number>(),
        };
        const next = (which: Map<number, number>, k: number) => {
          const version = (which.get(k) ?? 0) + 1;
          which.set(k, version);
          return `${k}#${version}`;
        };
        const clocks = { batch: new ManualClock(), cache: new ManualClock() };
        const common = {
          maxSize: options.maxSize,
          ttl: options.ttl,
          staleWhileRevalidate: options.stale && options.ttl === 50
            ? 20
            : undefined,
          policy: options.policy,
          random: () => 0.5,
        };
        const batched = alruBatch(
          (keys: number[]) => keys.map((k) => next(versions.batch, k)),
          { ...common, clock: clocks.batch },
        );
        const cached = alruCache(
          (k: number) => Promise.resolve(next(versions.cache, k)),
          { ...common, clock: clocks.cache },
        );
        const answers: [Promise<unknown>, Promise<unknown>][] = [];
        // A value without its run's version: the key it is the value of.
        const keyOf = (value: unknown): unknown =>
          Array.isArray(value)
            ? value.map(keyOf)
            : Number(String(value).split("#")[0]);
        const settle = (promise: Promise<unknown>) =>
          promise.then(
            (value) => ({ value: keyOf(value) }),
            (reason) => ({ reason }),
          );
        const compare = async () => {
          await turnEnd();
          await flush();
          const settled = await Promise.all(
            answers.map(([a, b]) => Promise.all([settle(a), settle(b)])),
          );
          for (const [a, b] of settled) assert.deepEqual(a, b);
          answers.length = 0;
          assert.deepEqual(batched.cacheInfo(), cached.cacheInfo());
          assert.deepEqual(batched.cacheStats(), cached.cacheStats());
          for (const k of KEYS) {
            assert.equal(batched.cacheContains(k), cached.cacheContains(k));
          }
        };
        for (const s of steps) {
          switch (s.t) {
            case "call":
              answers.push([batched(s.key), cached(s.key)]);
              break;
            case "many":
              answers.push([
                batched.many(s.keys),
                Promise.all(s.keys.map((k) => cached(k))),
              ]);
              break;
            case "refresh":
              answers.push([
                batched.cacheRefresh(s.key),
                cached.cacheRefresh(s.key),
              ]);
              break;
            case "invalidate":
              assert.equal(
                batched.cacheInvalidate(s.key),
                cached.cacheInvalidate(s.key),
              );
              break;
            case "clear":
              batched.cacheClear();
              cached.cacheClear();
              break;
            case "advance":
              clocks.batch.advance(s.ms);
              clocks.cache.advance(s.ms);
              break;
            case "turn":
              await compare();
              break;
          }
        }
        await compare();
        await batched.cacheClose();
        await cached.cacheClose();
      },
    ),
    { numRuns: runs },
  );
});
