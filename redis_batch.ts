/**
 * How `redisStore` reads, writes and waits for many keys at once, so that a
 * process with thousands of keys in flight sends a few script calls, not
 * thousands, and its waiters cost the server next to nothing:
 *
 * - {@linkcode ReadBatch} and {@linkcode WriteBatch}: the `readOrLease` (or
 *   `write`) calls of one turn go together, up to {@linkcode CHUNK} keys per
 *   script call, each key read, leased or written atomically as alone; a
 *   lone call is one script call, as before.
 * - {@linkcode LeaseWaits}: waiters are woken by messages (the store's
 *   pub/sub connection); in case one is missed, one timer for them all reads
 *   whether their keys are still leased, with backoff, the keys due
 *   together in one script call per chunk.
 *
 * It also holds the format of a value in Redis, which reading must know.
 *
 * @module
 */

import type { ReadOrLease, StoredValue } from "./store.ts";

/**
 * Every value is kept as ENVELOPE, the generation it was written in, ":",
 * then the text, so that anything else under the key reads as corrupt rather
 * than as a value, and a value of an older generation (from before a clear)
 * as none. Its lifetime is the key's own expiry in Redis, read with PTTL, so
 * that no process's wall clock decides when it ends.
 */
export const ENVELOPE = "alru2:";
/**
 * The envelope of earlier versions, which kept a deadline of the writer's
 * wall clock: read as no value, and written over.
 */
export const FORMER_ENVELOPE = "alru1:";

/**
 * Keys in one script call. Redis runs a script to its end before anything
 * else, so a call stays short: about a millisecond of the server's. And a
 * client on a busy process may send as little as one command per turn of
 * its event loop (ioredis writes each command to the socket on its own), so
 * few, large calls reach the server sooner than many small ones.
 */
export const CHUNK = 512;

// What READ_OR_LEASE found for a key without a value.
const LEASED = 1;
const BUSY = 2;
const CORRUPT = 3;

// A lease is kept as the generation it was taken in, ":", then its token, so
// that a clear ends it as it ends the values: a lease of an older generation
// holds nothing, and the next reader takes the key.

/**
 * KEYS: the generation, then each key's value and lease. ARGV: lease ms, the
 * tokens' prefix. For each key, in order: its text (in its envelope) and what
 * is left of its lifetime, when it has a value of this generation; else
 * LEASED and its token (the prefix and the key's place), after taking its
 * lease, when no lease of this generation holds it; else BUSY and what is
 * left of the lease (-1 for none: no cache's), or CORRUPT and 0. Last, the
 * generation.
 */
export const READ_OR_LEASE = `
local generation = redis.call('GET', KEYS[1]) or '0'
local current = '${ENVELOPE}' .. generation .. ':'
local held = generation .. ':'
local found = {}
for i = 2, #KEYS, 2 do
  local value = redis.call('GET', KEYS[i])
  if value and string.sub(value, 1, string.len(current)) == current then
    found[i - 1] = value
    found[i] = redis.call('PTTL', KEYS[i])
  elseif value and string.sub(value, 1, ${ENVELOPE.length}) ~= '${ENVELOPE}' and
      string.sub(value, 1, ${FORMER_ENVELOPE.length}) ~= '${FORMER_ENVELOPE}' then
    found[i - 1] = ${CORRUPT}
    found[i] = 0
  else
    local lease = redis.call('GET', KEYS[i + 1])
    if lease and string.sub(lease, 1, string.len(held)) == held then
      found[i - 1] = ${BUSY}
      found[i] = redis.call('PTTL', KEYS[i + 1])
    else
      local token = ARGV[2] .. (i / 2)
      redis.call('SET', KEYS[i + 1], held .. token, 'PX', ARGV[1])
      found[i - 1] = ${LEASED}
      found[i] = token
    end
  end
end
found[#KEYS] = generation
return found`;

