/**
 * A shared tier for `alruCache` on Deno KV: processes that open the same
 * database compute each key once.
 *
 * @example
 * ```ts
 * import { alruCache } from "./mod.ts";
 * import { kvStore } from "./kv.ts";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile();
 * const kv = await Deno.openKv(path);
 * const square = alruCache(async (n: number) => n * n, {
 *   ttl: 60_000,
 *   store: kvStore(kv, { namespace: ["squares", "v1"] }),
 * });
 * assert.equal(await square(3), 9);
 * await square.cacheClose();
 * kv.close();
 * await Deno.remove(path);
 * ```
 *
 * @module
 */

import type {
  CacheStore,
  ReadOrLease,
  StoredValue,
  StoreEvent,
  StoreLease,
  StoreSubscription,
} from "./store.ts";

/** Options of {@linkcode kvStore}. */
export interface KvStoreOptions {
  /** The prefix of every key this store writes; two namespaces never see each other's keys. */
  namespace: Deno.KvKey;
}

// KV refuses values over 64 KiB; the text is most of an entry.
const MAX_TEXT = 60 * 1024;
// Waiters poll: a local database cannot tell one process of another's writes.
const FIRST_POLL = 5;
const LONGEST_POLL = 200;
// A lease taken between our read and our write is a race we retry a few
// times before we call the key busy; so is a renewal of our own lease that
// commits between our read and our write or release.
const ATTEMPTS = 4;
// Processes that share a local database take turns to write; one that finds
// it locked tries again, sooner than the cache's storeTimeout gives up.
const LOCKED_RETRIES = 7;

function isLocked(error: unknown): boolean {
  return String((error as Error | undefined)?.message).includes(
    "database is locked",
  );
}

async function whenUnlocked<T>(operation: () => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (attempt === LOCKED_RETRIES || !isLocked(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 2 ** attempt));
    }
  }
}

interface KvLease extends StoreLease {
  readonly generation: bigint;
}

// A value with its deadline on this machine's wall clock, since KV keeps
// no expiry a reader can ask about: processes that share a database on one
// machine share that clock.
interface KvValue {
  text: string;
  expiresAt: number;
}

interface KvLeaseEntry {
  token: string;
  until: number;
}

// Whether `entry` is `lease`'s and has not ended: KV drops an entry some
// time after its `expireIn`, not at it.
function holds(entry: KvLeaseEntry | null, lease: StoreLease): boolean {
  return entry !== null && entry.token === lease.token &&
    entry.until > Date.now();
}

// KV takes whole milliseconds for `expireIn`; a fraction is rounded up, so
// that KV never drops an entry before its own deadline.
function expiry(ms: number): number {
  return Math.ceil(ms);
}

/**
 * A {@linkcode CacheStore} on a `Deno.Kv` database. A lease is an atomic
 * create-if-absent that carries its own deadline (KV's `expireIn` only sets
 * the earliest time KV may delete an entry), and so does each value. The
 * deadlines are read on the wall clock (`Date.now()`) of each process, which
 * the processes sharing a local database's file share; with a remote
 * database, a process whose clock is behind by some time reads a value for
 * that much longer, though its own copy still lives at most `localTtl`. Waiters
 * poll with backoff, since `watch` does not see other processes' writes to a
 * local database; `notifies` is `false`, so each process keeps its copy of a
 * value for at most the cache's `localTtl`. `cacheClear()` bumps a generation
 * that is part of every key.
 *
 * Values whose text is over 60 KiB are not written: the write fails with a
 * `TypeError`, which the cache counts as a store error, and the value is
 * served from the process that computed it only.
 *
 * @param kv The database, which the caller opens and closes.
 * @param options The namespace.
 * @returns The store.
 */
export function kvStore(kv: Deno.Kv, options: KvStoreOptions): CacheStore {
  return new KvStore(kv, options.namespace);
}

