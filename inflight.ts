/**
 * The registry of work a cache has started and that has not settled yet.
 * Plain callers of one piece of work share its {@linkcode Flight}'s promise;
 * a caller with an AbortSignal gets a promise of its own that it can abandon.
 * When every caller has abandoned the work before it settled, the work's own
 * signal aborts. The registry can also abandon all work at once, or wait for
 * all of it.
 *
 * @module
 */

/** One piece of running work and the promise its callers share. */
export class Flight<R> {
  /**
   * Settles with the work's outcome, or rejects when the work is abandoned.
   * Like everything else the flight holds, it is dropped once the flight
   * settles: the work's reactions keep the flight alive for as long as the
   * work lives, which may be forever.
   */
  promise: Promise<R> | undefined;
  /** The cache slot this work fills, or -1 once its entry is gone. */
  slot: number;
  resolve: ((value: R) => void) | undefined = undefined;
  reject: ((reason: unknown) => void) | undefined = undefined;
  // Neighbours in the registry's list of unsettled flights.
  previous: Flight<R> | undefined = undefined;
  next: Flight<R> | undefined = undefined;
  settled = false;
  /** Aborts the work's own signal, when the function asked for one. */
  controller: AbortController | undefined;
  /** Callers with a signal that still wait. */
  waiters = 0;
  /** Whether a caller without a signal waits: then the work is never aborted. */
  pinned = false;
  /**
   * The registry while the flight is unsettled. The work's reactions reach
   * the registry only through here, so that work which never settles does
   * not keep an abandoned registry, and the cache behind it, alive.
   */
  registry: InflightRegistry<R> | undefined = undefined;

  constructor(slot: number, controller: AbortController | undefined) {
    this.slot = slot;
    this.controller = controller;
    this.promise = new Promise<R>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

// Takes from a settling flight what it must not keep (see Flight.promise).
function release<R>(flight: Flight<R>): Pick<Flight<R>, "resolve" | "reject"> {
  const { resolve, reject } = flight;
  flight.promise =
    flight.resolve =
    flight.reject =
    flight.controller =
      undefined;
  return { resolve, reject };
}

// The reactions reach the registry only through `flight.registry`, which is
// cleared once the flight settles: work that never settles must not keep an
// abandoned registry alive. A free function rather than a registry method, so
// that no reaction can capture the registry as `this`.
function watchWork<R>(flight: Flight<R>, result: unknown): void {
  try {
    Promise.resolve(result).then(
      (value) => flight.registry?.fulfil(flight, value as R),
      (reason) => flight.registry?.fail(flight, reason),
    );
  } catch (error) {
    // A promise whose own `then` throws. Fail the work once the caller has
    // finished registering its entry.
    queueMicrotask(() => flight.registry?.fail(flight, error));
  }
}

/** Told about a flight's outcome before its callers are. */
export interface FlightObserver<R> {
  fulfilled(flight: Flight<R>, value: R): void;
  rejected(flight: Flight<R>, reason: unknown): void;
}

/** Tracks unsettled flights in insertion order. */
export class InflightRegistry<R> {
  readonly #observer: FlightObserver<R>;
  #first: Flight<R> | undefined = undefined;
  #last: Flight<R> | undefined = undefined;

  constructor(observer: FlightObserver<R>) {
    this.#observer = observer;
  }

  /**
   * Registers work that fills cache slot `slot`; `controller` aborts its
   * signal. Hand its result to {@linkcode watch} once the flight is recorded.
   */
  start(slot: number, controller: AbortController | undefined): Flight<R> {
    const flight = new Flight<R>(slot, controller);
    this.#link(flight);
    return flight;
  }

  /**
   * Settles `flight` with `result` (a value, promise or thenable) when that
   * settles. Reading a thenable's `then` runs its code, which may call the
   * cache again: the cache must have recorded the flight before this.
   */
  watch(flight: Flight<R>, result: unknown): void {
    watchWork(flight, result);
  }

  /**
   * The promise a caller of unsettled `flight` waits on. Without a signal it
   * is the flight's own promise. With one, it is a promise of the caller's
   * that rejects with `signal.reason` if the signal aborts first; when the
   * last caller leaves that way, the work is abandoned and its signal aborts.
   */
  join(flight: Flight<R>, signal: AbortSignal | undefined): Promise<R> {
    if (signal === undefined) {
      flight.pinned = true;
      return flight.promise!;
    }
    if (signal.aborted) {
      // Aborted while the key or the function ran: this caller never waits,
      // and work that nobody else waits for is abandoned at once.
      if (flight.waiters === 0 && !flight.pinned && !flight.settled) {
        flight.promise!.catch(() => {});
        this.abandon(flight, signal.reason);
      }
      return Promise.reject(signal.reason);
    }
    flight.waiters++;
    return new Promise<R>((resolve, reject) => {
      const leave = () => {
        if (flight.settled) return;
        reject(signal.reason);
        if (--flight.waiters === 0 && !flight.pinned) {
          this.abandon(flight, signal.reason);
        }
      };
      signal.addEventListener("abort", leave, { once: true });
      flight.promise!.then((value) => {
        signal.removeEventListener("abort", leave);
        resolve(value);
      }, (reason) => {
        signal.removeEventListener("abort", leave);
        reject(reason);
      });
    });
  }

  /**
   * Abandons every unsettled flight: its callers reject with
   * `reason(flight)`, its signal aborts, and its outcome, when it comes, is
   * dropped.
   */
  abandonAll(reason: (flight: Flight<R>) => unknown): void {
    for (let flight = this.#first; flight !== undefined;) {
      const next = flight.next;
      this.abandon(flight, reason(flight));
      flight = next;
    }
  }

  /** Resolves once every flight unsettled now has settled, however it settled. */
  async whenSettled(): Promise<void> {
    const waits: Promise<unknown>[] = [];
    for (let flight = this.#first; flight !== undefined; flight = flight.next) {
      waits.push(flight.promise!.catch(() => {}));
    }
    await Promise.all(waits);
  }

  /**
   * Settles `flight` with its work's value. If the observer cannot record it
   * (a throwing clock or random source), callers get that error instead, so
   * that they never hang.
   */
  fulfil(flight: Flight<R>, value: R): void {
    if (flight.settled) return;
    this.#unlink(flight);
    const { resolve, reject } = release(flight);
    try {
      this.#observer.fulfilled(flight, value);
    } catch (error) {
      this.#observer.rejected(flight, error);
      reject!(error);
      return;
    }
    resolve!(value);
  }

  /** Settles `flight` with its work's rejection reason. */
  fail(flight: Flight<R>, reason: unknown): void {
    if (flight.settled) return;
    this.#unlink(flight);
    const { reject } = release(flight);
    this.#observer.rejected(flight, reason);
    reject!(reason);
  }

  /** Rejects `flight`'s callers with `reason` and aborts its signal. */
  abandon(flight: Flight<R>, reason: unknown): void {
    const controller = flight.controller;
    this.fail(flight, reason);
    controller?.abort(reason);
  }

  #link(flight: Flight<R>): void {
    flight.registry = this;
    flight.previous = this.#last;
    if (this.#last === undefined) this.#first = flight;
    else this.#last.next = flight;
    this.#last = flight;
  }

  #unlink(flight: Flight<R>): void {
    flight.settled = true;
    flight.registry = undefined;
    const { previous, next } = flight;
    if (previous === undefined) this.#first = next;
    else previous.next = next;
    if (next === undefined) this.#last = previous;
    else next.previous = previous;
    flight.previous = flight.next = undefined;
  }
}
