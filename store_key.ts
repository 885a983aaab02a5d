/**
 * Store keys for the shared tier: one canonical string per
 * argument list, so that every process derives the same key from equal
 * arguments, and different argument lists never share one.
 *
 * Each value's encoding is prefix-free, so a list is its values written one
 * after another, and the number of arguments counts without a separator:
 *
 * ```text
 * list   = value*
 * value  = "u"                     undefined
 *        | "z"                     null
 *        | "t" | "f"               true, false
 *        | "n" String(x) ";"       number: -0 gives "n0;"; "nNaN;", "nInfinity;", "n-Infinity;"
 *        | "b" String(x) ";"       bigint
 *        | "d" getTime() ";"       valid Date
 *        | string
 *        | "[" value* "]"          array; a hole is read as undefined
 *        | "{" (string value)* "}" plain object: own enumerable string keys in
 *                                  UTF-16 code unit order, undefined values left out
 * string = "s" length ":" text     well-formed string, length in UTF-16 code units
 *        | "w" JSON.stringify(s)   string with a lone surrogate
 * ```
 *
 * A store may hold keys as UTF-8, where every lone surrogate becomes U+FFFD;
 * the `w` form escapes them, so a key is always well-formed and stays
 * distinct after that conversion.
 *
 * @module
 */

/**
 * The canonical store key of an argument list, for caches with a shared
 * tier and no `key` option.
 *
 * It takes `undefined`, `null`, booleans, numbers, bigints, strings, valid
 * `Date`s, and arrays and plain objects (prototype `Object.prototype` or
 * `null`) of these, nested. Two lists give the same key exactly when they
 * have the same length and are equal position by position, where `-0`
 * equals `0`, `NaN` equals `NaN`, a `Date` equals another with the same time,
 * object keys are unordered, a property whose value is `undefined` equals a
 * missing one, and an array hole equals `undefined`. Values of different
 * types never share a key: `"1"` and `1`, `1` and `1n`, `null` and
 * `undefined` all differ. Non-enumerable properties, and properties of an
 * array other than its elements, are not part of the key.
 *
 * @param args The call's arguments: an array, or `arguments` itself, which
 * saves copying it.
 * @returns The key; `""` for a call without arguments.
 * @throws {TypeError} For anything else (a function, a symbol, a class
 * instance such as a `Map`, an invalid `Date`, an object with an enumerable
 * symbol key, a cycle): the message names the argument's position and the
 * path to the value, such as `argument 1.user.tags[3]`, says what was found,
 * and says to give the `key` option.
 *
 * @example Equal arguments, one key
 * ```ts
 * import { encodeKey } from "./store_key.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(encodeKey([{ id: 1, tag: undefined }]), encodeKey([{ id: 1 }]));
 * assert.equal(encodeKey([-0]), encodeKey([0]));
 * assert.notEqual(encodeKey(["a,b"]), encodeKey(["a", "b"]));
 * assert.notEqual(encodeKey([]), encodeKey([undefined]));
 * assert.throws(() => encodeKey([1, new Map()]), /argument 2: a Map/);
 * ```
 */
export function encodeKey(args: ArrayLike<unknown>): string {
  let key = "";
  let position = 0;
  // Emptied again by every value that encodes, so one array serves them all.
  const ancestors: object[] = [];
  try {
    for (; position < args.length; position++) {
      key += encodeValue(args[position], ancestors);
    }
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    throw error.toTypeError(
      `argument ${position + 1}`,
      "give the `key` option to make this call's key yourself",
    );
  }
  return key;
}

