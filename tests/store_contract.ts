/**
 * The contract of a shared store (`CacheStore` in store.ts), as tests that
 * any backend must pass: {@linkcode storeContract} registers them for one
 * backend, given a small factory, and `store_contract_test.ts` runs them on
 * memoryStore, node-redis, ioredis and Deno KV. What the cache's protocol
 * makes of a store is tested on memoryStore in the `shared_*_test.ts` files;
 * here each method is held to what store.ts promises.
 *
 * Time passes through the factory: a ManualClock for memoryStore, so that
 * deadlines are checked to the millisecond, and short real waits for the
 * servers, with a margin. Where a backend legitimately differs (Deno KV
 * cannot notify; Redis counts whole milliseconds and keeps the bytes of
 * cleared values until their ttl), the test's name or a comment says so: a
 * test is never skipped.
 */

import assert from "node:assert/strict";
import {
  type CacheStore,
  type ReadOrLease,
  type StoreLease,
  UnacknowledgedNoticeError,
} from "../store.ts";
import { attempt, type Outcome, track } from "./_helpers.ts";

/** One test's stores, on a namespace of its own. */
export interface ContractPlace {
  /** A store on the test's namespace. */
  readonly store: CacheStore;
  /** A second store on the same namespace, as another process has it. */
  readonly other: CacheStore;
  /** A store on another namespace of the same backend. */
  readonly elsewhere: CacheStore;
  /** Lets `ms` of the stores' time pass. */
  pass(ms: number): Promise<void>;
  /** Timers the stores have scheduled, where the backend can tell. */
  pendingTimers?(): number;
  /** Closes what the place opened, failed test or not. */
  close(): Promise<void>;
}

/** A store whose backend a test can take away. */
export interface FailingPlace {
  /** A store on a namespace of the test's own. */
  readonly store: CacheStore;
  /** Makes another store on the same backend, after it failed. */
  another(): CacheStore;
  /** Takes the backend away: stops the server, closes the database. */
  fail(): Promise<void>;
  /** Closes what the place opened. */
  close(): Promise<void>;
}

/** What {@linkcode storeContract} needs of a backend. */
export interface ContractBackend {
  /** Names the backend in each test's name. */
  readonly name: string;
  /** Whether its stores say they notify. */
  readonly notifies: boolean;
  /**
   * Whether `pass` moves a clock the store reads exactly (a ManualClock):
   * deadlines are then checked to the millisecond, and nothing is left to
   * real time.
   */
  readonly exact: boolean;
  /** Opens a fresh namespace. */
  open(): Promise<ContractPlace>;
  /**
   * How this backend fails, for a server or a database: the tests of a
   * store whose backend is gone. memoryStore has no such part.
   */
  readonly failing?: {
    /** What failing means here, for the test's name. */
    readonly what: string;
    open(): Promise<FailingPlace>;
  };
}

// Lifetimes of values and leases in the tests of time: short, as the servers
// take real time to pass them.
const SHORT = 300;
// Long enough that nothing ends within a test.
const LONG = 60_000;
// Real time given to a server for what must happen "at once".
const PROMPT_MS = 1_000;

