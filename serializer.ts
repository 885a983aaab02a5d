/**
 * The default serializer of the shared tier: JSON, with
 * `undefined` kept.
 *
 * A value without `undefined` in it is written as plain JSON, so the store
 * holds what `JSON.stringify` would write. A value with `undefined` in it is
 * written as `~` followed by the JSON array `[json, paths]`, where `json` has
 * `null` in each place that held `undefined` and `paths` lists those places,
 * each as an array of property names (strings) and array indexes (numbers),
 * `[]` for the value itself. JSON text never starts with `~`, so the two
 * forms cannot be confused.
 *
 * @module
 */

import type { Serializer } from "./store.ts";
import { describeKind } from "./store_key.ts";

/**
 * Writes `value` as JSON, keeping `undefined`.
 *
 * It takes `undefined`, `null`, booleans, finite numbers, strings, and arrays
 * and plain objects (prototype `Object.prototype` or `null`) of these,
 * nested, and {@linkcode deserialize} gives back an equal value:
 * - `undefined` comes back wherever it was: as the value itself, as an
 *   array element, or as a property that is present with value `undefined`.
 * - `-0` comes back as `0`, as in JSON and as in store keys (`0 === -0`).
 * - Plain objects come back with prototype `Object.prototype`, and an object
 *   reached twice comes back as two equal copies.
 * - Non-enumerable properties, and properties of an array other than its
 *   elements, are not written, as in JSON.
 *
 * @param value The value to store.
 * @returns The text for the store.
 * @throws {TypeError} For anything else, since it would not survive the round
 * trip: `NaN`, `Infinity`, a bigint, a `Date`, a `Map`, a class instance, a
 * function, a symbol, an array with holes, an object with an enumerable
 * symbol key, a cycle. The message names its type and its path in the value,
 * such as `value.items[2].at: a Date`.
 *
 * @example
 * ```ts
 * import { deserialize, serialize } from "./serializer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(serialize({ id: 1, tags: ["a"] }), '{"id":1,"tags":["a"]}');
 * const back = deserialize(serialize({ id: 1, note: undefined }));
 * assert.deepEqual(back, { id: 1, note: undefined });
 * assert.ok(Object.hasOwn(back as object, "note"));
 * assert.throws(
 *   () => serialize({ items: [0, 1, { at: new Date() }] }),
 *   /value\.items\[2\]\.at: a Date/,
 * );
 * ```
 */
export function serialize(value: unknown): string {
  return new Writer().serialize(value);
}

/**
 * Reads text written by {@linkcode serialize}.
 *
 * Text without the leading `~` is read as plain JSON, so values written by
 * `JSON.stringify` read back too.
 *
 * @param text Text from the store.
 * @returns The value that was serialized, as described at
 * {@linkcode serialize}.
 * @throws {TypeError} If `text` is not a string, is not JSON, or starts with
 * `~` and does not hold together (a wrong shape, or a path to `undefined`
 * that leads nowhere or to something other than `null`). The message quotes
 * the start of the text.
 *
 * @example
 * ```ts
 * import { deserialize, serialize } from "./serializer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(deserialize(serialize([1, undefined])), [1, undefined]);
 * assert.equal(deserialize(serialize(undefined)), undefined);
 * assert.throws(() => deserialize("{oops"), TypeError);
 * ```
 */
export function deserialize(text: string): unknown {
  if (typeof text !== "string") {
    throw new TypeError(
      `Cannot deserialize ${
        describeKind(text)
      }: the default serializer reads only strings`,
    );
  }
  if (!text.startsWith(MARK)) return parse(text, text);
  const envelope = parse(text.slice(MARK.length), text);
  if (
    !Array.isArray(envelope) || envelope.length !== 2 ||
    !Array.isArray(envelope[1]) || envelope[1].length === 0
  ) {
    throw unreadable(text, "after `~` it expects [value, [path, ...]]");
  }
  let value: unknown = envelope[0];
  for (const path of envelope[1] as unknown[]) {
    value = restoreUndefined(value, path, text);
  }
  return value;
}

/**
 * The default serializer: {@linkcode serialize} and {@linkcode deserialize}.
 *
 * @example
 * ```ts
 * import { jsonSerializer } from "./serializer.ts";
 * import assert from "node:assert/strict";
 *
 * const text = jsonSerializer.serialize({ found: false, user: undefined });
 * assert.deepEqual(jsonSerializer.deserialize(text), {
 *   found: false,
 *   user: undefined,
 * });
 * ```
 */
export const jsonSerializer: Serializer = Object.freeze({
  serialize,
  deserialize,
});

// Not a character JSON text can start with.
const MARK = "~";

type Path = (string | number)[];

/** One serialization: the path to the value being written, and what it found. */
class Writer {
  // Where each undefined was, in the order written.
  readonly #undefinedAt: Path[] = [];
  // Entry d is the key or index taken at depth d; entries past the current
  // depth are stale and ignored, which saves a pop per element.
  readonly #path: Path = [];
  readonly #ancestors: object[] = [];

  serialize(value: unknown): string {
    const json = this.#write(value, 0);
    return this.#undefinedAt.length === 0
      ? json
      : `${MARK}[${json},${JSON.stringify(this.#undefinedAt)}]`;
  }

