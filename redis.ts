/**
 * A shared tier for `alruCache` on Redis or Valkey, through the user's own
 * client: node-redis (v4 or later) or ioredis, told apart by shape. This
 * module imports neither.
 *
 * @example
 * ```ts ignore
 * import { alruCache } from "@async-lru/async-lru";
 * import { redisStore } from "@async-lru/async-lru/redis";
 * import { createClient } from "redis";
 *
 * const client = await createClient({ url: "redis://127.0.0.1:6379" }).connect();
 * const getUser = alruCache(async (id: number) => ({ id }), {
 *   ttl: 60_000,
 *   store: redisStore(client, { namespace: "users:v1" }),
 * });
 * await getUser(1); // computed once across every process on this namespace
 * await getUser.cacheClose(); // the client stays open: it is yours
 * await client.quit();
 * ```
 *
 * @module
 */

import { type Connection, connectionOf } from "./redis_connection.ts";
import {
  type KeyNames,
  LeaseWaits,
  ReadBatch,
  type RedisLease,
  type Waiter,
  WriteBatch,
} from "./redis_batch.ts";
import type {
  CacheStore,
  ReadOrLease,
  StoredValue,
  StoreEvent,
  StoreLease,
  StoreSubscription,
} from "./store.ts";

/** Options of {@linkcode redisStore}. */
export interface RedisStoreOptions {
  /**
   * The prefix of every key and channel this store uses; two namespaces
   * never see each other's keys. Change it when the values' shape changes.
   */
  namespace: string;
  /**
   * How long a waiter waits, in milliseconds, before it reads whether its
   * key is still leased, in case a notification was missed; each read that
   * finds it leased doubles the wait, up to 8 times this, while the store's
   * subscriber connection is there to notify it.
   *
   * @default {200}
   */
  pollInterval?: number;
}

// Values are kept in an envelope, and leases with their generation: see
// redis_batch.ts, which reads and writes them.

// KEYS: generation, lease. ARGV: lease (generation:token), lease ms,
// generation. A lease from before a clear is not renewed.
const RENEW = `
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[3] then return 0 end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`;

