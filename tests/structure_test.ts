/**
 * The module map of ARCHITECTURE.md, held to: every source module has its
 * place in one order, from the parts that depend on nothing to the entry
 * points, and imports only modules before it (so there is no cycle, and no
 * part reaches up into what uses it); only the clock, the scheduler guard
 * and the server adapters (Redis's client glue included) touch the runtime's
 * timers or clocks; and the
 * modules stay small.
 */
import assert from "node:assert/strict";

// Lowest first. A module may import only modules listed before it.
const ORDER = [
  "capacity",
  "policy",
  "errors",
  "clock",
  "key",
  "store_key",
  "store",
  "serializer",
  "channels",
  "lru",
  "sketch",
  "tinylfu",
  "ttl",
  "entries",
  "inflight",
  "stats",
  "option_names",
  "store_options",
  "watch_options",
  "options",
  "batch_options",
  "parameters",
  "keeping",
  "user_code",
  "effects",
  "lifetimes",
  "keying",
  "eviction",
  "recorder",
  "local_tier",
  "watchdog",
  "breaker",
  "store_reads",
  "shared_tier",
  "shared_link",
  "loads",
  "deadlines",
  "runs",
  "scheduler_guard",
  "cache",
  "batcher",
  "cached_function",
  "batched_function",
  "method",
  "mod",
  "memory",
  "redis_connection",
  "redis_format",
  "redis_batch",
  "redis",
  "kv",
];

// The only modules that may read the runtime's clocks or use its timers.
const TIMER_MODULES = new Set([
  "clock",
  "scheduler_guard",
  "redis_connection",
  "redis_format",
  "redis_batch",
  "redis",
  "kv",
]);

const LIMITS: Record<string, number> = { cache: 700 };
const LIMIT = 600;

const root = new URL("../", import.meta.url);

async function sourceModules(): Promise<Map<string, string>> {
  const modules = new Map<string, string>();
  for await (const entry of Deno.readDir(root)) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    const text = await Deno.readTextFile(new URL(entry.name, root));
    modules.set(entry.name.slice(0, -3), text);
  }
  return modules;
}

// The code without its comments, where examples import whatever they show.
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

function importsOf(text: string): string[] {
  return [...code(text).matchAll(/from\s+"\.\/([a-z_]+)\.ts"/g)].map((
    match,
  ) => match[1]);
}

Deno.test("every source module has its place in the order, and the order names only modules that exist", async () => {
  const modules = await sourceModules();
  assert.deepEqual([...modules.keys()].sort(), [...ORDER].sort());
});

Deno.test("a module imports only the modules below it: no cycle, nothing upward", async () => {
  const modules = await sourceModules();
  for (const [name, text] of modules) {
    const position = ORDER.indexOf(name);
    for (const imported of importsOf(text)) {
      assert.ok(
        ORDER.indexOf(imported) < position,
        `${name}.ts imports ${imported}.ts, which is not below it`,
      );
    }
  }
});

Deno.test("only the clock, the scheduler guard and the server adapters touch the runtime's timers and clocks", async () => {
  const modules = await sourceModules();
  // A timer function called or read as a global, not as a clock's method
  // nor as the name of one.
  const touches =
    /(?<![.\w])(setTimeout|clearTimeout|setInterval|clearInterval)\b(?!\s*:)|globalThis\.(setTimeout|clearTimeout)|Date\.now|performance\.now|Deno\.unrefTimer/;
  for (const [name, text] of modules) {
    if (TIMER_MODULES.has(name)) continue;
    // Strings name the methods in messages; they call nothing.
    const found = code(text).replace(/"[^"\n]*"|`[^`]*`/g, '""').match(
      touches,
    );
    assert.equal(found, null, `${name}.ts touches ${found?.[0]}`);
  }
});

Deno.test(`cache.ts has at most ${LIMITS.cache} lines, every other source module at most ${LIMIT}`, async () => {
  const modules = await sourceModules();
  for (const [name, text] of modules) {
    const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    const limit = LIMITS[name] ?? LIMIT;
    assert.ok(lines <= limit, `${name}.ts has ${lines} lines, over ${limit}`);
  }
});
