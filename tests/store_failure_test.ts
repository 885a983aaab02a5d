/**
 * A store that throws instead of rejecting, in every method: calls still
 * resolve, by running the function here, and the failures are counted.
 */

import assert from "node:assert/strict";
import { alruCache, type CacheEvent, type CacheStore } from "../mod.ts";

function throwingStore(): CacheStore {
  const fail = (): never => {
    throw new Error("store down");
  };
  return {
    notifies: true,
    readOrLease: fail,
    wait: fail,
    write: fail,
    renew: fail,
    release: fail,
    delete: fail,
    clear: fail,
    subscribe: fail,
  };
}

Deno.test("a store whose methods throw synchronously never fails a call, and its failures are counted", async () => {
  let runs = 0;
  const cached = alruCache(async (n: number) => {
    runs++;
    return await Promise.resolve(n * 2);
  }, { ttl: 60_000, store: throwingStore() });
  const call = cached(2);
  assert.ok(call instanceof Promise);
  assert.equal(await call, 4);
  assert.equal(await cached(2), 4);
  assert.equal(runs, 1);
  assert.ok(cached.cacheStats().storeErrors >= 2);
  await assert.rejects(cached.cacheInvalidate(2), /store down/);
  await assert.rejects(cached.cacheClear(), /store down/);
  await cached.cacheClose();
});

Deno.test("a store failure is a storeError event carrying the error, one per storeErrors, never an error event", async () => {
  const events: CacheEvent[] = [];
  const cached = alruCache((n: number) => Promise.resolve(n * 2), {
    ttl: 60_000,
    store: throwingStore(),
    onEvent: (event) => events.push(event),
  });
  assert.equal(await cached(2), 4);
  await assert.rejects(cached.cacheInvalidate(2), /store down/);
  const failures = events.filter((event) => event.type === "storeError");
  assert.equal(failures.length, cached.cacheStats().storeErrors);
  assert.ok(failures.length >= 3, `${failures.length} store errors`);
  for (const failure of failures) {
    assert.equal((failure.error as Error).message, "store down");
  }
  // The invalidation's failure names its key, as the call made it.
  assert.equal(failures.at(-1)!.key, 2);
  assert.equal(events.filter((event) => event.type === "error").length, 0);
  await cached.cacheClose();
});
