/**
 * What a change to a cache sets off, kept until the cache is whole again:
 * aborting the signal of work the change abandoned, telling `onEvent` what
 * happened, and bringing the expiry timer in line with the entries. Each of
 * them calls user code, which may change the cache again, so the cache
 * queues them during a change and drains the queue at its boundaries: the
 * end of each public method, of each settlement of work, of the timer's
 * callback and of each store notice.
 *
 * @module
 */

import type { CacheEvent } from "./stats.ts";
import type { UserCode } from "./user_code.ts";

type Effect =
  | { controller: AbortController; reason: unknown; event?: undefined }
  | { event: CacheEvent };

/** The upkeep of the expiry timer, done when the queue is empty. */
export interface TimerUpkeep {
  /** Whether the timer no longer matches the entries' deadlines. */
  readonly timerOutOfDate: boolean;
  /** Brings the timer in line; may call user code. */
  syncTimer(): void;
}

/** The effects queue of one cache. */
export class Effects {
  readonly #user: UserCode;
  readonly #upkeep: TimerUpkeep;
  readonly #queue: Effect[] = [];
  #draining = false;

  constructor(user: UserCode, upkeep: TimerUpkeep) {
    this.#user = user;
    this.#upkeep = upkeep;
  }

  /** Queues the abort of `controller`'s signal with `reason`. */
  abort(controller: AbortController, reason: unknown): void {
    this.#queue.push({ controller, reason });
  }

  /** Queues `event` for `onEvent`. */
  tell(event: CacheEvent): void {
    this.#queue.push({ event });
  }

  /**
   * Runs what is queued, then the timer upkeep, at a boundary of the cache.
   * What the user code run here changes is run too, in the same loop; a
   * boundary reached from inside it only queues.
   */
  drain(): void {
    if (this.#queue.length !== 0 || this.#upkeep.timerOutOfDate) {
      this.#run();
    }
  }

  #run(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (;;) {
        const effect = this.#queue.shift();
        if (effect === undefined) {
          if (!this.#upkeep.timerOutOfDate) return;
          this.#upkeep.syncTimer();
        } else if (effect.event === undefined) {
          this.#user.abort(effect.controller, effect.reason);
        } else {
          this.#user.tell(effect.event);
        }
      }
    } finally {
      this.#draining = false;
    }
  }
}
