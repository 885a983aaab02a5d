/**
 * docs/behaviour.md §13.2: the canonical store key of an argument list, and of what
 * a `key` option returns.
 */
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describeKind, encodeKey, encodeKeyOf } from "../store_key.ts";

/** Asserts that no two of `lists` share a key, naming the pair that does. */
function assertAllDistinct(lists: unknown[][]): void {
  const seen = new Map<string, unknown[]>();
  for (const args of lists) {
    const key = encodeKey(args);
    const other = seen.get(key);
    assert.ok(!other, `${Deno.inspect([args, other])} share ${key}`);
    seen.set(key, args);
  }
}

Deno.test("the key follows the grammar in the module doc", () => {
  assert.equal(encodeKey([]), "");
  // deno-fmt-ignore
  const args = [undefined, null, true, false, 1.5, -0, NaN, -Infinity, 12n, "ab"];
  assert.equal(encodeKey(args), "uztfn1.5;n0;nNaN;n-Infinity;b12;s2:ab");
  const nested = [new Date(5), [1, [2]], { b: 2, a: { c: undefined } }];
  assert.equal(encodeKey(nested), "d5;[n1;[n2;]]{s1:a{}s1:bn2;}");
  assert.equal(encodeKey(["\uD800"]), 'w"\\ud800"');
});

Deno.test("every kind of value keys apart from the others and from text that looks like it", () => {
  // deno-fmt-ignore
  const values = [
    undefined, null, true, false, 0, 1, -1, 1.5, 1e21, NaN, Infinity, -Infinity, 0n, 1n, -1n,
    "", "0", "1", "1n", "-0", "null", "undefined", "true", "NaN", "Infinity", "u", "z", "n1;",
    "s1:a", "a", "a,b", "[]", "{}", new Date(0), new Date(1), [], [undefined], [null], [[]], {},
    { a: undefined, b: 1 }, { a: 1 }, { "": 1 }, ["a"], 2n ** 64n, 2 ** 64, "18446744073709551616",
  ];
  assertAllDistinct(values.map((value) => [value]));
});

Deno.test("the number and the boundaries of arguments count", () => {
  // deno-fmt-ignore
  assertAllDistinct([
    [], [undefined], [undefined, undefined], ["a,b"], ["a", "b"], ["ab"], [1, 2], [2, 1],
    [[1, 2]], [[1], 2], [1, [2]], [[1], [2]], [{ a: 1 }, 2], [{ a: 1, b: 2 }], ["s1:a"],
  ]);
});

/** Asserts that `a` and `b` share a key. */
const sameKey = (a: unknown[], b: unknown[], message?: string) =>
  assert.equal(encodeKey(a), encodeKey(b), message);

Deno.test("-0 keys as 0, NaN as NaN, anywhere in the arguments", () => {
  sameKey([-0], [0]);
  sameKey([[-0], { x: -0 }], [[0], { x: 0 }]);
  sameKey([NaN], [Number("x")]);
});

Deno.test("plain objects: key order, undefined properties, prototype and hidden keys do not count", () => {
  const key = [{ a: 1, b: 2 }];
  sameKey([{ b: 2, a: 1 }], key);
  sameKey([{ a: 1, b: 2, c: undefined }], key);
  sameKey([Object.assign(Object.create(null), { b: 2, a: 1 })], key);
  sameKey([{ user: { id: 1, tag: undefined } }], [{ user: { id: 1 } }]);
  // Object.keys puts integer-like names first; keys order all names alike.
  sameKey([{ b: 1, 10: 2, 9: 3 }], [{ 9: 3, b: 1, 10: 2 }]);
  const hidden = Object.defineProperty({ a: 1, b: 2 }, "secret", { value: 3 });
  sameKey([hidden], key, "non-enumerable properties are not part of the key");
  const marked = Object.defineProperty({ a: 1, b: 2 }, Symbol("m"), {
    value: 1,
  });
  sameKey([marked], key, "nor are non-enumerable symbol keys");
  const own = JSON.parse('{"__proto__": 1}');
  assertAllDistinct([[own], [{}], [{ ["__proto_"]: 1 }]]);
});

Deno.test("Dates key by their time, apart from numbers; an invalid Date is refused", () => {
  sameKey([new Date(5)], [new Date(5)]);
  assertAllDistinct([[new Date(5)], [5], ["5"], [new Date(6)]]);
  assert.throws(() => encodeKey([new Date(NaN)]), {
    name: "TypeError",
    message: /argument 1: an invalid Date/,
  });
});

