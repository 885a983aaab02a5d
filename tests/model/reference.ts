/**
 * A reference model of the cache contract (docs/behaviour.md and the README's
 * documented decisions), written for obviousness rather than speed: plain
 * arrays scanned from end to end, no slots, no heaps, no linked lists. The
 * model-based test (tests/model_test.ts) runs random command sequences
 * against this model and the real cache side by side.
 *
 * Keys are small integers; the test maps each to the real arguments. Works,
 * callers and controllers are numbered in creation order, which the test's
 * real side shares, so outcomes can be compared by identity.
 *
 * @module
 */

/** How the test maps a model key to real call arguments. */
export type Shape = "one" | "mixed" | "keyOption" | "exotic";

/** One cache configuration. */
export interface ModelConfig {
  /** 0, 1, 2, 3 or Infinity in the tests. */
  maxSize: number;
  /** `undefined`: no expiry. */
  ttl: number | undefined;
  /** `undefined`: no jitter. */
  jitter: number | undefined;
  /** Whether `fn` gets the shared work's signal. */
  signal: boolean;
  /** How keys become arguments (the model ignores it). */
  shape: Shape;
  /** What the `random` option returns, in turn, cycling. Never empty. */
  randoms: number[];
}

/**
 * What `fn` does when a call misses: return a promise the test settles later,
 * return a plain value, return an already-rejected promise, or throw.
 */
export type Mode = "deferred" | "value" | "rejected" | "throw";

/** What a caller's promise has done, or should have done. */
export type Outcome =
  | { kind: "pending" }
  /** Fulfilled with the value object of work `work`. */
  | { kind: "value"; work: number }
  /** Rejected with the error object of work `work` (rejected or thrown). */
  | { kind: "error"; work: number }
  /** Rejected with the abort reason of controller `controller`. */
  | { kind: "aborted"; controller: number }
  /** Rejected with a CacheClosedError. */
  | { kind: "closed" }
  /** Rejected with the AbortError that closing without wait gave work `work`. */
  | { kind: "abandoned"; work: number };

/** Why a work's shared signal aborted. */
export type SharedAbort =
  | { kind: "aborted"; controller: number }
  | { kind: "abandoned"; work: number };

/** One run of `fn`. */
export interface ModelWork {
  id: number;
  key: number;
  /** The work as the cache sees it. */
  state: "pending" | "resolved" | "rejected" | "abandoned" | "thrown";
  /** Whether its promise is settled (by the test, or by its mode at once). */
  fnSettled: boolean;
  /** Whether a caller without a signal ever joined it. */
  pinned: boolean;
  /** Callers with a signal that still wait on it. */
  waiters: number;
  /** Its shared signal's abort, if any. */
  shared: SharedAbort | undefined;
}

/** One cache entry. */
export interface ModelEntry {
  key: number;
  work: number;
  settled: boolean;
  /** When it expires; Infinity for never. */
  deadline: number;
}

/** One call of the cached function. */
export interface ModelCaller {
  id: number;
  /** The work it waits on or got its value from, if any. */
  work: number | undefined;
  /** The controller whose signal it gave, if any. */
  controller: number | undefined;
  outcome: Outcome;
}

/** One `cacheClose()` call. */
export interface ModelClose {
  wait: boolean;
  /** Works that were pending when it was called. */
  waitsFor: number[];
  done: boolean;
}

/** The reference model of one cache. */
export class ReferenceModel {
  readonly config: ModelConfig;
  now = 0;
  hits = 0;
  misses = 0;
  closed = false;
  /** How many times `random` has been called. */
  draws = 0;
  /** Least recently used first. */
  entries: ModelEntry[] = [];
  works: ModelWork[] = [];
  callers: ModelCaller[] = [];
  /** Whether each controller has aborted. */
  controllers: boolean[] = [];
  closes: ModelClose[] = [];

  constructor(config: ModelConfig) {
    this.config = config;
  }

  /** Entries whose work is still pending. */
  get tasks(): number {
    return this.entries.filter((entry) => !entry.settled).length;
  }

  /** A new caller controller; returns its number. */
  newController(): number {
    this.controllers.push(false);
    return this.controllers.length - 1;
  }

  /** Whether an entry exists for `key`. */
  contains(key: number): boolean {
    return this.entries.some((entry) => entry.key === key);
  }

  /** Calls the cache for `key`, with `controller`'s signal if given. */
  call(key: number, mode: Mode, controller?: number): number {
    const caller: ModelCaller = {
      id: this.callers.length,
      work: undefined,
      controller,
      outcome: { kind: "pending" },
    };
    this.callers.push(caller);
    if (this.closed) {
      caller.outcome = { kind: "closed" };
      return caller.id;
    }
    if (controller !== undefined && this.controllers[controller]) {
      caller.outcome = { kind: "aborted", controller };
      return caller.id;
    }
    const index = this.entries.findIndex((entry) => entry.key === key);
    if (index !== -1) {
      this.hits++;
      const [entry] = this.entries.splice(index, 1);
      this.entries.push(entry);
      caller.work = entry.work;
      if (entry.settled) {
        caller.outcome = { kind: "value", work: entry.work };
      } else {
        this.#join(this.works[entry.work], controller);
      }
      return caller.id;
    }
    const work: ModelWork = {
      id: this.works.length,
      key,
      state: "pending",
      fnSettled: mode !== "deferred",
      pinned: false,
      waiters: 0,
      shared: undefined,
    };
    this.works.push(work);
    caller.work = work.id;
    if (mode === "throw") {
      work.state = "thrown";
      caller.outcome = { kind: "error", work: work.id };
      return caller.id;
    }
    this.entries.push({
      key,
      work: work.id,
      settled: false,
      deadline: Infinity,
    });
    while (this.entries.length > this.config.maxSize) this.entries.shift();
    this.misses++;
    this.#join(work, controller);
    if (mode === "value") this.#resolve(work);
    if (mode === "rejected") this.#reject(work);
    this.#updateCloses();
    return caller.id;
  }