/** Registers the contract's tests for `backend`. */
export function storeContract(backend: ContractBackend): void {
  const { name, exact } = backend;
  // What a real clock adds to a deadline before something must have ended.
  const margin = exact ? 0 : 60;

  const test = (title: string, body: (place: ContractPlace) => Promise<void>) =>
    Deno.test(`${name}: ${title}`, async () => {
      const place = await backend.open();
      try {
        await body(place);
      } finally {
        await place.close();
      }
    });

  // Waits until `done()` holds, letting the stores' time pass a little at
  // a time (a turn of the ManualClock, or a few real milliseconds); fails
  // after PROMPT_MS of real time.
  async function until(
    place: ContractPlace,
    done: () => boolean,
    what: string,
  ): Promise<void> {
    const deadline = performance.now() + PROMPT_MS;
    while (!done()) {
      assert.ok(performance.now() < deadline, `${what}: not within a second`);
      await place.pass(exact ? 0 : 5);
    }
  }

  // Lets messages in flight arrive before a test says none came.
  const quiet = (place: ContractPlace) => place.pass(exact ? 0 : 150);

  test("readOrLeaseMany, where the store has it, answers each key as readOrLease would, in order, a repeated key finding its lease held", async (place) => {
    const { store, other } = place;
    const readMany = store.readOrLeaseMany?.bind(store) ??
      ((keys: string[], ms: number) =>
        Promise.all(keys.map((key) => store.readOrLease(key, ms))));
    const written = leaseOf(await other.readOrLease("a", LONG));
    await other.write("a", { text: "A", ttl: LONG }, written);
    const found = await readMany(["a", "b", "b", "c"], LONG);
    const statuses = found.map((answer) => answer.status);
    // Read key by key, concurrently, either read of "b" may win its lease.
    const [first, second] = store.readOrLeaseMany === undefined
      ? [statuses[1], statuses[2]].sort().reverse()
      : [statuses[1], statuses[2]];
    assert.deepEqual([statuses[0], first, second, statuses[3]], [
      "value",
      "leased",
      "busy",
      "leased",
    ]);
    assert.equal((found[0] as { value: { text: string } }).value.text, "A");
    assert.equal((await other.readOrLease("c", LONG)).status, "busy");
    const b = found.find((answer, i) =>
      i > 0 && i < 3 && answer.status === "leased"
    )!;
    assert.equal(await store.release("b", leaseOf(b)), undefined);
    assert.equal((await other.readOrLease("b", LONG)).status, "leased");
  });

  test("a busy key tells what is left of its lease, as the store measures it, and a renewal sets it back to the lease's length", async (place) => {
    const { store, other } = place;
    const lease = leaseOf(await store.readOrLease("k", LONG));
    const early = exact ? 1_000 : SHORT;
    await place.pass(early);
    const busy = await other.readOrLease("k", LONG);
    assert.equal(busy.status, "busy");
    const left = (busy as { ttl?: number }).ttl;
    assert.ok(
      left !== undefined && left <= LONG - early + margin &&
        left > LONG - early - PROMPT_MS,
      `${left} ms left of a ${LONG} ms lease after ${early} ms`,
    );
    assert.equal(await store.renew("k", lease, LONG), true);
    const renewed = await other.readOrLease("k", LONG) as { ttl?: number };
    assert.ok(
      renewed.ttl! > LONG - PROMPT_MS && renewed.ttl! <= LONG,
      `${renewed.ttl} ms left after a renewal`,
    );
  });

  test("readOrLease is atomic: of many at once on one key from two stores, exactly one leases and the others find it busy", async ({ store, other }) => {
    const calls = Array.from(
      { length: 20 },
      (_, i) => (i % 2 === 0 ? store : other).readOrLease("k", LONG),
    );
    const found = await Promise.all(calls);
    const statuses = found.map((f) => f.status);
    assert.equal(
      statuses.filter((s) => s === "leased").length,
      1,
      `statuses: ${statuses}`,
    );
    assert.equal(statuses.filter((s) => s === "busy").length, 19);
    // The holder writes: every reader now gets the value, never the lease.
    const index = statuses.indexOf("leased");
    const holder = index % 2 === 0 ? store : other;
    await holder.write("k", { text: "v", ttl: LONG }, leaseOf(found[index]));
    const reads = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => (i % 2 === 0 ? store : other).readOrLease("k", LONG),
      ),
    );
    for (const read of reads) assert.equal(read.status, "value");
  });

  test("a value reads back with the text written and a ttl no more than the one written; Infinity stays Infinity", async (place) => {
    const { store, other } = place;
    const texts = [
      "plain",
      "",
      '{"name":"ü → 😀","list":[1,null]}',
      "line\nbreak\ttab\u0000nul",
      // What an adapter's own framing might look like.
      "alru3:0:1:alru2:0:alru1:x",
      "x".repeat(10_000),
    ];
    for (const [i, text] of texts.entries()) {
      await writeValue(store, `text ${i}`, text, LONG);
      const value = valueOf(await other.readOrLease(`text ${i}`, LONG));
      assert.equal(value.text, text, `text ${i} came back changed`);
      assert.ok(
        value.ttl > 0 && value.ttl <= LONG,
        `text ${i}: ttl ${value.ttl}`,
      );
      if (exact) assert.equal(value.ttl, LONG);
      else assert.ok(value.ttl > LONG - 5_000, `ttl ${value.ttl}`);
    }
    await writeValue(store, "forever", "f", Infinity);
    assert.deepEqual(valueOf(await other.readOrLease("forever", LONG)), {
      text: "f",
      ttl: Infinity,
    });
    // Redis keeps a value's time in whole milliseconds, and rounds a
    // fraction up; the others keep the fraction.
    await writeValue(store, "fraction", "x", 1_000.5);
    const fraction = valueOf(await other.readOrLease("fraction", LONG)).ttl;
    assert.ok(fraction > 0 && fraction <= 1_001, `ttl ${fraction}`);
    if (exact) assert.equal(fraction, 1_000.5);
    // What is left goes down as time passes.
    await place.pass(100);
    const later = valueOf(await other.readOrLease("text 0", LONG)).ttl;
    assert.ok(later <= LONG - 100, `ttl ${later} after 100 ms`);
    if (exact) assert.equal(later, LONG - 100);
    assert.equal(
      valueOf(await other.readOrLease("forever", LONG)).ttl,
      Infinity,
    );
  });

  test("a value ends after its ttl: it then reads as absent, delete says there was none, and its key can be leased", async (place) => {
    const { store, other } = place;
    await writeValue(store, "k", "v", SHORT);
    await writeValue(store, "j", "w", SHORT);
    const early = exact ? SHORT - 1 : SHORT / 3;
    await place.pass(early);
    assert.equal((await other.readOrLease("k", LONG)).status, "value");
    await place.pass(SHORT - early + margin);
    assert.equal(await other.delete("j"), false, "delete found an ended value");
    assert.equal((await other.readOrLease("k", LONG)).status, "leased");
  });

  test("a lease ends after its time: its holder can then neither renew nor write, and another store takes the key", async (place) => {
    const { store, other } = place;
    const lease = leaseOf(await store.readOrLease("k", SHORT));
    const early = exact ? SHORT - 1 : SHORT / 3;
    await place.pass(early);
    assert.equal((await other.readOrLease("k", LONG)).status, "busy");
    await place.pass(SHORT - early + margin);
    assert.equal(
      await store.renew("k", lease, LONG),
      false,
      "renew took an ended lease back",
    );
    await store.write("k", { text: "late", ttl: LONG }, lease);
    const next = await other.readOrLease("k", LONG);
    assert.equal(next.status, "leased", "an ended lease wrote, or held on");
    // The new holder's lease is not the old one's to write under.
    await store.write("k", { text: "late", ttl: LONG }, lease);
    await other.write("k", { text: "new", ttl: LONG }, leaseOf(next));
    assert.equal(valueOf(await store.readOrLease("k", LONG)).text, "new");
  });

  test("renew extends a lease to leaseMs from now", async (place) => {
    const { store, other } = place;
    const lease = leaseOf(await store.readOrLease("k", SHORT));
    await place.pass((2 * SHORT) / 3);
    assert.equal(await store.renew("k", lease, SHORT), true);
    // Past the first deadline, within the renewed one.
    await place.pass((2 * SHORT) / 3);
    assert.equal((await other.readOrLease("k", LONG)).status, "busy");
    await place.pass(SHORT / 3 + margin);
    assert.equal((await other.readOrLease("k", LONG)).status, "leased");
  });

  test("renew and release act only for the holder's token; renew is false once released", async ({ store, other }) => {
    const lease = leaseOf(await store.readOrLease("k", LONG));
    // The same lease but for its token, whatever else the adapter keeps.
    const forged: StoreLease = { ...lease, token: crypto.randomUUID() };
    await other.release("k", forged);
    assert.equal((await other.readOrLease("k", LONG)).status, "busy");
    assert.equal(await other.renew("k", forged, LONG), false);
    await other.write("k", { text: "forged", ttl: LONG }, forged);
    assert.equal((await other.readOrLease("k", LONG)).status, "busy");
    assert.equal(await store.renew("k", lease, LONG), true);

    await store.release("k", lease);
    assert.equal(await store.renew("k", lease, LONG), false);
    const next = leaseOf(await other.readOrLease("k", LONG));
    // The old holder's release touches the new holder's lease no more
    // than a stranger's.
    await store.release("k", lease);
    assert.equal((await store.readOrLease("k", LONG)).status, "busy");
    assert.equal(await other.renew("k", next, LONG), true);
  });

  test("write stores nothing once the key was deleted, the namespace cleared, or the lease released since the lease was taken", async ({ store, other }) => {
    const deleted = leaseOf(await store.readOrLease("deleted", LONG));
    await other.delete("deleted");
    await store.write("deleted", { text: "v", ttl: LONG }, deleted);
    assert.notEqual(
      (await other.readOrLease("deleted", LONG)).status,
      "value",
      "written after a delete",
    );

    const released = leaseOf(await store.readOrLease("released", LONG));
    await store.release("released", released);
    await store.write("released", { text: "v", ttl: LONG }, released);
    assert.notEqual(
      (await other.readOrLease("released", LONG)).status,
      "value",
      "written after its lease was released",
    );

    const cleared = leaseOf(await store.readOrLease("cleared", LONG));
    await other.clear();
    await store.write("cleared", { text: "v", ttl: LONG }, cleared);
    assert.notEqual(
      (await other.readOrLease("cleared", LONG)).status,
      "value",
      "written after a clear",
    );
  });

  test("a lease taken before a clear no longer holds its key: another store takes it, and its holder cannot renew it", async ({ store, other }) => {
    const old = leaseOf(await store.readOrLease("k", LONG));
    await other.clear();
    const found = await other.readOrLease("k", LONG);
    assert.equal(found.status, "leased", "the clear left the lease holding");
    assert.equal(await store.renew("k", old, LONG), false);
    // The old holder's write and release leave the new lease alone.
    await store.write("k", { text: "old", ttl: LONG }, old);
    await store.release("k", old);
    assert.equal((await store.readOrLease("k", LONG)).status, "busy");
    await other.write("k", { text: "new", ttl: LONG }, leaseOf(found));
    assert.equal(valueOf(await store.readOrLease("k", LONG)).text, "new");
  });

  test("delete drops the key's value and lease and says whether there was a value", async ({ store, other }) => {
    assert.equal(await store.delete("never"), false);
    await writeValue(store, "k", "v", LONG);
    assert.equal(await other.delete("k"), true);
    assert.equal(await other.delete("k"), false, "deleted twice");
    const lease = leaseOf(await store.readOrLease("k", LONG));
    // A lease is not a value, but it goes too.
    assert.equal(await other.delete("k"), false);
    assert.equal((await other.readOrLease("k", LONG)).status, "leased");
    assert.equal(await store.renew("k", lease, LONG), false);
  });

  // Redis keeps the bytes of cleared values until their ttl ends (or the
  // key is written again): they are unreachable, which is what is checked.
  test("clear makes every value of the namespace unreachable at once, and new values are kept after it; another namespace keeps its own", async ({ store, other, elsewhere }) => {
    const keys = Array.from({ length: 5 }, (_, i) => `k${i}`);
    for (const key of keys) await writeValue(store, key, key, LONG);
    await writeValue(store, "forever", "f", Infinity);
    await writeValue(elsewhere, "k0", "elsewhere", LONG);
    await other.clear();
    for (const key of [...keys, "forever"]) {
      const found = await store.readOrLease(key, LONG);
      assert.equal(found.status, "leased", `${key} outlived the clear`);
      await store.write(
        key,
        { text: `${key} again`, ttl: LONG },
        leaseOf(found),
      );
    }
    for (const key of keys) {
      assert.equal(
        valueOf(await other.readOrLease(key, LONG)).text,
        `${key} again`,
      );
    }
    assert.equal(
      valueOf(await elsewhere.readOrLease("k0", LONG)).text,
      "elsewhere",
    );
    // A second clear works as the first.
    await store.clear();
    assert.equal((await other.readOrLease("k0", LONG)).status, "leased");
  });

  if (backend.notifies) {
    test("subscribe hears another store's delete and clear, on its own namespace only, until it is closed; each has been heard by the time it resolves", async (place) => {
      const { store, other, elsewhere } = place;
      assert.equal(store.notifies, true);
      const heard: unknown[] = [];
      const errors: unknown[] = [];
      const subscription = await store.subscribe(
        (event) => heard.push(event),
        (error) => errors.push(error),
      );
      try {
        await elsewhere.delete("elsewhere");
        await other.delete("k");
        // Heard and acknowledged before the delete resolved: no waiting.
        assert.deepEqual(heard, [{ type: "delete", key: "k" }]);
        // A key is told as it was given, whatever it holds.
        const odd = "users:42:name\nd:c: ü";
        await other.delete(odd);
        assert.deepEqual(heard.at(-1), { type: "delete", key: odd });
        await other.clear();
        assert.deepEqual(heard.at(-1), { type: "clear" });
        await quiet(place);
        assert.deepEqual(heard, [
          { type: "delete", key: "k" },
          { type: "delete", key: odd },
          { type: "clear" },
        ]);
      } finally {
        await subscription.close();
      }
      await other.delete("after");
      await other.clear();
      await quiet(place);
      assert.equal(heard.length, 3, "heard after its subscription closed");
      assert.deepEqual(errors, []);
    });

    test("a delete and a clear resolve once every subscription they reached has heard them: several on one store, and another store's", async ({ store, other }) => {
      const heard: string[] = [];
      const subscriptions = [
        await store.subscribe(() => heard.push("store, first"), () => {}),
        await store.subscribe(() => heard.push("store, second"), () => {}),
        await other.subscribe(() => heard.push("other"), () => {}),
      ];
      const everyone = ["other", "store, first", "store, second"];
      try {
        assert.equal(await store.delete("k", { timeoutMs: PROMPT_MS }), false);
        assert.deepEqual(heard.sort(), everyone);
        heard.length = 0;
        await other.clear({ timeoutMs: PROMPT_MS });
        assert.deepEqual(heard.sort(), everyone);
      } finally {
        for (const subscription of subscriptions) await subscription.close();
      }
    });

    test("a listener that throws withholds its acknowledgement: the delete rejects with UnacknowledgedNoticeError and stands, and the listener's onError hears the throw", async (place) => {
      const { store, other } = place;
      const errors: unknown[] = [];
      const subscription = await store.subscribe(() => {
        throw new Error("a listener that fails");
      }, (error) => errors.push(error));
      try {
        await writeValue(other, "k", "v", LONG);
        const deleting = other.delete("k", { timeoutMs: SHORT });
        await assert.rejects(deleting, (error: unknown) => {
          assert.ok(error instanceof UnacknowledgedNoticeError, String(error));
          assert.equal(error.reached - error.acknowledged, 1);
          return true;
        });
        assert.equal((await other.readOrLease("k", LONG)).status, "leased");
        await until(place, () => errors.length > 0, "the listener's error");
        assert.match(String(errors[0]), /a listener that fails/);
      } finally {
        await subscription.close();
      }
    });

    test("wait resolves when the key's lease is released or its value written (the store subscribed first, as a cache does)", async (place) => {
      const { store, other } = place;
      const subscription = await store.subscribe(() => {}, () => {});
      const never = new AbortController().signal;
      try {
        for (const end of ["release", "write"] as const) {
          const lease = leaseOf(await other.readOrLease(end, LONG));
          const waiting = track(
            store.wait(end, { timeoutMs: LONG, signal: never }),
          );
          await quiet(place);
          assert.equal(waiting.outcome.state, "pending", `${end}: woke early`);
          if (end === "release") await other.release(end, lease);
          else await other.write(end, { text: "v", ttl: LONG }, lease);
          await until(
            place,
            () => waiting.outcome.state !== "pending",
            `the wait after the ${end}`,
          );
          assert.equal(waiting.outcome.state, "fulfilled");
        }
      } finally {
        await subscription.close();
      }
    });
  } else {
    test("cannot notify (notifies is false): subscribe hears nothing, and a wait returns within its poll, well before its timeout, so that callers read again", async (place) => {
      const { store, other } = place;
      assert.equal(store.notifies, false);
      const heard: unknown[] = [];
      const subscription = await store.subscribe(
        (e) => heard.push(e),
        () => {},
      );
      await other.delete("k");
      await other.clear();
      await quiet(place);
      assert.deepEqual(heard, []);
      await subscription.close();
      await other.readOrLease("k", LONG);
      const never = new AbortController().signal;
      const started = performance.now();
      for (let i = 0; i < 3; i++) {
        await store.wait("k", { timeoutMs: LONG, signal: never });
      }
      assert.ok(
        performance.now() - started < PROMPT_MS,
        `three waits took ${(performance.now() - started).toFixed(0)} ms`,
      );
    });
  }

  test("wait resolves at its timeoutMs at the latest, and at once when its signal aborts, leaving no timer", async (place) => {
    const { store, other } = place;
    await other.readOrLease("k", LONG); // held all along: nothing wakes it
    const never = new AbortController().signal;
    const timed = track(store.wait("k", { timeoutMs: SHORT, signal: never }));
    if (exact) {
      await place.pass(SHORT - 1);
      assert.equal(timed.outcome.state, "pending", "the wait ended early");
      await place.pass(1);
    } else {
      await place.pass(SHORT + margin);
    }
    assert.equal(
      timed.outcome.state,
      "fulfilled",
      "the wait outlived timeoutMs",
    );

    const controller = new AbortController();
    const aborted = track(
      store.wait("k", { timeoutMs: LONG, signal: controller.signal }),
    );
    await quiet(place);
    controller.abort();
    await until(
      place,
      () => aborted.outcome.state !== "pending",
      "the wait after its signal aborted",
    );
    assert.equal(aborted.outcome.state, "fulfilled");
    // Aborted already: it waits for nothing.
    const before = performance.now();
    await store.wait("k", { timeoutMs: LONG, signal: controller.signal });
    assert.ok(performance.now() - before < PROMPT_MS);
    if (place.pendingTimers) assert.equal(place.pendingTimers(), 0);
  });

  test("no method throws synchronously, whatever lease it is given, and a lease it never issued writes nothing", async (place) => {
    const { store } = place;
    const bare: StoreLease = { token: "never issued" };
    const never = new AbortController().signal;
    const gone = AbortSignal.abort();
    const calls: [string, () => Promise<unknown>][] = [
      ["readOrLease of an empty key", () => store.readOrLease("", LONG)],
      [
        "write under a bare lease",
        () => store.write("k", { text: "x", ttl: LONG }, bare),
      ],
      ["write with ttl 0", () => store.write("k", { text: "x", ttl: 0 }, bare)],
      ["renew of a bare lease", () => store.renew("k", bare, LONG)],
      ["release of a bare lease", () => store.release("k", bare)],
      [
        "wait with an aborted signal",
        () => store.wait("k", { timeoutMs: LONG, signal: gone }),
      ],
      ["wait of 0 ms", () => store.wait("k", { timeoutMs: 0, signal: never })],
      ["delete of an empty key", () => store.delete("")],
    ];
    const tracked = calls.map(([what, call]) => [what, attempt(call)] as const);
    for (const [what, call] of tracked) {
      assert.notEqual(call.outcome.state, "threw", `${what} threw`);
    }
    await until(
      place,
      () => tracked.every(([, call]) => call.outcome.state !== "pending"),
      "every call to settle",
    );
    assert.notEqual(
      (await store.readOrLease("k", LONG)).status,
      "value",
      "a lease the store never issued wrote",
    );
  });

  const failing = backend.failing;
  if (failing !== undefined) {
    Deno.test(`${name}: with ${failing.what}, every method rejects or returns within a second, none throws synchronously, and a wait in progress ends`, async () => {
      const place = await failing.open();
      try {
        const { store } = place;
        const held = leaseOf(await store.readOrLease("held", LONG));
        const errors: unknown[] = [];
        const subscription = await store.subscribe(
          () => {},
          (error) => errors.push(error),
        );
        const never = new AbortController().signal;
        const waiting = track(
          store.wait("busy", { timeoutMs: LONG, signal: never }),
        );
        await place.fail();
        const calls: [string, boolean, () => Promise<unknown>][] = [
          ["readOrLease", true, () => store.readOrLease("k", LONG)],
          [
            "write",
            true,
            () => store.write("held", { text: "v", ttl: LONG }, held),
          ],
          ["renew", true, () => store.renew("held", held, LONG)],
          ["release", true, () => store.release("held", held)],
          ["delete", true, () => store.delete("k")],
          ["clear", true, () => store.clear()],
          // A store that notifies needs its server to listen; KV's
          // subscription is nothing, and cannot fail.
          [
            "subscribe on a new store",
            store.notifies,
            () => place.another().subscribe(() => {}, () => {}),
          ],
        ];
        const started = performance.now();
        const tracked = calls.map((
          [what, rejects, call],
        ) => [what, rejects, attempt(call)] as const);
        for (const [what, , call] of tracked) {
          assert.notEqual(call.outcome.state, "threw", `${what} threw`);
        }
        const settled = () =>
          waiting.outcome.state !== "pending" &&
          tracked.every(([, , call]) => call.outcome.state !== "pending");
        while (!settled() && performance.now() - started < PROMPT_MS) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        const states = (outcome: Outcome<unknown>) => outcome.state;
        for (const [what, rejects, call] of tracked) {
          assert.equal(
            states(call.outcome),
            rejects ? "rejected" : "fulfilled",
            `${what} is ${states(call.outcome)} after ${PROMPT_MS} ms`,
          );
        }
        // A wait ends: rejected when the store loses what tells it (its
        // subscription), or by its poll where it has none.
        assert.notEqual(waiting.outcome.state, "pending", "the wait goes on");
        if (store.notifies) {
          assert.equal(waiting.outcome.state, "rejected");
          assert.ok(errors.length > 0, "the subscription heard no failure");
        }
        await subscription.close().catch(() => {});
      } finally {
        await place.close();
      }
    });
  }
}

/** The lease of a readOrLease that must have taken one. */
export function leaseOf(found: ReadOrLease): StoreLease {
  assert.equal(
    found.status,
    "leased",
    `expected a lease, found ${found.status}`,
  );
  return (found as { lease: StoreLease }).lease;
}

/** The value of a readOrLease that must have found one. */
function valueOf(found: ReadOrLease): { text: string; ttl: number } {
  assert.equal(
    found.status,
    "value",
    `expected a value, found ${found.status}`,
  );
  return (found as { value: { text: string; ttl: number } }).value;
}

/** Leases `key` and writes `text` for `ttl` ms under the lease. */
async function writeValue(
  store: CacheStore,
  key: string,
  text: string,
  ttl: number,
): Promise<void> {
  const lease = leaseOf(await store.readOrLease(key, LONG));
  await store.write(key, { text, ttl }, lease);
}