Deno.test("an array hole keys as undefined; other array properties do not count", () => {
  // deno-lint-ignore no-sparse-arrays
  sameKey([[, 1]], [[undefined, 1]]);
  sameKey([Object.assign([1], { extra: true })], [[1]]);
});

Deno.test("shared references are fine; only cycles are refused", () => {
  const shared = { id: 1 };
  sameKey([shared, [shared, shared]], [{ id: 1 }, [{ id: 1 }, { id: 1 }]]);
  const loop: { list: unknown[] } = { list: [] };
  loop.list.push({ back: loop });
  assert.throws(() => encodeKey([1, loop]), {
    name: "TypeError",
    message: /argument 2\.list\[0\]\.back: a cycle back to argument 2;.*`key`/,
  });
});

Deno.test("lone surrogates key apart, and keys stay apart in UTF-8", () => {
  // deno-fmt-ignore
  const strings = ["\uD800", "\uDC00", "\uFFFD", "\uD800\uDC00", "\uDC00\uD800", 'w"\\ud800"'];
  assertAllDistinct(strings.map((s) => [s]));
  const utf8 = (s: string) =>
    new TextEncoder().encode(encodeKey([s, { [s]: s }]));
  assert.equal(
    new Set(strings.map((s) => utf8(s).join())).size,
    strings.length,
  );
});

Deno.test("anything else is a TypeError naming the argument, its path, what it is, and `key`", () => {
  class User {}
  // deno-fmt-ignore
  const cases: [unknown[], RegExp][] = [
    [[function load() {}], /argument 1: a function \(load\)/],
    [[1, Symbol("id")], /argument 2: a symbol \(Symbol\(id\)\)/],
    [[new User()], /argument 1: an instance of User/],
    [[new Map()], /argument 1: a Map/],
    [[new Set()], /argument 1: a Set/],
    [[/x/], /argument 1: a RegExp/],
    [[new Uint8Array(1)], /argument 1: a Uint8Array/],
    [[Object.create({})], /argument 1: an object with a custom prototype/],
    [[{ user: { tags: [1, 2, 3, () => 0] } }], /argument 1\.user\.tags\[3\]: a function/],
    [[{ "a b": [new WeakMap()] }], /argument 1\["a b"\]\[0\]: a WeakMap/],
    [[{ [Symbol("k")]: 1 }], /argument 1: an object with a symbol key \(Symbol\(k\)\)/],
    [[[], [[new (class extends Date {})(0)]]], /argument 2\[0\]\[0\]: an instance of /],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => encodeKey(args), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, message);
      assert.match(error.message, /give the `key` option/);
      return true;
    });
  }
});

Deno.test("errors thrown by getters pass through unchanged", () => {
  const boom = new RangeError("boom");
  const tricky = {
    get a() {
      throw boom;
    },
  };
  assert.throws(() => encodeKey([tricky]), (error) => error === boom);
});

Deno.test("encodeKeyOf: a string is the key as is; anything else is encoded as one value", () => {
  class User {}
  assert.equal(encodeKeyOf("user:42"), "user:42");
  assert.equal(encodeKeyOf(""), "");
  assert.equal(encodeKeyOf(42), encodeKey([42]));
  assert.equal(encodeKeyOf([1, "a"]), "[n1;s1:a]");
  assert.equal(encodeKeyOf(undefined), "u");
  assert.notEqual(encodeKeyOf(1), encodeKeyOf("1"));
  assert.throws(() => encodeKeyOf({ user: new User() }), {
    name: "TypeError",
    message: /key\(\)\.user: an instance of User;.*make `key` return a string/,
  });
});

Deno.test("describeKind names the type", () => {
  assert.equal(describeKind(() => 0), "a function");
  assert.equal(describeKind(5n), "a bigint (5n)");
  assert.equal(describeKind(-Infinity), "-Infinity");
  assert.equal(describeKind(new Error("x")), "an Error");
  const orphan = Object.create(Object.create(null));
  assert.equal(describeKind(orphan), "an object with a custom prototype");
  assert.equal(
    describeKind(new (class {})()),
    "an instance of an unnamed class",
  );
});

// ---- properties ----------------------------------------------------------

/**
 * The equality keys promise, written independently of the encoder: two
 * lists are equal iff their normal forms are deeply strictly equal.
 */