/**
 * KEYS: the generation, then leases. For each lease, what is left of it if
 * it is of this generation, else -2: whether a waiter's key may be free.
 */
export const LEASES_LEFT = `
local held = (redis.call('GET', KEYS[1]) or '0') .. ':'
local left = {}
for i = 2, #KEYS do
  local lease = redis.call('GET', KEYS[i])
  if lease and string.sub(lease, 1, string.len(held)) == held then
    left[i - 1] = redis.call('PTTL', KEYS[i])
  else
    left[i - 1] = -2
  end
end
return left`;

/**
 * KEYS: the generation, then each key's value and lease. ARGV: the channel,
 * then for each key its lease (generation:token), its text in its envelope,
 * its lifetime in ms ('' for none) and the key. A clear or an invalidation
 * since a lease was taken wins: a value is written, its lease dropped and
 * its waiters told only if the lease still holds and is of this generation.
 */
export const WRITE = `
local held = (redis.call('GET', KEYS[1]) or '0') .. ':'
local written = {}
for i = 2, #KEYS, 2 do
  local a = 2 * i - 2
  local lease = ARGV[a]
  if string.sub(lease, 1, string.len(held)) == held and
      redis.call('GET', KEYS[i + 1]) == lease then
    if ARGV[a + 2] == '' then
      redis.call('SET', KEYS[i], ARGV[a + 1])
    else
      redis.call('SET', KEYS[i], ARGV[a + 1], 'PX', ARGV[a + 2])
    end
    redis.call('DEL', KEYS[i + 1])
    redis.call('PUBLISH', ARGV[1], 'w:' .. ARGV[a + 3])
    written[i / 2] = 1
  else
    written[i / 2] = 0
  end
end
return written`;

/** Runs one of the scripts above by its digest. */
export type RunScript = (
  script: string,
  keys: string[],
  args: string[],
) => Promise<unknown>;

/** Where a namespace keeps a key's value and lease, and its generation. */
export interface KeyNames {
  /** The namespace's generation. */
  readonly generation: string;
  /** Where `key`'s value is kept. */
  value(key: string): string;
  /** Where `key`'s lease is kept. */
  lease(key: string): string;
}

// Collects calls and sends them together, in chunks of CHUNK that `same`
// keeps together: at the end of the turn when nothing is in flight, so that
// a lone call waits for nothing; else once a call in flight answers, or at
// the next turn of the event loop at the latest. So calls made in different
// turns (each in the callback of a timer, a function's run ending) go
// together while the store is busy, and none waits on an answer that may
// never come. A chunk counts as answered before its callers hear, so that a
// caller who calls again at once is sent at once.
class Turn<T extends { reject(error: unknown): void }> {
  #calls: T[] = [];
  #inFlight = 0;
  #scheduled = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #same: (a: T, b: T) => boolean;
  readonly #send: (chunk: T[]) => Promise<unknown>;
  readonly #settle: (chunk: T[], answer: unknown) => void;
  readonly #flush = () => {
    this.#scheduled = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const calls = this.#calls;
    if (calls.length === 0) return;
    this.#calls = [];
    const same = this.#same;
    let start = 0;
    for (let end = 1; end <= calls.length; end++) {
      if (
        end === calls.length || end - start === CHUNK ||
        !same(calls[start], calls[end])
      ) {
        this.#sendChunk(
          start === 0 && end === calls.length ? calls : calls.slice(start, end),
        );
        start = end;
      }
    }
  };

  constructor(
    same: (a: T, b: T) => boolean,
    send: (chunk: T[]) => Promise<unknown>,
    settle: (chunk: T[], answer: unknown) => void,
  ) {
    this.#same = same;
    this.#send = send;
    this.#settle = settle;
  }

  add(call: T): void {
    this.#calls.push(call);
    if (this.#scheduled) return;
    this.#scheduled = true;
    if (this.#inFlight === 0) queueMicrotask(this.#flush);
    else this.#timer = setTimeout(this.#flush, 0);
  }

  async #sendChunk(chunk: T[]): Promise<void> {
    this.#inFlight++;
    let answer: unknown;
    try {
      answer = await this.#send(chunk);
    } catch (error) {
      this.#answered();
      for (const call of chunk) call.reject(error);
      return;
    }
    this.#answered();
    try {
      this.#settle(chunk, answer);
    } catch (error) {
      // An answer it cannot read fails the calls it has not settled.
      for (const call of chunk) call.reject(error);
    }
  }

  #answered(): void {
    if (--this.#inFlight === 0 && this.#timer !== undefined) this.#flush();
  }
}

