/**
 * The README example, run for real: a cached `fetch` against a small local
 * HTTP server, then shared concurrent calls, then expiry on a manual clock,
 * then the last good page served while the server fails (`staleIfError`).
 *
 * Run with `deno task demo`.
 *
 * @module
 */

import { alruCache, ManualClock } from "../mod.ts";

// ---------------------------------------------------------------------------
// A stand-in document server, so that the demo needs no outside network.

// 9991 is deliberately missing: the README example ends with a "Not Found".
const DOCUMENTS = new Set([8, 218, 279, 289, 290, 308, 320, 484]);

// Requests seen per path, to show how often the cache actually reached out.
const requests = new Map<string, number>();

// While true, every request is answered 503, as by an overloaded upstream.
let serverDown = false;

// Deterministic text whose length depends on n.
function documentText(n: number): string {
  return `PEP ${n}\n`.repeat(n);
}

async function handler(request: Request): Promise<Response> {
  const { pathname } = new URL(request.url);
  requests.set(pathname, (requests.get(pathname) ?? 0) + 1);
  // A little latency, so that concurrent callers really overlap. The timer
  // always runs to completion, so nothing is left pending at shutdown.
  await new Promise((resolve) => setTimeout(resolve, 20));
  if (serverDown) return new Response("Service Unavailable", { status: 503 });
  const n = Number(/^\/pep-(\d+)$/.exec(pathname)?.[1]);
  if (!DOCUMENTS.has(n)) return new Response("Not Found", { status: 404 });
  return new Response(documentText(n));
}

const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  handler,
);
const base = `http://127.0.0.1:${server.addr.port}`;

// Throws unless every field in `expected` matches, so that the demo doubles
// as a smoke test.
function expectFields(
  what: string,
  actual: object,
  expected: Record<string, unknown>,
): void {
  for (const [field, value] of Object.entries(expected)) {
    const got = (actual as Record<string, unknown>)[field];
    if (got !== value) {
      throw new Error(`${what}: expected ${field} ${value}, got ${got}`);
    }
  }
}

// ---------------------------------------------------------------------------
// 1. The README example.

const getPep = alruCache(async (num: number) => {
  const response = await fetch(`${base}/pep-${num}`);
  // Release the connection of a response whose body we will not read.
  if (!response.ok) {
    await response.body?.cancel();
    return "Not Found";
  }
  return await response.text();
}, { maxSize: 32 });

for (const n of [8, 290, 308, 320, 8, 218, 320, 279, 289, 320, 9991]) {
  const pep = await getPep(n);
  console.log(n, pep.length);
}
console.log(getPep.cacheInfo());
expectFields("README example", getPep.cacheInfo(), {
  hits: 3,
  misses: 8,
  maxSize: 32,
  currSize: 8,
});

// ---------------------------------------------------------------------------
// 2. Concurrent calls for one key share a single request. Clearing first
// resets the counters, so the numbers below are about this step alone.

getPep.cacheClear();
const bodies = await Promise.all(
  Array.from({ length: 100 }, () => getPep(484)),
);
const served = requests.get("/pep-484") ?? 0;
console.log(`100 concurrent calls for 484: ${served} request(s) served`);
console.log(getPep.cacheInfo());
// Joining a call still in flight counts as a hit.
expectFields("concurrent calls", getPep.cacheInfo(), {
  hits: 99,
  misses: 1,
  currSize: 1,
});
if (served !== 1 || bodies.some((body) => body !== bodies[0])) {
  throw new Error("concurrent calls were not shared");
}

// ---------------------------------------------------------------------------
// 3. Expiry. A ManualClock moves only when told to, so this step takes no
// real time; `wrapped` reuses the original function under a second cache.

const clock = new ManualClock();
const getFreshPep = alruCache(getPep.wrapped, { ttl: 60_000, clock });
await getFreshPep(8);
// The ttl counts from when the call settled; advance runs due expiry at once.
const before = getFreshPep.cacheContains(8);
clock.advance(60_000);
const after = getFreshPep.cacheContains(8);
console.log(
  `ttl 60000 ms: cacheContains(8) ${before}, after 60000 ms ${after}`,
);
if (!before || after) throw new Error("the entry did not expire on time");

// ---------------------------------------------------------------------------
// 4. The server fails. With staleIfError, callers get the last good page
// instead of the error for up to 60 s after it expired, and errorTtl keeps
// the failure for 5 s, in which no call reaches the server again.

const downClock = new ManualClock();
const getPepOrStale = alruCache(async (num: number) => {
  const response = await fetch(`${base}/pep-${num}`);
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`HTTP ${response.status}`);
  }
  return await response.text();
}, { ttl: 1_000, staleIfError: 60_000, errorTtl: 5_000, clock: downClock });

// Sections 1 and 3 asked for /pep-8 too; this cache's requests count from here.
const before8 = requests.get("/pep-8") ?? 0;
const seen: number[] = [];

// Makes `count` concurrent calls and prints the lengths of the pages they got
// and the requests the server has seen from this cache so far.
async function callPep8(label: string, count: number): Promise<void> {
  const pages = await Promise.all(
    Array.from({ length: count }, () => getPepOrStale(8)),
  );
  const served = (requests.get("/pep-8") ?? 0) - before8;
  seen.push(served);
  const lengths = pages.map((page) => page.length).join(" ");
  console.log(`${label}: got ${lengths}; requests ${served}`);
}

console.log("staleIfError 60000 ms, errorTtl 5000 ms, ttl 1000 ms:");
await callPep8("t=0 server up, 1 call", 1);
downClock.advance(1_500); // past the ttl: a call now runs the function again
serverDown = true;
await callPep8("t=1500 server down, 5 calls", 5);
downClock.advance(2_000); // less than errorTtl: the failure is still kept
await callPep8("t=3500 3 calls", 3);
downClock.advance(6_000); // past errorTtl: one new attempt
await callPep8("t=9500 1 call", 1);
serverDown = false;
downClock.advance(6_000);
await callPep8("t=15500 server up, 1 call", 1);
console.log(getPepOrStale.cacheStats());

// One request per errorTtl at most while the server fails.
if (seen.join() !== "1,2,2,3,4") {
  throw new Error(`staleIfError: expected requests 1,2,2,3,4, got ${seen}`);
}
// The four calls that joined the failing run count as hits, the three
// answered from the kept failure's stale page as stale hits; the run at
// t=15500 brought a fresh page.
expectFields("staleIfError", getPepOrStale.cacheStats(), {
  hits: 7,
  misses: 4,
  staleHits: 3,
  errorHits: 0,
  refreshes: 0,
  refreshFailures: 0,
});
expectFields("staleIfError", getPepOrStale.cacheInfo(), { currSize: 1 });

// ---------------------------------------------------------------------------
// Closing is optional, but it makes the end of a cache's life explicit.

await getPep.cacheClose();
await getFreshPep.cacheClose();
await getPepOrStale.cacheClose();
await server.shutdown();
