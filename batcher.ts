/**
 * The batches of `alruBatch`: how the runs a cache starts for single keys
 * are gathered into calls of one function that loads many. The cache
 * behind `alruBatch` runs, for each key it misses or refreshes, a function
 * that asks {@linkcode Batcher.request} for the key; the batcher puts it
 * into the open batch, sends the batch to `load` when the turn ends, its
 * delay runs out or it is full, and settles each key's promise with its own
 * value. Everything else (entries, joining, counting, lifetimes) stays the
 * cache's: a batch is a way of starting runs, not a second cache.
 *
 * A key's run has a signal, which the cache aborts when it abandons the
 * run (every caller left, or a close without wait): the key then leaves its
 * batch, and a sent batch whose every key has left aborts its own signal.
 *
 * `load`, its result, the clock and the batch's signal are user code,
 * reached through {@linkcode UserCode} and only while the batcher is whole.
 *
 * @module
 */

import { afterTurn, type Clock, SystemClock } from "./clock.ts";
import { CacheClosedError, describe } from "./errors.ts";
import { UserCode } from "./user_code.ts";

// A batch's states: taking keys (the open batch); full, waiting for the
// microtask that sends it; sent to load; settled or left empty.
const OPEN = 0;
const FULL = 1;
const SENT = 2;
const DONE = 3;

// A batch's timer while the clock's setTimeout runs, before its handle is in.
const ARMING: unique symbol = Symbol("arming");
// A batch's timer when the clock failed to set one: it goes at the end of
// the turn instead.
const AT_TURN_END: unique symbol = Symbol("at the turn's end");

// A key in a batch, and the listener of the signals of the runs that want it.
class Place {
  readonly batcher: Batcher;
  readonly batch: Batch;
  readonly arg: unknown;
  readonly key: unknown;
  readonly promise: Promise<unknown>;
  resolve!: (value: unknown) => void;
  reject!: (reason: unknown) => void;
  // Runs that want this key and have not been abandoned.
  wanted = 1;
  left = false;

  constructor(batcher: Batcher, batch: Batch, arg: unknown, key: unknown) {
    this.batcher = batcher;
    this.batch = batch;
    this.arg = arg;
    this.key = key;
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  handleEvent(event: Event): void {
    this.batcher.leave(this, (event.target as AbortSignal).reason);
  }
}

class Batch {
  state = OPEN;
  places: Place[] = [];
  // While open or full: the places not left, by key.
  readonly byKey = new Map<unknown, Place>();
  // Places not left.
  live = 0;
  timer: unknown = undefined;
  controller: AbortController | undefined = undefined;
}

/** How a {@linkcode Batcher} makes and sends batches. */
export interface BatcherSettings {
  /** The name of `load`, for error messages. */
  name: string;
  /** The most keys in one batch; `Infinity` for no bound. */
  maxBatchSize: number;
  /** Milliseconds a batch stays open on the clock; `0` for the turn. */
  batchDelay: number;
  /** Whether `load` takes the batch's signal. */
  signal: boolean;
  /** The cache's clock, when one was given. */
  clock: Clock | undefined;
  /** The `key` option, by whose result a `Map` from `load` is read. */
  key: ((...args: unknown[]) => unknown) | undefined;
}

/** The open and sent batches of one `alruBatch`. */
export class Batcher {
  readonly #user: UserCode;
  readonly #name: string;
  readonly #maxBatchSize: number;
  readonly #batchDelay: number;
  readonly #signal: boolean;
  readonly #givenClock: Clock | undefined;
  #clock: Clock | undefined = undefined;
  #open: Batch | undefined = undefined;
  // Sent batches whose load has not settled.
  readonly #sent = new Set<Batch>();
  readonly #hasKey: boolean;
  // The key option's last result, for the argument it was asked of.
  #knownArg: unknown = undefined;
  #knownKey: unknown = undefined;
  #known = false;
  #closed = false;
  #clockFailureReported = false;
  // Set by a close without wait: no batch is sent from then on, a full one
  // waiting for its microtask included.
  #dropped = false;

  constructor(
    load: (keys: unknown[], signal?: AbortSignal) => unknown,
    settings: BatcherSettings,
  ) {
    this.#name = settings.name;
    this.#user = new UserCode(
      load as (...args: unknown[]) => unknown,
      settings.name,
      { key: settings.key, keeping: undefined, onEvent: undefined },
    );
    this.#hasKey = settings.key !== undefined;
    this.#maxBatchSize = settings.maxBatchSize;
    this.#batchDelay = settings.batchDelay;
    this.#signal = settings.signal;
    this.#givenClock = settings.clock;
  }

