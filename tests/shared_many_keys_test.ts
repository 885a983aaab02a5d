/**
 * Thousands of keys at once across real OS processes (§13.4): every process
 * of a fleet asks for the same 3,000 keys, either one process first (it
 * leads every key before the others ask) or all at the same moment; each key
 * is computed once across the fleet, every caller gets its key's one value,
 * and no process counts a store error: the reads and writes go in batches,
 * the waiters are woken by messages, and the watchdog measures the store,
 * not the queue of thousands of operations in the client. On node-redis and
 * ioredis, against the server at REDIS_URL. The eight-process version of
 * the same is a bench: bench/shared_many_keys.ts.
 */

import assert from "node:assert/strict";
import { REDIS_CLIENTS } from "./shared/clients.ts";
import {
  configFor,
  freshNamespace,
  valuesOf,
  withFleet,
  type WorkerProcess,
} from "./shared/harness.ts";

const PROCESSES = 3;
const KEYS = 3_000;
const FN_MS = 100;
// A generous bound on a reply: a fleet on two busy cores takes a few
// seconds, not this.
const REPLY_MS = 30_000;

const keys = Array.from({ length: KEYS }, (_, i) => `key-${i}`);

// Resolves once `worker` has begun running its function `count` times.
function started(worker: WorkerProcess, count: number): Promise<void> {
  let runs = 0;
  const { promise, resolve } = Promise.withResolvers<void>();
  const stop = worker.listen((message) => {
    if (message.type === "fnStart" && ++runs === count) resolve();
  });
  return promise.finally(stop);
}

for (const backend of REDIS_CLIENTS) {
  for (const mode of ["one leads", "all at once"] as const) {
    Deno.test(`${backend}: ${PROCESSES} processes × ${KEYS} keys, ${mode}: each key computed once, no store error`, async () => {
      await withFleet(backend, async (fleet, where) => {
        const config = configFor(where, {
          namespace: freshNamespace("many-keys"),
          ttl: 60_000,
          fnMs: FN_MS,
        });
        const workers = await fleet.start(
          ...Array.from({ length: PROCESSES }, () => config),
        );
        const ask = (worker: WorkerProcess) =>
          worker.request("call", { keys }, REPLY_MS);
        let replies;
        if (mode === "one leads") {
          const [leader, ...others] = workers;
          const leading = started(leader, KEYS);
          const led = ask(leader);
          await leading;
          replies = await Promise.all([led, ...others.map(ask)]);
        } else {
          replies = await Promise.all(workers.map(ask));
        }

        const runs: number[] = [];
        for (const worker of workers) {
          const { stats, runs: ran } = await worker.request("stats");
          assert.equal(
            (stats as { storeErrors: number }).storeErrors,
            0,
            `${worker.name} had store errors`,
          );
          runs.push(ran as number);
        }
        assert.equal(
          runs.reduce((a, b) => a + b),
          KEYS,
          `runs per process: ${runs}`,
        );
        // Every caller got its key's one value.
        const values = replies.map(valuesOf);
        for (let k = 0; k < KEYS; k++) {
          const nonces = new Set(values.map((v) => v[k].nonce));
          assert.equal(nonces.size, 1, `${keys[k]} was served two values`);
          assert.equal(values[0][k].key, keys[k]);
        }
      });
    });
  }
}