function normalise(value: unknown): unknown {
  if (typeof value === "number") return ["number", value === 0 ? 0 : value];
  if (typeof value !== "object" || value === null) return [typeof value, value];
  if (value instanceof Date) return ["date", value.getTime()];
  if (Array.isArray(value)) return ["array", Array.from(value, normalise)];
  const entries = Object.entries(value)
    .filter(([, item]) => item !== undefined)
    .map(([name, item]): [string, unknown] => [name, normalise(item)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return ["object", entries];
}

const sameArguments = (a: unknown[], b: unknown[]) =>
  isDeepStrictEqual(normalise(a), normalise(b));

// A small domain, so that equal lists are drawn often, with strings that
// imitate the encoding and lone surrogates.
// deno-fmt-ignore
const unit = fc.constantFrom("a", "1", ";", ":", "s", "n", "[", "{", "\uD800", "\uDC00");
const text = fc.string({ unit, maxLength: 3 });
// deno-fmt-ignore
const common = fc.constantFrom(undefined, null, true, false, 0, -0, 1, NaN, Infinity, -Infinity, 0n, 1n, "", "1", "null");
const leaf = fc.oneof(
  common,
  text,
  fc.double(),
  fc.bigInt({ min: -3n, max: 3n }),
  fc.integer({ min: 0, max: 2 }).map((time) => new Date(time)),
);
const keyName = fc.constantFrom("a", "b", "1", "__proto__");
const listOf = (leaves: fc.Arbitrary<unknown>) =>
  fc.array(
    fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: "small" }, leaves, tie("array"), tie("obj")),
      array: fc.array(tie("value"), { maxLength: 3 }),
      obj: fc.dictionary(keyName, tie("value"), { maxKeys: 3 }),
    })).value,
    { maxLength: 3 },
  );
const argumentList = listOf(leaf);
// Only short strings: lists whose items run together the same way.
const stringList = fc.array(text, { maxLength: 4 });

/** Checks every pair of `lists`: one key iff equal; and keys are well-formed. */
function checkPairs(lists: unknown[][]): void {
  const keys = lists.map(encodeKey);
  for (let i = 0; i < lists.length; i++) {
    assert.ok(keys[i].isWellFormed(), keys[i]);
    for (let j = i + 1; j < lists.length; j++) {
      const same = sameArguments(lists[i], lists[j]);
      assert.equal(keys[i] === keys[j], same, `${keys[i]} vs ${keys[j]}`);
    }
  }
}

Deno.test("property: two lists share a key iff they are equal modulo the stated equalities", () => {
  const lists = (of: fc.Arbitrary<unknown[]>) =>
    fc.array(of, { minLength: 2, maxLength: 30 });
  fc.assert(fc.property(lists(argumentList), checkPairs), { numRuns: 500 });
  fc.assert(fc.property(lists(stringList), checkPairs), { numRuns: 1000 });
});

/** `value` with its `count.left`-th leaf, depth first, replaced by `by`. */
function replaceLeaf(
  value: unknown,
  count: { left: number },
  by: unknown,
): unknown {
  const again = (item: unknown): unknown => replaceLeaf(item, count, by);
  if (Array.isArray(value)) return value.map(again);
  if (typeof value === "object" && value !== null && !(value instanceof Date)) {
    const entries = Object.entries(value);
    return Object.fromEntries(
      entries.map(([name, item]) => [name, again(item)]),
    );
  }
  return --count.left === 0 ? by : value;
}

Deno.test("property: lists that differ in one place share a key iff equal", () => {
  fc.assert(
    // The fewer the leaves, the likelier a change makes an equal list.
    fc.property(listOf(common), fc.nat(8), common, (args, at, by) => {
      checkPairs([args, replaceLeaf(args, { left: at + 1 }, by) as unknown[]]);
    }),
    { numRuns: 2000 },
  );
});

/** An equal value, written differently: keys reordered, undefined properties added, -0, copies. */
function rewrite(value: unknown, coin: () => boolean): unknown {
  if (value === 0) return coin() ? -0 : 0;
  if (value instanceof Date) return new Date(value.getTime());
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => rewrite(item, coin));
  const names = Object.keys(value).reverse();
  if (coin()) names.push("extra");
  const copy = coin() ? Object.create(null) : {};
  for (const name of names) {
    const item = rewrite((value as Record<string, unknown>)[name], coin);
    const descriptor = { value: item, enumerable: true, writable: true };
    Object.defineProperty(copy, name, descriptor);
  }
  return copy;
}

Deno.test("property: a list rewritten into an equal one keeps its key", () => {
  const coins = fc.infiniteStream(fc.boolean());
  fc.assert(
    fc.property(argumentList, coins, (args, stream) => {
      const flips = stream[Symbol.iterator]();
      const coin = () => flips.next().value as boolean;
      const copy = args.map((item) => rewrite(item, coin));
      assert.ok(sameArguments(args, copy));
      assert.equal(encodeKey(copy), encodeKey(args));
    }),
    { numRuns: 500 },
  );
});
