/**
 * The smoke in a page: compiled by tsc with the browser's tsconfig, loaded
 * as a module script that finds the package through the page's import map.
 * When the smoke is done, its {@linkcode BrowserReport} is
 * `globalThis.smokeReport`, where the Deno test waits for it.
 *
 * @module
 */

import { type CheckResult, smoke } from "./smoke.ts";

/** What the page hands back. */
export interface BrowserReport {
  checks: CheckResult[];
  /** Reasons of rejections that no one handled while the smoke ran. */
  unhandled: string[];
}

// A page has no --unhandled-rejections=strict: the rejections that no one
// handles are collected instead, and fail the test.
const unhandled: string[] = [];
globalThis.addEventListener("unhandledrejection", (event) => {
  unhandled.push(String(event.reason));
});

smoke().then(async (checks) => {
  // A rejection that no one handled is reported a task after it.
  await new Promise((resolve) => setTimeout(resolve, 0));
  (globalThis as { smokeReport?: BrowserReport }).smokeReport = {
    checks,
    unhandled,
  };
});
