/**
 * Work a cache has started, as {@linkcode Flight}s, and the callers waiting on
 * it. Plain callers of one piece of work share its flight's promise; a caller
 * with an AbortSignal gets a promise of its own that it can abandon. The
 * registry tells its owner when work settles and when every caller has left
 * it; the owner decides what that means and settles the flight. Flights the
 * owner no longer holds in an entry are kept here until they settle.
 *
 * @module
 */

import { NO_SLOT, type Slot } from "./policy.ts";

interface Settlers<R> {
  resolve(value: R): void;
  reject(reason: unknown): void;
}

const ONCE = { once: true } as const;

// What a flight's reactions and listeners reach the registry through.
interface RegistryLink<R> {
  fulfilled(flight: Flight<R>, value: R): void;
  rejected(flight: Flight<R>, reason: unknown): void;
  leave(waiters: SignalWaiters<R>): void;
}

// The callers of one flight that wait through one signal, and that signal's
// listener for all of them (an event listener object), so that callers
// sharing a signal cost one listener a flight, not one a call.
class SignalWaiters<R> {
  readonly registry: RegistryLink<R>;
  readonly flight: Flight<R>;
  readonly signal: AbortSignal;
  readonly callers: Settlers<R>[] = [];

  constructor(
    registry: RegistryLink<R>,
    flight: Flight<R>,
    signal: AbortSignal,
  ) {
    this.registry = registry;
    this.flight = flight;
    this.signal = signal;
  }

  handleEvent(): void {
    this.registry.leave(this);
  }

  resolve(value: R): void {
    for (const caller of this.callers) caller.resolve(value);
  }

  reject(reason: unknown): void {
    for (const caller of this.callers) caller.reject(reason);
  }

  stopListening(): void {
    this.signal.removeEventListener("abort", this);
  }
}

// The callers of a flight that wait through signals, grouped by signal.
class FlightSignals<R> {
  // Callers with a signal that still wait.
  waiters = 0;
  // The group of the first signal a caller gave, while it waits.
  first: SignalWaiters<R> | undefined = undefined;
  // The groups of any other signals, by signal.
  more: Map<AbortSignal, SignalWaiters<R>> | undefined = undefined;

  resolve(value: R): void {
    this.first?.resolve(value);
    if (this.more === undefined) return;
    for (const waiters of this.more.values()) waiters.resolve(value);
  }

  reject(reason: unknown): void {
    this.first?.reject(reason);
    if (this.more === undefined) return;
    for (const waiters of this.more.values()) waiters.reject(reason);
  }

  stopListening(): void {
    this.first?.stopListening();
    if (this.more === undefined) return;
    for (const waiters of this.more.values()) waiters.stopListening();
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
  // What follows is dropped once the flight is abandoned: the work's
  // reactions keep the flight alive for as long as the work lives, which may
  // be forever, and must not keep callers, signals or the registry with it.
  promise: Promise<R> | undefined = undefined;
  resolve: ((value: R) => void) | undefined = undefined;
  reject: ((reason: unknown) => void) | undefined = undefined;
  /** The callers that wait through signals, once one does. */
  signals: FlightSignals<R> | undefined = undefined;
  /**
   * The registry while the flight is unsettled. The work's reactions reach
   * the registry only through here.
   */
  registry: RegistryLink<R> | undefined = undefined;
  /** Where the flight is in the registry's array of orphans, or -1. */
  index = -1;
  /** What the owner started the work for; the registry never reads it. */
  purpose = 0;
  /** The owner's key of the work; the registry never reads it. */
  key: unknown = undefined;
  /** When the work's function was called, as the owner times loads; the registry never reads it. */
  startedAt: number | undefined = undefined;
  /** The work's trace, when it is traced; the registry never reads it. */
  trace: object | undefined = undefined;
  /** The arguments the work was started with, when the owner keeps them. */
  args: readonly unknown[] | undefined = undefined;

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
      (value) => flight.registry?.fulfilled(flight, value as R),
      (reason) => flight.registry?.rejected(flight, reason),
    );
  } catch (error) {
    // A promise whose own `then` throws: fail the work a turn later, as if
    // it had rejected.
    queueMicrotask(() => flight.registry?.rejected(flight, error));
  }
}

/**
 * What the registry tells its owner about a flight. Each may come after the
 * owner has settled the flight itself, and must then be ignored. The same
 * functions serve every owner, which they get first: one function object per
 * event keeps the calls from the work's reactions monomorphic.
 */
export interface FlightEvents<O, R> {
  /** The work resolved with `value`. */
  fulfilled(owner: O, flight: Flight<R>, value: R): void;
  /** The work rejected with `reason`. */
  rejected(owner: O, flight: Flight<R>, reason: unknown): void;
  /** Every caller left through its signal, the last with `reason`. */
  deserted(owner: O, flight: Flight<R>, reason: unknown): void;
}

/**
 * Starts, joins and settles flights. The owner keeps the flights it holds in
 * entries; the registry keeps those the owner let go of (orphans) until they
 * settle, so that none is lost when the owner must abandon or await them all.
 */
export class InflightRegistry<R, O = unknown> implements RegistryLink<R> {
  readonly #owner: O;
  readonly #events: FlightEvents<O, R>;
  // Unsettled flights the owner let go of, in no particular order: a
  // settling flight's place goes to the last one.
  readonly #orphans: Flight<R>[] = [];

  constructor(owner: O, events: FlightEvents<O, R>) {
    this.#owner = owner;
    this.#events = events;
  }

