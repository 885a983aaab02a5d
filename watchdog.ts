/**
 * A bound on the time each store operation may take, for every operation of
 * one cache with one timer: a timer per operation would cost as much as a
 * round trip to a local server. The timer runs on the cache's clock, so a
 * `ManualClock` moves store timeouts as it moves expiry.
 *
 * @module
 */

import type { Clock } from "./clock.ts";

/** The error of an operation that took longer than its bound. */
export class StoreTimeoutError extends Error {
  override name = "StoreTimeoutError";
}

interface Deadline {
  readonly at: number;
  readonly ms: number;
  readonly reject: (error: unknown) => void;
}

/** Fails each operation that outlives its bound. */
export class Watchdog {
  readonly #clock: () => Clock;
  // In order of deadline, since every operation of a cache has the same
  // bound and the clock only moves forward.
  readonly #deadlines = new Set<Deadline>();
  #timer: { clock: Clock; handle: unknown } | undefined = undefined;
  #closed = false;

  /** `clock` gives the cache's clock, which may change (a context reset). */
  constructor(clock: () => Clock) {
    this.#clock = clock;
  }

  /**
   * `operation`, or a rejection with a {@linkcode StoreTimeoutError} once it
   * has taken `ms`.
   */
  bound<T>(operation: Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const deadline: Deadline = { at: this.#clock().now() + ms, ms, reject };
      this.#deadlines.add(deadline);
      if (this.#timer === undefined) this.#arm();
      operation.then((value) => {
        this.#settled(deadline);
        resolve(value);
      }, (error) => {
        this.#settled(deadline);
        reject(error);
      });
    });
  }

  /** From now on the timer goes as soon as no operation is in progress. */
  close(): void {
    this.#closed = true;
    if (this.#deadlines.size === 0) this.#disarm();
  }

  #settled(deadline: Deadline): void {
    this.#deadlines.delete(deadline);
    // An open cache keeps its timer until it fires, rather than paying for a
    // new one per operation; a closed one leaves none behind.
    if (this.#deadlines.size === 0 && this.#closed) this.#disarm();
  }

  // Arms the timer for the nearest deadline.
  #arm(): void {
    const first = this.#deadlines.values().next().value;
    if (first === undefined) return;
    const clock = this.#clock();
    const handle = clock.setTimeout(
      () => this.#fired(handle),
      Math.max(0, first.at - clock.now()),
    );
    this.#timer = { clock, handle };
  }

  #disarm(): void {
    const timer = this.#timer;
    this.#timer = undefined;
    timer?.clock.clearTimeout(timer.handle);
  }

  #fired(handle: unknown): void {
    if (this.#timer?.handle !== handle) return;
    this.#timer = undefined;
    const now = this.#clock().now();
    for (const deadline of this.#deadlines) {
      if (deadline.at > now) break;
      this.#deadlines.delete(deadline);
      deadline.reject(
        new StoreTimeoutError(`the store took over ${deadline.ms} ms`),
      );
    }
    this.#arm();
  }
}
