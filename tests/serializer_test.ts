/**
 * docs/behaviour.md §13.3: the default serializer, JSON with undefined kept.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { deserialize, jsonSerializer, serialize } from "../serializer.ts";

const roundTrip = (value: unknown) => deserialize(serialize(value));

Deno.test("a value without undefined is written as plain JSON", () => {
  for (
    const value of [null, true, 0, -1.5e-7, "", "~x", [1, "a"], {
      a: { b: [] },
    }]
  ) {
    assert.equal(serialize(value), JSON.stringify(value));
    assert.deepEqual(roundTrip(value), value);
  }
});

Deno.test("undefined is kept: as the value, as an element, as a present property", () => {
  assert.equal(serialize(undefined), "~[null,[[]]]");
  assert.equal(roundTrip(undefined), undefined);
  assert.deepEqual(roundTrip([undefined, 1, undefined]), [
    undefined,
    1,
    undefined,
  ]);
  const back = roundTrip({ a: 1, b: undefined, c: { d: [null, undefined] } });
  assert.deepEqual(back, { a: 1, b: undefined, c: { d: [null, undefined] } });
  assert.ok(Object.hasOwn(back as object, "b"), "the property is present");
  assert.deepEqual(roundTrip([{ x: undefined }]), [{ x: undefined }]);
});

Deno.test("-0 becomes 0, as in JSON", () => {
  assert.equal(serialize(-0), "0");
  assert.ok(Object.is(roundTrip(-0), 0));
  assert.ok(
    Object.is((roundTrip([-0, { z: -0 }]) as [number, { z: number }])[1].z, 0),
  );
});

Deno.test("plain objects come back with Object.prototype; shared references as copies", () => {
  const bare = Object.assign(Object.create(null), { a: 1 });
  const back = roundTrip(bare) as object;
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.deepEqual(back, { a: 1 });
  const shared = { id: 1 };
  const pair = roundTrip([shared, shared]) as object[];
  assert.deepEqual(pair, [{ id: 1 }, { id: 1 }]);
  assert.notEqual(pair[0], pair[1]);
});

Deno.test("an own __proto__ property round-trips as an own property, undefined included", () => {
  const own = JSON.parse('{"__proto__": 1}');
  assert.ok(Object.hasOwn(roundTrip(own) as object, "__proto__"));
  const holder = Object.defineProperty({}, "__proto__", {
    value: undefined,
    enumerable: true,
    writable: true,
  });
  const back = roundTrip(holder) as object;
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.ok(Object.hasOwn(back, "__proto__"));
  assert.equal(
    Object.getOwnPropertyDescriptor(back, "__proto__")?.value,
    undefined,
  );
});

Deno.test("strings keep lone surrogates, escapes and a leading ~", () => {
  for (
    const text of ["\uD800", "\uDC00x", 'q"\\\n', "~", "~[null,[[]]]", "\u2028"]
  ) {
    assert.equal(roundTrip(text), text);
    assert.equal(roundTrip({ [text]: [text, undefined] })?.constructor, Object);
  }
});

Deno.test("what JSON cannot keep is a TypeError naming its type and its path", () => {
  class Point {}
  const loop: { next?: unknown } = {};
  loop.next = { back: [loop] };
  const cases: [unknown, RegExp][] = [
    [NaN, /serialize value: NaN;/],
    [{ n: Infinity }, /value\.n: Infinity;/],
    [[-Infinity], /value\[0\]: -Infinity;/],
    [{ id: 5n }, /value\.id: a bigint \(5n\)/],
    [{ items: [0, 1, { at: new Date(0) }] }, /value\.items\[2\]\.at: a Date;/],
    [new Map(), /value: a Map;/],
    [[new Set()], /value\[0\]: a Set;/],
    [{ p: new Point() }, /value\.p: an instance of Point;/],
    [{ "a b": () => 1 }, /value\["a b"\]: a function/],
    [[Symbol("s")], /value\[0\]: a symbol \(Symbol\(s\)\);/],
    // deno-lint-ignore no-sparse-arrays
    [[1, , 3], /value\[1\]: a hole in a sparse array;/],
    [{ [Symbol("k")]: 1 }, /value: an object with a symbol key/],
    [loop, /value\.next\.back\[0\]: a cycle back to value;/],
    [new (class List extends Array {})(), /value: an instance of List/],
    [new Uint8Array(2), /value: a Uint8Array/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => serialize(value), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, message);
      assert.match(error.message, /`serialize` and `deserialize` options/);
      return true;
    });
  }
});

Deno.test("text the serializer did not write is a TypeError quoting it", () => {
  const texts = [
    "",
    "{oops",
    "undefined",
    "~",
    "~{}",
    "~[1]",
    "~[1,[]]",
    "~[1,[[]]]",
    "~[null,[[]],1]",
    "~[null,[5]]",
    '~[null,[["a"]]]',
    '~[{"a":1},[["a"]]]',
    '~[{"a":null},[["b"]]]',
    '~[[null],[["0"]]]',
    '~[{"0":null},[[0]]]',
    "~[[null],[[1]]]",
    "~[[null],[[-1]]]",
    "~[[null],[[0.5]]]",
    "~[[null],[[0],[0]]]",
    "~[null,[[],[]]]",
    '~[{"a":{"b":null}},[["a","c"]]]',
    "~[[[null]],[[0,0,0]]]",
  ];
  for (const text of texts) {
    assert.throws(() => deserialize(text), (error: unknown) => {
      assert.ok(error instanceof TypeError, `${text}: ${error}`);
      assert.ok(error.message.includes(JSON.stringify(text)), error.message);
      return true;
    });
  }
  assert.throws(
    () => deserialize(42 as unknown as string),
    /Cannot deserialize the number 42/,
  );
});

Deno.test("a parse failure keeps the SyntaxError as its cause; long text is cut short", () => {
  try {
    deserialize("{".repeat(100));
    assert.fail("expected a TypeError");
  } catch (error) {
    assert.ok(error instanceof TypeError);
    assert.ok(error.cause instanceof SyntaxError);
    assert.ok(
      error.message.includes(`${JSON.stringify("{".repeat(60))}...`),
      error.message,
    );
  }
});

Deno.test("jsonSerializer is the frozen pair of serialize and deserialize", () => {
  assert.equal(jsonSerializer.serialize, serialize);
  assert.equal(jsonSerializer.deserialize, deserialize);
  assert.ok(Object.isFrozen(jsonSerializer));
});

// ---- properties ----------------------------------------------------------

const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(undefined, null, true, false, 0, -0),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({
      unit: fc.oneof(
        fc.string({ unit: "binary", maxLength: 1 }),
        fc.constantFrom("\uD800", "\uDC00", "~"),
      ),
    }),
    tie("array"),
    tie("object"),
  ),
  array: fc.array(tie("value"), { maxLength: 4 }),
  object: fc.dictionary(fc.string({ maxLength: 3 }), tie("value"), {
    maxKeys: 4,
  }),
}));

/** What a value comes back as: -0 as 0, plain objects with Object.prototype. */
function expected(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(expected);
  const copy = {};
  for (const [name, item] of Object.entries(value)) {
    Object.defineProperty(copy, name, {
      value: expected(item),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

Deno.test("property: every accepted value round-trips, undefined kept", () => {
  fc.assert(
    fc.property(value, (value) => {
      assert.deepStrictEqual(roundTrip(value), expected(value));
    }),
    { numRuns: 1000 },
  );
});

const holdsUndefined = (value: unknown): boolean =>
  value === undefined ||
  (typeof value === "object" && value !== null &&
    Object.values(value).some(holdsUndefined));

Deno.test("property: without undefined, the text is what JSON.stringify writes", () => {
  fc.assert(
    fc.property(value, (value) => {
      const text = serialize(value);
      assert.equal(text.startsWith("~"), holdsUndefined(value));
      if (!holdsUndefined(value)) assert.equal(text, JSON.stringify(value));
    }),
  );
});

Deno.test("property: damaged text reads back or is a TypeError, never another error", () => {
  fc.assert(
    fc.property(
      value,
      fc.nat(),
      fc.string({ maxLength: 2 }),
      (value, at, patch) => {
        const text = serialize(value);
        const cut = at % (text.length + 1);
        const damaged = text.slice(0, cut) + patch + text.slice(cut + 1);
        try {
          deserialize(damaged);
        } catch (error) {
          assert.ok(error instanceof TypeError, `${damaged}: ${error}`);
        }
      },
    ),
    { numRuns: 1000 },
  );
});
