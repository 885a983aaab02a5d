import assert from "node:assert/strict";
import { ABSENT, ArgumentsKeys, NO_ARGUMENTS } from "../key.ts";

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
