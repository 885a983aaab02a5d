/**
 * docs/behaviour.md §16.4 and §16.5: each run of the function is traced on
 * `tracingChannel("async-lru")`, in the order `tracePromise` publishes;
 * hits and joins publish nothing; and the package reaches the module
 * without a static `node:` import.
 */
import assert from "node:assert/strict";
import dc from "node:diagnostics_channel";
import { AsyncLocalStorage } from "node:async_hooks";
import { alruCache, ManualClock } from "../mod.ts";
import {
  assertWhole,
  checkEachEntryToUserCode,
  deferred,
  flush,
} from "./_helpers.ts";

interface Context {
  name: string;
  key: unknown;
  args: unknown[];
  kind: string;
  result?: unknown;
  error?: unknown;
}

type Seen = [string, Context];

// Subscribes to every channel of the tracing channel for `body`.
async function tracing(
  body: (seen: Seen[]) => Promise<void>,
  onEach?: (name: string) => void,
): Promise<void> {
  const seen: Seen[] = [];
  const channel = dc.tracingChannel("async-lru");
  const record = (name: string) => (message: unknown) => {
    seen.push([name, message as Context]);
    onEach?.(name);
  };
  const handlers = {
    start: record("start"),
    end: record("end"),
    asyncStart: record("asyncStart"),
    asyncEnd: record("asyncEnd"),
    error: record("error"),
  };
  channel.subscribe(handlers);
  try {
    await body(seen);
  } finally {
    channel.unsubscribe(handlers);
  }
}

const names = (seen: Seen[]) => seen.map(([name]) => name);

Deno.test("a run that resolves publishes start, end, asyncStart, asyncEnd, once each, on one context", async () => {
  await tracing(async (seen) => {
    const cached = alruCache(
      (a: number, b: number) => Promise.resolve(a + b),
      { name: "sum" },
    );
    assert.equal(await cached(1, 2), 3);
    assert.deepEqual(names(seen), ["start", "end", "asyncStart", "asyncEnd"]);
    const context = seen[0][1];
    assert.ok(seen.every(([, message]) => message === context));
    assert.deepEqual(context, {
      name: "sum",
      key: [1, 2],
      args: [1, 2],
      kind: "miss",
      result: 3,
    });
    // Hits and joins publish nothing.
    await Promise.all([cached(1, 2), cached(1, 2)]);
    assert.equal(seen.length, 4);
  });
});

Deno.test("a run that rejects publishes start, end, error, asyncStart, asyncEnd; a throw start, error, end", async () => {
  await tracing(async (seen) => {
    const failure = new Error("no");
    const rejecting = alruCache((_n: number) => Promise.reject(failure));
    await assert.rejects(rejecting(1));
    assert.deepEqual(names(seen), [
      "start",
      "end",
      "error",
      "asyncStart",
      "asyncEnd",
    ]);
    assert.equal(seen[0][1].error, failure);
    assert.equal(seen[0][1].key, 1);
    seen.length = 0;
    const throwing = alruCache((_n: number): Promise<number> => {
      throw failure;
    });
    await assert.rejects(throwing(1));
    assert.deepEqual(names(seen), ["start", "error", "end"]);
    assert.equal(seen[0][1].error, failure);
  });
});

Deno.test("asyncEnd comes before any caller hears of the outcome", async () => {
  const order: string[] = [];
  await tracing(async () => {
    const running = deferred<number>();
    const cached = alruCache((_n: number) => running.promise);
    const calls = [cached(1), cached(1)].map((call) =>
      call.then(() => order.push("caller"))
    );
    running.resolve(5);
    await Promise.all(calls);
  }, (name) => order.push(name));
  assert.deepEqual(order, [
    "start",
    "end",
    "asyncStart",
    "asyncEnd",
    "caller",
    "caller",
  ]);
});