  /**
   * The cache has just asked the key option for `arg`'s key, `key`: kept,
   * so that the request that follows for `arg` does not ask again.
   */
  keyed(arg: unknown, key: unknown): void {
    this.#knownArg = arg;
    this.#knownKey = key;
    this.#known = true;
  }

  /**
   * Puts `arg` into the open batch (or its key's place there, if it has
   * one) and returns the promise of its value. `signal` is the
   * key's run's, given when the run may be abandoned by its callers: when
   * every run that wants the key is aborted, the key leaves its batch. A
   * run only plain callers started is left only by a close, which
   * {@linkcode close} handles for every key at once.
   */
  request(arg: unknown, signal: AbortSignal | undefined): Promise<unknown> {
    if (this.#closed) return Promise.reject(new CacheClosedError(this.#name));
    const key = this.#keyOf(arg);
    let batch = this.#open;
    if (batch !== undefined) {
      const place = batch.byKey.get(key);
      if (place !== undefined) {
        place.wanted++;
        signal?.addEventListener("abort", place, ONCE);
        return place.promise;
      }
    }
    const opening = batch === undefined;
    if (batch === undefined) batch = this.#open = new Batch();
    const place = new Place(this, batch, arg, key);
    batch.places.push(place);
    batch.byKey.set(key, place);
    signal?.addEventListener("abort", place, ONCE);
    if (++batch.live === this.#maxBatchSize) {
      this.#open = undefined;
      batch.state = FULL;
      const full = batch;
      queueMicrotask(() => this.#send(full));
      // Last: cancelling the timer is user code.
      if (!opening) this.#cancelTimer(batch);
    } else if (opening) {
      if (this.#batchDelay === 0) {
        const open = batch;
        afterTurn(() => this.#send(open));
      } else {
        this.#arm(batch);
      }
    }
    return place.promise;
  }

  /**
   * Called by a place's listener when a run that wants its key is
   * abandoned, with the signal's reason: once no run wants it, the key
   * leaves its batch, and a sent batch that every key has left aborts.
   */
  leave(place: Place, reason: unknown): void {
    if (place.left || --place.wanted > 0) return;
    place.left = true;
    const batch = place.batch;
    batch.live--;
    if (batch.state === OPEN || batch.state === FULL) {
      batch.byKey.delete(place.key);
      if (batch.live !== 0) return;
      if (this.#open === batch) this.#open = undefined;
      batch.state = DONE;
      this.#cancelTimer(batch);
    } else if (batch.state === SENT && batch.live === 0) {
      const controller = batch.controller;
      batch.controller = undefined;
      if (controller !== undefined) this.#user.abort(controller, reason);
    }
  }

  /**
   * The cache has closed, and `reason` is what it abandoned its runs with.
   * With `wait`, the open batch is sent now. Without, every key has left:
   * the open batch is never sent, and every sent batch's signal aborts.
   */
  close(wait: boolean, reason: unknown): void {
    this.#closed = true;
    const open = this.#open;
    if (wait) {
      if (open !== undefined) this.#send(open);
      return;
    }
    this.#dropped = true;
    this.#open = undefined;
    const sent = [...this.#sent];
    this.#sent.clear();
    for (const batch of sent) batch.state = DONE;
    if (open !== undefined) {
      open.state = DONE;
      this.#cancelTimer(open);
    }
    for (const batch of sent) {
      const controller = batch.controller;
      batch.controller = undefined;
      if (controller !== undefined) this.#user.abort(controller, reason);
    }
  }

  /** Runs `check` before each call of user code from now on. For tests. */
  checkEachEntry(check: () => void): void {
    this.#user.checkEachEntry(check);
  }

  /** Throws if the batches disagree with their places. For tests. */
  assertConsistent(): void {
    const open = this.#open;
    if (open !== undefined) {
      if (open.state !== OPEN) throw new Error("the open batch is not open");
      const live = open.places.filter((place) => !place.left);
      if (live.length !== open.live || open.byKey.size !== open.live) {
        throw new Error("the open batch miscounts its keys");
      }
      if (open.live === 0 || open.live >= this.#maxBatchSize) {
        throw new Error(`the open batch holds ${open.live} keys`);
      }
      for (const place of live) {
        if (open.byKey.get(place.key) !== place) {
          throw new Error("a key of the open batch is not indexed");
        }
      }
      if ((this.#batchDelay > 0) !== (open.timer !== undefined)) {
        throw new Error("the open batch's timer is out of step");
      }
    }
    for (const batch of this.#sent) {
      if (batch.state !== SENT) throw new Error("a settled batch is kept");
    }
  }

  // The key by which load's Map is read: the key option's result (asked
  // again only if the cache asked it of another argument since), or the
  // argument itself.
  #keyOf(arg: unknown): unknown {
    if (!this.#hasKey) return arg;
    if (this.#known && Object.is(arg, this.#knownArg)) return this.#knownKey;
    return this.#user.key(undefined, [arg]);
  }

  #currentClock(): Clock {
    return this.#clock ??= this.#user.clock(
      this.#givenClock ?? new SystemClock(),
    );
  }

  // The batch's delay runs on the clock, which may call back before its
  // handle is in.
  #arm(batch: Batch): void {
    batch.timer = ARMING;
    const clock = this.#currentClock();
    let handle: unknown;
    try {
      handle = clock.setTimeout(() => this.#send(batch), this.#batchDelay);
    } catch (error) {
      // The keys must go all the same.
      if (batch.timer === ARMING) {
        batch.timer = AT_TURN_END;
        afterTurn(() => this.#send(batch));
      }
      this.#reportClockFailure(error);
      return;
    }
    if (batch.timer === ARMING) batch.timer = handle;
    else this.#clearTimer(handle);
  }

  #cancelTimer(batch: Batch): void {
    const handle = batch.timer;
    batch.timer = undefined;
    if (handle !== undefined && handle !== ARMING && handle !== AT_TURN_END) {
      this.#clearTimer(handle);
    }
  }

  #clearTimer(handle: unknown): void {
    try {
      this.#currentClock().clearTimeout(handle);
    } catch (error) {
      // Its callback finds the batch gone.
      this.#reportClockFailure(error);
    }
  }

  // A clock that throws is the user's to fix; the batches go on without it,
  // and the first failure is said once.
  #reportClockFailure(error: unknown): void {
    if (this.#clockFailureReported) return;
    this.#clockFailureReported = true;
    console.error(
      `alruBatch's clock failed for ${this.#name}; the batch went at the end of the turn instead of its delay, or its timer was left to find it gone, and batching goes on. Later clock failures of this batcher are not reported.`,
      error,
    );
  }

  // A boundary: the batch's turn or delay has ended, or it is full.
  #send(batch: Batch): void {
    if (batch.state !== OPEN && batch.state !== FULL) return;
    if (this.#open === batch) this.#open = undefined;
    if (this.#dropped) {
      batch.state = DONE;
      this.#cancelTimer(batch);
      return;
    }
    // Keys leave a batch seldom: most batches are sent as they were made.
    const places = batch.live === batch.places.length
      ? batch.places
      : batch.places.filter((place) => !place.left);
    batch.byKey.clear();
    if (places.length === 0) {
      batch.state = DONE;
      this.#cancelTimer(batch);
      return;
    }
    batch.state = SENT;
    batch.places = places;
    const keys = new Array<unknown>(places.length);
    for (let i = 0; i < places.length; i++) keys[i] = places[i].arg;
    const controller = this.#signal ? new AbortController() : undefined;
    batch.controller = controller;
    this.#sent.add(batch);
    this.#cancelTimer(batch);
    let result: unknown;
    try {
      result = this.#user.run(undefined, [keys], controller);
    } catch (error) {
      this.#failed(batch, error);
      return;
    }
    // Adopting a thenable reads its `then`.
    this.#user.promiseOf(result).then(
      (value) => this.#loaded(batch, value),
      (reason) => this.#failed(batch, reason),
    );
  }

  // A boundary: load resolved; each key gets its own value.
  #loaded(batch: Batch, result: unknown): void {
    if (batch.state !== SENT) return;
    const places = batch.places;
    let values: unknown[] | undefined;
    let map: Map<unknown, unknown> | undefined;
    try {
      if (result instanceof Map) {
        map = result;
      } else {
        values = this.#user.items(result);
        if (values === undefined) {
          throw new TypeError(
            `load must resolve to an iterable of values or a Map; the load of ${this.#name} resolved to ${
              describe(result)
            }`,
          );
        }
        if (values.length !== places.length) {
          throw new TypeError(
            `load returned ${values.length} values for ${places.length} keys (the load of ${this.#name}): it must return one value per key, in the order of the keys, or a Map`,
          );
        }
      }
    } catch (error) {
      this.#failed(batch, error);
      return;
    }
    this.#settle(batch);
    for (let i = 0; i < places.length; i++) {
      const place = places[i];
      const value = map === undefined
        ? values![i]
        : Map.prototype.get.call(map, place.key);
      if (value instanceof Error) place.reject(value);
      else place.resolve(value);
    }
  }

  // A boundary: the whole batch failed, with one reason for every key.
  #failed(batch: Batch, reason: unknown): void {
    if (batch.state !== SENT) return;
    this.#settle(batch);
    for (const place of batch.places) place.reject(reason);
  }

  #settle(batch: Batch): void {
    batch.state = DONE;
    batch.controller = undefined;
    this.#sent.delete(batch);
  }
}

const ONCE = { once: true } as const;