class KvStore implements CacheStore {
  readonly notifies = false;
  readonly #kv: Deno.Kv;
  readonly #namespace: Deno.KvKey;
  readonly #generationKey: Deno.KvKey;
  // Successive waits per key, for the backoff.
  readonly #polls = new Map<string, number>();

  constructor(kv: Deno.Kv, namespace: Deno.KvKey) {
    if (!Array.isArray(namespace)) {
      throw new TypeError(
        `kvStore option "namespace" must be a Deno.KvKey (an array of key parts); received ${typeof namespace}`,
      );
    }
    this.#kv = kv;
    this.#namespace = namespace;
    this.#generationKey = [...namespace, "generation"];
  }

  readOrLease(key: string, leaseMs: number): Promise<ReadOrLease> {
    return whenUnlocked(() => this.#readOrLease(key, leaseMs));
  }

  async #readOrLease(key: string, leaseMs: number): Promise<ReadOrLease> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const generationEntry = await this.#kv.get<Deno.KvU64>(
        this.#generationKey,
      );
      const generation = generationEntry.value?.value ?? 0n;
      const [valueEntry, leaseEntry] = await this.#kv.getMany<
        [KvValue, KvLeaseEntry]
      >([this.#valueKey(generation, key), this.#leaseKey(generation, key)]);
      const now = Date.now();
      const value = valueEntry.value;
      if (value !== null && value.expiresAt > now) {
        this.#polls.delete(key);
        return {
          status: "value",
          value: { text: value.text, ttl: value.expiresAt - now },
        };
      }
      if (leaseEntry.value !== null && leaseEntry.value.until > now) {
        return { status: "busy", ttl: leaseEntry.value.until - now };
      }
      const lease: KvLease = { token: crypto.randomUUID(), generation };
      const committed = await this.#kv.atomic()
        .check(generationEntry, valueEntry, leaseEntry)
        .set(
          this.#leaseKey(generation, key),
          { token: lease.token, until: now + leaseMs },
          { expireIn: expiry(leaseMs) },
        )
        .commit();
      if (committed.ok) {
        this.#polls.delete(key);
        return { status: "leased", lease };
      }
    }
    return { status: "busy" };
  }

