/**
 * Opening and closing the stores the shared-tier tests run on: a node-redis
 * or an ioredis client given to `redisStore`, or a `Deno.Kv` on a file given
 * to `kvStore`. The parent tests and the child processes (worker.ts) open
 * them the same way, so that a difference between processes is never a
 * difference of setup.
 */

import { once } from "node:events";
import type { CacheStore } from "../../store.ts";
import { redisStore } from "../../redis.ts";
import { kvStore } from "../../kv.ts";

/** Where a shared tier lives in a test. */
export type Backend = "node-redis" | "ioredis" | "kv";

/** Both Redis clients: every Redis test runs once with each. */
export const REDIS_CLIENTS = ["node-redis", "ioredis"] as const;

/** Every backend, for the tests that run on Deno KV too. */
export const BACKENDS: readonly Backend[] = [...REDIS_CLIENTS, "kv"];

/** What {@linkcode Connection.store} may be told besides the namespace. */
export interface StoreSettings {
  /** redisStore's `pollInterval`; KV has none. */
  pollInterval?: number;
}

/** How {@linkcode connect} sets up a Redis client. */
export interface ClientSettings {
  /**
   * Commands fail at once while the client has no connection, instead of
   * waiting for it to come back (node-redis `disableOfflineQueue`, ioredis
   * `maxRetriesPerRequest: 0`), so that a test of a server gone away sees
   * the store's own behaviour rather than the client's patience. The client
   * still reconnects, every 20 ms, and what it leaves behind when closed
   * while its server is away ends within 20 ms too (the delay of its next
   * attempt for node-redis; for ioredis `disconnectTimeout`, which
   * disconnect() arms even when the socket is long gone).
   */
  failFast?: boolean;
}

/** An open client or database, and the stores made on it. */
export interface Connection {
  readonly backend: Backend;
  /** A store on this connection; two namespaces never share keys. */
  store(namespace: string, settings?: StoreSettings): CacheStore;
  /** One round trip through the connection, to show it is still open. */
  ping(): Promise<void>;
  /** The `Deno.Kv` itself, for the KV backend. */
  readonly kv?: Deno.Kv;
  /** The Redis client itself, for a test that wraps it. */
  readonly client?: object;
  /** Closes the connection and waits until its socket or file is gone. */
  close(): Promise<void>;
}

/** A KV namespace of the tests' own, under one prefix. */
export function kvNamespace(namespace: string): Deno.KvKey {
  return ["alru-tests", namespace];
}

/**
 * Opens `backend` on `target`: a `redis://` URL for the Redis clients, a
 * database file for KV. The clients are imported only when used, so that a
 * child process loads one library, not both.
 */
export async function connect(
  backend: Backend,
  target: string,
  settings: ClientSettings = {},
): Promise<Connection> {
  if (backend === "kv") {
    const kv = await Deno.openKv(target);
    return {
      backend,
      kv,
      store: (namespace) => kvStore(kv, { namespace: kvNamespace(namespace) }),
      ping: async () => void await kv.get(["alru-tests", "ping"]),
      close: () => Promise.resolve(kv.close()),
    };
  }
  if (backend === "node-redis") {
    const { createClient } = await import("redis");
    const client = createClient({
      url: target,
      ...(settings.failFast
        ? { disableOfflineQueue: true, socket: { reconnectStrategy: () => 20 } }
        : {}),
    });
    // An 'error' event without a listener is thrown by the emitter, which
    // would end the process when a test stops the server on purpose.
    client.on("error", () => {});
    await client.connect();
    return {
      backend,
      client,
      store: (namespace, options) =>
        redisStore(client, { namespace, ...options }),
      ping: async () => void await client.ping(),
      async close() {
        // close() waits for the replies still due; destroy() is for a client
        // that cannot get them (its server is gone).
        if (!client.isOpen) return;
        try {
          await within(2_000, "node-redis close", client.close());
        } catch {
          if (client.isOpen) client.destroy();
        }
      },
    };
  }
  const { Redis } = await import("ioredis");
  const client = new Redis(
    target,
    settings.failFast
      ? {
        maxRetriesPerRequest: 0,
        retryStrategy: () => 20,
        disconnectTimeout: 20,
      }
      : {},
  );
  client.on("error", () => {});
  await within(5_000, "ioredis connect", once(client, "ready"));
  return {
    backend,
    client,
    store: (namespace, options) =>
      redisStore(client, { namespace, ...options }),
    ping: async () => void await client.ping(),
    async close() {
      // quit() resolves on the reply, before the socket has closed; "end"
      // keeps the close inside the test for the resource sanitizer.
      if (client.status === "end") return;
      if (client.status === "reconnecting" || client.status === "wait") {
        // No socket to close, and no "end" to wait for: ioredis emits none
        // when it is told to stop between reconnection attempts.
        client.disconnect();
        return;
      }
      const ended = once(client, "end");
      try {
        await within(2_000, "ioredis quit", client.quit());
      } catch {
        client.disconnect();
      }
      await within(5_000, "ioredis end", ended);
    },
  };
}

/** Fails instead of hanging when `work` does not settle within `ms`. */
export async function within<T>(
  ms: number,
  what: string,
  work: Promise<T>,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: not done in ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms` of real time. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Milliseconds since the epoch, with sub-millisecond precision, comparable across processes on one machine. */
export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

/** A store that counts the calls of each of its methods. */
export interface CountingStore {
  readonly store: CacheStore;
  /** Calls per method name. */
  readonly calls: Map<string, number>;
  /** Calls of every method. */
  total(): number;
}

/**
 * Wraps `store` in a plain object that forwards every method (with the
 * store as `this`: its fields are private) and counts it, so that a test can
 * say a call never reached the store.
 */
export function counting(store: CacheStore): CountingStore {
  const calls = new Map<string, number>();
  const count = (method: string) =>
    calls.set(method, (calls.get(method) ?? 0) + 1);
  const wrapped: CacheStore = {
    notifies: store.notifies,
    readOrLease: (
      ...args
    ) => (count("readOrLease"), store.readOrLease(...args)),
    wait: (...args) => (count("wait"), store.wait(...args)),
    write: (...args) => (count("write"), store.write(...args)),
    renew: (...args) => (count("renew"), store.renew(...args)),
    release: (...args) => (count("release"), store.release(...args)),
    delete: (...args) => (count("delete"), store.delete(...args)),
    clear: (...args) => (count("clear"), store.clear(...args)),
    subscribe: (...args) => (count("subscribe"), store.subscribe(...args)),
  };
  return {
    store: wrapped,
    calls,
    total: () => [...calls.values()].reduce((a, b) => a + b, 0),
  };
}
