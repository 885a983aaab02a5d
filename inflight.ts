/**
 * The registry of work a cache has started and that has not settled yet.
 * Every caller of one piece of work shares its {@linkcode Flight}'s promise;
 * the registry can abandon all of it at once or wait for all of it.
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

  constructor(slot: number) {
    this.slot = slot;
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
   * `result`, filling cache slot `slot`.
   */
  start(result: unknown, slot: number): Flight<R> {
    const flight = new Flight<R>(slot);
    this.#link(flight);
    Promise.resolve(result).then(
      (value) => this.#fulfil(flight, value as R),
      (reason) => this.#fail(flight, reason),
    );
    return flight;
  }

  /**
   * Rejects every unsettled flight's callers with `reason(flight)` and forgets
   * them; their work's outcome, when it comes, is dropped.
   */
  abandonAll(reason: (flight: Flight<R>) => unknown): void {
    for (let flight = this.#first; flight !== undefined;) {
      const next = flight.next;
      this.#fail(flight, reason(flight));
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
