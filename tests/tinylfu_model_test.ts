/**
 * The W-TinyLFU policy against a plain reference: the same algorithm over
 * JavaScript arrays of keys and an array of counters, written for clarity,
 * not speed, and sharing only the hashing, the sketch's counter positions
 * and the random generator. Random operation sequences must leave both with
 * the same keys in the same regions in the same order, and evict the same
 * keys.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Slot } from "../policy.ts";
import { FrequencySketch, hashValue, nextRandom } from "../sketch.ts";
import {
  PROTECTED_SHARE,
  SAMPLE_FACTOR,
  startingBounds,
  TinyLfu,
} from "../tinylfu.ts";

class Reference {
  window: number[] = [];
  probation: number[] = [];
  protected: number[] = [];
  counts: number[];
  windowMax: number;
  protectedMax: number;
  sampled = 0;
  sampleHits = 0;
  previousRate = 0;
  step: number;
  random: Uint32Array;
  readonly positions: FrequencySketch;

  constructor(readonly maxSize: number, readonly seed: number, admit: number) {
    this.positions = new FrequencySketch(maxSize);
    this.counts = new Array(this.positions.counters).fill(0);
    const bounds = startingBounds(maxSize);
    this.windowMax = bounds.window;
    this.protectedMax = bounds.protected;
    this.step = -0.0625 * maxSize;
    this.random = Uint32Array.of(admit);
  }

  get size(): number {
    return this.window.length + this.probation.length + this.protected.length;
  }

  frequency(key: number): number {
    const hash = hashValue(key, this.seed);
    let least = 15;
    for (let row = 0; row < 4; row++) {
      least = Math.min(least, this.counts[this.positions.index(hash, row)]);
    }
    return least;
  }

  access(key: number, hit: boolean): void {
    const hash = hashValue(key, this.seed);
    for (let row = 0; row < 4; row++) {
      const at = this.positions.index(hash, row);
      this.counts[at] = Math.min(15, this.counts[at] + 1);
    }
    this.sampled++;
    if (hit) this.sampleHits++;
    if (this.sampled < SAMPLE_FACTOR * this.maxSize) return;
    this.counts = this.counts.map((count) => Math.floor(count / 2));
    const rate = this.sampleHits / this.sampled;
    const change = rate - this.previousRate;
    const amount = change >= 0 ? this.step : -this.step;
    this.step = Math.abs(change) >= 0.05
      ? 0.0625 * this.maxSize * Math.sign(amount >= 0 ? 1 : -1)
      : 0.98 * amount;
    this.previousRate = rate;
    this.sampled = this.sampleHits = 0;
    const adjustment = Math.trunc(amount);
    if (adjustment > 0) {
      let quota = Math.min(adjustment, this.maxSize - 1 - this.windowMax);
      this.windowMax += quota;
      this.resizeProtected();
      while (quota > 0 && this.probation.length + this.protected.length > 0) {
        const from = this.probation.length > 0
          ? this.probation
          : this.protected;
        this.window.push(from.shift()!);
        quota--;
      }
      this.windowMax -= quota;
      this.resizeProtected();
    } else if (adjustment < 0) {
      let quota = Math.min(-adjustment, this.windowMax - 1);
      this.windowMax -= quota;
      while (quota > 0 && this.window.length > 0) {
        this.probation.push(this.window.shift()!);
        quota--;
      }
      this.windowMax += quota;
      this.resizeProtected();
    }
  }

  resizeProtected(): void {
    this.protectedMax = Math.floor(
      (this.maxSize - this.windowMax) * PROTECTED_SHARE,
    );
    this.demote();
  }

  demote(): void {
    while (this.protected.length > this.protectedMax) {
      this.probation.push(this.protected.shift()!);
    }
  }

  // A new entry, then what goes: returns the evicted keys.
  add(key: number, counted: boolean): number[] {
    if (counted) this.access(key, false);
    this.window.push(key);
    let candidate: number | undefined;
    if (this.window.length > this.windowMax) {
      candidate = this.window.shift()!;
      this.probation.push(candidate);
      if (this.size <= this.maxSize) candidate = undefined;
    }
    const evicted: number[] = [];
    if (candidate !== undefined) {
      const rivals = [...this.probation, ...this.protected].filter((k) =>
        k !== candidate
      );
      const rival = rivals[0];
      let loser = candidate;
      if (rival !== undefined) {
        const ours = this.frequency(candidate);
        const theirs = this.frequency(rival);
        const admitted = ours > theirs ||
          (ours >= 6 && (nextRandom(this.random) & 127) === 0);
        if (admitted) loser = rival;
      }
      this.drop(loser);
      evicted.push(loser);
    }
    while (this.size > this.maxSize) {
      const oldest = this.probation[0] ?? this.protected[0] ?? this.window[0];
      this.drop(oldest);
      evicted.push(oldest);
    }
    return evicted;
  }

  touch(key: number): void {
    this.access(key, true);
    for (const list of [this.window, this.protected]) {
      const at = list.indexOf(key);
      if (at !== -1) {
        list.splice(at, 1);
        list.push(key);
        return;
      }
    }
    this.probation.splice(this.probation.indexOf(key), 1);
    this.protected.push(key);
    this.demote();
  }

  drop(key: number): void {
    for (const list of [this.window, this.probation, this.protected]) {
      const at = list.indexOf(key);
      if (at !== -1) list.splice(at, 1);
    }
  }

  forget(): void {
    this.counts.fill(0);
    const bounds = startingBounds(this.maxSize);
    this.windowMax = bounds.window;
    this.protectedMax = bounds.protected;
    this.step = -0.0625 * this.maxSize;
    this.sampled = this.sampleHits = this.previousRate = 0;
    while (this.window.length > this.windowMax) {
      this.probation.push(this.window.shift()!);
    }
    this.demote();
  }
}

// The policy as the cache drives it, keyed by number.
class Driven {
  readonly policy: TinyLfu;
  readonly slots = new Map<number, Slot>();
  readonly keys = new Map<Slot, number>();

  constructor(readonly maxSize: number, seed: number, admit: number) {
    this.policy = new TinyLfu(maxSize, {
      hash: (key) => hashValue(key, seed),
      admission: admit,
    });
  }

  add(key: number, counted: boolean): number[] {
    const slot = this.policy.add(key, counted);
    this.slots.set(key, slot);
    this.keys.set(slot, key);
    const evicted: number[] = [];
    while (this.policy.size > this.maxSize) {
      const victim = this.policy.victim();
      assert.notEqual(victim, slot, "a miss evicted its own entry");
      evicted.push(this.keys.get(victim)!);
      this.remove(this.keys.get(victim)!);
    }
    return evicted;
  }

  remove(key: number): void {
    const slot = this.slots.get(key)!;
    this.policy.remove(slot);
    this.slots.delete(key);
    this.keys.delete(slot);
  }

  regions(): number[][] {
    const regions: number[][] = [[], [], []];
    for (const slot of this.policy.slots()) {
      regions[this.policy.regionOf(slot)].push(this.keys.get(slot)!);
    }
    return regions;
  }
}

type Op =
  | { op: "call"; key: number }
  | { op: "refresh"; key: number }
  | { op: "invalidate"; key: number }
  | { op: "clear" };

const opArb = (keys: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 400,
      arbitrary: fc.integer({ min: 0, max: keys }).map((key) => ({
        op: "call" as const,
        key,
      })),
    },
    {
      weight: 5,
      arbitrary: fc.integer({ min: 0, max: keys }).map((key) => ({
        op: "refresh" as const,
        key,
      })),
    },
    {
      weight: 10,
      arbitrary: fc.integer({ min: 0, max: keys }).map((key) => ({
        op: "invalidate" as const,
        key,
      })),
    },
    { weight: 1, arbitrary: fc.constant({ op: "clear" as const }) },
  );

Deno.test("W-TinyLFU keeps the same entries, in the same order, as a plain reference", () => {
  // Runs in which the window left its starting size: the climber must have
  // been exercised.
  let adapted = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 2, max: 80 }).chain((keys) =>
        fc.array(opArb(keys), { minLength: 1, maxLength: 3_000, size: "max" })
      ),
      // Looking at the regions applies the hits the policy holds back, so
      // some runs look only now and then, and runs of hits pile up between.
      fc.integer({ min: 1, max: 64 }),
      (maxSize, seed, admit, ops, lookEvery) => {
        const driven = new Driven(maxSize, seed, admit);
        const reference = new Reference(maxSize, seed, admit);
        const start = startingBounds(maxSize);
        let moved = false;
        for (const [step, op] of ops.entries()) {
          if (op.op === "call" || op.op === "refresh") {
            if (driven.slots.has(op.key)) {
              if (op.op === "call") {
                driven.policy.touch(driven.slots.get(op.key)!);
                reference.touch(op.key);
              }
            } else {
              const counted = op.op === "call";
              assert.deepEqual(
                driven.add(op.key, counted),
                reference.add(op.key, counted),
                `evictions at step ${step}`,
              );
            }
          } else if (op.op === "invalidate") {
            if (driven.slots.has(op.key)) {
              driven.remove(op.key);
              reference.drop(op.key);
            }
          } else {
            driven.policy.clear();
            driven.slots.clear();
            driven.keys.clear();
            driven.policy.forget();
            reference.window = [];
            reference.probation = [];
            reference.protected = [];
            reference.forget();
          }
          assert.ok(driven.policy.size <= maxSize);
          if (step % lookEvery !== 0 && step !== ops.length - 1) continue;
          assert.deepEqual(
            driven.regions(),
            [reference.window, reference.probation, reference.protected],
            `regions at step ${step}`,
          );
          assert.deepEqual(driven.policy.bounds, {
            window: reference.windowMax,
            protected: reference.protectedMax,
          });
          if (driven.policy.bounds.window !== start.window) moved = true;
        }
        if (moved) adapted++;
      },
    ),
    { numRuns: 100 },
  );
  assert.ok(adapted > 0, "no run adapted the window");
});

Deno.test("the protected share and the window's start follow the bound", () => {
  assert.deepEqual(startingBounds(1), { window: 1, protected: 0 });
  assert.deepEqual(startingBounds(1_000), {
    window: 10,
    protected: Math.floor(990 * PROTECTED_SHARE),
  });
});
