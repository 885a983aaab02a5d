/**
 * A circuit breaker in front of a cache's store: after a run of consecutive
 * store failures it opens, and calls stop asking the store (they go straight
 * to the local tier and the function) until a cool-down has passed; then one
 * call asks the store again, and the breaker closes when the store answers.
 * Time is read only when the breaker is open, on the cache's clock, so that
 * a closed breaker costs a counter.
 *
 * @module
 */

import type { Clock } from "./clock.ts";

/** How a {@linkcode CircuitBreaker} works, from the cache's options. */
export interface BreakerSettings {
  /** Consecutive store failures that open the breaker; `Infinity` never opens it. */
  readonly threshold: number;
  /** Milliseconds the breaker stays open before a call tries the store again. */
  readonly cooldown: number;
  /** The cache's clock. */
  clock(): Clock;
  /** Told when the breaker opens (`true`) and when it closes (`false`). */
  changed(open: boolean): void;
}

/** Whether the store may be asked, from the store's recent answers. */
export class CircuitBreaker {
  readonly #settings: BreakerSettings;
  #failures = 0;
  // When the open breaker lets the next call try the store; NaN while
  // closed. Letting one through moves it a cool-down on, so that the others
  // wait for that call's outcome, and a call that never reaches the store
  // (abandoned first) holds nobody up for longer than a cool-down.
  #retryAt = NaN;

  constructor(settings: BreakerSettings) {
    this.#settings = settings;
  }

  /** Whether the breaker is open: the store is not being asked. */
  get open(): boolean {
    return !Number.isNaN(this.#retryAt);
  }

  /**
   * Whether a call may ask the store now. Always while closed; once the
   * cool-down has passed, one call at a time, whose outcome closes the
   * breaker or opens it for another cool-down.
   */
  allows(): boolean {
    if (Number.isNaN(this.#retryAt)) return true;
    const now = this.#settings.clock().now();
    if (now < this.#retryAt) return false;
    this.#retryAt = now + this.#settings.cooldown;
    return true;
  }

  /** The store answered. */
  succeeded(): void {
    this.#failures = 0;
    if (Number.isNaN(this.#retryAt)) return;
    this.#retryAt = NaN;
    this.#settings.changed(false);
  }

  /** The store failed or timed out. */
  failed(): void {
    this.#failures++;
    const wasOpen = !Number.isNaN(this.#retryAt);
    if (!wasOpen && this.#failures < this.#settings.threshold) return;
    // A failed try keeps the breaker open for another cool-down, without
    // telling anyone again: it never closed.
    this.#retryAt = this.#settings.clock().now() + this.#settings.cooldown;
    if (!wasOpen) this.#settings.changed(true);
  }
}
