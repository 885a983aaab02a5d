/**
 * Bounds on store operations, for every operation of one cache with one
 * timer: a timer per operation would cost as much as a round trip to a local
 * server. The timer runs on the cache's clock, so a `ManualClock` moves store
 * timeouts as it moves expiry.
 *
 * A bound measures the store, not the client's queue. When a thousand keys
 * miss at once, their operations queue in the client and the store answers
 * them one after another; the last may wait far longer than one round trip
 * while the store is perfectly healthy. So an operation bound by `ms` fails
 * only once the store has answered nothing for `ms` while it waited: no
 * operation of this cache has settled since it began, or since the last one
 * settled, for `ms`. Nor does a stall of this process count: a process too
 * busy to run its event loop (its timer fires a quarter of a bound late or
 * more) hears nothing meanwhile, so its operations' silence starts again
 * when it is back. A store that answers nothing at all (paused, cut off)
 * fails each operation `ms` after it began, as a plain timeout would. And
 * since an answer to others says nothing about one operation that is lost,
 * no operation waits more than {@linkcode HARD_CAP} times its bound in all.
 *
 * `patience` is the other kind of bound: a fixed one, for callers who may
 * not wait long for an operation whose outcome they do not need (a write
 * they have the value of); the operation itself goes on, under its own
 * bound.
 *
 * @module
 */

import type { Clock } from "./clock.ts";

/** The error of an operation that outlived its bound. */
export class StoreTimeoutError extends Error {
  /** `"StoreTimeoutError"`. */
  override name = "StoreTimeoutError";
}

/**
 * The most an operation bound by `ms` waits in all, in units of `ms`, while
 * the store goes on answering other operations, or while this process is too
 * busy to hear it.
 */
export const HARD_CAP = 4;

/**
 * The timer firing late by a quarter of a bound or more means this process
 * was not running its event loop for that long: too busy (its own work, a
 * machine with more processes than cores) to send its commands or read the
 * answers, which says nothing of the store.
 */
const STALL_SHARE = 4;

interface Pending {
  readonly start: number;
  // Ends the wait when the bound is reached: the operation's rejection with
  // the error, or the patience's resolution.
  readonly expire: (error: StoreTimeoutError | undefined) => void;
}

// Operations in progress under one kind of bound, oldest first. For a given
// time of the last answer, an operation's deadline only grows with its start,
// so the first of a group is always its first due.
interface Group {
  // How long the store may answer nothing while one waits; Infinity for a
  // patience, which no answer extends.
  readonly quiet: number;
  // The longest one waits, answers or not.
  readonly cap: number;
  readonly pending: Set<Pending>;
  // When this process last came back from a stall long enough to matter to
  // this bound: the store's silence is counted from then at the earliest.
  resumed: number;
}

/** Fails each operation that outlives its bound. */
export class Watchdog {
  readonly #clock: () => Clock;
  // Keyed by the bound for `bound`, by minus the bound for `patience`.
  readonly #groups = new Map<number, Group>();
  // Operations in progress, over every group.
  #size = 0;
  // When a bound operation last settled while another was in progress: an
  // answer with nothing else waiting moves no deadline, and costs no reading
  // of the clock.
  #lastAnswer = -Infinity;
  #timer:
    | { clock: Clock; handle: unknown; at: number; grace: boolean }
    | undefined = undefined;
  #closed = false;
  readonly #outcome: ((error: unknown) => void) | undefined;

  /**
   * `clock` gives the cache's clock, which may change (a context reset).
   * `outcome`, if given, hears how each bound operation ended, once: with
   * `undefined` when it fulfilled, or with why it failed (its rejection, or
   * the timeout), so that a circuit breaker counts without a promise of its
   * own per operation.
   */
  constructor(clock: () => Clock, outcome?: (error: unknown) => void) {
    this.#clock = clock;
    this.#outcome = outcome;
  }

