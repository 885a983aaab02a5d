import assert from "node:assert/strict";
import { grownLength } from "../capacity.ts";

Deno.test("grownLength doubles until the needed slots fit", () => {
  assert.equal(grownLength(16, 17, Infinity), 32);
  assert.equal(grownLength(16, 100, Infinity), 128);
  assert.equal(grownLength(0, 1, Infinity), 1);
});

Deno.test("grownLength stops at the limit, and passes it only as far as needed", () => {
  assert.equal(grownLength(16, 17, 20), 20);
  assert.equal(grownLength(65_536, 65_537, 100_001), 100_001);
  assert.equal(grownLength(20, 21, 20), 21);
  assert.equal(grownLength(16, 40, 20), 40);
});