  async wait(
    key: string,
    options: { timeoutMs: number; signal: AbortSignal },
  ): Promise<void> {
    // The caller reads again after each wait.
    const delay = Math.min(options.timeoutMs, this.#nextPoll(key));
    if (options.signal.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        options.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, delay);
      options.signal.addEventListener("abort", done);
    });
  }

  write(key: string, value: StoredValue, lease: StoreLease): Promise<void> {
    return whenUnlocked(() => this.#write(key, value, lease));
  }

  async #write(
    key: string,
    value: StoredValue,
    lease: StoreLease,
  ): Promise<void> {
    if (value.text.length > MAX_TEXT) {
      await this.release(key, lease);
      throw new TypeError(
        `kvStore cannot keep a value of ${value.text.length} characters for key ${
          JSON.stringify(key)
        }: Deno KV's values are limited to 64 KiB`,
      );
    }
    const { generation } = lease as KvLease;
    const leaseKey = this.#leaseKey(generation, key);
    // A renewal of this very lease that commits between the read and the
    // write changes its entry, and fails the check: read again then.
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const [generationEntry, leaseEntry] = await this.#kv.getMany<
        [Deno.KvU64, KvLeaseEntry]
      >([this.#generationKey, leaseKey]);
      // A clear or an invalidation since the lease was taken wins, and so
      // does the end of the lease, which KV may not have dropped yet.
      if (
        (generationEntry.value?.value ?? 0n) !== generation ||
        !holds(leaseEntry.value, lease)
      ) {
        return;
      }
      const remaining = value.ttl;
      if (!(remaining > 0)) return this.#release(key, lease);
      const stored: KvValue = {
        text: value.text,
        expiresAt: Date.now() + remaining,
      };
      const committed = await this.#kv.atomic()
        .check(generationEntry, leaseEntry)
        .set(
          this.#valueKey(generation, key),
          stored,
          remaining === Infinity ? undefined : { expireIn: expiry(remaining) },
        )
        .delete(leaseKey)
        .commit();
      if (committed.ok) return;
    }
    throw new Error(
      `kvStore could not write key ${
        JSON.stringify(key)
      }: its lease kept changing`,
    );
  }

  renew(key: string, lease: StoreLease, leaseMs: number): Promise<boolean> {
    return whenUnlocked(() => this.#renew(key, lease, leaseMs));
  }

  async #renew(
    key: string,
    lease: StoreLease,
    leaseMs: number,
  ): Promise<boolean> {
    const { generation } = lease as KvLease;
    const leaseKey = this.#leaseKey(generation, key);
    const [generationEntry, entry] = await this.#kv.getMany<
      [Deno.KvU64, KvLeaseEntry]
    >([this.#generationKey, leaseKey]);
    // A lease that has ended, or that a clear has ended, is not taken back.
    if (
      (generationEntry.value?.value ?? 0n) !== generation ||
      !holds(entry.value, lease)
    ) {
      return false;
    }
    const committed = await this.#kv.atomic()
      .check(generationEntry, entry)
      .set(
        leaseKey,
        { token: lease.token, until: Date.now() + leaseMs },
        { expireIn: expiry(leaseMs) },
      )
      .commit();
    return committed.ok;
  }

  release(key: string, lease: StoreLease): Promise<void> {
    return whenUnlocked(() => this.#release(key, lease));
  }

  async #release(key: string, lease: StoreLease): Promise<void> {
    const leaseKey = this.#leaseKey((lease as KvLease).generation, key);
    // As for a write, a renewal that commits in between means reading again.
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const entry = await this.#kv.get<KvLeaseEntry>(leaseKey);
      if (entry.value?.token !== lease.token) return;
      const committed = await this.#kv.atomic().check(entry).delete(leaseKey)
        .commit();
      if (committed.ok) return;
    }
    throw new Error(
      `kvStore could not release key ${
        JSON.stringify(key)
      }: its lease kept changing`,
    );
  }

  delete(key: string): Promise<boolean> {
    return whenUnlocked(() => this.#delete(key));
  }

  async #delete(key: string): Promise<boolean> {
    const generation = await this.#generation();
    const valueKey = this.#valueKey(generation, key);
    const entry = await this.#kv.get<KvValue>(valueKey);
    await this.#kv.atomic()
      .delete(valueKey)
      .delete(this.#leaseKey(generation, key))
      .commit();
    return entry.value !== null && entry.value.expiresAt > Date.now();
  }

  clear(): Promise<void> {
    return whenUnlocked(() => this.#clear());
  }

  async #clear(): Promise<void> {
    await this.#kv.atomic()
      .sum(this.#generationKey, 1n)
      .commit();
  }

  subscribe(
    _listener: (event: StoreEvent) => void,
    _onError: (error: unknown) => void,
  ): Promise<StoreSubscription> {
    // Nothing to listen to: local copies live at most localTtl instead.
    return Promise.resolve({ close: () => Promise.resolve() });
  }

  // Backs off from FIRST_POLL to LONGEST_POLL over successive waits for a
  // key, until the key is read or leased.
  #nextPoll(key: string): number {
    const count = this.#polls.get(key) ?? 0;
    this.#polls.set(key, Math.min(count + 1, 6));
    return Math.min(LONGEST_POLL, FIRST_POLL * 2 ** count);
  }

  async #generation(): Promise<bigint> {
    const entry = await this.#kv.get<Deno.KvU64>(this.#generationKey);
    return entry.value?.value ?? 0n;
  }

  #valueKey(generation: bigint, key: string): Deno.KvKey {
    return [...this.#namespace, "value", generation, key];
  }

  #leaseKey(generation: bigint, key: string): Deno.KvKey {
    return [...this.#namespace, "lease", generation, key];
  }
}
