/**
 * How a cache turns a call into the key of its entry, and back into what
 * events and a store see. One interface, {@linkcode Keying}, and one
 * implementation per way of keying:
 *
 * - {@linkcode ArgumentKeying}: the arguments themselves. One argument is
 *   its own key; other lists are interned by `key.ts`, so that a hit on a
 *   list builds nothing.
 * - {@linkcode OptionKeying}: the `key` option's result.
 * - {@linkcode StoreKeying}: with a store, whose keys are strings. The `key`
 *   option's result is encoded by `store_key.ts` (a string stays as it is).
 *   Without it, calls whose arguments are all primitives (symbols aside) keep
 *   the keys of {@linkcode ArgumentKeying}, since SameValueZero on primitives
 *   agrees with equal store keys and their hits stay as fast; a list that
 *   holds an object is keyed by its encoding, through one
 *   {@linkcode EncodedKey} per encoding, which never meets a primitive key.
 *   Each local key in use maps from its store key, so that another process's
 *   invalidation finds the entry.
 *
 * Finding a key may call the `key` option, which is user code; nothing else
 * here does.
 *
 * @module
 */

import { ABSENT, ArgumentsKey, ArgumentsKeys } from "./key.ts";
import { encodeKey, encodeKeyOf } from "./store_key.ts";
import type { UserCode } from "./user_code.ts";

export { ABSENT };

/** The local key of an argument list that holds objects, with a store. */
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

// The interned key of a new entry for the arguments `args` (undefined for
// one argument, which is its own key). A list's key is interned from the
// arguments even when one was found: user code may have released it since.
function internList(
  lists: ArgumentsKeys,
  found: unknown,
  args: ArrayLike<unknown> | undefined,
): unknown {
  return found === ABSENT || (args !== undefined && args.length !== 1)
    ? lists.intern(args!)
    : found;
}

function storeKeyOfList(
  found: unknown,
  args: ArrayLike<unknown> | undefined,
): string {
  if (found === ABSENT) return encodeKey(args!);
  return found instanceof ArgumentsKey
    ? encodeKey(found.args)
    : encodeKey([found]);
}

function isPrimitiveList(args: ArrayLike<unknown>): boolean {
  for (let i = 0; i < args.length; i++) {
    if (!isPlainPrimitive(args[i])) return false;
  }
  return true;
}

/** One way of keying a cache's entries. */
export interface Keying {
  /**
   * The interned argument lists, for the fast path of calls of up to two
   * primitive arguments; `undefined` where keys come from the `key` option.
   */
  readonly argumentLists: ArgumentsKeys | undefined;
  /**
   * The key of a call of `args` on `thisArg`: the key of its entry if it has
   * one, otherwise {@linkcode ABSENT} or a key to {@linkcode intern}. May call
   * the `key` option.
   *
   * @throws What the `key` option throws, or a `TypeError` for arguments a
   * store key cannot hold.
   */
  find(thisArg: unknown, args: ArrayLike<unknown>): unknown;
  /**
   * The key of a new entry: `found`, what {@linkcode find} returned, made
   * the one key of its kind; for {@linkcode ABSENT}, made from `args`.
   * `args` may be left out for a call of one argument.
   */
  intern(found: unknown, args: ArrayLike<unknown> | undefined): unknown;
  /** Lets `key` go: neither an entry nor a fallback holds it any more. */
  release(key: unknown): void;
  /**
   * The store key of `found`, what {@linkcode find} returned for a call of
   * `args`.
   */
  storeKeyOf(found: unknown, args?: ArrayLike<unknown>): string;
  /**
   * What events show for `key`: the `key` option's result, or else the
   * argument of a one-argument call and the argument list of any other.
   */
  display(key: unknown): unknown;
  /** Records that an entry keyed `key` exists, whose store key is `storeKey`. */
  remember(key: unknown, storeKey: string | undefined): void;
  /** Forgets the record of {@linkcode remember}, as the entry keyed `key` goes. */
  forget(key: unknown): void;
  /** The local key of the entry whose store key is `storeKey`, if any. */
  localKeyOf(storeKey: string): unknown;
  /** Forgets every key. */
  clear(): void;
}

/** Keys made of the arguments themselves. */
export class ArgumentKeying implements Keying {
  readonly argumentLists: ArgumentsKeys = new ArgumentsKeys();

  find(_thisArg: unknown, args: ArrayLike<unknown>): unknown {
    return args.length === 1 ? args[0] : this.argumentLists.find(args);
  }

