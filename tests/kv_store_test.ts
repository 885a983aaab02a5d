/**
 * kvStore's own limits: values too large for Deno KV, and its options.
 */

import assert from "node:assert/strict";
import { alruCache } from "../mod.ts";
import { kvStore } from "../kv.ts";
import type { StoreLease } from "../store.ts";

async function withKv(body: (kv: Deno.Kv) => Promise<void>): Promise<void> {
  const path = await Deno.makeTempFile();
  const kv = await Deno.openKv(path);
  try {
    await body(kv);
  } finally {
    kv.close();
    await Deno.remove(path);
  }
}

Deno.test("kvStore: a value too large for Deno KV is served, not written, and counted as a store error", async () => {
  await withKv(async (kv) => {
    let runs = 0;
    const errors: unknown[] = [];
    const make = () =>
      alruCache(async (size: number) => {
        runs++;
        return await Promise.resolve("x".repeat(size));
      }, {
        ttl: 60_000,
        store: kvStore(kv, { namespace: ["large"] }),
        onEvent: (event) => {
          if (event.type === "storeError") errors.push(event.key);
        },
      });
    const writer = make();
    const reader = make();
    assert.equal((await writer(70_000)).length, 70_000);
    assert.equal(writer.cacheStats().storeErrors, 1);
    assert.deepEqual(errors, [70_000]);
    // Nothing was written, and no lease is left: the other cache computes.
    assert.equal((await reader(70_000)).length, 70_000);
    assert.equal(runs, 2);
    // A value under the limit is shared.
    await writer(1_000);
    await reader(1_000);
    assert.equal(runs, 3);
    await writer.cacheClose();
    await reader.cacheClose();
  });
});

Deno.test("kvStore: a namespace that is not a KV key is a TypeError", () => {
  assert.throws(
    () =>
      kvStore({} as Deno.Kv, { namespace: "users" as unknown as Deno.KvKey }),
    (error: Error) =>
      error instanceof TypeError && /namespace/.test(error.message),
  );
});

Deno.test("kvStore: a lease renewed while it is released or written still goes", async () => {
  await withKv(async (kv) => {
    const store = kvStore(kv, { namespace: ["renewed"] });
    const lease = async (key: string) => {
      const found = await store.readOrLease(key, 10_000);
      assert.equal(found.status, "leased");
      return (found as { lease: StoreLease }).lease;
    };
    // A renewal already on its way when the holder releases: both read the
    // lease entry, and the renewal commits first.
    for (let i = 0; i < 5; i++) {
      const key = `released ${i}`;
      const held = await lease(key);
      await Promise.all([
        store.renew(key, held, 10_000),
        store.release(key, held),
      ]);
      assert.equal(
        (await store.readOrLease(key, 10_000)).status,
        "leased",
        "the released lease still holds the key",
      );
    }
    // Likewise when the holder writes its value.
    for (let i = 0; i < 5; i++) {
      const key = `written ${i}`;
      const held = await lease(key);
      await Promise.all([
        store.renew(key, held, 10_000),
        store.write(key, { text: "1", ttl: 60_000 }, held),
      ]);
      const found = await store.readOrLease(key, 10_000);
      assert.equal(found.status, "value", "the value was not written");
    }
  });
});
