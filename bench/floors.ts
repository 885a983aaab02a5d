/**
 * What the benches measure alruCache against: the cheapest things that do a
 * cache's job, or part of it.
 *
 * @module
 */
import { LRUMapWithDelete } from "mnemonist";

/** A cached function of one number. */
export type Load = (key: number) => Promise<number>;

/** The function every bench caches: it resolves at once. */
export function load(key: number): Promise<number> {
  return Promise.resolve(key);
}

/**
 * A bare `Map` of promises: no bound, no counters, never a miss once warm.
 * The limit for a hit.
 */
export function bareMap(): Load {
  const promises = new Map<number, Promise<number>>();
  return (key) => {
    let promise = promises.get(key);
    if (promise === undefined) promises.set(key, promise = load(key));
    return promise;
  };
}

/**
 * The abandonable floor: a minimal LRU of `capacity` promises (mnemonist's)
 * where each entry is a promise of the cache's own, settled by one reaction
 * on the function's promise, which also drops a rejected entry. The least a
 * cache must do per miss to keep rejections out and to be able to reject
 * its callers early when it abandons work.
 */
export function floor(capacity: number): Load {
  const promises = new LRUMapWithDelete<number, Promise<number>>(capacity);
  return (key) => {
    let promise = promises.get(key);
    if (promise === undefined) {
      let settle: (value: number) => void;
      let abandon: (reason: unknown) => void;
      promise = new Promise<number>((resolve, reject) => {
        settle = resolve;
        abandon = reject;
      });
      load(key).then(settle!, (reason) => {
        promises.delete(key);
        abandon(reason);
      });
      promises.set(key, promise);
    }
    return promise;
  };
}
