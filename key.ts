/**
 * Cache keys for argument lists. One argument is its own key; other lists map
 * to an interned {@linkcode ArgumentsKey}, found through a trie of Maps, so
 * that looking a list up builds no array or string and compares every
 * position with SameValueZero.
 *
 * @module
 */

/** The key of one argument list of length other than one. */
export class ArgumentsKey {
  /** The arguments, as the first call with them passed them. */
  readonly args: readonly unknown[];
  constructor(args: readonly unknown[]) {
    this.args = args;
  }
}

/** The key of a call without arguments. */
export const NO_ARGUMENTS: ArgumentsKey = new ArgumentsKey([]);

/** What {@linkcode ArgumentsKeys.find} returns for a list that has no key yet. */
export const ABSENT: unique symbol = Symbol("absent");

type Node = Map<unknown, unknown>;

// Lists shorter than this find their root in an array indexed by arity;
// longer ones in a Map, since one write far past an array's end turns the
// array into a slow dictionary for as long as the cache lives.
const ARRAY_ROOTS = 64;

/**
 * Interns one {@linkcode ArgumentsKey} per distinct list of two or more
 * arguments, for as long as the owner holds it.
 */
export class ArgumentsKeys {
  // By arity: a Map from the first argument to a Map from the second, and so
  // on; the last level maps the last argument to the key.
  readonly #roots: (Node | undefined)[] = [];
  #longRoots: Map<number, Node> | undefined;

  /** The key of `args`, or {@linkcode ABSENT} if no entry has one. */
  find(args: ArrayLike<unknown>): unknown {
    const arity = args.length;
    if (arity === 0) return NO_ARGUMENTS;
    let node: unknown = this.#rootOf(arity);
    for (let i = 0; i < arity; i++) {
      if (node === undefined) return ABSENT;
      node = (node as Node).get(args[i]);
    }
    return node === undefined ? ABSENT : node;
  }

  /** {@linkcode find} for a list of `arity` 0 or 2, given as its items. */
  findShort(arity: number, first: unknown, second: unknown): unknown {
    if (arity === 0) return NO_ARGUMENTS;
    const node = this.#roots[2]?.get(first) as Node | undefined;
    const key = node?.get(second);
    return key === undefined ? ABSENT : key;
  }

  /** The key of `args`, made if needed. Call {@linkcode release} when its entry goes. */
  intern(args: ArrayLike<unknown>): unknown {
    const arity = args.length;
    if (arity === 0) return NO_ARGUMENTS;
    let node = this.#rootOf(arity);
    if (node === undefined) {
      node = new Map();
      if (arity < ARRAY_ROOTS) this.#roots[arity] = node;
      else (this.#longRoots ??= new Map()).set(arity, node);
    }
    for (let i = 0; i < arity - 1; i++) {
      let child = node.get(args[i]) as Node | undefined;
      if (child === undefined) node.set(args[i], child = new Map());
      node = child;
    }
    let key = node.get(args[arity - 1]) as ArgumentsKey | undefined;
    if (key === undefined) {
      key = new ArgumentsKey(Array.from(args));
      node.set(args[arity - 1], key);
    }
    return key;
  }

  /**
   * Drops `key` and the trie nodes only it used. Anything else is ignored:
   * other values, and a key that is no longer the one interned for its list.
   */
  release(key: unknown): void {
    if (!(key instanceof ArgumentsKey) || key === NO_ARGUMENTS) return;
    const args = key.args;
    const arity = args.length;
    let node = this.#rootOf(arity);
    if (node === undefined) return;
    // One walk down, no recursion: a list may hold more arguments than the
    // stack has frames. The nodes below the deepest one with another entry
    // serve only this key, so cutting that entry drops them all.
    let cut: Node | undefined;
    let cutDepth = 0;
    const last = arity - 1;
    for (let depth = 0; depth < last; depth++) {
      if (node.size > 1) {
        cut = node;
        cutDepth = depth;
      }
      const child = node.get(args[depth]) as Node | undefined;
      if (child === undefined) return;
      node = child;
    }
    if (node.get(args[last]) !== key) return;
    if (node.size > 1) {
      cut = node;
      cutDepth = last;
    }
    if (cut !== undefined) cut.delete(args[cutDepth]);
    else if (arity < ARRAY_ROOTS) this.#roots[arity] = undefined;
    else this.#longRoots!.delete(arity);
  }

  /** Drops every key. */
  clear(): void {
    this.#roots.length = 0;
    this.#longRoots = undefined;
  }

  #rootOf(arity: number): Node | undefined {
    return arity < ARRAY_ROOTS
      ? this.#roots[arity]
      : this.#longRoots?.get(arity);
  }
}