/**
 * The store key for what a `key` option returned.
 *
 * A string result is the key as it is, so that callers choose
 * their store keys. Any other result is encoded as one value with the
 * grammar of {@linkcode encodeKey}, rather than refused, so that a `key`
 * that returns a number id or a tuple array still works with a store; its
 * own arguments are not read, since `key` exists to replace them (for a
 * method, it also sees `this`). A `key` should return one kind of result:
 * a string result is never encoded, so a string such as `"n1;"` would share
 * its key with the number `1`.
 *
 * @param key What the `key` option returned.
 * @returns `key` itself if it is a string, otherwise its canonical encoding.
 * @throws {TypeError} If `key` is not a string and holds a value
 * {@linkcode encodeKey} refuses; the message names the path, such as
 * `key().user`, and says to return a string from `key`.
 *
 * @example
 * ```ts
 * import { encodeKey, encodeKeyOf } from "./store_key.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(encodeKeyOf("user:42"), "user:42");
 * assert.equal(encodeKeyOf(42), encodeKey([42]));
 * assert.notEqual(encodeKeyOf(42), encodeKeyOf("42"));
 * assert.throws(() => encodeKeyOf({ at: new Set() }), /key\(\)\.at: a Set/);
 * ```
 */
export function encodeKeyOf(key: unknown): string {
  if (typeof key === "string") return key;
  try {
    return encodeValue(key, []);
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    throw error.toTypeError("key()", "make `key` return a string");
  }
}

/**
 * How error messages of the shared tier name a value that it cannot take:
 * `"a function (load)"`, `"a symbol (Symbol(id))"`, `"a Map"`, `"an instance
 * of User"`, `"NaN"`, `"a bigint (5n)"`.
 *
 * @param value Any value.
 * @returns A short description naming the value's type.
 *
 * @example
 * ```ts
 * import { describeKind } from "./store_key.ts";
 * import assert from "node:assert/strict";
 *
 * class User {}
 * assert.equal(describeKind(new User()), "an instance of User");
 * assert.equal(describeKind(new Map()), "a Map");
 * assert.equal(describeKind(Infinity), "Infinity");
 * ```
 */
export function describeKind(value: unknown): string {
  switch (typeof value) {
    case "function":
      return value.name === "" ? "a function" : `a function (${value.name})`;
    case "symbol":
      return `a symbol (${value.toString()})`;
    case "bigint":
      return `a bigint (${value}n)`;
    case "string":
      return `a string (${JSON.stringify(value)})`;
    case "number":
      return Number.isFinite(value) ? `the number ${value}` : String(value);
    case "object":
      return value === null ? "null" : describeObject(value);
    default:
      return String(value);
  }
}

function describeObject(value: object): string {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === null || proto === Object.prototype) return "a plain object";
  if (proto === Array.prototype && Array.isArray(value)) return "an array";
  const constructor: unknown = (proto as { constructor?: unknown }).constructor;
  // Object.create(someObject) inherits a constructor that did not make it.
  if (
    typeof constructor !== "function" || constructor.prototype !== proto
  ) {
    return "an object with a custom prototype";
  }
  const name = constructor.name;
  if (name === "") return "an instance of an unnamed class";
  // A built-in reads better as "a Map" than as "an instance of Map"; the
  // global must be the very constructor, not a user class of the same name.
  if ((globalThis as Record<string, unknown>)[name] === constructor) {
    // Built-ins starting with U say "you": a Uint8Array, a URL.
    return `${/^[AEIO]/.test(name) ? "an" : "a"} ${name}`;
  }
  return `an instance of ${name}`;
}

/**
 * Thrown inside the encoder when a value cannot be encoded. The path is
 * collected while the error unwinds, so that encoding keys that succeed
 * tracks no path at all.
 */
class Refusal {
  readonly #found: string;
  // Innermost first: each container adds its own as the refusal passes.
  readonly #segments: string[] = [];
  // For a cycle: how many segments lead to the ancestor seen again.
  readonly #cycleDepth: number;

  constructor(found: string, cycleDepth = -1) {
    this.#found = found;
    this.#cycleDepth = cycleDepth;
  }

  /** Records that the refused value lies under `segment` of its container. */
  under(segment: string): void {
    this.#segments.push(segment);
  }

