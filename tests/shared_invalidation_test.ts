/**
 * Invalidation across real OS processes (§13): one process's
 * `cacheInvalidate` or `cacheClear` makes the key (or the whole namespace) a
 * miss in the others, through pub/sub with Redis and within `localTtl` with
 * Deno KV, which cannot notify; and two namespaces never see each other's
 * keys. The propagation delays are measured and printed. How the protocol
 * acts on an invalidation (one during a run wins over its write, a read
 * waits for the subscription) is tested in one process, in
 * shared_protocol_test.ts.
 */

import assert from "node:assert/strict";
import { BACKENDS, sleep } from "./shared/clients.ts";
import {
  configFor,
  freshNamespace,
  listening,
  percentile,
  total,
  valuesOf,
  withFleet,
} from "./shared/harness.ts";

const ROUNDS = 50;
// Short enough to keep the KV tests quick, long enough to be measured.
const KV_LOCAL_TTL = 300;

function summary(delays: number[]): string {
  const ms = (n: number) => `${n.toFixed(1)} ms`;
  return `p50 ${ms(percentile(delays, 50))}, p99 ${
    ms(percentile(delays, 99))
  }, max ${ms(Math.max(...delays))} over ${delays.length}`;
}

for (const backend of BACKENDS) {
  const kv = backend === "kv";

  Deno.test(`${backend}: an invalidation in one process makes the next call in another a miss`, async () => {
    await withFleet(backend, async (fleet, where) => {
      const namespace = freshNamespace("invalidate");
      const counter = `${namespace}:runs`;
      const config = configFor(where, {
        namespace,
        ttl: 60_000,
        localTtl: KV_LOCAL_TTL,
        fnMs: 5,
        counter: { key: counter },
      });
      const [a, b] = await fleet.start(config, config);
      const keys = Array.from({ length: ROUNDS }, (_, i) => `inv-${i}`);
      // A computes every key; B reads them from the store and keeps copies.
      const first = valuesOf(await a.request("call", { keys }));
      const read = valuesOf(await b.request("call", { keys }));
      assert.deepEqual(read, first, "b read a's values");
      assert.equal(total(await where.runs(counter)), ROUNDS);

      const delays: number[] = [];
      if (!kv) {
        await listening(where.target, namespace, 2);
        // One key at a time: B polls its entry while A invalidates it.
        for (const key of keys) {
          const watching = b.request("watch", {
            keys: [key],
            timeoutMs: 5_000,
          });
          await b.request("ping"); // the watch has begun
          const { started, result } = await a.request("invalidate", { key });
          assert.equal(result, true, "the store had the key");
          const [dropped] = (await watching).dropped as (number | null)[];
          assert.notEqual(dropped, null, `${key} stayed in b`);
          delays.push(dropped! - (started as number));
        }
      } else {
        // KV cannot tell B: B's copy lives out its localTtl. The
        // invalidations are spread over one localTtl after B's read, so the
        // delays cover the range an invalidation can meet.
        const watching = b.request("watch", {
          keys,
          timeoutMs: KV_LOCAL_TTL + 5_000,
        });
        await b.request("ping");
        const invalidations = [];
        for (const key of keys) {
          invalidations.push(a.request("invalidate", { key }));
          await sleep(KV_LOCAL_TTL / ROUNDS);
        }
        const replies = await Promise.all(invalidations);
        const dropped = (await watching).dropped as (number | null)[];
        replies.forEach((reply, i) => {
          assert.equal(reply.result, true, "the store had the key");
          assert.notEqual(dropped[i], null, `${keys[i]} stayed in b`);
          // A copy that ran out before the invalidation began: no delay.
          delays.push(Math.max(0, dropped[i]! - (reply.started as number)));
        });
      }
      console.log(
        `${backend}: invalidation reached the other process: ${
          summary(delays)
        }${kv ? ` (localTtl ${KV_LOCAL_TTL} ms)` : " (pub/sub)"}`,
      );
      // With Redis only pub/sub can drop the copy this soon (the value
      // lives 60 s); with KV the bound is localTtl.
      const bound = kv ? KV_LOCAL_TTL + 100 : 250;
      assert.ok(
        Math.max(...delays) <= bound,
        `slowest ${Math.max(...delays).toFixed(1)} ms > ${bound} ms`,
      );

      // B's next call of each key is a miss: a fresh run, a fresh value.
      const again = valuesOf(await b.request("call", { keys }));
      again.forEach((value, i) => {
        assert.notEqual(value.nonce, first[i].nonce, `${keys[i]} was a hit`);
      });
      assert.equal(total(await where.runs(counter)), 2 * ROUNDS);
    });
  });

  Deno.test(`${backend}: namespaces are apart, and cacheClear() reaches every process of its own`, async () => {
    await withFleet(backend, async (fleet, where) => {
      const one = freshNamespace("clear-one");
      const two = freshNamespace("clear-two");
      const base = { ttl: 60_000, localTtl: KV_LOCAL_TTL, fnMs: 5 };
      const [a, b, c] = await fleet.start(
        configFor(where, { ...base, namespace: one, counter: { key: one } }),
        configFor(where, { ...base, namespace: one, counter: { key: one } }),
        configFor(where, { ...base, namespace: two, counter: { key: two } }),
      );
      const keys = Array.from({ length: 10 }, (_, i) => `shared-${i}`);
      // The same keys at once in both namespaces: each computes its own.
      const [inOne, inTwo] = await Promise.all([
        a.request("call", { keys }).then(valuesOf),
        c.request("call", { keys }).then(valuesOf),
      ]);
      assert.equal(total(await where.runs(one)), keys.length);
      assert.equal(total(await where.runs(two)), keys.length);
      inOne.forEach((value, i) => {
        assert.notEqual(value.nonce, inTwo[i].nonce, "namespaces shared a key");
      });
      assert.deepEqual(
        valuesOf(await b.request("call", { keys })),
        inOne,
        "b reads its own namespace's values",
      );

      if (!kv) await listening(where.target, one, 2);
      const watching = b.request("watch", {
        keys,
        timeoutMs: KV_LOCAL_TTL + 5_000,
      });
      await b.request("ping");
      const { started } = await a.request("clear");
      const dropped = (await watching).dropped as (number | null)[];
      assert.ok(dropped.every((t) => t !== null), "b kept copies after clear");
      const delay = Math.max(...dropped.map((t) => t! - (started as number)));
      console.log(
        `${backend}: cacheClear reached the other process in ${
          delay.toFixed(1)
        } ms`,
      );
      assert.ok(delay <= (kv ? KV_LOCAL_TTL + 100 : 250), `${delay} ms`);

      // Every key of the namespace is a miss everywhere, the clearer's too.
      const afterB = valuesOf(await b.request("call", { keys }));
      afterB.forEach((value, i) =>
        assert.notEqual(value.nonce, inOne[i].nonce)
      );
      assert.deepEqual(valuesOf(await a.request("call", { keys })), afterB);
      assert.equal(total(await where.runs(one)), 2 * keys.length);

      // The other namespace kept everything: its copies (with Redis; KV's
      // live only localTtl anyway) and its store values.
      if (!kv) {
        assert.deepEqual(
          (await c.request("contains", { keys })).result,
          keys.map(() => true),
        );
      }
      assert.deepEqual(valuesOf(await c.request("call", { keys })), inTwo);
      assert.equal(total(await where.runs(two)), keys.length);
    });
  });
}