// KEYS: lease. ARGV: lease (generation:token), channel, key.
const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], 'r:' .. ARGV[3])
return 1`;

// KEYS: value, lease. ARGV: channel, key.
const DELETE = `
local had = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[1], 'd:' .. ARGV[2])
return had`;

// KEYS: generation. ARGV: channel.
const CLEAR = `
redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], 'c')
return 1`;

// What the lease's key holds while `lease` holds it.
function held(lease: StoreLease): string {
  return `${(lease as RedisLease).generation}:${lease.token}`;
}

/**
 * A {@linkcode CacheStore} on Redis or Valkey, for `alruCache`'s `store`
 * option. It takes the user's own client, node-redis (v4 or later) or
 * ioredis, and never closes it.
 *
 * - A lease is a key with `PX`, set in a script only if no lease of the
 *   current generation holds it, with that generation and a random token;
 *   renewing and releasing it check both, so a process never drops
 *   another's lease, and a clear ends every lease as it ends the values.
 * - Values are written once, with their lifetime as the key's expiry
 *   (`PX`); a reader keeps its copy for what is left of it (`PTTL`), so the
 *   processes' clocks need not agree.
 * - Waiters are told through pub/sub on a second connection (a duplicate of
 *   the client, opened on the first miss and closed on `cacheClose()`), and
 *   read whether the key is still leased after `pollInterval`, then after
 *   twice as long each time, in case a message was missed. A
 *   duplicate that fails before it listens (the server is away) is closed,
 *   and the subscription rejects, rather than reconnect for ever.
 * - `cacheClear()` bumps the namespace's generation: O(1), no `KEYS` or
 *   `SCAN`. Every value is stamped with the generation it was written in, so
 *   values from before the clear read as absent at once; Redis keeps their
 *   bytes until their ttl ends or the key is written again (a value written
 *   with an infinite ttl stays until then).
 * - Each operation is one script, run by its digest: a read that finds a
 *   value, or takes the lease, is one round trip. The reads of many keys
 *   that miss together go in one script call per 512 keys.
 * - Scripts touch a namespace's generation key and a key's value and lease
 *   together, so Redis Cluster is not supported.
 *
 * @param client A connected node-redis or ioredis client.
 * @param options The namespace, and how often waiters poll.
 * @returns The store.
 * @throws {TypeError} If `client` is neither, or the namespace is not a
 * non-empty string.
 */
export function redisStore(
  client: object,
  options: RedisStoreOptions,
): CacheStore {
  const namespace = options?.namespace;
  if (typeof namespace !== "string" || namespace === "") {
    throw new TypeError(
      `redisStore option "namespace" must be a non-empty string; received ${
        namespace === "" ? "an empty string" : typeof namespace
      }`,
    );
  }
  const pollInterval = options.pollInterval ?? 200;
  if (!(pollInterval > 0) || pollInterval === Infinity) {
    throw new RangeError(
      `redisStore option "pollInterval" must be a positive, finite number of milliseconds; received ${pollInterval}`,
    );
  }
  return new RedisStore(connectionOf(client), namespace, pollInterval);
}

class RedisStore implements CacheStore {
  readonly notifies = true;
  readonly #connection: Connection;
  readonly #namespace: string;
  readonly #generationKey: string;
  readonly #channel: string;
  readonly #scripts = new Map<string, string>();
  // The pub/sub connection, shared by subscriptions and waiters.
  #subscriber: Promise<{ close(): Promise<void> }> | undefined;
  readonly #listeners = new Set<{
    listener: (event: StoreEvent) => void;
    onError: (error: unknown) => void;
  }>();
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #reads: ReadBatch;
  readonly #writes: WriteBatch;
  readonly #waits: LeaseWaits;

  constructor(connection: Connection, namespace: string, pollInterval: number) {
    this.#connection = connection;
    this.#namespace = namespace;
    this.#generationKey = `${namespace}:generation`;
    this.#channel = `${namespace}:events`;
    const run = (script: string, keys: string[], args: string[]) =>
      this.#run(script, keys, args);
    const names: KeyNames = {
      generation: this.#generationKey,
      value: (key) => this.#valueKey(key),
      lease: (key) => this.#leaseKey(key),
    };
    this.#reads = new ReadBatch(run, names);
    this.#writes = new WriteBatch(run, names, this.#channel);
    this.#waits = new LeaseWaits(
      this.#waiters,
      run,
      names,
      pollInterval,
      () => this.#subscriber !== undefined,
    );
  }

  readOrLease(key: string, leaseMs: number): Promise<ReadOrLease> {
    return this.#reads.readOrLease(key, leaseMs);
  }

  wait(
    key: string,
    options: { timeoutMs: number; signal: AbortSignal },
  ): Promise<void> {
    return this.#waits.wait(key, options);
  }

  write(key: string, value: StoredValue, lease: StoreLease): Promise<void> {
    if (!(value.ttl > 0)) return this.release(key, lease);
    return this.#writes.write(key, value, lease as RedisLease);
  }

  async renew(
    key: string,
    lease: StoreLease,
    leaseMs: number,
  ): Promise<boolean> {
    const renewed = await this.#run(
      RENEW,
      [this.#generationKey, this.#leaseKey(key)],
      [
        held(lease),
        String(Math.ceil(leaseMs)),
        (lease as RedisLease).generation,
      ],
    );
    return Number(renewed) === 1;
  }

  async release(key: string, lease: StoreLease): Promise<void> {
    await this.#run(RELEASE, [this.#leaseKey(key)], [
      held(lease),
      this.#channel,
      key,
    ]);
  }

  async delete(key: string): Promise<boolean> {
    const had = await this.#run(
      DELETE,
      [this.#valueKey(key), this.#leaseKey(key)],
      [this.#channel, key],
    );
    return Number(had) > 0;
  }

  async clear(): Promise<void> {
    await this.#run(CLEAR, [this.#generationKey], [this.#channel]);
  }

  async subscribe(
    listener: (event: StoreEvent) => void,
    onError: (error: unknown) => void,
  ): Promise<StoreSubscription> {
    const entry = { listener, onError };
    this.#listeners.add(entry);
    try {
      await this.#openSubscriber();
    } catch (error) {
      this.#listeners.delete(entry);
      throw error;
    }
    return {
      close: async () => {
        if (!this.#listeners.delete(entry) || this.#listeners.size > 0) return;
        const subscriber = this.#subscriber;
        this.#subscriber = undefined;
        await (await subscriber)?.close();
      },
    };
  }

  #openSubscriber(): Promise<{ close(): Promise<void> }> {
    this.#subscriber ??= this.#connection.subscriber(
      this.#channel,
      (message) => this.#message(message),
      (error) => this.#failed(error),
    ).catch((error) => {
      this.#subscriber = undefined;
      throw error;
    });
    return this.#subscriber;
  }

  #message(message: string): void {
    const kind = message[0];
    const key = message.slice(2);
    if (kind === "c") {
      for (const { listener } of this.#listeners) listener({ type: "clear" });
      for (const waiters of this.#waiters.values()) {
        for (const waiter of waiters) waiter.resolve();
      }
      return;
    }
    if (kind === "d") {
      for (const { listener } of this.#listeners) {
        listener({ type: "delete", key });
      }
    }
    for (const waiter of this.#waiters.get(key) ?? []) waiter.resolve();
  }

  // The subscriber connection failed: waiters stop waiting, listeners hear.
  #failed(error: unknown): void {
    for (const waiters of [...this.#waiters.values()]) {
      for (const waiter of [...waiters]) waiter.reject(error);
    }
    for (const { onError } of this.#listeners) onError(error);
  }

  #valueKey(key: string): string {
    return `${this.#namespace}:v:${key}`;
  }

  #leaseKey(key: string): string {
    return `${this.#namespace}:l:${key}`;
  }

  // Runs a script by its digest, loading it on first use or after a flush.
  async #run(
    script: string,
    keys: string[],
    args: string[],
  ): Promise<unknown> {
    const call = (sha: string) =>
      this.#connection.command([
        "EVALSHA",
        sha,
        String(keys.length),
        ...keys,
        ...args,
      ]);
    const sha = this.#scripts.get(script);
    if (sha !== undefined) {
      try {
        return await call(sha);
      } catch (error) {
        if (!String((error as Error)?.message).includes("NOSCRIPT")) {
          throw error;
        }
      }
    }
    const loaded = String(
      await this.#connection.command(["SCRIPT", "LOAD", script]),
    );
    this.#scripts.set(script, loaded);
    return call(loaded);
  }
}
