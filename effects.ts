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

// An abort to run; an event is queued as it is, with no record around it,
// since a watched hit queues one.
class Abort {
  readonly controller: AbortController;
  readonly reason: unknown;
  constructor(controller: AbortController, reason: unknown) {
    this.controller = controller;
    this.reason = reason;
  }
}

type Effect = Abort | CacheEvent;

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
  // The queue's head, when it has one; the rest wait in #queue. Most
  // boundaries set off one effect (a watched hit's event), which then costs
  // no array growing and shrinking.
  #first: Effect | undefined = undefined;
  readonly #queue: Effect[] = [];
  #draining = false;

  constructor(user: UserCode, upkeep: TimerUpkeep) {
    this.#user = user;
    this.#upkeep = upkeep;
  }

  /** Queues the abort of `controller`'s signal with `reason`. */
  abort(controller: AbortController, reason: unknown): void {
    this.#enqueue(new Abort(controller, reason));
  }

  /** Queues `event` for `onEvent`. */
  tell(event: CacheEvent): void {
    this.#enqueue(event);
  }

  /**
   * Runs what is queued, then the timer upkeep, at a boundary of the cache.
   * What the user code run here changes is run too, in the same loop; a
   * boundary reached from inside it only queues.
   */
  drain(): void {
    if (this.#first !== undefined || this.#upkeep.timerOutOfDate) {
      this.#run();
    }
  }

  #enqueue(effect: Effect): void {
    if (this.#first === undefined) this.#first = effect;
    else this.#queue.push(effect);
  }

  #run(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (;;) {
        const effect = this.#first;
        const queue = this.#queue;
        this.#first = queue.length === 0 ? undefined : queue.shift();
        if (effect === undefined) {
          if (!this.#upkeep.timerOutOfDate) return;
          this.#upkeep.syncTimer();
        } else if (effect instanceof Abort) {
          this.#user.abort(effect.controller, effect.reason);
        } else {
          this.#user.tell(effect);
        }
      }
    } finally {
      this.#draining = false;
    }
  }
}
