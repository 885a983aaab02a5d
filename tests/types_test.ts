/**
 * The public types, checked at compile time: a regression makes `deno check`
 * (and so the test task) fail before anything runs. Each test also runs what
 * it types, so that the types describe code that works.
 */

import assert from "node:assert/strict";
import {
  alruBatch,
  alruCache,
  cacheOf,
  type CacheStats,
  type CacheStore,
  ManualClock,
} from "../mod.ts";

// Whether A and B are the same type, not merely assignable one way.
type IsExact<A, B> = (<T>() => T extends A ? 1 : 2) extends
  (<T>() => T extends B ? 1 : 2) ? true : false;

function assertType<T extends true>(_check: T): void {}

Deno.test("the parameters come from fn, not from the key option", async () => {
  const describe = alruCache(
    (id: number, label?: string) => Promise.resolve(`${id}:${label}`),
    { key: (id: number) => id },
  );
  assertType<IsExact<Parameters<typeof describe>, [number, string?]>>(true);
  assertType<IsExact<ReturnType<typeof describe>, Promise<string>>>(true);
  assert.equal(await describe(1, "a"), "1:a");
  assert.equal(await describe(1), "1:a", "one key for both calls");
});

Deno.test("with signal: true the cached function drops the trailing signal", async () => {
  const load = alruCache(
    (id: number, signal: AbortSignal) =>
      Promise.resolve(signal.aborted ? -1 : id),
    { signal: true, key: (id) => id },
  );
  assertType<IsExact<Parameters<typeof load>, [number]>>(true);
  assert.equal(await load(3), 3);
});

Deno.test("ttl and shouldCache functions get the resolved value and the arguments", async () => {
  const clock = new ManualClock();
  const token = alruCache(
    (scope: string) => Promise.resolve({ scope, expiresIn: 1_000 }),
    {
      clock,
      ttl: (value, args) => {
        assertType<
          IsExact<typeof value, { scope: string; expiresIn: number }>
        >(true);
        assertType<IsExact<typeof args, [string]>>(true);
        return value.expiresIn;
      },
      shouldCache: (value) => value.scope !== "",
    },
  );
  assert.equal((await token("read")).expiresIn, 1_000);
  await token.cacheClose();
});

Deno.test("a decorator's options type the value its method must resolve to", async () => {
  class Auth {
    @alruCache({ ttl: (token: { ttl: number }) => token.ttl })
    token(_scope: string): Promise<{ ttl: number }> {
      return Promise.resolve({ ttl: 60_000 });
    }
  }
  class Wrong {
    // @ts-expect-error: the method does not resolve to what ttl takes
    @alruCache({ ttl: (token: { ttl: number }) => token.ttl })
    token(_scope: string): Promise<string> {
      return Promise.resolve("no ttl here");
    }
  }
  const auth = new Auth();
  assert.equal((await auth.token("read")).ttl, 60_000);
  await cacheOf(auth.token).cacheClose();
  assert.equal(typeof Wrong, "function");
});

Deno.test("with a store, invalidating and clearing return promises, and stats count store errors", () => {
  // The store overload, picked by the options' type alone.
  const make = (store: CacheStore) =>
    alruCache((n: number) => Promise.resolve(n), { ttl: 1_000, store });
  type WithStore = ReturnType<typeof make>;
  assertType<
    IsExact<ReturnType<WithStore["cacheInvalidate"]>, Promise<boolean>>
  >(true);
  assertType<IsExact<ReturnType<WithStore["cacheClear"]>, Promise<void>>>(
    true,
  );
  assertType<
    IsExact<ReturnType<WithStore["cacheStats"]>, Required<CacheStats>>
  >(true);
  // Without one, they stay synchronous.
  const plain = alruCache((n: number) => Promise.resolve(n));
  assertType<IsExact<ReturnType<typeof plain.cacheInvalidate>, boolean>>(
    true,
  );
  assertType<IsExact<ReturnType<typeof plain.cacheClear>, void>>(true);
  assert.equal(typeof make, "function");
  assert.equal(plain.cacheInvalidate(1), false);
});

Deno.test("alruBatch: a key's value comes from load's items or Map values, awaited, without the Errors", async () => {
  const fromArray = alruBatch((ids: number[]) =>
    Promise.resolve(ids.map((id) => id > 0 ? { id } : new Error(`no ${id}`)))
  );
  assertType<IsExact<Parameters<typeof fromArray>, [key: number]>>(true);
  assertType<
    IsExact<ReturnType<typeof fromArray>, Promise<{ id: number }>>
  >(true);
  assertType<
    IsExact<ReturnType<typeof fromArray.many>, Promise<{ id: number }[]>>
  >(true);
  const fromMap = alruBatch((names: string[]) =>
    new Map(names.map((name) => [name, name.length]))
  );
  assertType<IsExact<ReturnType<typeof fromMap>, Promise<number>>>(true);
  const fromPromises = alruBatch((ids: number[]) =>
    ids.map((id) => Promise.resolve(String(id)))
  );
  assertType<IsExact<ReturnType<typeof fromPromises>, Promise<string>>>(true);
  const timed = alruBatch((ids: number[]) => ids.map((id) => ({ id })), {
    ttl: (value, args) => {
      assertType<IsExact<typeof value, { id: number }>>(true);
      assertType<IsExact<typeof args, [number]>>(true);
      return 1_000;
    },
    key: (id) => id % 10,
    clock: new ManualClock(),
  });
  assert.deepEqual(await timed.many([1, 11]), [{ id: 1 }, { id: 1 }]);
  assertType<IsExact<ReturnType<typeof timed.cacheInvalidate>, boolean>>(
    true,
  );
  // The store overload, picked by the options' type alone.
  const shared = (store: CacheStore) =>
    alruBatch((ids: number[]) => ids, { ttl: 1_000, store });
  type Shared = ReturnType<typeof shared>;
  assertType<
    IsExact<ReturnType<Shared["cacheInvalidate"]>, Promise<boolean>>
  >(true);
  assertType<IsExact<ReturnType<Shared["many"]>, Promise<number[]>>>(true);
  assert.equal(await fromMap("abc"), 3);
  assert.equal((await fromArray(2)).id, 2);
  assert.equal(await fromPromises(4), "4");
});
