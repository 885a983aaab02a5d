/**
 * Batches, as a property: random sequences of calls, `many`, callers that
 * leave, invalidation, clearing, time, settlements of `load` in every form
 * it may take (values in order, a `Map`, an `Error` per key, a rejection, a
 * wrong length, a synchronous throw) and closing, where `onEvent`, the `key`
 * option, the clock's `setTimeout` and `load` itself may call the batched
 * function back.
 *
 * Checked each time the cache or the batcher enters user code, and after
 * every step: both are whole. In every call of `load`: the keys are
 * distinct. At the end, once every batch has settled and the cache has
 * closed: every call settled, each fulfilled one with its own key's value,
 * no timer is left, and no rejection went unhandled.
 *
 * BATCH_PROPERTY_RUNS (default 300) sets the number of sequences.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { alruBatch, ManualClock } from "../mod.ts";
import {
  type Deferred,
  deferred,
  flush,
  hookedClock,
  recordUnhandledRejections,
} from "./_helpers.ts";
import { assertBatchWhole, checkBatchEachEntry, turnEnd } from "./_batch.ts";

const KEYS = [0, 1, 2, 3, 4, 5];

type Form = "values" | "map" | "errors" | "reject" | "short";

type Step =
  | { t: "call"; key: number }
  | { t: "many"; keys: number[] }
  | { t: "leaving"; key: number }
  | { t: "leave"; pick: number }
  | { t: "invalidate"; key: number }
  | { t: "clear" }
  | { t: "refresh"; key: number }
  | { t: "advance"; ms: number }
  | { t: "turn" }
  | { t: "settle"; pick: number; form: Form }
  | { t: "close"; wait: boolean };

const key = fc.constantFrom(...KEYS);
const form = fc.constantFrom<Form>(
  "values",
  "map",
  "errors",
  "reject",
  "short",
);
const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: key.map((k) => ({ t: "call" as const, key: k })), weight: 4 },
  {
    arbitrary: fc.array(key, { maxLength: 5 }).map((keys) => ({
      t: "many" as const,
      keys,
    })),
    weight: 2,
  },
  { arbitrary: key.map((k) => ({ t: "leaving" as const, key: k })), weight: 2 },
  {
    arbitrary: fc.nat(20).map((pick) => ({ t: "leave" as const, pick })),
    weight: 2,
  },
  {
    arbitrary: key.map((k) => ({ t: "invalidate" as const, key: k })),
    weight: 1,
  },
  { arbitrary: fc.constant({ t: "clear" as const }), weight: 1 },
  { arbitrary: key.map((k) => ({ t: "refresh" as const, key: k })), weight: 1 },
  {
    arbitrary: fc.constantFrom(1, 5, 30, 100).map((ms) => ({
      t: "advance" as const,
      ms,
    })),
    weight: 2,
  },
  { arbitrary: fc.constant({ t: "turn" as const }), weight: 3 },
  {
    arbitrary: fc.record({ pick: fc.nat(20), form }).map((s) => ({
      t: "settle" as const,
      ...s,
    })),
    weight: 4,
  },
  {
    arbitrary: fc.boolean().map((wait) => ({ t: "close" as const, wait })),
    weight: 1,
  },
);

// Which user code calls back, and what it calls.
const hooks = fc.record({
  key: fc.option(key, { nil: undefined }),
  onEvent: fc.option(key, { nil: undefined }),
  setTimeout: fc.option(key, { nil: undefined }),
  load: fc.option(key, { nil: undefined }),
});

const settings = fc.record({
  // With a key option that maps 0 and 4, 1 and 5 to one cache key.
  keyed: fc.boolean(),
  // Whether load throws, synchronously, for a batch that holds key 5.
  throws: fc.boolean(),
  maxBatchSize: fc.constantFrom(1, 2, 3, Infinity),
  batchDelay: fc.constantFrom(0, 5),
  maxSize: fc.constantFrom(2, 4, 8),
  stale: fc.boolean(),
});

interface Held {
  keys: number[];
  result: Deferred<unknown>;
}

const cacheKeyOf = (k: number, keyed: boolean) => keyed ? k % 4 : k;

const valueOf = (k: number, keyed: boolean) => `value ${cacheKeyOf(k, keyed)}`;

function resultOf(keys: number[], form: Form, keyed: boolean): unknown {
  const value = (k: number) => valueOf(k, keyed);
  switch (form) {
    case "values":
      return keys.map(value);
    case "map":
      return new Map(keys.map((k) => [cacheKeyOf(k, keyed), value(k)]));
    case "errors":
      return keys.map((k) => k % 2 === 0 ? new Error(`no ${k}`) : value(k));
    case "short":
      return keys.slice(1);
    default:
      return undefined;
  }
}

Deno.test("batches stay whole, load sees each key once a call, and every call settles with its own key's value, whatever the user code does", async () => {
  const runs = Number(Deno.env.get("BATCH_PROPERTY_RUNS") ?? 300);
  await fc.assert(
    fc.asyncProperty(
      settings,
      hooks,
      fc.array(step, { minLength: 5, maxLength: 40, size: "max" }),
      async (options, hook, steps) => {
        const unhandled = recordUnhandledRejections();
        try {
          const clock = new ManualClock();
          const held: Held[] = [];
          const outcomes: { key: number; settled: boolean; value?: unknown }[] =
            [];
          const controllers: AbortController[] = [];
          let depth = 0;
          // Each call back is an event of its own, which onEvent hears: a
          // budget ends the chain.
          let budget = 20;
          // A call made by user code, at most one level deep.
          const callBack = (k: number | undefined) => {
            if (k === undefined || depth > 0 || budget === 0) return;
            budget--;
            depth++;
            try {
              follow(k, cached(k));
            } finally {
              depth--;
            }
          };
          const follow = (k: number, promise: Promise<string>) => {
            const outcome: { key: number; settled: boolean; value?: unknown } =
              {
                key: k,
                settled: false,
              };
            outcomes.push(outcome);
            promise.then(
              (value) => {
                outcome.settled = true;
                outcome.value = value;
              },
              () => {
                outcome.settled = true;
              },
            );
          };
          const make = () =>
            alruBatch((keys: number[]) => {
              assert.equal(new Set(keys).size, keys.length, `keys ${keys}`);
              callBack(hook.load);
              if (options.throws && keys.includes(5)) {
                throw new Error("load threw");
              }
              const result = deferred<unknown>();
              held.push({ keys: [...keys], result });
              return result.promise as Promise<string[]>;
            }, {
              clock: hookedClock(clock, {
                setTimeout: () => callBack(hook.setTimeout),
              }),
              maxBatchSize: options.maxBatchSize,
              batchDelay: options.batchDelay,
              maxSize: options.maxSize,
              signal: true,
              ttl: 50,
              staleWhileRevalidate: options.stale ? 20 : undefined,
              onEvent: () => callBack(hook.onEvent),
              key: options.keyed
                ? (k: number) => {
                  callBack(hook.key);
                  return cacheKeyOf(k, true);
                }
                : undefined,
            });
          const cached = make();
          checkBatchEachEntry(cached);
          const settle = (pick: number, how: Form) => {
            const batch = held.splice(pick % held.length, 1)[0];
            if (how === "reject") batch.result.reject(new Error("load failed"));
            else batch.result.resolve(resultOf(batch.keys, how, options.keyed));
          };
          for (const s of steps) {
            switch (s.t) {
              case "call":
                follow(s.key, cached(s.key));
                break;
              case "many": {
                const many = cached.many(s.keys);
                many.catch(() => {});
                s.keys.forEach((k, i) =>
                  follow(k, many.then((values) => values[i]))
                );
                break;
              }
              case "leaving": {
                const controller = new AbortController();
                controllers.push(controller);
                follow(s.key, cached.withSignal(controller.signal, s.key));
                break;
              }
              case "leave":
                if (controllers.length > 0) {
                  controllers[s.pick % controllers.length].abort();
                }
                break;
              case "invalidate":
                cached.cacheInvalidate(s.key);
                break;
              case "clear":
                cached.cacheClear();
                break;
              case "refresh":
                follow(s.key, cached.cacheRefresh(s.key));
                break;
              case "advance":
                clock.advance(s.ms);
                break;
              case "turn":
                await turnEnd();
                break;
              case "settle":
                if (held.length > 0) settle(s.pick, s.form);
                await flush();
                break;
              case "close":
                void cached.cacheClose({ wait: s.wait });
                break;
            }
            assertBatchWhole(cached);
          }
          // The end: every batch goes and settles, and the cache closes.
          const closing = cached.cacheClose({ wait: true });
          for (let round = 0; round < 10; round++) {
            clock.advance(100);
            await turnEnd();
            while (held.length > 0) settle(0, "values");
            await flush();
          }
          await closing;
          await flush();
          assertBatchWhole(cached);
          assert.equal(clock.pending, 0, "no timer is left");
          for (const outcome of outcomes) {
            assert.ok(outcome.settled, `a call for ${outcome.key} settled`);
            if (outcome.value !== undefined) {
              assert.equal(outcome.value, valueOf(outcome.key, options.keyed));
            }
          }
        } finally {
          await flush();
          unhandled.stop();
        }
        assert.deepEqual(unhandled.reasons, []);
      },
    ),
    { numRuns: runs },
  );
});