// A readOrLease, until the script call of its turn answers.
interface Read {
  readonly key: string;
  readonly leaseMs: number;
  resolve(found: ReadOrLease): void;
  reject(error: unknown): void;
}

/** The `readOrLease` calls of one store, sent together at the end of each turn. */
export class ReadBatch {
  readonly #run: RunScript;
  readonly #names: KeyNames;
  readonly #turn = new Turn<Read>(
    (a, b) => a.leaseMs === b.leaseMs,
    (reads) => this.#send(reads),
    (reads, found) => this.#settle(reads, found),
  );
  // A lease's token is this store's random prefix, the number of the script
  // call that took it, and the key's place in that call: new for every
  // lease without a random draw for each.
  readonly #tokenPrefix = crypto.randomUUID().slice(0, 18) + ".";
  #calls = 0;
  // The lease length last sent, as text.
  #leaseMs = NaN;
  #leaseText = "";

  /** `run` runs the scripts; `names` says where the keys are kept. */
  constructor(run: RunScript, names: KeyNames) {
    this.#run = run;
    this.#names = names;
  }

  /** Reads `key` or takes its lease, with the other reads of this turn. */
  readOrLease(key: string, leaseMs: number): Promise<ReadOrLease> {
    return new Promise<ReadOrLease>((resolve, reject) => {
      this.#turn.add({ key, leaseMs, resolve, reject });
    });
  }

  #send(reads: Read[]): Promise<unknown> {
    const keys = [this.#names.generation];
    for (const { key } of reads) {
      keys.push(this.#names.value(key), this.#names.lease(key));
    }
    const { leaseMs } = reads[0];
    if (leaseMs !== this.#leaseMs) {
      this.#leaseMs = leaseMs;
      this.#leaseText = String(Math.ceil(leaseMs));
    }
    return this.#run(READ_OR_LEASE, keys, [
      this.#leaseText,
      this.#tokenPrefix + this.#calls++ + ".",
    ]);
  }

  #settle(reads: Read[], found: unknown): void {
    if (!Array.isArray(found) || found.length !== 2 * reads.length + 1) {
      throw new TypeError("redisStore read an answer it did not expect");
    }
    const generation = String(found[found.length - 1]);
    for (let i = 0; i < reads.length; i++) {
      const first = found[2 * i];
      const second = found[2 * i + 1];
      const read = reads[i];
      if (typeof first === "string" && first.startsWith(ENVELOPE)) {
        // PTTL is -1 for a key without expiry.
        const ttl = Number(second);
        read.resolve({
          status: "value",
          value: {
            text: first.slice(first.indexOf(":", ENVELOPE.length) + 1),
            ttl: ttl < 0 ? Infinity : ttl,
          },
        });
      } else if (Number(first) === LEASED) {
        const lease = { token: String(second), generation };
        read.resolve({ status: "leased", lease });
      } else if (Number(first) === BUSY) {
        // What is left of the lease: -1 for a lease key without expiry,
        // which no cache made.
        const left = Number(second);
        read.resolve({ status: "busy", ttl: left < 0 ? Infinity : left });
      } else {
        read.reject(
          new TypeError(
            `redisStore found a value for key ${
              JSON.stringify(read.key)
            } that it did not write (not its envelope)`,
          ),
        );
      }
    }
  }
}

