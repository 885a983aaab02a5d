/**
 * The context guard of a cache on the default clock: it binds the cache to
 * the global timer functions in effect when the cache first needs them, and
 * tells when they have been replaced since (fake timers installed or removed
 * between tests), so that the cache can start over on the new ones.
 *
 * The guard only reads `globalThis.setTimeout`; it writes no global. Deno
 * defines that global as a lazy accessor, several times slower to read than a
 * data property, so the cache asks the guard on misses and on expiry work,
 * never on hits.
 *
 * @module
 */

import { type Clock, SystemClock } from "./clock.ts";

const WARNING =
  "alruCache detected a scheduler change (the global timer functions were replaced, as when fake timers are installed or removed) and cleared the cache of";

/** Binds a cache to the global timers, and notices when they change. */
export class SchedulerGuard {
  #bound: unknown = undefined;
  #warned = false;

  /** Whether the global `setTimeout` differs from the one bound to, or none is bound yet. */
  changed(): boolean {
    return globalThis.setTimeout !== this.#bound;
  }

  /**
   * Binds to the global timers now in effect and returns a clock on them.
   * After the first binding, warns once through `console.warn` that the cache
   * of `name` was cleared.
   */
  rebind(name: string): Clock {
    const first = this.#bound === undefined;
    this.#bound = globalThis.setTimeout;
    if (!first && !this.#warned) {
      this.#warned = true;
      console.warn(
        `${WARNING} ${name}. In-flight work is left to finish. This is expected only in tests.`,
      );
    }
    return new SystemClock();
  }
}
