/**
 * A store that throws instead of rejecting, in every method: calls still
 * resolve, by running the function here, and the failures are counted.
 */

import assert from "node:assert/strict";
import { alruCache, type CacheStore } from "../mod.ts";

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
