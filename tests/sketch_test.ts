import assert from "node:assert/strict";
import { FrequencySketch, hashList, hashValue } from "../sketch.ts";

Deno.test("the sketch counts to 15 and no further, and halving halves", () => {
  const sketch = new FrequencySketch(64);
  const hash = hashValue("popular", 1);
  for (let i = 0; i < 9; i++) sketch.increment(hash);
  assert.equal(sketch.frequency(hash), 9);
  for (let i = 0; i < 20; i++) sketch.increment(hash);
  assert.equal(sketch.frequency(hash), 15);
  sketch.halve();
  assert.equal(sketch.frequency(hash), 7);
  sketch.clear();
  assert.equal(sketch.frequency(hash), 0);
});

Deno.test("an estimate is never below the true count (count-min)", () => {
  const sketch = new FrequencySketch(100);
  const counts = new Map<number, number>();
  let state = 7;
  for (let i = 0; i < 2_000; i++) {
    state = (state * 48271) % 2147483647;
    const key = state % 300;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    sketch.increment(hashValue(key, 99));
  }
  for (const [key, count] of counts) {
    assert.ok(sketch.frequency(hashValue(key, 99)) >= Math.min(count, 15));
  }
});

Deno.test("adding a count at once leaves every counter as that many increments do", () => {
  const one = new FrequencySketch(8);
  const many = new FrequencySketch(8);
  let state = 11;
  for (let i = 0; i < 400; i++) {
    state = (state * 48271) % 2147483647;
    const hash = hashValue(state % 40, 3);
    const count = state % 20;
    for (let n = 0; n < count; n++) one.increment(hash);
    many.add(hash, count);
    if (i % 97 === 0) {
      one.halve();
      many.halve();
    }
  }
  for (let key = 0; key < 40; key++) {
    const hash = hashValue(key, 3);
    for (let row = 0; row < 4; row++) {
      assert.equal(many.index(hash, row), one.index(hash, row));
    }
    assert.equal(many.frequency(hash), one.frequency(hash), `key ${key}`);
  }
});

Deno.test("a key's four counters are four distinct counters", () => {
  const sketch = new FrequencySketch(1_000);
  for (let key = 0; key < 1_000; key++) {
    const hash = hashValue(key, 17);
    const indices = new Set([0, 1, 2, 3].map((row) => sketch.index(hash, row)));
    assert.equal(indices.size, 4);
    for (const index of indices) assert.ok(index < sketch.counters);
  }
});

Deno.test("the sketch takes at most 16 bytes per unit of maxSize, and 16 counters", () => {
  for (const maxSize of [1, 2, 3, 5, 100, 1_000, 1_025, 65_537]) {
    const counters = new FrequencySketch(maxSize).counters;
    assert.ok(
      counters / 2 <= 16 * maxSize,
      `${maxSize}: ${counters / 2} bytes`,
    );
    assert.ok(counters >= 16 * maxSize, `${maxSize}: ${counters} counters`);
  }
});

Deno.test("hashes depend on the seed and on what a value is, not on its object", () => {
  assert.notEqual(hashValue("a", 1), hashValue("a", 2));
  assert.equal(hashValue(1, 5), hashValue(1.0, 5));
  assert.notEqual(hashValue(1, 5), hashValue("1", 5));
  assert.equal(hashList(["a", 1], 3), hashList(["a", 1], 3));
  assert.notEqual(hashList(["a", 1], 3), hashList([1, "a"], 3));
  const object = {};
  assert.equal(hashValue(object, 3), hashValue(object, 3));
  assert.notEqual(hashValue(object, 3), hashValue({}, 3));
});
