/**
 * A reference model of what docs/behaviour.md §11 and §12 add to the cache: what is kept
 * (`shouldCache`, `ttl` as a function, `errorTtl`), stale values
 * (`staleWhileRevalidate`, `staleIfError`), `cacheRefresh` and
 * `cacheStats()`. Like tests/model/reference.ts it is written for
 * obviousness: arrays scanned from end to end, time handled by walking from
 * one deadline to the next. tests/model_stale_test.ts runs it against the
 * real cache.
 *
 * It is written from the text of docs/behaviour.md. Where the text is open it reads it
 * as follows:
 *
 * - Freshness ends at settle time + ttl (+ jitter). A stale entry lives until
 *   freshness end + staleWhileRevalidate and expires (counted) then. A ttl
 *   result of 0 or shouldCache false drops the entry; callers get the value.
 * - A staleIfError fallback covers [freshness end, freshness end +
 *   staleIfError). It lives outside the entries and is made only when an
 *   entry expires inside that window (an evicted entry makes none). It is
 *   forgotten by invalidate, clear and close, and when a new value for the
 *   key is stored; at most maxSize are kept, the oldest forgotten first.
 *   Only a failed miss whose entry is still there falls back to it.
 * - A kept failure is an entry until settle time + errorTtl, then expires.
 *   A failed background refresh with errorTtl > 0 keeps the stale entry and
 *   stops stale hits from starting runs until then; if the stale window ends
 *   first, the entry expires and the failure stays as a kept failure for the
 *   rest of that time (docs/behaviour.md: without a stale value, the kept rejection).
 * - A synchronous throw from fn counts nothing and keeps nothing, except in
 *   a background refresh, where no caller sees it: there it is that
 *   refresh's failure.
 * - cacheRefresh joins a miss or refresh in flight; otherwise it starts a run
 *   attached to the key's entry, or, without one, as a new in-flight entry.
 *   Its failure is never kept or answered with a stale value, and its
 *   callers always get the run's own outcome.
 * - A run whose entry was removed while it ran stores nothing.
 * - An entry whose time runs out (it expires, counted) while its refresh
 *   runs leaves that refresh as the key's run: calls join it (hits), and it
 *   settles the entry as a miss would, except that cacheRefresh's run is
 *   never kept as a failure nor answered with a fallback. It is still a
 *   refresh: its failure is a "refreshFailure" too.
 * - maxSize 0 inserts and at once evicts (docs/behaviour.md §3, step 4), counting an eviction.
 * - A closed cache keeps what settles without expiry (README, Closing), but
 *   still asks shouldCache, and keeps no failure.
 *
 * @module
 */

import { type Stats, ZERO_STATS } from "../_helpers.ts";

/** One cache configuration. */
export interface StaleConfig {
  /** 0, 1, 2 or Infinity in the tests. */
  maxSize: number;
  /**
   * A number, or the table a `ttl` function reads: the value of work `n`
   * lives `table[n % table.length]` ms. `undefined`: no expiry.
   */
  ttl: number | number[] | undefined;
  /** `undefined`: no jitter. */
  jitter: number | undefined;
  /** What `random` always returns. */
  random: number;
  staleWhileRevalidate: number | undefined;
  staleIfError: number | undefined;
  /** A number, or the table an `errorTtl` function reads by work number. */
  errorTtl: number | number[] | undefined;
  /** The table a `shouldCache` predicate reads by work number. */
  shouldCache: boolean[] | undefined;
  /** Whether `fn` gets the shared work's signal. */
  signal: boolean;
}

/**
 * What `fn` does when it is called: return a promise the test settles later,
 * return a plain value, return an already-rejected promise, or throw.
 */
export type Mode = "deferred" | "value" | "rejected" | "throw";

/** What a caller's promise has done, or should have done. */
export type Outcome =
  | { kind: "pending" }
  /** Fulfilled with the value object of work `work`. */
  | { kind: "value"; work: number }
  /** Rejected with the error object of work `work`. */
  | { kind: "error"; work: number }
  /** Rejected with a CacheClosedError. */
  | { kind: "closed" }
  /** Rejected with the AbortError that closing without wait gave work `work`. */
  | { kind: "abandoned"; work: number };

