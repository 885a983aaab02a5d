import assert from "node:assert/strict";
import {
  alruCache,
  type AlruCacheOptions,
  CacheClosedError,
  ManualClock,
} from "../mod.ts";
import {
  checkLru,
  type Deferred,
  deferred,
  flush,
  rejectionOf,
} from "./_helpers.ts";

function assertAbortError(reason: unknown): void {
  assert.ok(
    reason instanceof DOMException && reason.name === "AbortError",
    `expected an AbortError DOMException, got ${String(reason)}`,
  );
}

/** A cached function whose every run waits on a gate the test opens. */
function gated(options: AlruCacheOptions<[number]> = {}) {
  const gates = new Map<number, Deferred<number>>();
  let calls = 0;
  async function slowValue(n: number): Promise<number> {
    calls++;
    const gate = deferred<number>();
    gates.set(n, gate);
    return await gate.promise;
  }
  const cached = alruCache(slowValue, options);
  return {
    cached,
    gates,
    get calls() {
      return calls;
    },
  };
}

Deno.test("cacheClose without wait abandons in-flight work", async () => {
  const { cached, gates } = gated();
  assert.equal(cached.cacheParameters().closed, false);

  const inputs = [1, 2, 3, 4, 5];
  const callers = inputs.map((n) => rejectionOf(cached(n)));
  const joined = rejectionOf(cached(1));
  checkLru(cached, { hits: 1, misses: 5, currSize: 5, tasks: 5 });

  const closing = cached.cacheClose();
  assert.equal(cached.cacheParameters().closed, true, "closed at once");
  await closing;

  checkLru(cached, { hits: 1, misses: 5, currSize: 0, tasks: 0, closed: true });
  for (const reason of await Promise.all(callers)) assertAbortError(reason);
  assertAbortError(await joined);

  // The abandoned work finishing later changes nothing.
  for (const [n, gate] of gates) gate.resolve(n);
  await flush();
  checkLru(cached, { hits: 1, misses: 5, currSize: 0, tasks: 0, closed: true });
  assert.equal(cached.cacheParameters().closed, true);

  await cached.cacheClose();
  await cached.cacheClose({ wait: true });
  assert.equal(cached.cacheParameters().closed, true);
});

Deno.test("cacheClose({ wait: false }) behaves like the default", async () => {
  const { cached, gates } = gated();
  const caller = rejectionOf(cached(1));
  await cached.cacheClose({ wait: false });
  assertAbortError(await caller);
  checkLru(cached, { hits: 0, misses: 1, currSize: 0, tasks: 0, closed: true });
  gates.get(1)!.reject(new Error("late failure goes nowhere"));
  await flush();
});

Deno.test("cacheClose without wait also abandons work that was evicted, invalidated or cleared", async () => {
  const { cached, gates } = gated({ maxSize: 1 });
  const evicted = rejectionOf(cached(1));
  const invalidated = rejectionOf(cached(2)); // evicts 1
  assert.equal(cached.cacheInvalidate(2), true);
  const cleared = rejectionOf(cached(3));
  cached.cacheClear();
  const cachedOne = rejectionOf(cached(4));
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 1, maxSize: 1 });

  await cached.cacheClose();
  for (const reason of await Promise.all([evicted, invalidated, cleared])) {
    assertAbortError(reason);
  }
  assertAbortError(await cachedOne);
  checkLru(cached, {
    hits: 0,
    misses: 1,
    currSize: 0,
    tasks: 0,
    maxSize: 1,
    closed: true,
  });
  for (const [n, gate] of gates) gate.resolve(n);
  await flush();
});

Deno.test("cacheClose({ wait: true }) lets in-flight work finish and keeps its entries", async () => {
  const { cached, gates } = gated();
  const inputs = [1, 2, 3];
  const all = Promise.all(inputs.map((n) => cached(n)));
  checkLru(cached, { hits: 0, misses: 3, currSize: 3, tasks: 3 });

  let closed = false;
  const closing = cached.cacheClose({ wait: true }).then(() => {
    closed = true;
  });
  assert.equal(cached.cacheParameters().closed, true, "closed at once");

  gates.get(1)!.resolve(1);
  gates.get(2)!.resolve(2);
  await flush();
  assert.equal(closed, false, "still waiting for the third call");
  assert.equal(cached.cacheParameters().tasks, 1);

  gates.get(3)!.resolve(3);
  await closing;
  assert.deepEqual(await all, inputs);
  checkLru(cached, { hits: 0, misses: 3, currSize: 3, tasks: 0, closed: true });
  for (const n of inputs) assert.equal(cached.cacheContains(n), true);
  assert.equal(cached.cacheParameters().closed, true);
});

Deno.test("cacheClose({ wait: true }) never rejects because a call failed", async () => {
  const { cached, gates } = gated();
  const ok = cached(1);
  const failing = rejectionOf(cached(2));
  const closing = cached.cacheClose({ wait: true });
  const reason = new Error("failed while closing");
  gates.get(2)!.reject(reason);
  gates.get(1)!.resolve(1);
  await closing;
  assert.equal(await ok, 1);
  assert.equal(await failing, reason);
  checkLru(cached, { hits: 0, misses: 2, currSize: 1, tasks: 0, closed: true });
});

