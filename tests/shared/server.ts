/**
 * A Redis server of a test's own, for the tests that do to it what the
 * others must not see (kill connections, flush scripts, refuse clients), and
 * ways to look at it and drive it without the clients under test.
 */

import assert from "node:assert/strict";
import {
  redisCommand,
  type RedisServer,
  startRedis,
} from "../../tools/redis.ts";
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

/** The ids of the server's pub/sub connections, oldest first. */
export async function pubsubClients(url: string): Promise<string[]> {
  const list = await redisCommand(url, "CLIENT", "LIST", "TYPE", "pubsub");
  return String(list).split("\n").map((line) => line.match(/\bid=(\d+)/)?.[1])
    .filter((id): id is string => id !== undefined);
}

/** How many connections listen on a namespace's channel. */
export async function subscribers(
  url: string,
  namespace: string,
): Promise<number> {
  const [, count] = await redisCommand(
    url,
    "PUBSUB",
    "NUMSUB",
    `${namespace}:events`,
  ) as [string, number];
  return count;
}

/** A connection of {@linkcode rawConnection}. */
export interface RawConnection {
  /** Sends a command whose reply is one line (`+OK`, `:1`); its text. */
  send(...args: (string | number)[]): Promise<string>;
  /**
   * Subscribes to `channel` and waits for the server's confirmation. The
   * connection then hears every message, and answers none.
   */
  subscribe(channel: string): Promise<void>;
  /** Closes the connection; again does nothing. */
  close(): void;
}

/**
 * One connection to the server at `url` with no client library, kept open:
 * a command sent over it needs no new connection, so it is answered while
 * the server refuses new ones (`maxclients`), and a subscription over it
 * listens without acknowledging anything, as a tool listening in, or a
 * process of an older version, would.
 */
export async function rawConnection(url: string): Promise<RawConnection> {
  const target = new URL(url);
  const conn = await Deno.connect({
    hostname: target.hostname,
    port: Number(target.port),
  });
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let buffered = "";
  let closed = false;
  const chunk = new Uint8Array(4096);
  const readUntil = async (done: () => boolean) => {
    while (!done()) {
      const read = await conn.read(chunk);
      assert.notEqual(read, null, "the server closed the raw connection");
      buffered += decoder.decode(chunk.subarray(0, read!), { stream: true });
    }
  };
  const write = async (args: (string | number)[]) => {
    const parts = [`*${args.length}\r\n`];
    for (const arg of args) {
      const text = String(arg);
      parts.push(`$${encoder.encode(text).length}\r\n${text}\r\n`);
    }
    const request = encoder.encode(parts.join(""));
    for (let written = 0; written < request.length;) {
      written += await conn.write(request.subarray(written));
    }
  };
  return {
    async send(...args) {
      await write(args);
      await readUntil(() => buffered.includes("\r\n"));
      const end = buffered.indexOf("\r\n");
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      if (line[0] === "-") throw new Error(line.slice(1));
      return line.slice(1);
    },
    async subscribe(channel) {
      await write(["SUBSCRIBE", channel]);
      // The confirmation ends with the number of channels it listens on.
      await readUntil(() => buffered.endsWith(":1\r\n"));
      buffered = "";
    },
    close() {
      if (!closed) conn.close();
      closed = true;
    },
  };
}