/** What `onEvent` is told, with the model key as the event's key. */
export interface StaleEvent {
  type:
    | "hit"
    | "miss"
    | "stale"
    | "errorHit"
    | "refresh"
    | "refreshFailure"
    | "evict"
    | "expire"
    | "invalidate"
    | "error";
  key: number;
}

/** A call of the cached function, or of `cacheRefresh`. */
export type CallerKind = "call" | "refresh";

/**
 * Why `fn` ran: a call that missed, a stale hit (a background refresh), or
 * `cacheRefresh`.
 */
export type WorkKind = "miss" | "background" | "refresh";

/** One run of `fn`. */
export interface StaleWork {
  id: number;
  key: number;
  kind: WorkKind;
  state: "pending" | "resolved" | "rejected" | "thrown" | "abandoned";
  /** Whether its promise is settled (by the test, or by its mode at once). */
  fnSettled: boolean;
  /** Whether its shared signal aborted (closing without wait). */
  aborted: boolean;
}

/** One cache entry. */
export interface StaleEntry {
  key: number;
  /** In flight (a miss, or a refresh with no entry), a value, or a kept failure. */
  state: "inflight" | "value" | "failure";
  /** The run in flight, the run whose value it holds, or the run that failed. */
  work: number;
  /** A refresh in flight for a value or a kept failure. */
  refresh: number | undefined;
  /** A value's end of freshness. */
  freshEnd: number;
  /** When it expires: a value's end of staleness, a failure's end of keeping. */
  end: number;
  /** Where a value's staleIfError window ends. */
  fallbackEnd: number;
  /** Until when a failed background refresh stops stale hits from running fn. */
  blockedUntil: number;
  /** The failed background refresh that set `blockedUntil`. */
  blockedBy: number;
  /** When `end` was set, to order entries that expire at the same time. */
  seq: number;
}

/** A value kept for staleIfError after its entry expired. */
export interface Fallback {
  key: number;
  work: number;
  end: number;
}

/** One call of the cached function or of `cacheRefresh`. */
export interface StaleCaller {
  id: number;
  kind: CallerKind;
  /** The run it waits on, if it waits. */
  work: number | undefined;
  outcome: Outcome;
}

/** One `cacheClose()` call. */
export interface StaleClose {
  wait: boolean;
  /** Runs that were pending when it was called. */
  waitsFor: number[];
  done: boolean;
}

function fromTable<T>(table: T[], work: number): T {
  return table[work % table.length];
}

/** The reference model of one cache. */
export class StaleModel {
  readonly config: StaleConfig;
  now = 0;
  closed = false;
  stats: Stats = { ...ZERO_STATS };
  /** Least recently used first. */
  entries: StaleEntry[] = [];
  /** Oldest first. */
  fallbacks: Fallback[] = [];
  works: StaleWork[] = [];
  callers: StaleCaller[] = [];
  closes: StaleClose[] = [];
  /** Every event so far, in order. */
  events: StaleEvent[] = [];
  #seq = 0;

  constructor(config: StaleConfig) {
    this.config = config;
  }

  /** Entries with a run in flight: misses, and refreshes still attached. */
  get tasks(): number {
    return this.entries.filter((entry) =>
      entry.state === "inflight" || entry.refresh !== undefined
    ).length;
  }

  /** Whether an entry exists for `key`. */
  contains(key: number): boolean {
    return this.#find(key) !== undefined;
  }

  /** The distinct times at which an entry expires, earliest first. */
  deadlines(): number[] {
    return distinct(this.entries.map((entry) => entry.end));
  }

  /** Every time ahead at which something changes, earliest first. */
  boundaries(): number[] {
    return distinct([
      ...this.entries.flatMap((entry) => [
        entry.end,
        entry.freshEnd,
        entry.blockedUntil,
      ]),
      ...this.fallbacks.map((fallback) => fallback.end),
    ].filter((time) => time > this.now));
  }

