import assert from "node:assert/strict";
import { RecencyList } from "../lru.ts";

Deno.test("RecencyList keeps slots from least to most recently used", () => {
  const list = new RecencyList();
  const a = list.add();
  const b = list.add();
  const c = list.add();
  assert.deepEqual([...list.slots()], [a, b, c]);
  list.touch(a);
  assert.deepEqual([...list.slots()], [b, c, a]);
  assert.equal(list.victim(), b);
  list.touch(a);
  assert.deepEqual([...list.slots()], [b, c, a]);
  list.remove(c);
  assert.deepEqual([...list.slots()], [b, a]);
  assert.equal(list.size, 2);
});

Deno.test("RecencyList reuses freed slots before growing", () => {
  const list = new RecencyList();
  const a = list.add();
  list.add();
  list.remove(a);
  assert.equal(list.add(), a);
  list.clear();
  assert.equal(list.size, 0);
  assert.equal(list.victim(), -1);
  assert.deepEqual([...list.slots()], []);
  assert.equal(list.add(), 0);
});

Deno.test("RecencyList grows past its first capacity and keeps its order", () => {
  const list = new RecencyList();
  const slots = Array.from({ length: 1_000 }, () => list.add());
  assert.equal(new Set(slots).size, 1_000);
  for (let i = 0; i < slots.length; i += 2) list.touch(slots[i]);
  const odd = slots.filter((_, i) => i % 2 === 1);
  const even = slots.filter((_, i) => i % 2 === 0);
  assert.deepEqual([...list.slots()], [...odd, ...even]);
  while (list.size > 0) list.remove(list.victim());
  assert.deepEqual([...list.slots()], []);
});

Deno.test("RecencyList grows up to its capacity limit, not past it", () => {
  const list = new RecencyList(20);
  const slots = Array.from({ length: 20 }, () => list.add());
  assert.deepEqual(slots, Array.from({ length: 20 }, (_, i) => i));
  list.touch(slots[0]);
  list.remove(slots[5]);
  assert.equal(list.add(), slots[5]);
  assert.deepEqual([...list.slots()], [
    ...slots.slice(1, 5),
    ...slots.slice(6),
    slots[0],
    slots[5],
  ]);
});

Deno.test("RecencyList holds more slots than its capacity limit if asked to", () => {
  const list = new RecencyList(3);
  const slots = Array.from({ length: 40 }, () => list.add());
  assert.deepEqual([...list.slots()], slots);
  assert.equal(new Set(slots).size, 40);
});
