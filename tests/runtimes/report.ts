/**
 * What the Deno tests do with a runtime's answer: run the smoke's process
 * and read its report, and assert the checks. Not part of the published
 * module.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { RuntimeReport } from "./main.ts";
import { CHECK_NAMES, type CheckResult } from "./smoke.ts";

// The smoke's process takes well under a second; with its one-hour entry
// left cached it must still end by itself. One that has not ended by then
// is taken to be held open by a timer, and killed.
const PROMPT_MS = 5_000;
const KILL_AFTER_MS = 20_000;

function indent(text: string): string {
  return text.replace(/^/gm, "    ");
}

/**
 * Fails unless `checks` are the smoke's checks, in its order, each passed.
 * `runtime` and `context` (versions, output) go into the message.
 */
export function assertChecks(
  runtime: string,
  checks: CheckResult[],
  context: string,
): void {
  const failed = checks.filter((check) => !check.ok);
  assert.equal(
    failed.length,
    0,
    `${failed.length} of ${checks.length} checks failed on ${runtime}:\n${
      failed.map((check) => `- ${check.name}\n${indent(check.detail ?? "")}`)
        .join("\n")
    }\n${context}`,
  );
  assert.deepEqual(
    checks.map((check) => check.name),
    CHECK_NAMES,
    `${runtime} did not run the smoke's checks, in its order\n${context}`,
  );
}

/** How to start a runtime on the smoke's process entry. */
export interface SmokeCommand {
  /** The runtime's name, for messages. */
  runtime: string;
  command: string;
  args: string[];
  cwd: string;
  env?: Record<string, string>;
  /** Why `command` may be missing, and what installs it. */
  missing: string;
}

/**
 * Runs the smoke's process (`tests/runtimes/main.ts`, as source or as tsc's
 * output) to its end, and returns its report once it has checked that the
 * process printed one, exited with 0, and exited promptly although its
 * one-hour entry was still cached.
 */
export async function runSmoke(
  smoke: SmokeCommand,
): Promise<{ report: RuntimeReport; context: string }> {
  const controller = new AbortController();
  const killer = setTimeout(() => controller.abort(), KILL_AFTER_MS);
  const started = performance.now();
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(smoke.command, {
      args: smoke.args,
      cwd: smoke.cwd,
      env: smoke.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`${smoke.command} not found: ${smoke.missing}`, {
        cause: error,
      });
    }
    throw error;
  } finally {
    clearTimeout(killer);
  }
  const elapsedMs = Math.round(performance.now() - started);
  const decoder = new TextDecoder();
  const stdout = decoder.decode(output.stdout);
  // The checks' own failures say more than the report they come in; the
  // output is shown whole only when there is no report to read.
  const context = `${smoke.runtime}: ${smoke.command} ${
    smoke.args.join(" ")
  }\ncode ${output.code}, signal ${output.signal}, ${elapsedMs} ms\nstderr:\n${
    decoder.decode(output.stderr).slice(-8_000)
  }`;
  const withStdout = `${context}\nstdout:\n${stdout.slice(-8_000)}`;
  assert.equal(
    output.signal,
    null,
    `killed after ${KILL_AFTER_MS} ms: a timer may hold the process open\n${withStdout}`,
  );
  assert.equal(output.code, 0, withStdout);
  const line = stdout.trimEnd().split("\n").at(-1) ?? "";
  let report: RuntimeReport;
  try {
    report = JSON.parse(line);
  } catch {
    assert.fail(`the last line of stdout is not the report\n${withStdout}`);
  }
  assert.ok(
    elapsedMs < PROMPT_MS,
    `did not exit within ${PROMPT_MS} ms\n${context}`,
  );
  assert.equal(
    report.leftCached,
    true,
    `the one-hour entry was not cached when the process ended, so its exit proves nothing\n${context}`,
  );
  return { report, context };
}

/** What tests/runtimes/main.ts's subscriber hears of a miss and a hit. */
export const CHANNELS_HEARD: readonly string[] = [
  "start miss 1",
  "end miss 1",
  "event miss traced",
  "asyncStart miss 1",
  "asyncEnd miss 1",
  "event hit traced",
];
