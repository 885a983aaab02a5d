/**
 * Node, in the shape a JSR user gets on npm: the package built file by file
 * with its declarations (`tests/runtimes/build.ts`), a TypeScript consumer
 * that depends on it type-checked under a Node tsconfig with TypeScript 5.4
 * (the oldest that reads the declarations: they use `NoInfer`) and with the
 * newest 5.x, compiled by tsc (Node 20 has no standard decorators), and the
 * smoke run on Node.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  buildPackage,
  checkConsumer,
  specifiersNotEndingInJs,
  writeConsumer,
} from "./runtimes/build.ts";
import { assertChecks, CHANNELS_HEARD, runSmoke } from "./runtimes/report.ts";

// The module uses ES2024's String.prototype.isWellFormed, which Node has
// from 20 on.
const OLDEST_NODE = 20;

Deno.test("Node: the per-file build type-checks with TypeScript 5.4 and 5.x, and the smoke passes on Node", async () => {
  const root = await Deno.makeTempDir({ prefix: "alru_node_" });
  try {
    await buildPackage(root);
    assert.deepEqual(
      await specifiersNotEndingInJs(root),
      [],
      "relative imports in the package that Node could not load",
    );
    await writeConsumer(root, "node");
    const tsconfig = await Deno.readTextFile(join(root, "tsconfig.json"));
    for (const [version, diagnostics] of Object.entries(checkConsumer(root))) {
      if (diagnostics !== "") {
        assert.fail(
          `TypeScript ${version} rejects the consumer:\n${diagnostics}\ntsconfig.json: ${tsconfig}`,
        );
      }
    }

    const { report, context } = await runSmoke({
      runtime: "Node",
      command: "node",
      args: ["--unhandled-rejections=strict", "out/main.js"],
      cwd: root,
      missing: "install Node 20 or later; .ci/run expects it on PATH",
    });
    const major = Number(report.versions.node?.split(".")[0]);
    assert.ok(
      major >= OLDEST_NODE,
      `Node ${report.versions.node} is older than ${OLDEST_NODE}\n${context}`,
    );
    assertChecks(`Node ${report.versions.node}`, report.checks, context);
    assert.deepEqual(
      report.channels,
      CHANNELS_HEARD,
      `the channels, subscribed on Node\n${context}`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