Deno.test("refreshes are traced as refresh, with the key option's key and the caller's arguments without the work's signal", async () => {
  const clock = new ManualClock();
  await tracing(async (seen) => {
    let version = 0;
    const cached = alruCache(
      (id: string, _signal: AbortSignal) =>
        Promise.resolve(`${id}${version++}`),
      {
        clock,
        ttl: 10,
        staleWhileRevalidate: 100,
        signal: true,
        key: (id: string) => id.toLowerCase(),
      },
    );
    await cached("A");
    clock.advance(10);
    assert.equal(await cached("A"), "A0", "a stale hit: no trace of its own");
    await flush();
    await cached.cacheRefresh("A");
    const starts = seen.filter(([name]) => name === "start").map(([, c]) => c);
    assert.deepEqual(starts.map((c) => c.kind), ["miss", "refresh", "refresh"]);
    for (const context of starts) {
      assert.equal(context.key, "a");
      assert.deepEqual(context.args, ["A"]);
    }
  });
});

Deno.test("a store bound to start is in effect while the function runs", async () => {
  const storage = new AsyncLocalStorage<string>();
  const channel = dc.tracingChannel("async-lru");
  channel.start.bindStore(
    storage,
    (context) => `run of ${(context as Context).key}`,
  );
  try {
    const cached = alruCache((_key: number) =>
      Promise.resolve(storage.getStore())
    );
    assert.equal(await cached(7), "run of 7");
  } finally {
    channel.start.unbindStore(storage);
  }
});

Deno.test("without a subscriber nothing is made and fn is called directly", async () => {
  let stack = "";
  const cached = alruCache((key: number) => {
    stack = new Error().stack ?? "";
    return Promise.resolve(key);
  });
  await cached(1);
  assert.doesNotMatch(stack, /traceCall/);
});

Deno.test("no module of the package imports a node: module statically", async () => {
  const root = new URL("../", import.meta.url);
  for await (const entry of Deno.readDir(root)) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    const text = await Deno.readTextFile(new URL(entry.name, root));
    assert.doesNotMatch(
      text,
      /^\s*(import|export)[^;]*from\s*["']node:/m,
      entry.name,
    );
    assert.doesNotMatch(text, /import\(\s*["']node:/, entry.name);
  }
});

Deno.test("work the cache detached or abandoned is still traced to its end", async () => {
  await tracing(async (seen) => {
    const runs: ReturnType<typeof deferred<number>>[] = [];
    const cached = alruCache((_key: number) => {
      const run = deferred<number>();
      runs.push(run);
      return run.promise;
    });
    const detached = cached(1);
    cached.cacheInvalidate(1);
    runs[0].resolve(1);
    assert.equal(await detached, 1);
    const abandoned = cached(2);
    await cached.cacheClose();
    await assert.rejects(abandoned, { name: "AbortError" });
    runs[1].resolve(2);
    await flush();
    const ends = seen.filter(([name]) => name === "asyncEnd");
    assert.deepEqual(ends.map(([, context]) => context.result), [1, 2]);
  });
});

Deno.test("a tracing subscriber may call the cache back, and runs while the cache is whole", async () => {
  const cached = alruCache((key: number) => Promise.resolve(key), {
    maxSize: 2,
  });
  checkEachEntryToUserCode(cached);
  let reentered = 0;
  await tracing(async () => {
    await cached(1);
    await cached(2);
    await cached(3);
  }, (name) => {
    assertWhole(cached);
    if (name === "start" && reentered++ === 0) cached.cacheInvalidate(1);
    if (name === "asyncEnd") void cached(1);
  });
  await flush();
  assertWhole(cached);
  assert.ok(reentered > 0);
});

Deno.test("a shared-tier miss that runs the function here is traced as a miss; one read from the store is not", async () => {
  const { memoryStore } = await import("../memory.ts");
  const clock = new ManualClock();
  const store = memoryStore({ clock });
  const make = () =>
    alruCache((key: string) => Promise.resolve(key.length), {
      clock,
      ttl: 1_000,
      store,
      name: "shared",
    });
  const here = make();
  const there = make();
  await tracing(async (seen) => {
    assert.equal(await here("abc"), 3);
    assert.equal(await there("abc"), 3, "read from the store");
    assert.deepEqual(names(seen), ["start", "end", "asyncStart", "asyncEnd"]);
    assert.deepEqual(seen[0][1].kind, "miss");
    assert.deepEqual(seen[0][1].args, ["abc"]);
    assert.equal(seen[0][1].name, "shared");
  });
  await here.cacheClose();
  await there.cacheClose();
});