  toTypeError(root: string, remedy: string): TypeError {
    const outerFirst = this.#segments.toReversed();
    const path = root + outerFirst.join("");
    const found = this.#cycleDepth === -1
      ? this.#found
      : `a cycle back to ${
        root + outerFirst.slice(0, this.#cycleDepth).join("")
      }`;
    return new TypeError(
      `Cannot make a store key from ${path}: ${found}; store keys take ` +
        "undefined, null, booleans, numbers, bigints, strings, valid Dates, " +
        `and arrays and plain objects of these; ${remedy}`,
    );
  }
}

function encodeValue(value: unknown, ancestors: object[]): string {
  switch (typeof value) {
    case "string":
      return encodeString(value);
    case "number":
      // String(-0) is "0", which is the equality keys want; NaN and the
      // infinities have their own texts.
      return `n${value};`;
    case "undefined":
      return "u";
    case "boolean":
      return value ? "t" : "f";
    case "bigint":
      return `b${value};`;
    case "object":
      return value === null ? "z" : encodeObject(value, ancestors);
    default:
      throw new Refusal(describeKind(value));
  }
}

function encodeString(value: string): string {
  return value.isWellFormed()
    ? `s${value.length}:${value}`
    : `w${JSON.stringify(value)}`;
}

function encodeObject(value: object, ancestors: object[]): string {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    return encodePlainObject(value as Record<string, unknown>, ancestors);
  }
  if (proto === Array.prototype && Array.isArray(value)) {
    return encodeArray(value, ancestors);
  }
  if (proto === Date.prototype) {
    const time = (value as Date).getTime();
    if (Number.isNaN(time)) throw new Refusal("an invalid Date");
    return `d${time};`;
  }
  throw new Refusal(describeKind(value));
}

function enter(value: object, ancestors: object[]): void {
  const seen = ancestors.indexOf(value);
  if (seen !== -1) throw new Refusal("a cycle", seen);
  ancestors.push(value);
}

function encodeArray(value: readonly unknown[], ancestors: object[]): string {
  enter(value, ancestors);
  let encoded = "[";
  let index = 0;
  try {
    for (; index < value.length; index++) {
      encoded += encodeValue(value[index], ancestors);
    }
  } catch (error) {
    if (error instanceof Refusal) error.under(`[${index}]`);
    throw error;
  }
  ancestors.pop();
  return encoded + "]";
}

function encodePlainObject(
  value: Record<string, unknown>,
  ancestors: object[],
): string {
  enter(value, ancestors);
  for (const symbol of Object.getOwnPropertySymbols(value)) {
    // A symbol key cannot be written canonically; ignoring it would make
    // objects that differ only there share a key.
    if (Object.prototype.propertyIsEnumerable.call(value, symbol)) {
      throw new Refusal(
        `an object with a symbol key (${symbol.toString()})`,
      );
    }
  }
  const keys = sortedKeys(value);
  let encoded = "{";
  let name = "";
  try {
    for (name of keys) {
      const item = value[name];
      if (item !== undefined) {
        encoded += encodeString(name) + encodeValue(item, ancestors);
      }
    }
  } catch (error) {
    if (error instanceof Refusal) error.under(propertySegment(name));
    throw error;
  }
  ancestors.pop();
  return encoded + "}";
}

// Plain objects used as arguments have few keys; for those an insertion sort
// is about twice as fast as Array.prototype.sort. Both order by UTF-16 code
// units.
const INSERTION_SORT_MAX = 16;

function sortedKeys(value: object): string[] {
  const keys = Object.keys(value);
  if (keys.length > INSERTION_SORT_MAX) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i];
    let j = i - 1;
    for (; j >= 0 && keys[j] > key; j--) keys[j + 1] = keys[j];
    keys[j + 1] = key;
  }
  return keys;
}

function propertySegment(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name)
    ? `.${name}`
    : `[${JSON.stringify(name)}]`;
}
