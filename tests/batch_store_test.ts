/**
 * §15.9: batches with a store. Each process is played by a cache on one
 * memoryStore, on a ManualClock.
 */
import assert from "node:assert/strict";
import { memoryStore } from "../memory.ts";
import { alruBatch, type CacheStore, ManualClock } from "../mod.ts";
import { flush, withoutUnhandledRejections } from "./_helpers.ts";
import { range, recordingLoad } from "./_batch.ts";

// `store` with its reads counted: each call of readOrLeaseMany with its
// keys, and each call of readOrLease; without readOrLeaseMany when `many`
// is false.
function countedReads(store: CacheStore, many: boolean) {
  const manyCalls: string[][] = [];
  let single = 0;
  const counted: CacheStore = {
    notifies: store.notifies,
    readOrLease: (key, leaseMs) => {
      single++;
      return store.readOrLease(key, leaseMs);
    },
    wait: (key, options) => store.wait(key, options),
    write: (key, value, lease) => store.write(key, value, lease),
    renew: (key, lease, leaseMs) => store.renew(key, lease, leaseMs),
    release: (key, lease) => store.release(key, lease),
    delete: (key, options) => store.delete(key, options),
    clear: (options) => store.clear(options),
    subscribe: (listener, onError) => store.subscribe(listener, onError),
  };
  if (many) {
    counted.readOrLeaseMany = (keys, leaseMs) => {
      manyCalls.push([...keys]);
      return store.readOrLeaseMany!(keys, leaseMs);
    };
  }
  return { store: counted, manyCalls, single: () => single };
}

Deno.test("4 processes on one store asking many() for the same 1,000 keys load each key once in all", async () => {
  await withoutUnhandledRejections(async () => {
    const clock = new ManualClock();
    const store = memoryStore({ clock });
    const loaded: number[] = [];
    const processes = Array.from({ length: 4 }, () => {
      const { load, calls } = recordingLoad((key: number) => ({ key }));
      return {
        calls,
        cached: alruBatch(load, {
          store,
          clock,
          ttl: 60_000,
          maxSize: null,
          maxBatchSize: 100,
        }),
      };
    });
    const keys = range(0, 1000);
    const results = await Promise.all(
      processes.map(({ cached }) => cached.many(keys)),
    );
    for (const { calls } of processes) {
      for (const call of calls) loaded.push(...call.keys);
    }
    assert.deepEqual(loaded.sort((a, b) => a - b), keys);
    for (const values of results) {
      assert.deepEqual(values.map((v) => v.key), keys);
    }
    for (const { cached } of processes) {
      assert.equal(cached.cacheStats().storeErrors, 0);
      await cached.cacheClose();
    }
  });
});

Deno.test("a store with readOrLeaseMany is read once for a batch's keys, and the leased keys go to load together", async () => {
  const clock = new ManualClock();
  const reads = countedReads(memoryStore({ clock }), true);
  const { load, calls } = recordingLoad((key: string) => key.toUpperCase());
  const cached = alruBatch(load, { store: reads.store, clock, ttl: 1_000 });
  assert.deepEqual(await cached.many(["a", "b", "c"]), ["A", "B", "C"]);
  assert.equal(reads.manyCalls.length, 1);
  assert.equal(reads.manyCalls[0].length, 3);
  assert.equal(reads.single(), 0);
  assert.deepEqual(calls.map((c) => c.keys), [["a", "b", "c"]]);
  await cached.cacheClose();
});

Deno.test("a store without readOrLeaseMany is read key by key, concurrently, and the leased keys still share a batch", async () => {
  const clock = new ManualClock();
  const reads = countedReads(memoryStore({ clock }), false);
  const readsAtLoad: number[] = [];
  const { load, calls } = recordingLoad((key: string) => {
    readsAtLoad.push(reads.single());
    return key.length;
  });
  const cached = alruBatch(load, { store: reads.store, clock, ttl: 1_000 });
  assert.deepEqual(await cached.many(["a", "bb", "ccc"]), [1, 2, 3]);
  assert.deepEqual(readsAtLoad, [3, 3, 3], "every key read before the load");
  assert.deepEqual(calls.map((c) => c.keys), [["a", "bb", "ccc"]]);
  await cached.cacheClose();
});

Deno.test("keys the store holds resolve from it; only the others are loaded", async () => {
  const clock = new ManualClock();
  const store = memoryStore({ clock });
  const first = recordingLoad((key: number) => key * 10);
  const second = recordingLoad((key: number) => key * 100);
  const one = alruBatch(first.load, { store, clock, ttl: 1_000 });
  const two = alruBatch(second.load, { store, clock, ttl: 1_000 });
  await one.many([1, 2]);
  assert.deepEqual(await two.many([1, 2, 3]), [10, 20, 300]);
  assert.deepEqual(second.calls.map((c) => c.keys), [[3]]);
  await one.cacheClose();
  await two.cacheClose();
});

Deno.test("with a store, a Map from load is read by the key option's result, never by its string encoding", async () => {
  const clock = new ManualClock();
  const cached = alruBatch(
    (users: { id: number }[]) =>
      new Map(users.map((user) => [user.id, `user ${user.id}`])),
    {
      store: memoryStore({ clock }),
      clock,
      ttl: 1_000,
      key: (user) => user.id,
    },
  );
  assert.deepEqual(await cached.many([{ id: 1 }, { id: 2 }]), [
    "user 1",
    "user 2",
  ]);
  const plain = alruBatch(
    (ids: number[]) => new Map(ids.map((id) => [id, -id])),
    { store: memoryStore({ clock }), clock, ttl: 1_000 },
  );
  assert.deepEqual(await plain.many([1, 2]), [-1, -2]);
  await cached.cacheClose();
  await plain.cacheClose();
});

Deno.test("a key another process computes is waited for, and one whose wait ends without a value is asked for again in a later batch", async () => {
  await withoutUnhandledRejections(async () => {
    const clock = new ManualClock();
    const store = memoryStore({ clock });
    let fail = true;
    const a = recordingLoad((key: number) =>
      fail ? new Error("a failed") : key
    );
    const b = recordingLoad((key: number) => key + 1_000);
    const one = alruBatch(a.load, { store, clock, ttl: 1_000 });
    const two = alruBatch(b.load, { store, clock, ttl: 1_000 });
    const leading = one(1).catch((error) => error);
    await flush();
    const waiting = two.many([1, 2]);
    const failure = await leading;
    assert.match(String(failure), /a failed/);
    assert.deepEqual(await waiting, [1_001, 1_002]);
    assert.deepEqual(b.calls.map((c) => c.keys), [[2], [1]]);
    fail = false;
    await one.cacheClose();
    await two.cacheClose();
  });
});
