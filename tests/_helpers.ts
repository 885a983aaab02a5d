/** Shared test helpers. Not part of the published module. */

/**
 * Lets every pending promise reaction run. Cache bookkeeping and callers'
 * continuations take a few microtask turns; this drains them without touching
 * any timer, real or fake.
 */
export async function flush(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
}

/** A promise with its settle functions, for driving a wrapped function by hand. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** Makes a {@linkcode Deferred}. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