/** A lease as `redisStore` hands it out: its token and its generation. */
export interface RedisLease {
  /** The token the lease was taken with. */
  readonly token: string;
  /** The namespace's generation when it was taken. */
  readonly generation: string;
}

// A write, until the script call of its turn answers.
interface Write {
  readonly key: string;
  readonly value: StoredValue;
  readonly lease: RedisLease;
  resolve(): void;
  reject(error: unknown): void;
}

/** The `write` calls of one store, sent together at the end of each turn. */
export class WriteBatch {
  readonly #run: RunScript;
  readonly #names: KeyNames;
  readonly #channel: string;
  readonly #turn = new Turn<Write>(
    () => true,
    (writes) => this.#send(writes),
    (writes) => {
      for (const write of writes) write.resolve();
    },
  );

  /** `channel` is where the waiters of a written key are told. */
  constructor(run: RunScript, names: KeyNames, channel: string) {
    this.#run = run;
    this.#names = names;
    this.#channel = channel;
  }

  /**
   * Writes `value` for `key` if `lease` still holds it (and no clear came
   * since it was taken), with the other writes of this turn.
   */
  write(key: string, value: StoredValue, lease: RedisLease): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#turn.add({ key, value, lease, resolve, reject });
    });
  }

  #send(writes: Write[]): Promise<unknown> {
    const keys = [this.#names.generation];
    const args = [this.#channel];
    for (const { key, value, lease } of writes) {
      keys.push(this.#names.value(key), this.#names.lease(key));
      args.push(
        `${lease.generation}:${lease.token}`,
        `${ENVELOPE}${lease.generation}:${value.text}`,
        value.ttl === Infinity ? "" : String(Math.ceil(value.ttl)),
        key,
      );
    }
    return this.#run(WRITE, keys, args);
  }
}

/** One waiter, as the store's messages wake it. */
export interface Waiter {
  /** Ends the wait: read the key again. */
  resolve(): void;
  /** Fails the wait: the store failed. */
  reject(error: unknown): void;
}

// A waiter, and when it next reads whether its key's lease still holds.
interface PollingWaiter extends Waiter {
  readonly deadline: number;
  nextPoll: number;
  // How long it waits after a poll that found the lease held.
  interval: number;
  // Whether a poll of its key is under way.
  polling: boolean;
}

/**
 * The longest a waiter goes between polls, in pollIntervals, while the
 * store's subscriber connection is there to tell it sooner.
 */
export const POLL_BACKOFF_CAP = 8;

/**
 * The waiters of one store. Messages wake them through the map the store
 * shares with this class (each waiter's `resolve`, or `reject` when the
 * subscriber connection fails). In case a message was missed, a waiter
 * reads whether its key is still leased `pollInterval` after it began: it
 * wakes if not, and otherwise reads again after twice as long, at most
 * {@linkcode POLL_BACKOFF_CAP} pollIntervals, and no later than the lease
 * ends (its holder may have died); without a subscriber connection, after
 * pollInterval again, for then polling is all there is. Keys due together
 * are read in one script call per chunk, and one timer serves every waiter.
 */
export class LeaseWaits {
  readonly #waiters: Map<string, Set<Waiter>>;
  readonly #run: RunScript;
  readonly #names: KeyNames;
  readonly #pollInterval: number;
  readonly #listening: () => boolean;
  #timer: { at: number; handle: ReturnType<typeof setTimeout> } | undefined;

  /**
   * `waiters` is the store's map of waiters by key; `listening` says
   * whether its subscriber connection is there.
   */
  constructor(
    waiters: Map<string, Set<Waiter>>,
    run: RunScript,
    names: KeyNames,
    pollInterval: number,
    listening: () => boolean,
  ) {
    this.#waiters = waiters;
    this.#run = run;
    this.#names = names;
    this.#pollInterval = pollInterval;
    this.#listening = listening;
  }

  /** As `CacheStore.wait`. */
  wait(
    key: string,
    options: { timeoutMs: number; signal: AbortSignal },
  ): Promise<void> {
    const { signal } = options;
    if (signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let waiters = this.#waiters.get(key);
      if (waiters === undefined) this.#waiters.set(key, waiters = new Set());
      const done = () => {
        signal.removeEventListener("abort", waiter.resolve);
        waiters!.delete(waiter);
        if (waiters!.size === 0 && this.#waiters.get(key) === waiters) {
          this.#waiters.delete(key);
          if (this.#waiters.size === 0) this.#disarm();
        }
      };
      const now = performance.now();
      const waiter: PollingWaiter = {
        deadline: now + options.timeoutMs,
        nextPoll: now + this.#pollInterval,
        interval: this.#pollInterval,
        polling: false,
        resolve() {
          done();
          resolve();
        },
        reject(error) {
          done();
          reject(error);
        },
      };
      waiters.add(waiter);
      signal.addEventListener("abort", waiter.resolve);
      this.#arm(Math.min(waiter.nextPoll, waiter.deadline));
    });
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) {
      if (this.#timer.at <= at) return;
      clearTimeout(this.#timer.handle);
    }
    const handle = setTimeout(
      () => this.#due(),
      Math.max(0, at - performance.now()),
    );
    this.#timer = { at, handle };
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer.handle);
    this.#timer = undefined;
  }

  // Ends the waits past their deadlines, and polls the keys due.
  #due(): void {
    this.#timer = undefined;
    const now = performance.now();
    // Polls due within a quarter interval go with those due now.
    const soon = now + this.#pollInterval / 4;
    const due: string[] = [];
    let next = Infinity;
    for (const [key, waiters] of this.#waiters) {
      let poll = false;
      for (const waiter of waiters as Set<PollingWaiter>) {
        // A timer may fire a fraction of a millisecond early.
        if (waiter.deadline <= now + 1) {
          waiter.resolve();
          continue;
        }
        next = Math.min(next, waiter.deadline);
        if (waiter.polling) continue;
        if (waiter.nextPoll <= soon) {
          waiter.polling = poll = true;
        } else {
          next = Math.min(next, waiter.nextPoll);
        }
      }
      if (poll) due.push(key);
    }
    for (let start = 0; start < due.length; start += CHUNK) {
      const keys = due.slice(start, start + CHUNK);
      this.#run(LEASES_LEFT, [
        this.#names.generation,
        ...keys.map((key) => this.#names.lease(key)),
      ], []).then(
        (left) => this.#polled(keys, left as unknown[], undefined),
        (error) => this.#polled(keys, undefined, error),
      );
    }
    if (next !== Infinity) this.#arm(next);
  }

  // A poll answered: a key no longer leased wakes its waiters; the others
  // back off. A poll that failed fails its waiters, as the store failed.
  #polled(keys: string[], left: unknown[] | undefined, error: unknown): void {
    const now = performance.now();
    const listening = this.#listening();
    let next = Infinity;
    keys.forEach((key, i) => {
      const waiters = this.#waiters.get(key) as Set<PollingWaiter> | undefined;
      for (const waiter of waiters ?? []) {
        if (!waiter.polling) continue;
        waiter.polling = false;
        if (left === undefined) {
          waiter.reject(error);
          continue;
        }
        // -2: no lease of this generation; -1: one without an end.
        const leaseLeft = Number(left[i]);
        if (leaseLeft === -2) {
          waiter.resolve();
          continue;
        }
        if (listening) {
          waiter.interval = Math.min(
            2 * waiter.interval,
            POLL_BACKOFF_CAP * this.#pollInterval,
          );
        }
        waiter.nextPoll = now +
          (leaseLeft >= 0
            ? Math.min(waiter.interval, leaseLeft + 1)
            : waiter.interval);
        next = Math.min(next, waiter.nextPoll, waiter.deadline);
      }
    });
    if (next !== Infinity) this.#arm(next);
  }
}