  intern(found: unknown, args: ArrayLike<unknown> | undefined): unknown {
    return internList(this.argumentLists, found, args);
  }

  release(key: unknown): void {
    this.argumentLists.release(key);
  }

  storeKeyOf(found: unknown, args?: ArrayLike<unknown>): string {
    return storeKeyOfList(found, args);
  }

  display(key: unknown): unknown {
    return key instanceof ArgumentsKey ? key.args : key;
  }

  remember(): void {}

  forget(): void {}

  localKeyOf(): unknown {
    return undefined;
  }

  clear(): void {
    this.argumentLists.clear();
  }
}

/** Keys the `key` option makes. */
export class OptionKeying implements Keying {
  readonly argumentLists = undefined;
  readonly #user: UserCode;

  constructor(user: UserCode) {
    this.#user = user;
  }

  find(thisArg: unknown, args: ArrayLike<unknown>): unknown {
    return this.#user.key(thisArg, args);
  }

  intern(found: unknown): unknown {
    return found;
  }

  release(): void {}

  storeKeyOf(key: unknown): string {
    return encodeKeyOf(key);
  }

  display(key: unknown): unknown {
    return key;
  }

  remember(): void {}

  forget(): void {}

  localKeyOf(): unknown {
    return undefined;
  }

  clear(): void {}
}

/** The keys of a cache with a store: strings the other processes agree on. */
export class StoreKeying implements Keying {
  readonly argumentLists: ArgumentsKeys | undefined;
  readonly #user: UserCode | undefined;
  // Interned encoded keys by store key.
  readonly #encoded = new Map<string, EncodedKey>();
  // The local key of each store key in use, for lists of primitives; a
  // string or encoded key is found from its store key directly.
  readonly #local = new Map<string, unknown>();

  /** `user` when keys come from the `key` option; otherwise from the arguments. */
  constructor(user: UserCode | undefined) {
    this.#user = user;
    this.argumentLists = user === undefined ? new ArgumentsKeys() : undefined;
  }

  find(thisArg: unknown, args: ArrayLike<unknown>): unknown {
    if (this.#user !== undefined) {
      return encodeKeyOf(this.#user.key(thisArg, args));
    }
    if (isPrimitiveList(args)) {
      return args.length === 1 ? args[0] : this.argumentLists!.find(args);
    }
    // Encoded once: a miss interns this very key.
    const text = encodeKey(args);
    return this.#encoded.get(text) ?? new EncodedKey(text, Array.from(args));
  }

  intern(found: unknown, args: ArrayLike<unknown> | undefined): unknown {
    if (!(found instanceof EncodedKey)) {
      return this.#user === undefined
        ? internList(this.argumentLists!, found, args)
        : found;
    }
    const interned = this.#encoded.get(found.text);
    if (interned !== undefined) return interned;
    this.#encoded.set(found.text, found);
    return found;
  }

  release(key: unknown): void {
    if (key instanceof EncodedKey) {
      if (this.#encoded.get(key.text) === key) this.#encoded.delete(key.text);
    } else {
      this.argumentLists?.release(key);
    }
  }

  storeKeyOf(found: unknown, args?: ArrayLike<unknown>): string {
    if (this.#user !== undefined) return found as string;
    if (found instanceof EncodedKey) return found.text;
    return storeKeyOfList(found, args);
  }

  display(key: unknown): unknown {
    if (this.#user !== undefined) return key;
    if (key instanceof ArgumentsKey) return key.args;
    if (key instanceof EncodedKey) {
      return key.args.length === 1 ? key.args[0] : key.args;
    }
    return key;
  }

  remember(key: unknown, storeKey: string | undefined): void {
    if (this.#user !== undefined || key instanceof EncodedKey) return;
    this.#local.set(storeKey ?? storeKeyOfList(key, undefined), key);
  }

  forget(key: unknown): void {
    if (this.#user !== undefined || key instanceof EncodedKey) return;
    const storeKey = storeKeyOfList(key, undefined);
    if (this.#local.get(storeKey) === key) this.#local.delete(storeKey);
  }

  localKeyOf(storeKey: string): unknown {
    if (this.#user !== undefined) return storeKey;
    return this.#encoded.get(storeKey) ?? this.#local.get(storeKey);
  }

  clear(): void {
    this.#encoded.clear();
    this.#local.clear();
    this.argumentLists?.clear();
  }
}
