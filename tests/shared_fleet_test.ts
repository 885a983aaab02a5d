/**
 * The shared tier across real OS processes (§13): a fleet computes each key
 * once, slow work is not computed twice, a leader that dies hands its key
 * over, and a rejection is never shared. Each test runs on node-redis,
 * ioredis and Deno KV; the Redis ones need REDIS_URL (see tools/redis.ts)
 * and fail without it.
 */

import assert from "node:assert/strict";
import { BACKENDS } from "./shared/clients.ts";
import {
  type CallOutcome,
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

  Deno.test(`${backend}: fn taking 3× the lease runs once across 2 processes (the lease is renewed)`, async () => {
    await withFleet(backend, async (fleet, where) => {
      const namespace = freshNamespace("slow");
      const counter = `${namespace}:runs`;
      const config = configFor(where, {
        namespace,
        ttl: 60_000,
        lease: 300,
        fnMs: 900,
        counter: { key: counter },
      });
      const [a, b] = await fleet.start(config, config);
      const started = performance.now();
      const replies = await Promise.all([
        a.request("call", { keys: ["slow", "slow"] }),
        b.request("call", { keys: ["slow", "slow"] }),
      ]);
      const elapsed = performance.now() - started;
      const values = replies.flatMap(valuesOf);
      assert.equal(new Set(values.map((v) => v.nonce)).size, 1);
      assert.equal(total(await where.runs(counter)), 1);
      // One run of 900 ms and a wake-up, not two runs back to back.
      assert.ok(elapsed < 1_700, `took ${elapsed.toFixed(0)} ms`);
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

  Deno.test(`${backend}: a rejection is never written; the next process takes the lease and computes`, async () => {
    await withFleet(backend, async (fleet, where) => {
      const namespace = freshNamespace("rejection");
      const counter = `${namespace}:runs`;
      // The default lease (10 s): a handover faster than that shows the
      // failed leader released its lease rather than letting it expire.
      const base = { namespace, ttl: 60_000, counter: { key: counter } };
      const [failing, b] = await fleet.start(
        configFor(where, { ...base, fnMs: 200, fail: true }),
        configFor(where, { ...base, fnMs: 50 }),
      );
      const failed = failing.request("call", { keys: ["k"] });
      await failing.next("fnStart");
      const started = performance.now();
      const [failedReply, bReply] = await Promise.all([
        failed,
        b.request("call", { keys: ["k", "k"] }),
      ]);
      const elapsed = performance.now() - started;
      const [outcome] = failedReply.results as CallOutcome[];
      assert.equal(outcome.ok, false);
      assert.match(
        (outcome as { error: { message: string } }).error.message,
        /failed on purpose/,
      );
      const [value] = valuesOf(bReply);
      assert.equal(value.pid, b.pid, "b computed the key itself");
      assert.ok(elapsed < 2_000, `b waited ${elapsed.toFixed(0)} ms`);
      assert.equal(total(await where.runs(counter)), 2);

      // What the store holds is b's value, not the failure: the failing
      // process now reads it (its own failure was not kept either).
      await failing.request("set", { fail: false });
      const [again] = valuesOf(await failing.request("call", { keys: ["k"] }));
      assert.equal(again.nonce, value.nonce);
      assert.equal(total(await where.runs(counter)), 2);

      // A failure with nobody waiting leaves nothing behind either: the
      // next process computes at once.
      await failing.request("set", { fail: true });
      const [alone] = (await failing.request("call", { keys: ["k2"] }))
        .results as CallOutcome[];
      assert.equal(alone.ok, false);
      const quick = performance.now();
      const [fresh] = valuesOf(await b.request("call", { keys: ["k2"] }));
      assert.equal(fresh.pid, b.pid);
      assert.ok(performance.now() - quick < 1_000, "the lease was released");
    });
  });
}
