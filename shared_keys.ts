/**
 * The local keys of a cache with a store. Calls whose arguments are all
 * primitives (symbols aside) keep the keys a cache without a store uses (SameValueZero on
 * primitives agrees with equal store keys), so that their hits stay as fast;
 * a list that holds an object is keyed by its store key's encoding, through
 * one {@linkcode EncodedKey} object per encoding, so that it can never meet a
 * primitive key. Each local entry's store key is remembered, to find the
 * entry when another process invalidates it.
 *
 * @module
 */

/** The local key of an argument list that holds objects: its store key. */
export class EncodedKey {
  /** The store key. */
  readonly text: string;
  /** The arguments, as the first call with them passed them. */
  readonly args: readonly unknown[];

  constructor(text: string, args: readonly unknown[]) {
    this.text = text;
    this.args = args;
  }
}

/**
 * Whether `value` is a primitive that a store key can hold: not an object, a
 * function or a symbol.
 */
export function isPlainPrimitive(value: unknown): boolean {
  const type = typeof value;
  return value === null ||
    (type !== "object" && type !== "function" && type !== "symbol");
}

/** Whether every argument {@linkcode isPlainPrimitive}. */
export function isPrimitiveList(args: ArrayLike<unknown>): boolean {
  for (let i = 0; i < args.length; i++) {
    if (!isPlainPrimitive(args[i])) return false;
  }
  return true;
}

/** Encoded keys by store key, and the local key of each store key in use. */
export class SharedKeys {
  readonly #encoded = new Map<string, EncodedKey>();
  readonly #local = new Map<string, unknown>();

  /** The encoded key for `text`, if one is interned. */
  find(text: string): EncodedKey | undefined {
    return this.#encoded.get(text);
  }

  /** The encoded key for `text`, made from `args` if needed. */
  intern(text: string, args: ArrayLike<unknown>): EncodedKey {
    let key = this.#encoded.get(text);
    if (key === undefined) {
      key = new EncodedKey(text, Array.from(args));
      this.#encoded.set(text, key);
    }
    return key;
  }

  /** Drops `key`, unless another key has been interned for its text since. */
  release(key: EncodedKey): void {
    if (this.#encoded.get(key.text) === key) this.#encoded.delete(key.text);
  }

  /** Records that the local entry keyed `local` has store key `storeKey`. */
  remember(storeKey: string, local: unknown): void {
    this.#local.set(storeKey, local);
  }

  /** Forgets the record of {@linkcode remember}, if it is still `local`'s. */
  forget(storeKey: string, local: unknown): void {
    if (this.#local.get(storeKey) === local) this.#local.delete(storeKey);
  }

  /** The local key of the entry whose store key is `storeKey`, if any. */
  localKeyOf(storeKey: string): unknown {
    return this.#local.get(storeKey);
  }

  /** Forgets everything. */
  clear(): void {
    this.#encoded.clear();
    this.#local.clear();
  }
}
