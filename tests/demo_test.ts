import assert from "node:assert/strict";

interface DemoRun {
  code: number;
  stdout: string;
  stderr: string;
}

// Both tests read one run of the demo: it starts a server and takes a while.
let demoRun: Promise<DemoRun> | undefined;
function runDemo(): Promise<DemoRun> {
  demoRun ??= (async () => {
    const demo = new URL("../examples/demo.ts", import.meta.url);
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net=127.0.0.1", demo.pathname],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const decoder = new TextDecoder();
    return {
      code,
      stdout: decoder.decode(stdout),
      stderr: decoder.decode(stderr),
    };
  })();
  return demoRun;
}

Deno.test("the demo serves the README example, shares a burst, serves a stale page while the server fails, and exits 0", async () => {
  const { code, stdout: output, stderr } = await runDemo();
  assert.equal(code, 0, stderr);
  assert.match(output, /^9991 9$/m);
  assert.match(output, /\{ hits: 3, misses: 8, maxSize: 32, currSize: 8 \}/);
  assert.match(output, /100 concurrent calls for \d+: 1 request\(s\) served/);
  assert.match(
    output,
    /^t=1500 server down, 5 calls: got 48 48 48 48 48; requests 2$/m,
  );
  assert.match(output, /^t=3500 3 calls: got 48 48 48; requests 2$/m);
});

Deno.test("the README's block of the demo's output is exactly what the demo prints", async () => {
  const readme = await Deno.readTextFile(
    new URL("../README.md", import.meta.url),
  );
  const block = /`deno task demo` runs[^]*?```text\n([^]*?)```/.exec(
    readme,
  );
  assert.ok(block, "README has no text block after `deno task demo` runs");
  const { code, stdout, stderr } = await runDemo();
  assert.equal(code, 0, stderr);
  assert.equal(block[1], stdout);
});
