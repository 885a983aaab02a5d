/**
 * The shared work being aborted (§9, §13.4): once every caller of a run has
 * aborted, the run's signal aborts, and a lease the run holds is released at
 * once (by token), never renewed again, whether or not the function stops;
 * the value the function still returns is not written, and a run that had
 * not taken the lease yet stops waiting for it and never runs the function.
 * The release delays no caller, is bounded by `storeTimeout`, and its
 * failure is counted, never unhandled.
 *
 * Each process is played by a cache on a connection of its own, against the
 * real server at REDIS_URL or a real KV file.
 */

import assert from "node:assert/strict";
import { alruCache, type CacheStore } from "../mod.ts";
import {
  BACKENDS,
  type Connection,
  counting,
  sleep,
  within,
} from "./shared/clients.ts";
import { freshNamespace, withConnections } from "./shared/harness.ts";
import { deferred } from "./_helpers.ts";

// Renewed every second: a lease kept after the abort would hold the key for
// longer than the bounds below.
const LEASE = 3_000;

/** A cache with `signal: true` whose function ignores its signal. */
function stubborn(
  connection: Connection | CacheStore,
  namespace: string,
  options: { storeTimeout?: number; onError?: () => void } = {},
) {
  const gate = deferred<string>();
  const started = deferred<void>();
  const state = { runs: 0, aborted: false, gate, started };
  const store = "notifies" in connection
    ? connection
    : connection.store(namespace);
  const cached = alruCache(
    async (_key: string, signal: AbortSignal) => {
      state.runs++;
      signal.addEventListener("abort", () => state.aborted = true);
      started.resolve();
      return await gate.promise;
    },
    {
      ttl: 60_000,
      lease: LEASE,
      signal: true,
      store,
      ...(options.storeTimeout === undefined
        ? {}
        : { storeTimeout: options.storeTimeout }),
      onEvent: (event) => {
        if (event.type === "storeError") options.onError?.();
      },
    },
  );
  return { cached, state };
}

/** A plain cache that says which process computed. */
function plain(connection: Connection, namespace: string, name: string) {
  let runs = 0;
  const cached = alruCache(
    async (key: string) =>
      await Promise.resolve(`${key} from ${name} ${++runs}`),
    { ttl: 60_000, lease: LEASE, store: connection.store(namespace) },
  );
  return cached;
}

for (const backend of BACKENDS) {
  Deno.test(`${backend}: aborting the shared work releases its lease at once`, async () => {
    await withConnections(backend, 2, async ([one, two]) => {
      const namespace = freshNamespace("abort-release");
      const a = stubborn(one, namespace);
      const b = plain(two, namespace, "b");
      try {
        const caller = new AbortController();
        const call = a.cached.withSignal(caller.signal, "k");
        await a.state.started.promise; // a holds the lease and runs fn
        caller.abort();
        await assert.rejects(call, { name: "AbortError" });
        assert.ok(a.state.aborted, "the work's signal aborted");
        // fn goes on, ignoring its signal; b computes the key now rather
        // than wait for a's fn, however long it runs.
        assert.equal(
          await within(LEASE / 2, "b's call while a's fn runs", b("k")),
          "k from b 1",
        );
      } finally {
        a.state.gate.resolve("late from a");
        await a.cached.cacheClose();
        await b.cacheClose();
      }
    });
  });

  Deno.test(`${backend}: the value an aborted run still returns is never written`, async () => {
    await withConnections(backend, 2, async ([one, two]) => {
      const namespace = freshNamespace("abort-late");
      const store = counting(one.store(namespace));
      const a = stubborn(store.store, namespace);
      const b = plain(two, namespace, "b");
      try {
        const caller = new AbortController();
        const call = a.cached.withSignal(caller.signal, "k");
        await a.state.started.promise;
        caller.abort();
        await assert.rejects(call, { name: "AbortError" });
        a.state.gate.resolve("late from a");
        assert.equal(await b("k"), "k from b 1", "b was served a's late value");
        assert.equal(store.calls.get("write"), undefined, "a wrote");
        assert.equal(a.cached.cacheContains("k"), false);
      } finally {
        a.state.gate.resolve("late from a");
        await a.cached.cacheClose();
        await b.cacheClose();
      }
    });
  });

  Deno.test(`${backend}: a run aborted while it waits for another process's lease stops waiting and never runs fn`, async () => {
    await withConnections(backend, 2, async ([one, two]) => {
      const namespace = freshNamespace("abort-waiting");
      const store = counting(one.store(namespace));
      const a = stubborn(store.store, namespace);
      a.state.gate.resolve("from a");
      const gate = deferred<string>();
      const started = deferred<void>();
      const b = alruCache(async (_key: string) => {
        started.resolve();
        return await gate.promise;
      }, { ttl: 60_000, lease: LEASE, store: two.store(namespace) });
      try {
        const held = b("k");
        await started.promise; // b holds the lease
        const caller = new AbortController();
        const call = a.cached.withSignal(caller.signal, "k");
        const deadline = performance.now() + 2_000;
        while ((store.calls.get("wait") ?? 0) === 0) {
          assert.ok(performance.now() < deadline, "a never waited for b");
          await sleep(5);
        }
        caller.abort();
        await assert.rejects(call, { name: "AbortError" });
        const reads = store.calls.get("readOrLease");
        // b fails, so the lease is free and nothing is written: a run that
        // still waited would take the lease now and compute.
        gate.reject(new Error("b failed"));
        await assert.rejects(held, /b failed/);
        await sleep(400); // more than a poll of either store
        assert.equal(a.state.runs, 0, "the aborted run ran fn");
        assert.equal(store.calls.get("readOrLease"), reads, "it read again");
        assert.equal(await a.cached("k"), "from a", "a computes when asked");
      } finally {
        gate.resolve("from b");
        await a.cached.cacheClose();
        await b.cacheClose();
      }
    });
  });

  Deno.test(`${backend}: a release after an abort that hangs or fails is bounded by storeTimeout, counted, and never unhandled`, async () => {
    await withConnections(backend, 1, async ([one]) => {
      for (const fault of ["hangs", "rejects"] as const) {
        const namespace = freshNamespace(`abort-release-${fault}`);
        const inner = one.store(namespace);
        const errored = deferred<void>();
        let releases = 0;
        const store: CacheStore = {
          notifies: inner.notifies,
          readOrLease: (...args) => inner.readOrLease(...args),
          wait: (...args) => inner.wait(...args),
          write: (...args) => inner.write(...args),
          renew: (...args) => inner.renew(...args),
          release: () => {
            releases++;
            return fault === "hangs"
              ? new Promise<void>(() => {})
              : Promise.reject(new Error("release failed"));
          },
          delete: (...args) => inner.delete(...args),
          clear: () => inner.clear(),
          subscribe: (...args) => inner.subscribe(...args),
        };
        const a = stubborn(store, namespace, {
          storeTimeout: 300,
          onError: () => errored.resolve(),
        });
        try {
          const caller = new AbortController();
          const call = a.cached.withSignal(caller.signal, "k");
          await a.state.started.promise;
          caller.abort();
          // The caller is not kept waiting for the store: well under
          // storeTimeout, which bounds the release.
          await within(100, "the aborted call", assert.rejects(call));
          assert.equal(releases, 1, `${fault}: released once`);
          await within(1_000, `${fault}: the error event`, errored.promise);
          assert.equal(a.cached.cacheStats().storeErrors, 1);
        } finally {
          a.state.gate.resolve("late");
          await a.cached.cacheClose();
        }
        assert.equal(releases, 1, `${fault}: released again on close`);
      }
    });
  });
}
