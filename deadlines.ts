/**
 * How long callers wait on running work: each caller waiting on a run
 * (a miss, a hit that joined it, `cacheRefresh`) gets a promise of its own
 * with a hard deadline (`hardTimeout` from its call), and a miss's run of a
 * key that has a last good value gets a soft deadline (`softTimeout` from
 * the run's start), at which its callers still waiting get that value.
 *
 * The deadlines are kept in a heap of their own; the nearest one is handed
 * to the cache's one timer (`ExpiryQueue.setOther`), whose firing brings
 * the cache here with the time. Nothing here calls user code but through
 * its host: the clock, the abort of a caller's own timer signal, the
 * events.
 *
 * @module
 */

import { timeoutError } from "./errors.ts";
import type { Flight, InflightRegistry } from "./inflight.ts";
import type { Fallback } from "./lifetimes.ts";

/** What a cache's deadlines reach the rest of the cache through. */
export interface DeadlineHost {
  /** The time on the cache's clock. May throw. */
  now(): number;
  /** The clock threw `error`. */
  clockFailed(error: unknown): void;
  /** The nearest deadline changed to `time` (`Infinity`: none). */
  nearest(time: number): void;
  /** A boundary outside the cache's own: brings the timer in line. */
  sync(): void;
  /** The last good value of `key` still inside its window at `now`. */
  fallback(key: unknown, now: number): Fallback | undefined;
  /** A waiting caller of `key` was answered with its last good value. */
  stale(key: unknown): void;
  /** Aborts `controller` with `reason`: its listeners run. */
  abort(controller: AbortController, reason: unknown): void;
}

/** A cache's deadlines, from its options. */
export interface DeadlineSettings {
  name: string;
  softTimeout: number | undefined;
  hardTimeout: number | undefined;
  /**
   * Whether a caller that times out leaves its work as a caller whose
   * signal aborted (the `signal` option): then the last one to leave
   * abandons it.
   */
  abandons: boolean;
}

// One deadline in the heap: a caller's hard one, or a run's soft one.
interface Timed {
  at: number;
  // Place in the heap; -1 once out of it.
  index: number;
  waiter: Waiter | undefined;
  run: RunWait | undefined;
}

// One caller waiting on a run with a promise of its own.
interface Waiter {
  resolve(value: unknown): void;
  reject(reason: unknown): void;
  run: RunWait;
  timed: Timed | undefined;
  // The signal the caller leaves its work through, when timing out does.
  controller: AbortController | undefined;
  done: boolean;
}

// What a deadline reads and changes of a run's flight.
interface RunState {
  readonly settled: boolean;
  pinned: boolean;
}

// The callers of one run that wait with deadlines, and its soft deadline.
interface RunWait {
  flight: RunState;
  key: unknown;
  waiters: Set<Waiter>;
  soft: Timed | undefined;
}

/** The deadlines of one cache's callers and runs. */
export class Deadlines {
  readonly #settings: DeadlineSettings;
  readonly #host: DeadlineHost;
  readonly #heap: Timed[] = [];
  readonly #runs = new Map<RunState, RunWait>();
  // Runs past their soft deadline: a call for their key is a stale hit.
  readonly #pastSoft = new WeakSet<RunState>();
  #nearest = Infinity;

  constructor(settings: DeadlineSettings, host: DeadlineHost) {
    this.#settings = settings;
    this.#host = host;
  }

