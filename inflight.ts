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
  /** Settles with the work's outcome, or rejects when the work is abandoned. */
  readonly promise: Promise<R>;
  /** The cache slot this work fills, or -1 once its entry is gone. */
  slot: number;
  resolve!: (value: R) => void;
  reject!: (reason: unknown) => void;
  // Neighbours in the registry's list of unsettled flights.
  previous: Flight<R> | undefined = undefined;
  next: Flight<R> | undefined = undefined;
  settled = false;
  /** Aborts the work's own signal, when the function asked for one. */
  readonly controller: AbortController | undefined;
  /** Callers with a signal that still wait. */
  waiters = 0;
  /** Whether a caller without a signal waits: then the work is never aborted. */
  pinned = false;

  constructor(slot: number, controller: AbortController | undefined) {
    this.slot = slot;
    this.controller = controller;
    this.promise = new Promise<R>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
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
  #count = 0;

  constructor(observer: FlightObserver<R>) {
    this.#observer = observer;
  }

  /** How many flights have not settled. */
  get count(): number {
    return this.#count;
  }

  /**
   * Registers the work whose result (a value, promise or thenable) is
   * `result`, filling cache slot `slot`; `controller` aborts its signal.
   */
  start(
    result: unknown,
    slot: number,
    controller: AbortController | undefined,
  ): Flight<R> {
    const flight = new Flight<R>(slot, controller);
    this.#link(flight);
    Promise.resolve(result).then(
      (value) => this.#fulfil(flight, value as R),
      (reason) => this.#fail(flight, reason),
    );
    return flight;
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
      return flight.promise;
    }
    flight.waiters++;
    return new Promise<R>((resolve, reject) => {
      const leave = () => {
        if (flight.settled) return;
        reject(signal.reason);
        if (--flight.waiters === 0 && !flight.pinned) {
          this.#abandon(flight, signal.reason);
        }
      };
      signal.addEventListener("abort", leave, { once: true });
      flight.promise.then((value) => {
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
      this.#abandon(flight, reason(flight));
      flight = next;
    }
  }

  /** Resolves once every flight unsettled now has settled, however it settled. */
  async whenSettled(): Promise<void> {
    const waits: Promise<unknown>[] = [];
    for (let flight = this.#first; flight !== undefined; flight = flight.next) {
      waits.push(flight.promise.catch(() => {}));
    }
    await Promise.all(waits);
  }

  #fulfil(flight: Flight<R>, value: R): void {
    if (flight.settled) return;
    this.#unlink(flight);
    this.#observer.fulfilled(flight, value);
    flight.resolve(value);
  }

  #fail(flight: Flight<R>, reason: unknown): void {
    if (flight.settled) return;
    this.#unlink(flight);
    this.#observer.rejected(flight, reason);
    flight.reject(reason);
  }

  #abandon(flight: Flight<R>, reason: unknown): void {
    this.#fail(flight, reason);
    flight.controller?.abort(reason);
  }

  #link(flight: Flight<R>): void {
    flight.previous = this.#last;
    if (this.#last === undefined) this.#first = flight;
    else this.#last.next = flight;
    this.#last = flight;
    this.#count++;
  }

  #unlink(flight: Flight<R>): void {
    flight.settled = true;
    const { previous, next } = flight;
    if (previous === undefined) this.#first = next;
    else previous.next = next;
    if (next === undefined) this.#last = previous;
    else next.previous = previous;
    flight.previous = flight.next = undefined;
    this.#count--;
  }
}
