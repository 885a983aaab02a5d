/**
 * The registry of work a cache has started and that has not settled yet.
 * Plain callers of one piece of work share its {@linkcode Flight}'s promise;
 * a caller with an AbortSignal gets a promise of its own that it can abandon.
 * The registry tells its owner when work settles and when every caller has
 * left it; the owner decides what that means and settles the flight.
 *
 * @module
 */

import { NO_SLOT, type Slot } from "./lru.ts";

interface Settlers<R> {
  resolve(value: R): void;
  reject(reason: unknown): void;
}

// The callers of one flight that wait through one signal: one listener on the
// signal for all of them, so that many callers sharing a signal cost a
// listener each flight rather than each call.
class SignalWaiters<R> {
  readonly signal: AbortSignal;
  readonly callers: Settlers<R>[] = [];
  readonly listener: () => void;

  constructor(signal: AbortSignal, listener: () => void) {
    this.signal = signal;
    this.listener = listener;
  }
}

/** One piece of running work and the callers waiting on it. */
export class Flight<R> {
  /** The owner's slot for this work, or {@linkcode NO_SLOT}; the registry never reads it. */
  slot: Slot = NO_SLOT;
  /** Aborts the work's own signal, when the function asked for one. */
  controller: AbortController | undefined;
  /** Whether the work has settled, or has been abandoned. */
  settled = false;
  /** Whether a caller without a signal waits: then the work is never abandoned by its callers. */
  pinned = false;
  /** Callers with a signal that still wait. */
  waiters = 0;
  // What follows is dropped once the flight settles: the work's reactions
  // keep the flight alive for as long as the work lives, which may be
  // forever, and must not keep callers, signals or the registry with it.
  promise: Promise<R> | undefined = undefined;
  resolve: ((value: R) => void) | undefined = undefined;
  reject: ((reason: unknown) => void) | undefined = undefined;
  bySignal: Map<AbortSignal, SignalWaiters<R>> | undefined = undefined;
  /**
   * The registry while the flight is unsettled. The work's reactions reach
   * the registry only through here.
   */
  registry: InflightRegistry<R> | undefined = undefined;
  // Neighbours in the registry's list of unsettled flights.
  previous: Flight<R> | undefined = undefined;
  next: Flight<R> | undefined = undefined;

  constructor(controller: AbortController | undefined) {
    this.controller = controller;
  }
}

// The reactions reach the registry only through `flight.registry`, which is
// cleared once the flight settles: work that never settles must not keep an
// abandoned registry alive. A free function rather than a registry method, so
// that no reaction can capture the registry as `this`.
function watchWork<R>(flight: Flight<R>, result: unknown): void {
  try {
    Promise.resolve(result).then(
      (value) => flight.registry?.events.fulfilled(flight, value as R),
      (reason) => flight.registry?.events.rejected(flight, reason),
    );
  } catch (error) {
    // A promise whose own `then` throws: fail the work a turn later, as if
    // it had rejected.
    queueMicrotask(() => flight.registry?.events.rejected(flight, error));
  }
}

/**
 * What the registry tells its owner about a flight. Each may come after the
 * owner has settled the flight itself, and must then be ignored.
 */
export interface FlightEvents<R> {
  /** The work resolved with `value`. */
  fulfilled(flight: Flight<R>, value: R): void;
  /** The work rejected with `reason`. */
  rejected(flight: Flight<R>, reason: unknown): void;
  /** Every caller left through its signal, the last with `reason`. */
  deserted(flight: Flight<R>, reason: unknown): void;
}

/** Tracks unsettled flights in the order they started. */
export class InflightRegistry<R> {
  /** The owner's handlers, which the work's reactions call. */
  readonly events: FlightEvents<R>;
  #first: Flight<R> | undefined = undefined;
  #last: Flight<R> | undefined = undefined;

  constructor(events: FlightEvents<R>) {
    this.events = events;
  }

