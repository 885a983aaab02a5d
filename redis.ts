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

import {
  type Connection,
  connectionOf,
  countUp,
  Scripts,
} from "./redis_connection.ts";
import { ServerClock } from "./redis_format.ts";
import {
  type KeyNames,
  LeaseWaits,
  ReadBatch,
  type RedisLease,
  type Waiter,
  WriteBatch,
} from "./redis_batch.ts";
import {
  type CacheStore,
  type NoticeOptions,
  type ReadOrLease,
  type StoredValue,
  type StoreEvent,
  type StoreLease,
  type StoreSubscription,
  UnacknowledgedNoticeError,
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
// redis_format.ts, and redis_batch.ts, which reads and writes them.

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

// A delete or a clear is published as a notice with a random id, "d:" id
// ":" key or "c:" id, and returns how many subscriber connections it
// reached. Each store that hears it, once its listeners have returned, adds
// one to the notice's acknowledgement counter, which exists only while the
// sender may still read it; the sender reads it until it counts every one.

// KEYS: value, lease, acknowledgements. ARGV: channel, notice, ms the
// counter lives.
const DELETE = `
local had = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
local reached = redis.call('PUBLISH', ARGV[1], ARGV[2])
if reached > 0 then redis.call('SET', KEYS[3], '0', 'PX', ARGV[3]) end
return {had, reached}`;

// KEYS: generation, acknowledgements. ARGV: as DELETE's.
const CLEAR = `
redis.call('INCR', KEYS[1])
local reached = redis.call('PUBLISH', ARGV[1], ARGV[2])
if reached > 0 then redis.call('SET', KEYS[2], '0', 'PX', ARGV[3]) end
return reached`;

// KEYS: acknowledgements. One more, unless the sender has stopped counting.
const ACKNOWLEDGE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('INCR', KEYS[1])`;

// How long a sender waits for acknowledgements when not told.
const NOTICE_TIMEOUT_MS = 1_000;
// How much longer than its sender waits an acknowledgement counter lives, and
// the longest it lives at all.
const ACK_SLACK_MS = 1_000;
const ACK_LONGEST_MS = 3_600_000;

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
 *   (`PX`) and, in the value, as a deadline on the Redis server's clock
 *   (its `TIME` when written, plus the lifetime). A reader keeps its copy
 *   for what is left: the deadline less its estimate of the server's clock
 *   (`TIME`, read on first use and every minute, counted from when it was
 *   sent, so that the estimate is never behind), or `PTTL` when the read
 *   script found the value. Either way the server's clock measures, so the
 *   processes' clocks need not agree, and a copy never outlives the value;
 *   it may end early by the round trip of the clock's reading.
 * - Waiters and listeners are told through pub/sub on a second connection
 *   (a duplicate of the client, opened on the first miss and closed on
 *   `cacheClose()`); in case a message was missed, a waiter reads whether
 *   its key is still leased after `pollInterval`, then after twice as long
 *   each time. A duplicate that fails before it listens (the server is
 *   away) is closed, and the subscription rejects, rather than reconnect for
 *   ever.
 * - When that connection is lost (killed, a failover, a proxy's idle
 *   timeout), with either client, waiters are rejected and listeners'
 *   `onError` hears it. Once the client has reconnected and the server has
 *   taken the subscription back, listeners hear a `"gap"`: what other
 *   processes deleted and cleared meanwhile never arrived, so a cache drops
 *   every local copy.
 * - A delete or a clear publishes a notice and learns how many connections
 *   it reached. Each store that hears it, once its listeners have returned,
 *   acknowledges it on the user's client (an `INCR` of a short-lived counter
 *   under `<namespace>:ack:`), and the sender reads that counter (round
 *   trip after round trip for a millisecond, then backing off from 1 ms to
 *   16 ms) until all have. After `timeoutMs` (1,000 ms unless given) it
 *   rejects with {@linkcode UnacknowledgedNoticeError}; the change stands.
 *   Anything else listening on the namespace's channel (a process of an
 *   older version, a tool with `PSUBSCRIBE *`) counts as a process that did
 *   not acknowledge.
 * - `cacheClear()` bumps the namespace's generation: O(1), no `KEYS` or
 *   `SCAN`. Every value is stamped with the generation it was written in, so
 *   values from before the clear read as absent at once; Redis keeps their
 *   bytes until their ttl ends or the key is written again (a value written
 *   with an infinite ttl stays until then).
 * - The warm read (a value another process wrote) is one plain `MGET` of
 *   the namespace's generation and the value, no script: atomic, so the
 *   value is served only if it is of the generation read with it, as the
 *   script would. A key it finds no live value of this generation for goes
 *   on to the read script, which reads it again and takes the lease
 *   atomically, so a cold miss is two round trips. Until the server's clock
 *   has been read, reads go to the script alone.
 * - Every other operation is one script, run by its digest. The reads of
 *   many keys made together go in one `MGET`, then one script call, per 512
 *   keys. A script is loaded by one `SCRIPT LOAD` however many calls need it
 *   at once, on first use and again when the server has lost it
 *   (`NOSCRIPT` after a `SCRIPT FLUSH`, a restart, a failover).
 * - A value is kept as `alru3:`, its generation, `:`, its deadline on the
 *   server's clock (empty for none), `:`, then its text. Values of earlier
 *   versions' formats (`alru1:`, `alru2:`) read as absent and are written
 *   over; a process of an earlier version reads this format as corrupt (a
 *   store error), so a fleet that mixes versions should use a new
 *   namespace.
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
  readonly #scripts: Scripts;
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
    this.#scripts = new Scripts(connection);
    const run = (script: string, keys: string[], args: string[]) =>
      this.#run(script, keys, args);
    const names: KeyNames = {
      generation: this.#generationKey,
      value: (key) => this.#valueKey(key),
      lease: (key) => this.#leaseKey(key),
    };
    this.#reads = new ReadBatch(run, names, {
      command: (args) => connection.command(args),
      clock: new ServerClock((args) => connection.command(args)),
    });
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

  // The reads of a turn already share one MGET per 512 keys, then the read
  // script for the keys without a value: asked together, they go together.
  readOrLeaseMany(keys: string[], leaseMs: number): Promise<ReadOrLease[]> {
    return Promise.all(
      keys.map((key) => this.#reads.readOrLease(key, leaseMs)),
    );
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

  async delete(key: string, options?: NoticeOptions): Promise<boolean> {
    const timeoutMs = noticeTimeout(options);
    const id = crypto.randomUUID();
    const [had, reached] = await this.#run(
      DELETE,
      [this.#valueKey(key), this.#leaseKey(key), this.#ackKey(id)],
      [this.#channel, `d:${id}:${key}`, ackLifetime(timeoutMs)],
    ) as [number, number];
    await this.#acknowledged(
      `the delete of ${JSON.stringify(key)}`,
      id,
      Number(reached),
      timeoutMs,
    );
    return Number(had) > 0;
  }

  async clear(options?: NoticeOptions): Promise<void> {
    const timeoutMs = noticeTimeout(options);
    const id = crypto.randomUUID();
    const reached = await this.#run(
      CLEAR,
      [this.#generationKey, this.#ackKey(id)],
      [this.#channel, `c:${id}`, ackLifetime(timeoutMs)],
    );
    await this.#acknowledged("the clear", id, Number(reached), timeoutMs);
  }

  // Resolves once `reached` stores have acknowledged the notice `id`;
  // rejects once `timeoutMs` has passed without them.
  async #acknowledged(
    what: string,
    id: string,
    reached: number,
    timeoutMs: number,
  ): Promise<void> {
    if (reached <= 0) return;
    const acknowledged = await countUp(
      this.#connection,
      this.#ackKey(id),
      reached,
      timeoutMs,
    );
    if (acknowledged < reached) {
      throw new UnacknowledgedNoticeError(what, {
        reached,
        acknowledged,
        timeoutMs,
      });
    }
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
    this.#subscriber ??= this.#connection.subscriber(this.#channel, {
      message: (message) => this.#message(message),
      failed: (error) => this.#failed(error),
      resumed: () => this.#resumed(),
    }).catch((error) => {
      this.#subscriber = undefined;
      throw error;
    });
    return this.#subscriber;
  }

  // "w:" key and "r:" key wake the key's waiters; "d:" id ":" key and "c:"
  // id are notices (a key may hold ":", an id never does).
  #message(message: string): void {
    const kind = message.slice(0, 2);
    const rest = message.slice(2);
    if (kind === "c:") {
      this.#notice(rest, { type: "clear" });
      this.#wakeAll();
      return;
    }
    let key = rest;
    if (kind === "d:") {
      const colon = rest.indexOf(":");
      if (colon < 0) return;
      key = rest.slice(colon + 1);
      this.#notice(rest.slice(0, colon), { type: "delete", key });
    }
    for (const waiter of [...this.#waiters.get(key) ?? []]) waiter.resolve();
  }

  // Tells every listener of the notice `id`, then acknowledges it, unless a
  // listener threw: that one has not acted on it, and hears of it instead.
  #notice(id: string, event: StoreEvent): void {
    let returned = true;
    for (const { listener, onError } of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        returned = false;
        onError(error);
      }
    }
    if (!returned) return;
    this.#run(ACKNOWLEDGE, [this.#ackKey(id)], []).catch((error) => {
      for (const { onError } of [...this.#listeners]) onError(error);
    });
  }

  // The subscriber connection failed: waiters stop waiting, listeners hear.
  #failed(error: unknown): void {
    for (const waiters of [...this.#waiters.values()]) {
      for (const waiter of [...waiters]) waiter.reject(error);
    }
    for (const { onError } of [...this.#listeners]) onError(error);
  }

  // The subscriber connection listens again after a loss: what was published
  // meanwhile never arrived, so waiters read again and listeners hear a gap.
  #resumed(): void {
    this.#wakeAll();
    for (const { listener, onError } of [...this.#listeners]) {
      try {
        listener({ type: "gap" });
      } catch (error) {
        onError(error);
      }
    }
  }

  #wakeAll(): void {
    for (const waiters of [...this.#waiters.values()]) {
      for (const waiter of [...waiters]) waiter.resolve();
    }
  }

  #valueKey(key: string): string {
    return `${this.#namespace}:v:${key}`;
  }

  #leaseKey(key: string): string {
    return `${this.#namespace}:l:${key}`;
  }

  #ackKey(id: string): string {
    return `${this.#namespace}:ack:${id}`;
  }

  #run(script: string, keys: string[], args: string[]): Promise<unknown> {
    return this.#scripts.run(script, keys, args);
  }
}

// The `timeoutMs` of a delete or a clear, checked.
function noticeTimeout(options: NoticeOptions | undefined): number {
  const timeoutMs = options?.timeoutMs ?? NOTICE_TIMEOUT_MS;
  if (!(timeoutMs >= 0)) {
    throw new RangeError(
      `redisStore's timeoutMs must be a non-negative number of milliseconds; received ${timeoutMs}`,
    );
  }
  return timeoutMs;
}

// How long, in whole ms, a notice's acknowledgement counter lives: longer
// than its sender reads it, so that no acknowledgement is lost, and not for
// ever, so that a sender that died leaves nothing behind.
function ackLifetime(timeoutMs: number): string {
  return String(Math.ceil(Math.min(timeoutMs, ACK_LONGEST_MS)) + ACK_SLACK_MS);
}