  /** Calls the cached function for `key`. */
  call(key: number, mode: Mode): number {
    const caller = this.#newCaller("call");
    if (this.closed) {
      caller.outcome = { kind: "closed" };
      return caller.id;
    }
    const entry = this.#find(key);
    if (entry !== undefined) {
      // Every hit is a "hit"; a stale or error hit is one more event of its
      // own counter.
      this.stats.hits++;
      this.#emit("hit", key);
      this.entries.splice(this.entries.indexOf(entry), 1);
      this.entries.push(entry);
      if (entry.state === "inflight") {
        caller.work = entry.work;
      } else if (entry.state === "failure") {
        const fallback = this.#fallback(key);
        if (fallback !== undefined) {
          this.stats.staleHits++;
          this.#emit("stale", key);
          caller.outcome = { kind: "value", work: fallback.work };
        } else {
          this.stats.errorHits++;
          this.#emit("errorHit", key);
          caller.outcome = { kind: "error", work: entry.work };
        }
      } else if (this.now < entry.freshEnd) {
        caller.outcome = { kind: "value", work: entry.work };
      } else {
        this.stats.staleHits++;
        this.#emit("stale", key);
        caller.outcome = { kind: "value", work: entry.work };
        if (entry.refresh === undefined && this.now >= entry.blockedUntil) {
          // No caller sees a background refresh throw, so a throw is its
          // failure like a rejection: counted, and blocking per errorTtl.
          const work = this.#newWork(key, "background", mode);
          this.stats.refreshes++;
          this.#emit("refresh", key);
          entry.refresh = work.id;
          this.#settleByMode(work, mode === "throw" ? "rejected" : mode);
        }
      }
      return caller.id;
    }
    const work = this.#newWork(key, "miss", mode);
    caller.work = work.id;
    if (work.state === "thrown") {
      caller.outcome = { kind: "error", work: work.id };
      return caller.id;
    }
    this.#insert(key, work.id);
    this.stats.misses++;
    this.#emit("miss", key);
    this.#settleByMode(work, mode);
    return caller.id;
  }

  /** Calls `cacheRefresh` for `key`. */
  refresh(key: number, mode: Mode): number {
    const caller = this.#newCaller("refresh");
    if (this.closed) {
      caller.outcome = { kind: "closed" };
      return caller.id;
    }
    const entry = this.#find(key);
    if (entry?.state === "inflight") {
      caller.work = entry.work;
      return caller.id;
    }
    if (entry?.refresh !== undefined) {
      caller.work = entry.refresh;
      return caller.id;
    }
    const work = this.#newWork(key, "refresh", mode);
    caller.work = work.id;
    if (work.state === "thrown") {
      caller.outcome = { kind: "error", work: work.id };
      return caller.id;
    }
    this.stats.refreshes++;
    this.#emit("refresh", key);
    if (entry === undefined) this.#insert(key, work.id);
    else entry.refresh = work.id;
    this.#settleByMode(work, mode);
    return caller.id;
  }

  /** The test settles work `id`'s promise. */
  settle(id: number, ok: boolean): void {
    const work = this.works[id];
    work.fnSettled = true;
    if (ok) this.#resolve(work);
    else this.#reject(work);
    this.#updateCloses();
  }