  /**
   * Registers new work; `controller` aborts its signal. Hand its result to
   * {@linkcode watch} once the owner has recorded the flight.
   */
  start(controller: AbortController | undefined): Flight<R> {
    const flight = new Flight<R>(controller);
    flight.registry = this;
    flight.previous = this.#last;
    if (this.#last === undefined) this.#first = flight;
    else this.#last.next = flight;
    this.#last = flight;
    return flight;
  }

  /**
   * Reports `flight`'s work to the owner when `result` (a value, promise or
   * thenable) settles. Reading a thenable's `then` runs its code, which may
   * call the owner: the owner must be whole before this.
   */
  watch(flight: Flight<R>, result: unknown): void {
    watchWork(flight, result);
  }

  /**
   * The promise a caller of unsettled `flight` waits on. Without a signal it
   * is the promise every plain caller shares. With one, it is a promise of
   * the caller's that rejects with `signal.reason` if the signal aborts
   * first, at once if it already has; when the last caller leaves that way,
   * the owner hears that the flight is deserted.
   */
  join(flight: Flight<R>, signal: AbortSignal | undefined): Promise<R> {
    if (signal === undefined) {
      flight.pinned = true;
      return this.#shared(flight);
    }
    if (signal.aborted) return Promise.reject(signal.reason);
    flight.waiters++;
    let waiters = flight.bySignal?.get(signal);
    if (waiters === undefined) {
      waiters = new SignalWaiters<R>(signal, () => this.#leave(flight, signal));
      (flight.bySignal ??= new Map()).set(signal, waiters);
      signal.addEventListener("abort", waiters.listener, { once: true });
    }
    const callers = waiters.callers;
    return new Promise<R>((resolve, reject) => {
      callers.push({ resolve, reject });
    });
  }

  /** Whether nobody waits on `flight` any more: no plain caller, no caller with a signal. */
  isDeserted(flight: Flight<R>): boolean {
    return !flight.pinned && flight.waiters === 0;
  }

  /** Resolves every caller of `flight` with `value`. */
  resolve(flight: Flight<R>, value: R): void {
    const resolve = flight.resolve;
    const bySignal = flight.bySignal;
    this.#settle(flight);
    resolve?.(value);
    if (bySignal === undefined) return;
    for (const waiters of bySignal.values()) {
      for (const caller of waiters.callers) caller.resolve(value);
    }
  }

  /**
   * Rejects every caller of `flight` with `reason`. Returns the controller of
   * the work's signal, for an owner that abandons the work to abort.
   */
  reject(flight: Flight<R>, reason: unknown): AbortController | undefined {
    const controller = flight.controller;
    const reject = flight.reject;
    const bySignal = flight.bySignal;
    this.#settle(flight);
    reject?.(reason);
    if (bySignal !== undefined) {
      for (const waiters of bySignal.values()) {
        for (const caller of waiters.callers) caller.reject(reason);
      }
    }
    return controller;
  }

  /** Every unsettled flight, in the order they started. */
  *unsettled(): IterableIterator<Flight<R>> {
    for (let flight = this.#first; flight !== undefined;) {
      const next = flight.next;
      yield flight;
      flight = next;
    }
  }

  /**
   * Throws if the list of unsettled flights is broken or holds a settled
   * flight; returns the flights in it. For tests.
   */
  assertConsistent(): Set<Flight<R>> {
    const flights = new Set<Flight<R>>();
    let previous: Flight<R> | undefined;
    for (let flight = this.#first; flight !== undefined; flight = flight.next) {
      if (flight.settled || flight.registry !== this) {
        throw new Error("a settled flight is still listed");
      }
      if (flight.previous !== previous || flights.has(flight)) {
        throw new Error("the list of unsettled flights is broken");
      }
      flights.add(flight);
      previous = flight;
    }
    if (this.#last !== previous) {
      throw new Error("the list of unsettled flights has the wrong end");
    }
    return flights;
  }

  /** Resolves once every flight unsettled now has settled, however it settled. */
  async whenSettled(): Promise<void> {
    const waits: Promise<unknown>[] = [];
    for (let flight = this.#first; flight !== undefined; flight = flight.next) {
      waits.push(this.#shared(flight).catch(() => {}));
    }
    await Promise.all(waits);
  }

  // The promise plain callers share, made when the first one needs it; a
  // flight only callers with signals wait on has none, so its abandonment
  // leaves no rejection unhandled.
  #shared(flight: Flight<R>): Promise<R> {
    if (flight.promise === undefined) {
      flight.promise = new Promise<R>((resolve, reject) => {
        flight.resolve = resolve;
        flight.reject = reject;
      });
    }
    return flight.promise;
  }

  #leave(flight: Flight<R>, signal: AbortSignal): void {
    const waiters = flight.bySignal?.get(signal);
    if (flight.settled || waiters === undefined) return;
    flight.bySignal!.delete(signal);
    flight.waiters -= waiters.callers.length;
    for (const caller of waiters.callers) caller.reject(signal.reason);
    if (this.isDeserted(flight)) this.events.deserted(flight, signal.reason);
  }

  // Marks `flight` settled, takes it out of the list, removes its listeners
  // and drops what it must not keep.
  #settle(flight: Flight<R>): void {
    const bySignal = flight.bySignal;
    flight.settled = true;
    flight.registry = undefined;
    flight.promise =
      flight.resolve =
      flight.reject =
      flight.bySignal =
      flight.controller =
        undefined;
    const { previous, next } = flight;
    if (previous === undefined) this.#first = next;
    else previous.next = next;
    if (next === undefined) this.#last = previous;
    else next.previous = previous;
    flight.previous = flight.next = undefined;
    if (bySignal !== undefined) {
      for (const waiters of bySignal.values()) {
        waiters.signal.removeEventListener("abort", waiters.listener);
      }
    }
  }
}
