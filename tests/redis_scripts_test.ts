/**
 * How `redisStore` loads its scripts, on a server of the test's own with
 * node-redis and with ioredis: a burst of first calls sends one `SCRIPT
 * LOAD` per script, not one per call, and so does a burst that finds every
 * script gone after `SCRIPT FLUSH`. The loads are counted at the client,
 * behind a Proxy.
 */

import assert from "node:assert/strict";
import { alruCache } from "../mod.ts";
import { redisStore } from "../redis.ts";
import { redisCommand } from "../tools/redis.ts";
import { REDIS_CLIENTS } from "./shared/clients.ts";
import { freshNamespace } from "./shared/harness.ts";
import { withServer } from "./shared/server.ts";

const TTL = 60_000;

/**
 * `client` behind a Proxy that notes the script of each `SCRIPT LOAD` it
 * sends (node-redis' `sendCommand`, ioredis' `call`), and is otherwise the
 * client: the adapter tells the clients apart by shape, and their methods
 * run on the client itself (they use its private fields).
 */
function countingScriptLoads(
  client: object,
): { client: object; loads: string[] } {
  const loads: string[] = [];
  const note = (args: unknown[]) => {
    const [name, sub, script] = args.map((arg) => String(arg));
    if (name.toUpperCase() === "SCRIPT" && sub?.toUpperCase() === "LOAD") {
      loads.push(script);
    }
  };
  const proxy = new Proxy(client, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if (property === "sendCommand") {
        return (args: unknown[], ...rest: unknown[]) => {
          note(args);
          return value.call(target, args, ...rest);
        };
      }
      if (property === "call") {
        return (...args: unknown[]) => {
          note(args);
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
  return { client: proxy, loads };
}

/** How many times each script was loaded. */
function perScript(loads: string[]): number[] {
  const counts = new Map<string, number>();
  for (const script of loads) counts.set(script, (counts.get(script) ?? 0) + 1);
  return [...counts.values()];
}

for (const backend of REDIS_CLIENTS) {
  Deno.test(`${backend}: 1,000 concurrent first calls of a cache load each script once, and 1,000 more after SCRIPT FLUSH load each once again`, async () => {
    await withServer([backend], async (server, [connection]) => {
      const counted = countingScriptLoads(connection.client!);
      const cached = alruCache((key: string) => `${key}!`, {
        ttl: TTL,
        maxSize: 5_000,
        // A burst on a shared machine must not time out into local runs,
        // which would load nothing and hide a second load.
        storeTimeout: 10_000,
        store: redisStore(counted.client, {
          namespace: freshNamespace("scripts"),
        }),
      });
      try {
        const burst = async (prefix: string) => {
          const keys = Array.from({ length: 1_000 }, (_, i) => `${prefix}${i}`);
          const values = await Promise.all(keys.map((key) => cached(key)));
          assert.deepEqual(values, keys.map((key) => `${key}!`));
        };
        await burst("first-");
        // Read or lease, and write.
        assert.deepEqual(
          perScript(counted.loads),
          [1, 1],
          `${counted.loads.length} loads for the first burst`,
        );
        assert.equal(cached.cacheStats().storeErrors, 0);

        await redisCommand(server.url, "SCRIPT", "FLUSH");
        counted.loads.length = 0;
        await burst("flushed-");
        assert.deepEqual(
          perScript(counted.loads),
          [1, 1],
          `${counted.loads.length} loads after the flush`,
        );
        assert.equal(cached.cacheStats().storeErrors, 0);
      } finally {
        await cached.cacheClose();
      }
    });
  });
}
