/**
 * How `redisStore` reads, writes and waits for many keys at once, so that a
 * process with thousands of keys in flight sends a few commands, not
 * thousands, and its waiters cost the server next to nothing:
 *
 * - {@linkcode ReadBatch}: the `readOrLease` calls of one turn go together.
 *   Once the server's clock has been read, they are first one plain `MGET`
 *   of the generation and the values per {@linkcode CHUNK} keys (the warm
 *   read: no script); the keys it finds no live value of this generation
 *   for go on to the read script, which reads or leases each atomically as
 *   alone.
 * - {@linkcode WriteBatch}: the `write` calls of one turn go together, up to
 *   {@linkcode CHUNK} keys per script call, each written atomically as
 *   alone; a lone call is one script call.
 * - {@linkcode LeaseWaits}: waiters are woken by messages (the store's
 *   pub/sub connection); in case one is missed, one timer for them all reads
 *   whether their keys are still leased, with backoff, the keys due
 *   together in one script call per chunk.
 *
 * The format of a value, and the scripts, are in `redis_format.ts`.
 *
 * @module
 */

import {
  BUSY,
  LEASED,
  LEASES_LEFT,
  openEnvelope,
  READ_OR_LEASE,
  type ServerClock,
  WRITE,
} from "./redis_format.ts";
import type { ReadOrLease, StoredValue } from "./store.ts";

/**
 * Keys in one command or script call. Redis runs a script to its end before anything
 * else, so a call stays short: about a millisecond of the server's. And a
 * client on a busy process may send as little as one command per turn of
 * its event loop (ioredis writes each command to the socket on its own), so
 * few, large calls reach the server sooner than many small ones.
 */
export const CHUNK = 512;

/** Runs one of `redis_format.ts`'s scripts by its digest. */
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

// A readOrLease, until the command or script call of its turn answers.
interface Read {
  readonly key: string;
  readonly leaseMs: number;
  resolve(found: ReadOrLease): void;
  reject(error: unknown): void;
}

/**
 * How a {@linkcode ReadBatch} reads values with a plain command: the
 * command, and the estimate of the server's clock that says what is left of
 * a value without PTTL.
 */
export interface PlainReads {
  /** Sends one command to the server. */
  command(args: string[]): Promise<unknown>;
  /** The server's clock. */
  readonly clock: ServerClock;
}

/**
 * The `readOrLease` calls of one store, sent together at the end of each
 * turn: first, when it can, one `MGET` per chunk for the values, then the
 * read script for the keys without one.
 */
export class ReadBatch {
  readonly #run: RunScript;
  readonly #names: KeyNames;
  readonly #plain: PlainReads | undefined;
  readonly #scripted = new Turn<Read>(
    (a, b) => a.leaseMs === b.leaseMs,
    (reads) => this.#send(reads),
    (reads, found) => this.#settle(reads, found),
  );
  readonly #fetched = new Turn<Read>(
    () => true,
    (reads) => this.#fetch(reads),
    (reads, found) => this.#sort(reads, found),
  );
  // A lease's token is this store's random prefix, the number of the script
  // call that took it, and the key's place in that call: new for every
  // lease without a random draw for each.
  readonly #tokenPrefix = crypto.randomUUID().slice(0, 18) + ".";
  #calls = 0;
  // The lease length last sent, as text.
  #leaseMs = NaN;
  #leaseText = "";

  /**
   * `run` runs the scripts; `names` says where the keys are kept; `plain`,
   * when given, lets a read that finds a value be one `MGET`.
   */
  constructor(run: RunScript, names: KeyNames, plain?: PlainReads) {
    this.#run = run;
    this.#names = names;
    this.#plain = plain;
  }

  /** Reads `key` or takes its lease, with the other reads of this turn. */
  readOrLease(key: string, leaseMs: number): Promise<ReadOrLease> {
    return new Promise<ReadOrLease>((resolve, reject) => {
      const read = { key, leaseMs, resolve, reject };
      // Until the server's clock has been read, a plain read could not say
      // what is left of a value: the script says it with PTTL.
      if (this.#plain?.clock.now() !== undefined) this.#fetched.add(read);
      else this.#scripted.add(read);
    });
  }

  // One MGET of the generation and the values: atomic, so a value it finds
  // of the generation it finds was current when the server read it, as in
  // the script.
  #fetch(reads: Read[]): Promise<unknown> {
    const args = ["MGET", this.#names.generation];
    for (const { key } of reads) args.push(this.#names.value(key));
    return this.#plain!.command(args);
  }

  // Serves each value of the current generation with time left; the other
  // keys (none, a value of before a clear or of a former format, one about
  // to end, something corrupt) go on to the script, which reads them again
  // and leases, or says what it found.
  #sort(reads: Read[], found: unknown): void {
    if (!Array.isArray(found) || found.length !== reads.length + 1) {
      throw new TypeError("redisStore read an answer it did not expect");
    }
    const generation = found[0] ?? "0";
    let now: number | undefined;
    for (let i = 0; i < reads.length; i++) {
      const read = reads[i];
      const value = openEnvelope(found[i + 1]);
      if (value !== undefined && value.generation === String(generation)) {
        let ttl = Infinity;
        if (value.deadline !== Infinity) {
          now ??= this.#plain!.clock.now() ?? Infinity;
          ttl = value.deadline - now;
        }
        if (ttl > 0) {
          read.resolve({ status: "value", value: { text: value.text, ttl } });
          continue;
        }
      }
      this.#scripted.add(read);
    }
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
      const value = openEnvelope(first);
      if (value !== undefined) {
        // PTTL is -1 for a key without expiry.
        const ttl = Number(second);
        read.resolve({
          status: "value",
          value: { text: value.text, ttl: ttl < 0 ? Infinity : ttl },
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
        value.text,
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