  /** Moves time forward, expiring entries at their own deadlines in order. */
  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      const next = Math.min(...this.entries.map((entry) => entry.end));
      if (!(next <= target)) break;
      this.now = next;
      this.#forgetEndedFallbacks();
      const due = this.entries
        .filter((entry) => entry.end === next)
        .sort((a, b) => a.seq - b.seq);
      for (const entry of due) {
        this.stats.expirations++;
        this.#emit("expire", entry.key);
        if (entry.state === "value" && entry.fallbackEnd > next) {
          this.#addFallback({
            key: entry.key,
            work: entry.work,
            end: entry.fallbackEnd,
          });
        }
        if (entry.state === "value" && entry.blockedUntil > next) {
          // The stale value is gone but its refresh's failure is still kept
          // (docs/behaviour.md §11: a kept failure without a stale value is an error
          // hit), and it still stops new runs. The key keeps its entry, so
          // a refresh in flight stays attached.
          entry.state = "failure";
          entry.work = entry.blockedBy;
          entry.end = entry.blockedUntil;
          entry.seq = this.#seq++;
        } else if (entry.refresh !== undefined) {
          // The refresh in flight becomes the key's run.
          entry.state = "inflight";
          entry.work = entry.refresh;
          entry.refresh = undefined;
          entry.freshEnd = entry.end = entry.fallbackEnd = Infinity;
          entry.blockedUntil = -Infinity;
          entry.blockedBy = -1;
        } else {
          this.#remove(entry);
        }
      }
    }
    this.now = target;
    this.#forgetEndedFallbacks();
  }

  /** Removes `key`'s entry and forgets its fallback; says whether there was an entry. */
  invalidate(key: number): boolean {
    this.fallbacks = this.fallbacks.filter((fallback) => fallback.key !== key);
    const entry = this.#find(key);
    if (entry === undefined) return false;
    this.entries.splice(this.entries.indexOf(entry), 1);
    this.stats.invalidations++;
    this.#emit("invalidate", key);
    return true;
  }

  /** Drops every entry and fallback and resets the counters. */
  clear(): void {
    this.entries = [];
    this.fallbacks = [];
    this.stats = { ...ZERO_STATS };
  }

  /** Closes the cache; returns the close's number. */
  close(wait: boolean): number {
    this.closed = true;
    // A closed cache serves nothing from what it keeps, fallbacks included.
    this.fallbacks = [];
    for (const entry of this.entries) entry.end = Infinity;
    if (!wait) {
      for (const work of this.works) {
        if (work.state === "pending") this.#abandon(work);
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

  #emit(type: StaleEvent["type"], key: number): void {
    this.events.push({ type, key });
  }

  #find(key: number): StaleEntry | undefined {
    return this.entries.find((entry) => entry.key === key);
  }

  /** The entry a run would store into: its own in-flight entry or the one it refreshes. */
  #entryOf(work: StaleWork): StaleEntry | undefined {
    return this.entries.find((entry) =>
      entry.state === "inflight"
        ? entry.work === work.id
        : entry.refresh === work.id
    );
  }

  #fallback(key: number): Fallback | undefined {
    return this.fallbacks.find((fallback) =>
      fallback.key === key && this.now < fallback.end
    );
  }

  #newCaller(kind: CallerKind): StaleCaller {
    const caller: StaleCaller = {
      id: this.callers.length,
      kind,
      work: undefined,
      outcome: { kind: "pending" },
    };
    this.callers.push(caller);
    return caller;
  }

  #newWork(key: number, kind: WorkKind, mode: Mode): StaleWork {
    const work: StaleWork = {
      id: this.works.length,
      key,
      kind,
      state: mode === "throw" && kind !== "background" ? "thrown" : "pending",
      fnSettled: mode !== "deferred",
      aborted: false,
    };
    this.works.push(work);
    return work;
  }

  #settleByMode(work: StaleWork, mode: Mode): void {
    if (mode === "value") this.#resolve(work);
    if (mode === "rejected") this.#reject(work);
    this.#updateCloses();
  }

  /** A new in-flight entry, most recently used; the least recently used make room. */
  #insert(key: number, work: number): void {
    // docs/behaviour.md §3, step 4 inserts first and evicts after, so with maxSize 0 the new
    // entry itself is evicted (and counted) at once.
    this.entries.push({
      key,
      state: "inflight",
      work,
      refresh: undefined,
      freshEnd: Infinity,
      end: Infinity,
      fallbackEnd: Infinity,
      blockedUntil: -Infinity,
      blockedBy: -1,
      seq: this.#seq++,
    });
    while (this.entries.length > this.config.maxSize) {
      const evicted = this.entries.shift()!;
      this.stats.evictions++;
      this.#emit("evict", evicted.key);
    }
  }

  #addFallback(fallback: Fallback): void {
    this.fallbacks = this.fallbacks.filter((old) => old.key !== fallback.key);
    this.fallbacks.push(fallback);
    // Fallbacks live outside the entries: one a kept failure still answers
    // with counts like any other.
    while (this.fallbacks.length > this.config.maxSize) this.fallbacks.shift();
  }

  #forgetEndedFallbacks(): void {
    this.fallbacks = this.fallbacks.filter((fallback) =>
      this.now < fallback.end
    );
  }

  /** How long work `id`'s value stays fresh; 0: not kept. */
  #lifetime(id: number): number {
    const { ttl, jitter, random } = this.config;
    if (ttl === undefined) return Infinity;
    const base = typeof ttl === "number" ? ttl : fromTable(ttl, id);
    if (base === 0) return 0;
    return jitter === undefined ? base : base + random * jitter;
  }

  #errorTtl(id: number): number {
    const { errorTtl } = this.config;
    if (errorTtl === undefined) return 0;
    return typeof errorTtl === "number" ? errorTtl : fromTable(errorTtl, id);
  }

  #remove(entry: StaleEntry): void {
    this.entries.splice(this.entries.indexOf(entry), 1);
  }

  #resolve(work: StaleWork): void {
    if (work.state !== "pending") return;
    work.state = "resolved";
    const entry = this.#entryOf(work);
    if (entry !== undefined) {
      const keep = this.config.shouldCache === undefined ||
        fromTable(this.config.shouldCache, work.id);
      // A closed cache has no timers: what it keeps never expires (README,
      // Closing), so a lifetime, even 0, no longer applies.
      const lifetime = this.closed ? Infinity : this.#lifetime(work.id);
      if (!keep || lifetime === 0) {
        // Nothing new is stored, so the key's fallback stays (whatever the
        // entry was).
        this.#remove(entry);
      } else {
        // Stored in place: a refresh is not a use of the entry.
        const freshEnd = this.now + lifetime;
        entry.state = "value";
        entry.work = work.id;
        entry.refresh = undefined;
        entry.freshEnd = freshEnd;
        entry.end = freshEnd + (this.config.staleWhileRevalidate ?? 0);
        entry.fallbackEnd = freshEnd + (this.config.staleIfError ?? 0);
        entry.blockedUntil = -Infinity;
        entry.seq = this.#seq++;
        this.fallbacks = this.fallbacks.filter((fallback) =>
          fallback.key !== work.key
        );
      }
    }
    this.#deliver(work, () => ({ kind: "value", work: work.id }));
  }

  #reject(work: StaleWork): void {
    if (work.state !== "pending") return;
    work.state = "rejected";
    const entry = this.#entryOf(work);
    // A failed run is an "error"; a refresh's is a "refreshFailure" too.
    this.stats.runFailures++;
    this.#emit("error", work.key);
    if (work.kind !== "miss") {
      this.stats.refreshFailures++;
      this.#emit("refreshFailure", work.key);
    }
    if (entry !== undefined) {
      const keepFor = work.kind === "refresh" ? 0 : this.#errorTtl(work.id);
      if (entry.state !== "inflight") {
        entry.refresh = undefined;
        if (work.kind === "background" && keepFor > 0) {
          entry.blockedUntil = this.now + keepFor;
          entry.blockedBy = work.id;
        }
      } else if (keepFor > 0 && !this.closed) {
        // A closed cache keeps no failure: nothing could ever end it.
        entry.state = "failure";
        entry.end = this.now + keepFor;
        entry.seq = this.#seq++;
      } else {
        this.#remove(entry);
      }
    }
    // Only a run that would still replace the expired value falls back to
    // it (a miss, or a background refresh that became the key's run; no
    // call waits on one beside a value): not one whose entry was removed
    // meanwhile, and never cacheRefresh's own (not even for calls that
    // joined it).
    const fallback = work.kind !== "refresh" && entry !== undefined
      ? this.#fallback(work.key)
      : undefined;
    this.#deliver(
      work,
      (caller) =>
        // cacheRefresh rejects when its run fails (docs/behaviour.md §11), even when it
        // joined a miss whose callers get the fallback.
        caller.kind === "call" && fallback !== undefined
          ? { kind: "value", work: fallback.work }
          : { kind: "error", work: work.id },
    );
  }

  #abandon(work: StaleWork): void {
    work.state = "abandoned";
    const entry = this.#entryOf(work);
    if (entry?.state === "inflight") this.#remove(entry);
    else if (entry !== undefined) entry.refresh = undefined;
    this.#deliver(work, () => ({ kind: "abandoned", work: work.id }));
    if (this.config.signal) work.aborted = true;
  }

  #deliver(work: StaleWork, outcome: (caller: StaleCaller) => Outcome): void {
    for (const caller of this.callers) {
      if (caller.work === work.id && caller.outcome.kind === "pending") {
        caller.outcome = outcome(caller);
      }
    }
  }

  #updateCloses(): void {
    for (const close of this.closes) {
      close.done ||= close.waitsFor.every((id) =>
        this.works[id].state !== "pending"
      );
    }
  }
}

function distinct(times: number[]): number[] {
  return [...new Set(times.filter((time) => Number.isFinite(time)))]
    .sort((a, b) => a - b);
}
