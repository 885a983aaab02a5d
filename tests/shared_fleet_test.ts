/**
 * The shared tier across real OS processes (§13): a fleet computes each key
 * once, and a leader that dies hands its key over when its lease ends. Each
 * test runs on node-redis, ioredis and Deno KV; the Redis ones need
 * REDIS_URL (see tools/redis.ts) and fail without it. The protocol itself
 * (renewed leases, rejections never shared, waiting) is tested in one
 * process, on memoryStore and a ManualClock, in shared_protocol_test.ts.
 */

import assert from "node:assert/strict";
import { BACKENDS } from "./shared/clients.ts";
import {
  configFor,
  freshNamespace,
  total,
  valuesOf,
  withFleet,
} from "./shared/harness.ts";

const PROCESSES = 4;
const CALLS = 100;
const KEYS = 20;

for (const backend of BACKENDS) {
  Deno.test(`${backend}: ${PROCESSES} processes × ${CALLS} calls × ${KEYS} keys run fn once per key`, async () => {
    await withFleet(backend, async (fleet, where) => {
      const namespace = freshNamespace("fleet");
      const counter = `${namespace}:runs`;
      const config = configFor(where, {
        namespace,
        ttl: 60_000,
        fnMs: 50,
        counter: { key: counter },
      });
      const workers = await fleet.start(
        ...Array.from({ length: PROCESSES }, () => config),
      );
      const keys = Array.from({ length: CALLS }, (_, i) => `key-${i % KEYS}`);
      // Sent in one turn, after every process is ready: the calls overlap.
      const replies = await Promise.all(
        workers.map((w) => w.request("call", { keys })),
      );

      const starts = replies.map((r) => r.started as number);
      const ends = replies.map((r) => r.ended as number);
      assert.ok(
        Math.max(...starts) < Math.min(...ends),
        `the processes' calls did not overlap: started ${starts}, ended ${ends}`,
      );
      for (const worker of workers) {
        const { stats } = await worker.request("stats");
        assert.equal(
          (stats as { storeErrors: number }).storeErrors,
          0,
          `${worker.name} had store errors, so it ran fn unshared`,
        );
      }

      const runs = await where.runs(counter);
      assert.equal(
        total(runs),
        KEYS,
        `runs per key: ${JSON.stringify([...runs])}`,
      );
      for (let k = 0; k < KEYS; k++) assert.equal(runs.get(`key-${k}`), 1);

      // Every one of the 400 callers got its key's single value.
      const nonces = new Map<string, Set<string>>();
      for (const reply of replies) {
        for (const value of valuesOf(reply)) {
          let seen = nonces.get(value.key);
          if (seen === undefined) nonces.set(value.key, seen = new Set());
          seen.add(value.nonce);
        }
      }
      assert.equal(nonces.size, KEYS);
      for (const [key, seen] of nonces) {
        assert.equal(seen.size, 1, `${key} was served ${seen.size} values`);
      }
      assert.equal(
        new Set([...nonces.values()].map((s) => [...s][0])).size,
        KEYS,
        "each key has a value of its own",
      );
      const inProcess = await Promise.all(
        workers.map(async (w) => (await w.request("stats")).runs as number),
      );
      assert.equal(inProcess.reduce((a, b) => a + b), KEYS);
    });
  });

  Deno.test(`${backend}: a leader killed mid-run hands the key over within lease + 1 s`, async () => {
    const lease = 1_000;
    await withFleet(backend, async (fleet, where) => {
      const namespace = freshNamespace("leader-dies");
      const counter = `${namespace}:runs`;
      const base = { namespace, ttl: 60_000, lease, counter: { key: counter } };
      const [leader, b, c] = await fleet.start(
        // The leader's run would outlast the test; it is killed in it.
        configFor(where, { ...base, fnMs: 60_000 }),
        configFor(where, { ...base, fnMs: 50 }),
        configFor(where, { ...base, fnMs: 50 }),
      );
      const started = leader.next("fnStart");
      const leaderCall = leader.request("call", { keys: ["k"] });
      leaderCall.catch(() => {}); // it dies with the process
      await started;
      // Both wait on the leader's lease, several callers each.
      const waiting = [
        b.request("call", { keys: ["k", "k", "k"] }),
        c.request("call", { keys: ["k", "k", "k"] }),
      ];
      // Let them find the key busy before the leader goes.
      await Promise.all([b.request("ping"), c.request("ping")]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const killedAt = performance.now();
      await leader.kill();
      const replies = await Promise.all(waiting);
      const handover = performance.now() - killedAt;
      console.log(
        `${backend}: key computed ${
          handover.toFixed(0)
        } ms after the leader's SIGKILL (lease ${lease} ms)`,
      );
      assert.ok(
        handover <= lease + 1_000,
        `took ${handover.toFixed(0)} ms after the kill`,
      );
      const values = replies.flatMap(valuesOf);
      assert.equal(values.length, 6);
      assert.equal(new Set(values.map((v) => v.nonce)).size, 1);
      assert.notEqual(values[0].pid, leader.pid);
      // The dead leader's run and exactly one more.
      assert.equal(total(await where.runs(counter)), 2);
    });
  });
}
