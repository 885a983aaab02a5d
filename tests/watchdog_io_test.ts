/**
 * The watchdog (watchdog.ts) on the runtime's clock and a real socket, the
 * one thing a ManualClock cannot show: a process that was busy runs its due
 * timers before it reads the answers that came meanwhile, so the watchdog
 * gives those answers a turn of the event loop before it ends an operation.
 * Against the server at REDIS_URL, on node-redis and on ioredis; each test
 * keeps its process busy for a fifth of a second.
 */

import assert from "node:assert/strict";
import { SystemClock } from "../clock.ts";
import { Watchdog } from "../watchdog.ts";
import { connect, REDIS_CLIENTS } from "./shared/clients.ts";
import { freshNamespace } from "./shared/harness.ts";
import { redisCommand, redisUrl } from "../tools/redis.ts";

const BOUND = 200;

for (const backend of REDIS_CLIENTS) {
  Deno.test(`${backend}: an answer that came while the process was busy past the bound is read before the bound ends its operation`, async () => {
    const connection = await connect(backend, redisUrl());
    const clock = new SystemClock();
    const watchdog = new Watchdog(() => clock);
    try {
      const store = connection.store(freshNamespace("watchdog-io"));
      await store.readOrLease("warm", 1_000); // the scripts are loaded
      // The server holds the command a little, so that its answer comes
      // while this process is busy, after the command went out.
      await redisCommand(redisUrl(), "CLIENT", "PAUSE", "30", "ALL");
      const started = performance.now();
      const reading = watchdog.bound(store.readOrLease("k", 1_000), BOUND);
      await new Promise((resolve) => setTimeout(resolve, 0));
      // Busy just past the bound, but not so late (a quarter of the bound)
      // that the timer shows a stall: the answer is in, unread.
      const busyUntil = started + BOUND + 5;
      while (performance.now() < busyUntil) { /* a long task */ }
      const found = await reading;
      assert.equal(found.status, "leased");
    } finally {
      watchdog.close();
      await connection.close();
    }
  });
}
