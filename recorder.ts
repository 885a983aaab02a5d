/**
 * What a cache counts and tells of what it did: each change steps one
 * counter and, when anyone would hear it (`onEvent`, or a subscriber of the
 * events channel), queues one event for the effects queue. An event names
 * its cache, and one of an entry leaving carries the value it held.
 *
 * @module
 */

import { eventsHeard } from "./channels.ts";
import type { Effects } from "./effects.ts";
import {
  type EntryTable,
  type Placed,
  SHARED,
  STALE,
  STALE_SHARED,
  VALUE,
} from "./entries.ts";
import type { Keying } from "./keying.ts";
import type { Slot } from "./policy.ts";
import { type CacheEvent, type CacheEventType, Counters } from "./stats.ts";

/**
 * How events show a call that has no entry: what its key would show.
 *
 * @example
 * ```ts
 * import { CallKey } from "./recorder.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(new CallKey([1, 2]).shown, [1, 2]);
 * ```
 */
export class CallKey {
  /** The key, as events show it. */
  readonly shown: unknown;
  constructor(shown: unknown) {
    this.shown = shown;
  }
}

// What an event shows of an entry that held no value: no `value` at all.
const NO_VALUE: unique symbol = Symbol("no value");

/** The counters of one cache, and the events it makes of their steps. */
export class Recorder {
  /** What the cache has counted. */
  readonly counters: Counters = new Counters();
  readonly #entries: EntryTable<Placed>;
  readonly #keying: Keying;
  readonly #effects: Effects;
  readonly #name: string;
  readonly #watched: boolean;

  /** `settings.watched`: whether `onEvent` is set. */
  constructor(
    entries: EntryTable<Placed>,
    keying: Keying,
    effects: Effects,
    settings: { name: string; watched: boolean },
  ) {
    this.#entries = entries;
    this.#keying = keying;
    this.#effects = effects;
    this.#name = settings.name;
    this.#watched = settings.watched;
  }

  /**
   * Whether an event would be heard now: `onEvent` watches, or the events
   * channel has a subscriber. Without either, no event is made.
   */
  watching(): boolean {
    return this.#watched || eventsHeard();
  }

  /**
   * Counts one event of `type` about `key` (a key of the cache's keying, or
   * a {@linkcode CallKey}), and queues it if anyone would hear it. `error`
   * goes with a `"storeError"`.
   */
  record(type: CacheEventType, key: unknown, error?: unknown): void {
    this.counters.count(type);
    if (this.watching()) this.#tell(type, key, error, NO_VALUE);
  }

  /** Queues an event of `type` about `key`, counted by the caller. */
  tell(type: CacheEventType, key: unknown): void {
    this.#tell(type, key, undefined, NO_VALUE);
  }

  /**
   * What an event of the entry in `slot` leaving would carry, read before
   * it changes; unread when nobody would hear.
   */
  heldValue(slot: Slot): unknown {
    return this.watching() ? this.#held(slot) : NO_VALUE;
  }

  #held(slot: Slot): unknown {
    const entries = this.#entries;
    const kind = entries.kind(slot);
    if (kind === VALUE || kind === STALE) return entries.outcome(slot);
    if (kind === SHARED || kind === STALE_SHARED) {
      return entries.sharedValue(slot);
    }
    return NO_VALUE;
  }

  /**
   * Counts the entry of `key` leaving by `type`, with `held`, what
   * {@linkcode heldValue} read of it.
   */
  recordLeaving(
    type: "evict" | "expire" | "invalidate",
    key: unknown,
    held: unknown,
  ): void {
    this.counters.count(type);
    if (this.watching()) this.#tell(type, key, undefined, held);
  }

  /**
   * Counts the eviction of the entry in `slot`, about to go, and tells of
   * it if `watching` (what {@linkcode watching} said).
   */
  recordEviction(slot: Slot, watching: boolean): void {
    this.counters.evictions++;
    if (watching) {
      this.#tell(
        "evict",
        this.#entries.key(slot),
        undefined,
        this.#held(slot),
      );
    }
  }

  #tell(
    type: CacheEventType,
    key: unknown,
    error: unknown,
    value: unknown,
  ): void {
    const shown = key instanceof CallKey
      ? key.shown
      : this.#keying.display(key);
    const event: CacheEvent = { type, key: shown, name: this.#name };
    if (type === "storeError") event.error = error;
    if (value !== NO_VALUE) event.value = value;
    this.#effects.tell(event);
  }
}
