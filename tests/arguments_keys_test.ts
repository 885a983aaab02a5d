import assert from "node:assert/strict";
import { ABSENT, ArgumentsKey, ArgumentsKeys, NO_ARGUMENTS } from "../key.ts";

Deno.test("ArgumentsKeys interns one key per list and finds it again", () => {
  const keys = new ArgumentsKeys();
  const object = {};
  assert.equal(keys.find([1, object]), ABSENT);
  const key = keys.intern([1, object]);
  assert.equal(keys.find([1, object]), key);
  assert.equal(keys.findShort(2, 1, object), key);
  assert.equal(keys.intern([1, object]), key);
  assert.equal(keys.find([1, {}]), ABSENT);
  assert.equal(keys.find([object, 1]), ABSENT);
  assert.equal(keys.find([1, object, undefined]), ABSENT);
  assert.equal(keys.find([]), NO_ARGUMENTS);
  assert.equal(keys.findShort(0, undefined, undefined), NO_ARGUMENTS);
});

Deno.test("ArgumentsKeys release prunes only the released path", () => {
  const keys = new ArgumentsKeys();
  const ab = keys.intern(["a", "b", "c"]);
  const ad = keys.intern(["a", "d", "c"]);
  keys.release(ab);
  assert.equal(keys.find(["a", "b", "c"]), ABSENT);
  assert.equal(keys.find(["a", "d", "c"]), ad);
  keys.release(ad);
  assert.equal(keys.find(["a", "d", "c"]), ABSENT);
  // A fresh key after pruning is a new object.
  assert.notEqual(keys.intern(["a", "d", "c"]), ad);
  keys.release("not a key");
  keys.release(NO_ARGUMENTS);
  assert.equal(keys.find([]), NO_ARGUMENTS);
});

Deno.test("ArgumentsKeys interns, finds and releases a list of 100,000 arguments", () => {
  const keys = new ArgumentsKeys();
  const length = 100_000;
  const long = Array.from({ length }, (_, i) => i);
  // Lists that share all of `long` but its last argument, or its first half.
  const sibling = [...long.slice(0, -1), "last"];
  const branch = [...long.slice(0, length / 2), "middle"];
  const short = [0, 1];

  assert.equal(keys.find(long), ABSENT);
  const longKey = keys.intern(long);
  const siblingKey = keys.intern(sibling);
  const branchKey = keys.intern(branch);
  const shortKey = keys.intern(short);
  assert.equal(keys.find(long), longKey);
  assert.equal(keys.intern(long), longKey);
  assert.equal(keys.find(long.slice(0, -1)), ABSENT);

  keys.release(longKey);
  assert.equal(keys.find(long), ABSENT);
  assert.equal(keys.find(sibling), siblingKey);
  assert.equal(keys.find(branch), branchKey);
  assert.equal(keys.find(short), shortKey);

  keys.release(siblingKey);
  assert.equal(keys.find(sibling), ABSENT);
  assert.equal(keys.find(branch), branchKey);
  keys.release(branchKey);
  assert.equal(keys.find(branch), ABSENT);
  assert.equal(keys.findShort(2, 0, 1), shortKey);

  const again = keys.intern(long);
  assert.notEqual(again, longKey);
  assert.equal(keys.find(long), again);
  keys.clear();
  assert.equal(keys.find(long), ABSENT);
  assert.equal(keys.find(short), ABSENT);
  assert.notEqual(keys.intern(long), again);
});

Deno.test("ArgumentsKeys release ignores a key that is no longer the interned one", () => {
  const keys = new ArgumentsKeys();
  const stale = keys.intern([1, 2, 3]);
  keys.release(stale);
  const current = keys.intern([1, 2, 3]);
  keys.release(stale);
  assert.equal(keys.find([1, 2, 3]), current);
  keys.release(new ArgumentsKey([1, 2, 3]));
  assert.equal(keys.find([1, 2, 3]), current);
});