  /** Aborts a controller: each of its callers still waiting gives up. */
  abort(controller: number): void {
    this.controllers[controller] = true;
    for (const caller of this.callers) {
      if (
        caller.controller !== controller || caller.outcome.kind !== "pending"
      ) continue;
      caller.outcome = { kind: "aborted", controller };
      const work = this.works[caller.work!];
      work.waiters--;
      if (work.waiters === 0 && !work.pinned) {
        this.#abandon(work, { kind: "aborted", controller });
      }
    }
    this.#updateCloses();
  }

  /** The test settles work `id`'s promise. */
  settle(id: number, ok: boolean): void {
    const work = this.works[id];
    work.fnSettled = true;
    if (ok) this.#resolve(work);
    else this.#reject(work);
    this.#updateCloses();
  }

  /** Moves time forward; entries whose deadline is reached vanish. */
  advance(ms: number): void {
    const target = this.now + ms;
    this.entries = this.entries.filter((entry) => !(entry.deadline <= target));
    this.now = target;
  }

  /** The distinct finite deadlines of the entries, earliest first. */
  deadlines(): number[] {
    const deadlines = this.entries
      .map((entry) => entry.deadline)
      .filter((deadline) => deadline !== Infinity);
    return [...new Set(deadlines)].sort((a, b) => a - b);
  }

  /** Removes `key`'s entry; says whether there was one. */
  invalidate(key: number): boolean {
    const before = this.entries.length;
    this.entries = this.entries.filter((entry) => entry.key !== key);
    return this.entries.length !== before;
  }

  /** Drops every entry and resets the counters. */
  clear(): void {
    this.entries = [];
    this.hits = 0;
    this.misses = 0;
  }

  /** Closes the cache; returns the close's number. */
  close(wait: boolean): number {
    this.closed = true;
    for (const entry of this.entries) entry.deadline = Infinity;
    if (!wait) {
      for (const work of this.works) {
        if (work.state === "pending") {
          this.#abandon(work, { kind: "abandoned", work: work.id });
        }
      }
    }
    this.closes.push({
      wait,
      waitsFor: this.works
        .filter((work) => work.state === "pending")
        .map((work) => work.id),
      done: false,
    });
    this.#updateCloses();
    return this.closes.length - 1;
  }

  #join(work: ModelWork, controller: number | undefined): void {
    if (controller === undefined) work.pinned = true;
    else work.waiters++;
  }

  #entryOf(work: ModelWork): number {
    return this.entries.findIndex((entry) => entry.work === work.id);
  }

  #deliver(work: ModelWork, outcome: Outcome): void {
    for (const caller of this.callers) {
      if (caller.work === work.id && caller.outcome.kind === "pending") {
        caller.outcome = outcome;
      }
    }
  }

  #resolve(work: ModelWork): void {
    if (work.state !== "pending") return;
    work.state = "resolved";
    const index = this.#entryOf(work);
    if (index !== -1) {
      const entry = this.entries[index];
      entry.settled = true;
      const { ttl, jitter } = this.config;
      if (!this.closed && ttl !== undefined) {
        let lifetime = ttl;
        if (jitter !== undefined && jitter > 0) {
          const random =
            this.config.randoms[this.draws % this.config.randoms.length];
          this.draws++;
          lifetime = ttl + random * jitter;
        }
        if (lifetime <= 0) this.entries.splice(index, 1);
        else entry.deadline = this.now + lifetime;
      }
    }
    this.#deliver(work, { kind: "value", work: work.id });
  }

  #reject(work: ModelWork): void {
    if (work.state !== "pending") return;
    work.state = "rejected";
    const index = this.#entryOf(work);
    if (index !== -1) this.entries.splice(index, 1);
    this.#deliver(work, { kind: "error", work: work.id });
  }

  #abandon(work: ModelWork, why: SharedAbort): void {
    work.state = "abandoned";
    const index = this.#entryOf(work);
    if (index !== -1) this.entries.splice(index, 1);
    this.#deliver(
      work,
      why.kind === "aborted"
        ? { kind: "aborted", controller: why.controller }
        : { kind: "abandoned", work: why.work },
    );
    if (this.config.signal) work.shared = why;
  }

  #updateCloses(): void {
    for (const close of this.closes) {
      close.done ||= close.waitsFor.every((id) =>
        this.works[id].state !== "pending"
      );
    }
  }
}
