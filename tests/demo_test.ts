import assert from "node:assert/strict";

Deno.test("the demo serves the README example, shares a burst and exits 0", async () => {
  const demo = new URL("../examples/demo.ts", import.meta.url);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", demo.pathname],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const output = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.match(output, /^9991 9$/m);
  assert.match(output, /\{ hits: 3, misses: 8, maxSize: 32, currSize: 8 \}/);
  assert.match(output, /100 concurrent calls for \d+: 1 request\(s\) served/);
});