Deno.test("cacheClose({ wait: true }) also waits for evicted, invalidated and cleared work", async () => {
  const { cached, gates } = gated({ maxSize: 1 });
  const calls = [cached(1), cached(2)]; // 1 evicted
  assert.equal(cached.cacheInvalidate(2), true);
  calls.push(cached(3));
  cached.cacheClear();

  let closed = false;
  const closing = cached.cacheClose({ wait: true }).then(() => {
    closed = true;
  });
  gates.get(2)!.resolve(2);
  gates.get(3)!.resolve(3);
  await flush();
  assert.equal(closed, false, "the evicted call is still running");
  gates.get(1)!.resolve(1);
  await closing;
  assert.deepEqual(await Promise.all(calls), [1, 2, 3]);
});

Deno.test("cacheClose({ wait: true }) with nothing in flight resolves", async () => {
  const { cached, gates } = gated();
  const first = cached(1);
  gates.get(1)!.resolve(1);
  assert.equal(await first, 1);
  await cached.cacheClose({ wait: true });
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 0, closed: true });
});

Deno.test("every call on a closed cache rejects with CacheClosedError and counts nothing", async () => {
  const setup = gated();
  const { cached, gates } = setup;
  const first = cached(1);
  gates.get(1)!.resolve(1);
  assert.equal(await first, 1);
  await cached.cacheClose();
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 0, closed: true });

  for (const n of [1, 2]) {
    const result = cached(n);
    assert.ok(result instanceof Promise, "no synchronous throw");
    const reason = await rejectionOf(result);
    assert.ok(reason instanceof CacheClosedError, `call ${n}`);
    assert.ok(reason instanceof Error);
    assert.match(reason.message, /slowValue/);
  }
  assert.equal(setup.calls, 1);
  checkLru(cached, { hits: 0, misses: 1, currSize: 1, tasks: 0, closed: true });
});

Deno.test("a closed cache rejects before deriving the key", async () => {
  let keyCalls = 0;
  const cached = alruCache(async (n: number) => await Promise.resolve(n), {
    key: (n) => {
      keyCalls++;
      throw new Error(`key ${n} failed`);
    },
  });
  await cached.cacheClose();
  assert.ok(await rejectionOf(cached(1)) instanceof CacheClosedError);
  assert.equal(keyCalls, 0);
});

Deno.test("the inspection and removal methods keep working on a closed cache", async () => {
  const { cached, gates } = gated();
  const calls = [1, 2, 3].map((n) => cached(n));
  for (const [n, gate] of gates) gate.resolve(n);
  await Promise.all(calls);
  await cached.cacheClose();

  assert.equal(cached.cacheContains(1), true);
  assert.equal(cached.cacheContains(9), false);
  assert.equal(cached.cacheInvalidate(1), true);
  assert.equal(cached.cacheInvalidate(1), false);
  checkLru(cached, { hits: 0, misses: 3, currSize: 2, tasks: 0, closed: true });
  cached.cacheClear();
  checkLru(cached, { hits: 0, misses: 0, currSize: 0, tasks: 0, closed: true });
  assert.equal(cached.cacheParameters().closed, true);
});

Deno.test("cacheClose cancels every expiry timer", async () => {
  const clock = new ManualClock();
  const cached = alruCache(async (n: number) => await Promise.resolve(n), {
    ttl: 100,
    clock,
  });
  await cached(1);
  await cached(2);
  assert.ok(clock.pending > 0);
  await cached.cacheClose();
  assert.equal(clock.pending, 0);
  clock.advance(1000);
  assert.equal(clock.pending, 0);
});

Deno.test("work that settles after cacheClose({ wait: true }) schedules no expiry", async () => {
  const clock = new ManualClock();
  const { cached, gates } = gated({ ttl: 100, clock });
  const settled = cached(1);
  gates.get(1)!.resolve(1);
  await settled;
  const pending = cached(2);
  assert.equal(clock.pending, 1);

  const closing = cached.cacheClose({ wait: true });
  assert.equal(clock.pending, 0);
  gates.get(2)!.resolve(2);
  await closing;
  assert.equal(await pending, 2);
  await flush();
  assert.equal(clock.pending, 0);
  checkLru(cached, { hits: 0, misses: 2, currSize: 2, tasks: 0, closed: true });
});

Deno.test("cacheClose without wait on a ttl cache leaves no timer", async () => {
  const clock = new ManualClock();
  const { cached, gates } = gated({ ttl: 100, clock });
  const settled = cached(1);
  gates.get(1)!.resolve(1);
  await settled;
  const abandoned = rejectionOf(cached(2));
  await cached.cacheClose();
  assertAbortError(await abandoned);
  gates.get(2)!.resolve(2);
  await flush();
  assert.equal(clock.pending, 0);
});

Deno.test("cacheClose with options that are not an object, or a wait that is not a boolean, rejects and changes nothing", async () => {
  const clock = new ManualClock();
  const load = alruCache(async (key: number) => await Promise.resolve(key), {
    ttl: 100,
    clock,
  });
  await load(1);
  for (const options of [null, 5, "wait", true]) {
    await assert.rejects(
      load.cacheClose(options as never),
      (error: Error) =>
        error instanceof TypeError &&
        error.message.startsWith("cacheClose options must be an object"),
    );
  }
  for (const wait of ["yes", 1, null]) {
    await assert.rejects(
      load.cacheClose({ wait } as never),
      (error: Error) =>
        error instanceof TypeError && /"wait".*boolean/.test(error.message),
    );
  }
  assert.equal(load.cacheParameters().closed, false);
  assert.equal(clock.pending, 1);
  assert.equal(await load(1), 1);
  await load.cacheClose();
  assert.equal(clock.pending, 0);
});