  /**
   * The promise of a caller that waits on unsettled `flight` of `key`;
   * `signal`, its own, aborts its wait. The caller joins the work first and
   * the clock is read after: the clock may change the cache, even settle
   * the work, which the caller then hears of as any other would.
   */
  wait<R>(
    registry: InflightRegistry<R, unknown>,
    flight: Flight<R>,
    key: unknown,
    signal: AbortSignal | undefined,
  ): Promise<R> {
    const hard = this.#settings.hardTimeout;
    let controller: AbortController | undefined;
    let joined: AbortSignal | undefined = signal;
    if (hard !== undefined && this.#settings.abandons) {
      controller = new AbortController();
      joined = signal === undefined
        ? controller.signal
        : AbortSignal.any([signal, controller.signal]);
    }
    const inner = registry.join(flight, joined);
    const run = this.#runOf(flight, key);
    let waiter!: Waiter;
    const promise = new Promise<R>((resolve, reject) => {
      waiter = {
        resolve: resolve as (value: unknown) => void,
        reject,
        run,
        timed: undefined,
        controller,
        done: false,
      };
    });
    run.waiters.add(waiter);
    inner.then(
      (value) => this.#settled(waiter, value, false),
      (reason) => this.#settled(waiter, reason, true),
    );
    if (hard === undefined) return promise;
    let now: number;
    try {
      now = this.#host.now();
    } catch (error) {
      // A caller the clock cannot time waits without a deadline.
      this.#host.clockFailed(error);
      return promise;
    }
    if (!waiter.done) {
      waiter.timed = this.#add({
        at: now + hard,
        index: -1,
        waiter,
        run: undefined,
      });
    }
    return promise;
  }

  /**
   * The miss's run `flight` of `key` started at `now`: it gets a soft
   * deadline if the key has a last good value then.
   */
  started(flight: RunState, key: unknown, now: number): void {
    const soft = this.#settings.softTimeout;
    if (soft === undefined || this.#host.fallback(key, now) === undefined) {
      return;
    }
    const run = this.#runOf(flight, key);
    run.soft = this.#add({ at: now + soft, index: -1, waiter: undefined, run });
  }

  /** Whether `flight` is past its soft deadline: a call is answered with the last good value. */
  pastSoft(flight: RunState): boolean {
    return this.#pastSoft.has(flight);
  }

  /**
   * Forgets every soft deadline, as a clear or a close does: the fallbacks
   * they would answer with are forgotten, or no timer may be left.
   */
  dropSoft(): void {
    for (const run of [...this.#runs.values()]) {
      if (run.soft === undefined) continue;
      this.#remove(run.soft);
      run.soft = undefined;
      this.#forget(run);
    }
    this.#update();
  }

  /** Runs every deadline due at or before `now`. */
  fire(now: number): void {
    const heap = this.#heap;
    while (heap.length > 0 && heap[0].at <= now) {
      const timed = this.#take(0);
      if (timed.waiter !== undefined) this.#timedOut(timed.waiter);
      else this.#softDeadline(timed.run!, now);
    }
    this.#update();
  }

  #runOf(flight: RunState, key: unknown): RunWait {
    let run = this.#runs.get(flight);
    if (run === undefined) {
      run = { flight, key, waiters: new Set(), soft: undefined };
      this.#runs.set(flight, run);
    }
    return run;
  }

  // The work a waiter waited on settled, or the waiter left by its signal.
  #settled(waiter: Waiter, outcome: unknown, failed: boolean): void {
    if (waiter.done) return;
    this.#leave(waiter);
    const run = waiter.run;
    if (run.flight.settled && run.soft !== undefined) {
      this.#remove(run.soft);
      run.soft = undefined;
      this.#forget(run);
    }
    this.#update();
    // A boundary of the cache's own: the timer follows the deadlines.
    this.#host.sync();
    if (failed) waiter.reject(outcome);
    else waiter.resolve(outcome);
  }

  #timedOut(waiter: Waiter): void {
    waiter.timed = undefined;
    this.#leave(waiter);
    const error = timeoutError(
      this.#settings.name,
      this.#settings.hardTimeout!,
    );
    waiter.reject(error);
    if (waiter.controller !== undefined) {
      this.#host.abort(waiter.controller, error);
    }
  }

  #softDeadline(run: RunWait, now: number): void {
    run.soft = undefined;
    const flight = run.flight;
    const fallback = flight.settled
      ? undefined
      : this.#host.fallback(run.key, now);
    if (fallback === undefined) {
      this.#forget(run);
      return;
    }
    this.#pastSoft.add(flight);
    // The run goes on as a refresh would: its callers no longer abandon it.
    flight.pinned = true;
    for (const waiter of [...run.waiters]) {
      this.#leave(waiter);
      waiter.resolve(fallback.value);
      this.#host.stale(run.key);
    }
  }

  // The waiter no longer waits: its deadline goes, and its run's record
  // once nobody waits on it and it has no soft deadline.
  #leave(waiter: Waiter): void {
    waiter.done = true;
    if (waiter.timed !== undefined) {
      this.#remove(waiter.timed);
      waiter.timed = undefined;
    }
    const run = waiter.run;
    run.waiters.delete(waiter);
    this.#forget(run);
  }

  #forget(run: RunWait): void {
    if (run.waiters.size === 0 && run.soft === undefined) {
      this.#runs.delete(run.flight);
    }
  }

  #update(): void {
    const nearest = this.#heap.length === 0 ? Infinity : this.#heap[0].at;
    if (nearest === this.#nearest) return;
    this.#nearest = nearest;
    this.#host.nearest(nearest);
  }

  #add(timed: Timed): Timed {
    const heap = this.#heap;
    timed.index = heap.length;
    heap.push(timed);
    this.#up(timed.index);
    this.#update();
    return timed;
  }

  #remove(timed: Timed): void {
    if (timed.index !== -1) this.#take(timed.index);
  }

  #take(index: number): Timed {
    const heap = this.#heap;
    const taken = heap[index];
    const last = heap.pop()!;
    taken.index = -1;
    if (last !== taken) {
      heap[index] = last;
      last.index = index;
      this.#down(index);
      this.#up(last.index);
    }
    return taken;
  }

  #up(index: number): void {
    const heap = this.#heap;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (heap[parent].at <= heap[index].at) break;
      this.#swap(index, parent);
      index = parent;
    }
  }

  #down(index: number): void {
    const heap = this.#heap;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= heap.length) return;
      if (child + 1 < heap.length && heap[child + 1].at < heap[child].at) {
        child++;
      }
      if (heap[index].at <= heap[child].at) return;
      this.#swap(index, child);
      index = child;
    }
  }

  #swap(a: number, b: number): void {
    const heap = this.#heap;
    const first = heap[a];
    heap[a] = heap[b];
    heap[b] = first;
    heap[a].index = a;
    heap[b].index = b;
  }
}