  #write(value: unknown, depth: number): string {
    switch (typeof value) {
      case "string":
        return JSON.stringify(value);
      case "number":
        // Number's own text is JSON's for every finite number; -0 gives "0".
        if (Number.isFinite(value)) return String(value);
        break;
      case "boolean":
        return value ? "true" : "false";
      case "undefined":
        this.#undefinedAt.push(this.#path.slice(0, depth));
        return "null";
      case "object":
        if (value === null) return "null";
        return this.#writeObject(value, depth);
    }
    throw this.#refuse(describeKind(value), depth);
  }

  #writeObject(value: object, depth: number): string {
    const proto: unknown = Object.getPrototypeOf(value);
    const isArray = proto === Array.prototype && Array.isArray(value);
    if (!isArray && proto !== Object.prototype && proto !== null) {
      throw this.#refuse(describeKind(value), depth);
    }
    const seen = this.#ancestors.indexOf(value);
    if (seen !== -1) {
      throw this.#refuse(`a cycle back to ${this.#describePath(seen)}`, depth);
    }
    this.#ancestors.push(value);
    const json = isArray
      ? this.#writeArray(value as unknown[], depth)
      : this.#writePlainObject(value as Record<string, unknown>, depth);
    this.#ancestors.pop();
    return json;
  }

  #writeArray(value: unknown[], depth: number): string {
    let json = "[";
    for (let index = 0; index < value.length; index++) {
      this.#path[depth] = index;
      const item = value[index];
      // JSON would write a hole as null, and then it comes back as a value.
      if (item === undefined && !(index in value)) {
        throw this.#refuse("a hole in a sparse array", depth + 1);
      }
      json += (index === 0 ? "" : ",") + this.#write(item, depth + 1);
    }
    return json + "]";
  }

  #writePlainObject(value: Record<string, unknown>, depth: number): string {
    for (const symbol of Object.getOwnPropertySymbols(value)) {
      if (Object.prototype.propertyIsEnumerable.call(value, symbol)) {
        throw this.#refuse(
          `an object with a symbol key (${symbol.toString()})`,
          depth,
        );
      }
    }
    let json = "{";
    let first = true;
    for (const name of Object.keys(value)) {
      this.#path[depth] = name;
      json += (first ? "" : ",") + JSON.stringify(name) + ":" +
        this.#write(value[name], depth + 1);
      first = false;
    }
    return json + "}";
  }

  #describePath(depth: number): string {
    let described = "value";
    for (let d = 0; d < depth; d++) {
      const step = this.#path[d];
      described += typeof step === "number"
        ? `[${step}]`
        : /^[A-Za-z_$][\w$]*$/.test(step)
        ? `.${step}`
        : `[${JSON.stringify(step)}]`;
    }
    return described;
  }

  #refuse(found: string, depth: number): TypeError {
    return new TypeError(
      `Cannot serialize ${this.#describePath(depth)}: ${found}; the default ` +
        "serializer keeps undefined, null, booleans, finite numbers, " +
        "strings, and arrays and plain objects of these; give the " +
        "`serialize` and `deserialize` options for anything else",
    );
  }
}

function parse(json: string, text: string): unknown {
  try {
    return JSON.parse(json);
  } catch (error) {
    throw unreadable(text, "it is not JSON", error);
  }
}

function unreadable(text: string, why: string, cause?: unknown): TypeError {
  const start = text.length > 60
    ? `${JSON.stringify(text.slice(0, 60))}...`
    : JSON.stringify(text);
  return new TypeError(
    `Cannot deserialize ${start}: ${why}, so the default serializer did not write it`,
    cause === undefined ? undefined : { cause },
  );
}

/** `value` with `undefined` put back at `path`, where serialize wrote null. */
function restoreUndefined(
  value: unknown,
  path: unknown,
  text: string,
): unknown {
  if (!Array.isArray(path)) {
    throw unreadable(text, "a path to undefined is not an array");
  }
  if (path.length === 0) {
    if (value !== null) {
      throw unreadable(text, "undefined replaces a non-null value");
    }
    return undefined;
  }
  let holder = value;
  for (let d = 0; d < path.length; d++) {
    const step: unknown = path[d];
    if (!hasSlot(holder, step)) {
      throw unreadable(text, `the path ${JSON.stringify(path)} leads nowhere`);
    }
    const record = holder as Record<string | number, unknown>;
    if (d < path.length - 1) {
      holder = record[step];
    } else if (record[step] !== null) {
      throw unreadable(
        text,
        `the path ${JSON.stringify(path)} leads to a non-null value`,
      );
    } else {
      // JSON.parse makes every property an own data property, "__proto__"
      // included, so this assignment cannot reach a setter.
      record[step] = undefined;
    }
  }
  return value;
}

function hasSlot(holder: unknown, step: unknown): step is string | number {
  if (Array.isArray(holder)) {
    return Number.isInteger(step) && (step as number) >= 0 &&
      (step as number) < holder.length;
  }
  return holder !== null && typeof holder === "object" &&
    typeof step === "string" && Object.hasOwn(holder, step);
}
