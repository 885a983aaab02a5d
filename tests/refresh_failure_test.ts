/**
 * docs/behaviour.md §11.1, §11.2 and §12: a refresh whose value cannot be
 * kept because judging it failed (`shouldCache` threw, the `ttl` function
 * threw or returned a bad lifetime) is a failed refresh: it counts one
 * `refreshFailure`, with its event, and no `error` (its `fn` did not
 * reject); the entry it refreshed goes, as §11.1 says of `shouldCache`. A
 * refresh whose value is refused on purpose (`shouldCache` false, a ttl of
 * 0) is no failure.
 */
import assert from "node:assert/strict";
import { alruCache, type CacheEventType, ManualClock } from "../mod.ts";
import {
  assertStats,
  assertWhole,
  flush,
  rejectionOf,
  withoutUnhandledRejections,
} from "./_helpers.ts";

interface Value {
  version: number;
}

/** How the judging of each refreshed value (version 2 and on) goes. */
const REFUSALS = [
  {
    label: "a shouldCache that throws",
    options: {
      shouldCache: (value: Value) => {
        if (value.version > 1) throw new Error("shouldCache broke");
        return true;
      },
    },
    error: /shouldCache broke/,
  },
  {
    label: "a ttl function that throws",
    options: {
      ttl: (value: Value) => {
        if (value.version > 1) throw new Error("ttl broke");
        return 100;
      },
    },
    error: /ttl broke/,
  },
  {
    label: "a ttl function that returns a negative lifetime",
    options: { ttl: (value: Value) => value.version > 1 ? -1 : 100 },
    error: /option "ttl" is a function that must return/,
  },
  {
    label: "a ttl function that returns NaN",
    options: { ttl: (value: Value) => value.version > 1 ? NaN : 100 },
    error: /option "ttl" is a function that must return/,
  },
] as const;

function cacheWith(options: (typeof REFUSALS)[number]["options"]) {
  const clock = new ManualClock();
  const events: CacheEventType[] = [];
  let version = 0;
  const cached = alruCache(async (_key: string): Promise<Value> => {
    await Promise.resolve();
    return { version: ++version };
  }, {
    ttl: 100,
    staleWhileRevalidate: 50,
    ...options,
    clock,
    onEvent: (event) => events.push(event.type),
  });
  return { cached, clock, events };
}

for (const { label, options, error } of REFUSALS) {
  Deno.test(`a background refresh refused by ${label} counts one refreshFailure, and its stale entry goes`, async () => {
    await withoutUnhandledRejections(async () => {
      const { cached, clock, events } = cacheWith(options);
      await cached("a");
      clock.advance(100);
      assert.deepEqual(await cached("a"), { version: 1 }, "stale");
      await flush();
      assert.equal(cached.cacheContains("a"), false);
      assert.deepEqual(events, [
        "miss",
        "hit",
        "stale",
        "refresh",
        "refreshFailure",
      ]);
      assertStats(cached, {
        hits: 1,
        misses: 1,
        staleHits: 1,
        refreshes: 1,
        refreshFailures: 1,
      });
      assertWhole(cached);
      await cached.cacheClose();
    });
  });

  Deno.test(`a cacheRefresh refused by ${label} rejects with the error and counts one refreshFailure`, async () => {
    const { cached, events } = cacheWith(options);
    await cached("a");
    const reason = await rejectionOf(cached.cacheRefresh("a"));
    assert.match(String(reason), error);
    assert.deepEqual(events, ["miss", "refresh", "refreshFailure"]);
    assertStats(cached, { misses: 1, refreshes: 1, refreshFailures: 1 });
    assert.equal(cached.cacheContains("a"), false, "the entry goes");
    assertWhole(cached);
    await cached.cacheClose();
  });

  Deno.test(`a refresh refused by ${label} after it became the key's run: its callers reject, one refreshFailure`, async () => {
    const { cached, clock, events } = cacheWith(options);
    await cached("a");
    const refresh = rejectionOf(cached.cacheRefresh("a"));
    clock.advance(150);
    const joined = rejectionOf(cached("a"));
    assert.match(String(await refresh), error);
    assert.match(String(await joined), error);
    assert.equal(cached.cacheContains("a"), false);
    assert.deepEqual(events, [
      "miss",
      "refresh",
      "expire",
      "hit",
      "refreshFailure",
    ]);
    assertWhole(cached);
    await cached.cacheClose();
  });
}

Deno.test("a miss refused by a throwing shouldCache counts no refreshFailure", async () => {
  const { cached, events } = cacheWith({
    shouldCache: () => {
      throw new Error("shouldCache broke");
    },
  });
  await rejectionOf(cached("a"));
  assert.deepEqual(events, ["miss"]);
  await cached.cacheClose();
});

for (
  const [label, options] of [
    // Odd versions (the misses') are kept, even ones (the refreshes') not.
    ["shouldCache false", {
      shouldCache: (value: Value) => value.version % 2 === 1,
    }],
    ["a ttl of 0", { ttl: (value: Value) => value.version % 2 ? 100 : 0 }],
  ] as const
) {
  Deno.test(`a refresh refused on purpose (${label}) is no refreshFailure: its entry goes`, async () => {
    const { cached, clock, events } = cacheWith(options);
    await cached("a");
    clock.advance(100);
    await cached("a");
    await flush();
    assert.equal(cached.cacheContains("a"), false);
    await cached("b");
    assert.equal(cached.cacheContains("b"), true);
    assert.deepEqual(await cached.cacheRefresh("b"), { version: 4 });
    assert.equal(cached.cacheContains("b"), false);
    assert.equal(cached.cacheStats().refreshFailures, 0);
    assert.equal(events.includes("refreshFailure"), false);
    await cached.cacheClose();
  });
}
