/**
 * A browser: Debian's headless Chromium, driven by puppeteer-core, loads the
 * per-file build and the consumer compiled by tsc under a browser tsconfig
 * (no `@types/node`, so the `dom` and `esnext.disposable` libs), from a
 * server on 127.0.0.1, and runs the smoke in a page. The page finds the
 * package by its name through an import map made from the built
 * package.json's exports, as a bundler would through node_modules.
 */
import assert from "node:assert/strict";
import { join, normalize } from "node:path";
import puppeteer, { type Browser } from "npm:puppeteer-core@^25";
import {
  buildPackage,
  checkConsumer,
  PACKAGE_DIR,
  PACKAGE_NAME,
  writeConsumer,
} from "./runtimes/build.ts";
import type { BrowserReport } from "./runtimes/browser_main.ts";
import { assertChecks } from "./runtimes/report.ts";
import { findOnPath, installDebianPackage } from "../tools/debian.ts";

const CHROMIUM = "/usr/bin/chromium";

// Chromium starts in well under a second and the smoke takes a fraction of
// one; these bound a browser that hangs.
const LAUNCH_TIMEOUT_MS = 30_000;
const PAGE_TIMEOUT_MS = 20_000;

// On a machine with no way out, Chromium's background services (updates,
// sync, field trials, QUIC probes) stall or fail: they are all turned off,
// and the profile is a fresh one so that nothing from an earlier run is
// read. --no-sandbox: CI runs as root, where the sandbox cannot start.
function chromiumArgs(profile: string): string[] {
  return [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    `--user-data-dir=${profile}`,
    "about:blank",
  ];
}

const CONTENT_TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".html": "text/html; charset=utf-8",
};

/** The import map: each export of the built package to its module's URL. */
async function importMap(root: string): Promise<Record<string, string>> {
  const packageJson = JSON.parse(
    await Deno.readTextFile(join(root, PACKAGE_DIR, "package.json")),
  ) as { exports: Record<string, { default: string }> };
  return Object.fromEntries(
    Object.entries(packageJson.exports).map(([name, target]) => [
      PACKAGE_NAME + name.slice(1),
      `/${PACKAGE_DIR}/${target.default.replace(/^\.\//, "")}`,
    ]),
  );
}

function page(imports: Record<string, string>): string {
  return `<!doctype html>
<meta charset="utf-8">
<title>async-lru smoke</title>
<link rel="icon" href="data:,">
<script type="importmap">${JSON.stringify({ imports })}</script>
<script type="module" src="/out/browser_main.js"></script>
`;
}

/** Serves the page at / and the JavaScript files under `root`, nothing else. */
function serve(root: string, html: string): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const path = decodeURIComponent(new URL(request.url).pathname);
      if (path === "/") {
        return new Response(html, {
          headers: { "content-type": CONTENT_TYPES[".html"] },
        });
      }
      const file = normalize(join(root, path));
      if (!file.startsWith(root + "/") || !file.endsWith(".js")) {
        return new Response("not found", { status: 404 });
      }
      try {
        return new Response(await Deno.readFile(file), {
          headers: { "content-type": CONTENT_TYPES[".js"] },
        });
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
}

// A fresh Debian machine, where the README's test command is all one runs,
// lacks Chromium: install it there when allowed to, as .ci/run does.
async function assertChromium(): Promise<void> {
  if (await findOnPath(CHROMIUM) !== undefined) return;
  await installDebianPackage("chromium");
  if (await findOnPath(CHROMIUM) === undefined) {
    throw new Error(
      `chromium not found at ${CHROMIUM}, and it could not be installed here: install it with apt-get install -y chromium (as .ci/run does)`,
    );
  }
}

Deno.test("Chromium: the per-file build type-checks under a browser tsconfig, and the smoke passes in a page", async () => {
  await assertChromium();
  const root = await Deno.makeTempDir({ prefix: "alru_browser_" });
  const profile = await Deno.makeTempDir({ prefix: "alru_chromium_" });
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  let browser: Browser | undefined;
  try {
    await buildPackage(root);
    await writeConsumer(root, "browser");
    const tsconfig = await Deno.readTextFile(join(root, "tsconfig.json"));
    for (const [version, diagnostics] of Object.entries(checkConsumer(root))) {
      if (diagnostics !== "") {
        assert.fail(
          `TypeScript ${version} rejects the browser consumer:\n${diagnostics}\ntsconfig.json: ${tsconfig}`,
        );
      }
    }

    server = serve(root, page(await importMap(root)));
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      // Exactly the flags above, and none of puppeteer's defaults.
      ignoreDefaultArgs: true,
      args: chromiumArgs(profile),
      timeout: LAUNCH_TIMEOUT_MS,
    });
    const version = await browser.version();
    const tab = await browser.newPage();
    const problems: string[] = [];
    tab.on("pageerror", (error) => problems.push(`page error: ${error}`));
    tab.on("requestfailed", (request) =>
      problems.push(
        `request failed: ${request.url()} ${request.failure()?.errorText}`,
      ));
    tab.on("response", (response) => {
      if (!response.ok()) {
        problems.push(`HTTP ${response.status()}: ${response.url()}`);
      }
    });
    tab.on("console", (message) => {
      if (message.type() === "error") {
        problems.push(`console.error: ${message.text()}`);
      }
    });

    const { port } = server.addr;
    await tab.goto(`http://127.0.0.1:${port}/`, { timeout: PAGE_TIMEOUT_MS });
    const context = () => `${version}\n${problems.join("\n")}`;
    // Waited for, rather than awaited in the page, so that a smoke that
    // never ends fails here, and says what the page went through.
    await tab.waitForFunction(() => "smokeReport" in globalThis, {
      timeout: PAGE_TIMEOUT_MS,
    }).catch((error) => {
      throw new Error(
        `no report from the page within ${PAGE_TIMEOUT_MS} ms\n${context()}`,
        { cause: error },
      );
    });
    const report = await tab.evaluate(() =>
      (globalThis as { smokeReport?: BrowserReport }).smokeReport
    );
    assert.ok(report !== undefined, `no report\n${context()}`);
    assertChecks(version, report.checks, context());
    assert.deepEqual(
      report.unhandled,
      [],
      `rejections no one handled\n${context()}`,
    );
    assert.deepEqual(problems, [], `the page had problems\n${context()}`);
  } finally {
    await browser?.close();
    await server?.shutdown();
    await Deno.remove(profile, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});