  /**
   * Registers new work; `controller` aborts its signal. Hand its result to
   * {@linkcode watch} once the owner has recorded the flight.
   */
  start(controller: AbortController | undefined): Flight<R> {
    const flight = new Flight<R>(controller);
    flight.registry = this;
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
    if (signal !== undefined) return this.#joinWithSignal(flight, signal);
    flight.pinned = true;
    return flight.promise ?? this.#shared(flight);
  }

  /** Whether nobody waits on `flight` any more: no plain caller, no caller with a signal. */
  isDeserted(flight: Flight<R>): boolean {
    return !flight.pinned && (flight.signals?.waiters ?? 0) === 0;
  }

  /** Resolves every caller of `flight` with `value`. */
  resolve(flight: Flight<R>, value: R): void {
    this.#settle(flight);
    flight.resolve?.(value);
    flight.signals?.resolve(value);
  }

  /**
   * Rejects every caller of `flight` with `reason`. Returns the controller of
   * the work's signal, for an owner that abandons the work to abort.
   */
  reject(flight: Flight<R>, reason: unknown): AbortController | undefined {
    this.#settle(flight);
    const { controller, reject } = flight;
    // Abandoned work may run on for ever, keeping the flight: it must not
    // keep the callers, their signals or the promise too.
    flight.controller =
      flight.promise =
      flight.resolve =
      flight.reject =
        undefined;
    reject?.(reason);
    flight.signals?.reject(reason);
    flight.signals = undefined;
    return controller;
  }

  /** Called by the work's reactions: see {@linkcode FlightEvents.fulfilled}. */
  fulfilled(flight: Flight<R>, value: R): void {
    this.#events.fulfilled(this.#owner, flight, value);
  }

  /** Called by the work's reactions: see {@linkcode FlightEvents.rejected}. */
  rejected(flight: Flight<R>, reason: unknown): void {
    this.#events.rejected(this.#owner, flight, reason);
  }

  /**
   * Called by the listener of `waiters` when their signal aborts: they all
   * leave, and if nobody else waits, the owner hears the flight is deserted.
   */
  leave(waiters: SignalWaiters<R>): void {
    const flight = waiters.flight;
    const signals = flight.signals;
    if (flight.settled || signals === undefined) return;
    if (signals.first === waiters) signals.first = undefined;
    else signals.more!.delete(waiters.signal);
    signals.waiters -= waiters.callers.length;
    const reason = waiters.signal.reason;
    waiters.reject(reason);
    if (this.isDeserted(flight)) {
      this.#events.deserted(this.#owner, flight, reason);
    }
  }

  /** Keeps unsettled `flight`, which the owner no longer holds, until it settles. */
  orphan(flight: Flight<R>): void {
    if (flight.settled || flight.index !== -1) return;
    flight.index = this.#orphans.length;
    this.#orphans.push(flight);
  }

  /** The unsettled flights the owner let go of. */
  orphans(): Flight<R>[] {
    return this.#orphans.slice();
  }

  /**
   * Throws if the array of orphans is broken or holds a settled flight;
   * returns the orphans. For tests.
   */
  assertConsistent(): Set<Flight<R>> {
    const flights = new Set<Flight<R>>();
    this.#orphans.forEach((flight, index) => {
      if (flight.settled || flight.registry !== this) {
        throw new Error("a settled flight is still kept");
      }
      if (flight.index !== index || flights.has(flight)) {
        throw new Error("the array of orphaned flights is broken");
      }
      flights.add(flight);
    });
    return flights;
  }

  /** Resolves once each of `flights` has settled, however it settled. */
  async whenSettled(flights: Flight<R>[]): Promise<void> {
    await Promise.all(
      flights.map((flight) =>
        flight.settled ? undefined : this.#shared(flight).catch(() => {})
      ),
    );
  }

  #joinWithSignal(flight: Flight<R>, signal: AbortSignal): Promise<R> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const signals = flight.signals ??= new FlightSignals();
    signals.waiters++;
    let waiters = signals.first;
    let listen = false;
    if (waiters?.signal !== signal) {
      waiters = signals.more?.get(signal);
      if (waiters === undefined) {
        waiters = new SignalWaiters(this, flight, signal);
        if (signals.first === undefined) signals.first = waiters;
        else (signals.more ??= new Map()).set(signal, waiters);
        listen = true;
      }
    }
    const callers = waiters.callers;
    const promise = new Promise<R>((resolve, reject) => {
      callers.push({ resolve, reject });
    });
    // Last, with the caller in place: a signal is an object anyone can
    // patch, and its addEventListener may call the owner.
    if (listen) signal.addEventListener("abort", waiters, ONCE);
    return promise;
  }

  // The promise plain callers share, made when the first one needs it; a
  // flight only callers with signals wait on has none, so its abandonment
  // leaves no rejection unhandled.
  #shared(flight: Flight<R>): Promise<R> {
    return flight.promise ??= new Promise<R>((resolve, reject) => {
      flight.resolve = resolve;
      flight.reject = reject;
    });
  }

  // Marks `flight` settled, lets it go if it was an orphan and removes its
  // listeners.
  #settle(flight: Flight<R>): void {
    flight.settled = true;
    flight.registry = undefined;
    // Work that never settles keeps its flight alive through its reactions;
    // the owner's key and arguments must not be kept with it.
    flight.key = flight.args = undefined;
    if (flight.index !== -1) {
      const last = this.#orphans.pop()!;
      if (last !== flight) {
        this.#orphans[flight.index] = last;
        last.index = flight.index;
      }
      flight.index = -1;
    }
    flight.signals?.stopListening();
  }
}
