/**
 * A Redis server of a test's own, for the tests that do to it what the
 * others must not see (kill connections, flush scripts, refuse clients).
 */

import { type RedisServer, startRedis } from "../../tools/redis.ts";
import { type Backend, connect, type Connection } from "./clients.ts";

/**
 * Starts a server of the test's own and opens one connection to it per
 * backend given; after `body`, failed or not, closes them and stops the
 * server.
 */
export async function withServer(
  backends: Backend[],
  body: (server: RedisServer, connections: Connection[]) => Promise<void>,
): Promise<void> {
  const server = await startRedis();
  const connections: Connection[] = [];
  try {
    for (const backend of backends) {
      connections.push(await connect(backend, server.url));
    }
    await body(server, connections);
  } finally {
    for (const connection of connections) await connection.close();
    await server.stop();
  }
}
