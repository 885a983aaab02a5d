/**
 * The store contract (tests/store_contract.ts) on every store: memoryStore
 * on a ManualClock, Redis through node-redis and through ioredis (the
 * server at REDIS_URL; a server of the test's own for the failure tests,
 * which stop it), and Deno KV on a temporary database file opened twice.
 */

import { ManualClock } from "../mod.ts";
import { memoryStore } from "../memory.ts";
import { startRedis, stopServer } from "../tools/redis.ts";
import {
  connect,
  type Connection,
  REDIS_CLIENTS,
  sleep,
} from "./shared/clients.ts";
import { freshNamespace, tempKv } from "./shared/harness.ts";
import { redisUrl } from "../tools/redis.ts";
import { kvStore } from "../kv.ts";
import { storeContract } from "./store_contract.ts";

storeContract({
  name: "memoryStore",
  notifies: true,
  exact: true,
  open() {
    const clock = new ManualClock();
    const store = memoryStore({ clock });
    return Promise.resolve({
      // One store is one namespace: the caches of every "process" share it.
      store,
      other: store,
      elsewhere: memoryStore({ clock }),
      pass: (ms) => clock.advanceAsync(ms),
      pendingTimers: () => clock.pending,
      close: () => Promise.resolve(),
    });
  },
});

// Waiters poll once a minute, so that a wait that ends does so because the
// store was told, not because it read again.
const POLL = { pollInterval: 60_000 };

for (const backend of REDIS_CLIENTS) {
  storeContract({
    name: backend,
    notifies: true,
    exact: false,
    async open() {
      const url = redisUrl();
      const connections: Connection[] = [];
      try {
        connections.push(await connect(backend, url));
        connections.push(await connect(backend, url));
      } catch (error) {
        for (const connection of connections) await connection.close();
        throw error;
      }
      const [mine, theirs] = connections;
      const namespace = freshNamespace("contract");
      return {
        store: mine.store(namespace, POLL),
        other: theirs.store(namespace, POLL),
        elsewhere: mine.store(`${namespace}:elsewhere`, POLL),
        pass: sleep,
        async close() {
          for (const connection of connections) await connection.close();
        },
      };
    },
    failing: {
      what: "its server stopped (a server of the test's own)",
      async open() {
        const server = await startRedis();
        let connection: Connection | undefined;
        try {
          connection = await connect(backend, server.url, { failFast: true });
        } catch (error) {
          await server.stop();
          throw error;
        }
        const namespace = freshNamespace("contract-failing");
        const opened = connection;
        return {
          store: opened.store(namespace, POLL),
          another: () => opened.store(namespace, POLL),
          fail: () => stopServer(server),
          async close() {
            await opened.close();
            await server.stop();
            // What the clients leave when closed with their server away
            // ends within 20 ms (see failFast).
            await sleep(50);
          },
        };
      },
    },
  });
}

storeContract({
  name: "kv",
  notifies: false,
  exact: false,
  async open() {
    const file = await tempKv();
    const mine = await Deno.openKv(file.path);
    const theirs = await Deno.openKv(file.path);
    const namespace = ["contract", crypto.randomUUID()];
    return {
      store: kvStore(mine, { namespace }),
      other: kvStore(theirs, { namespace }),
      elsewhere: kvStore(mine, { namespace: [...namespace, "elsewhere"] }),
      pass: sleep,
      async close() {
        mine.close();
        theirs.close();
        await file.remove();
      },
    };
  },
  failing: {
    what: "its database closed",
    async open() {
      const file = await tempKv();
      const kv = await Deno.openKv(file.path);
      const namespace = ["contract-failing"];
      let open = true;
      return {
        store: kvStore(kv, { namespace }),
        another: () => kvStore(kv, { namespace }),
        fail() {
          kv.close();
          open = false;
          return Promise.resolve();
        },
        async close() {
          if (open) kv.close();
          await file.remove();
        },
      };
    },
  },
});