  /**
   * `operation`, or a rejection with a {@linkcode StoreTimeoutError} once the
   * store has answered nothing for `ms` while it waited, or once it has
   * waited {@linkcode HARD_CAP} times `ms`.
   * With `{ told: false }` the outcome is not told: what is bound is no
   * store operation of its own (a wait for one begun elsewhere).
   */
  bound<T>(
    operation: Promise<T>,
    ms: number,
    options?: { told: false },
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const outcome = options === undefined ? this.#outcome : undefined;
      let ended = false;
      const fail = (error: unknown) => {
        if (!ended) {
          ended = true;
          outcome?.(error);
        }
        reject(error);
      };
      const pending = this.#add(ms, ms, HARD_CAP * ms, fail);
      operation.then((value) => {
        this.#answered(pending, ms);
        if (!ended) {
          ended = true;
          outcome?.(undefined);
        }
        resolve(value);
      }, (error) => {
        this.#answered(pending, ms);
        fail(error);
      });
    });
  }

  /**
   * Resolves once `operation` settles or `ms` has passed, whichever comes
   * first; never rejects. Its settling is no answer from the store: the
   * operation is bound on its own.
   */
  patience(operation: Promise<unknown>, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const pending = this.#add(-ms, Infinity, ms, () => resolve());
      const settled = () => {
        this.#remove(pending, -ms);
        resolve();
      };
      operation.then(settled, settled);
    });
  }

  /** From now on the timer goes as soon as no operation is in progress. */
  close(): void {
    this.#closed = true;
    if (this.#size === 0) this.#disarm();
  }

  #add(
    key: number,
    quiet: number,
    cap: number,
    expire: (error: StoreTimeoutError | undefined) => void,
  ): Pending {
    let group = this.#groups.get(key);
    if (group === undefined) {
      this.#groups.set(
        key,
        group = { quiet, cap, pending: new Set(), resumed: -Infinity },
      );
    }
    const pending: Pending = { start: this.#clock().now(), expire };
    group.pending.add(pending);
    this.#size++;
    // Nothing has answered since it began: it is due at its start plus the
    // smaller of its two bounds, perhaps before the timer; the timer looks
    // in on it before then, to see whether the process stalls meanwhile.
    const due = pending.start + Math.min(quiet / STALL_SHARE, cap);
    if (this.#timer === undefined || this.#timer.at > due) this.#arm(due);
    return pending;
  }

  #answered(pending: Pending, key: number): void {
    this.#remove(pending, key);
    if (this.#size > 0) this.#lastAnswer = this.#clock().now();
  }

  #remove(pending: Pending, key: number): void {
    if (!this.#groups.get(key)!.pending.delete(pending)) return;
    this.#size--;
    // An open cache keeps its timer until it fires, rather than paying for a
    // new one per operation; a closed one leaves none behind.
    if (this.#size === 0 && this.#closed) this.#disarm();
  }

  #deadline(group: Group, pending: Pending): number {
    return Math.min(
      pending.start + group.cap,
      Math.max(pending.start, this.#lastAnswer, group.resumed) + group.quiet,
    );
  }

  #arm(at: number, grace = false): void {
    this.#disarm();
    const clock = this.#clock();
    const handle = clock.setTimeout(
      () => this.#fired(handle),
      Math.max(0, at - clock.now()),
    );
    this.#timer = { clock, handle, at, grace };
  }

  #disarm(): void {
    const timer = this.#timer;
    this.#timer = undefined;
    timer?.clock.clearTimeout(timer.handle);
  }

  // Ends what is due, then arms the timer for the nearest deadline left,
  // which answers since it was armed may have moved. Silence is the store's
  // only while this process listens. So while an operation is bound, the
  // timer fires at least every quarter of its bound: a timer that fires that
  // late shows a stall of the process, after which the operation gets its
  // bound again (up to the hard cap). And what is due is first given one
  // more turn of the event loop, since a process runs its due timers before
  // it reads the answers that came while it was busy.
  #fired(handle: unknown): void {
    const timer = this.#timer;
    if (timer === undefined || timer.handle !== handle) return;
    this.#timer = undefined;
    const now = this.#clock().now();
    const late = now - timer.at;
    let nearest = Infinity;
    // Ended once the watchdog is whole again: ending one tells the breaker,
    // and through it the cache's onEvent, which may bind a new operation.
    const ended: [Pending, StoreTimeoutError | undefined][] = [];
    for (const group of this.#groups.values()) {
      if (late * STALL_SHARE >= group.quiet) group.resumed = now;
      for (const pending of group.pending) {
        const deadline = this.#deadline(group, pending);
        if (deadline > now) {
          nearest = Math.min(
            nearest,
            deadline,
            now + group.quiet / STALL_SHARE,
          );
          break;
        }
        if (!timer.grace) return this.#arm(now, true);
        group.pending.delete(pending);
        this.#size--;
        ended.push([
          pending,
          group.quiet === Infinity ? undefined : new StoreTimeoutError(
            now - pending.start >= group.cap
              ? `the store took over ${group.cap} ms, answering others meanwhile`
              : `the store answered nothing for ${group.quiet} ms`,
          ),
        ]);
      }
    }
    if (nearest !== Infinity) this.#arm(nearest);
    for (const [pending, error] of ended) pending.expire(error);
  }
}
