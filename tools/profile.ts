/**
 * Profiles alruCache's hot paths: runs a tight loop of awaited calls under
 * `--cpu-prof` in a child process, then prints the functions with the most
 * self time. Run with `deno task profile hit` or `deno task profile churn`.
 *
 * - hit: 1,000 warm keys cycled through capacity 1,000.
 * - churn: 2,000 keys cycled through capacity 1,000, so every call misses and
 *   evicts.
 *
 * The loop also prints nanoseconds per call; it has no harness around it, so
 * it moves less between runs than `deno bench` does.
 */
import { alruCache } from "../mod.ts";

// About two seconds of calls each.
const CALLS = { hit: 40_000_000, churn: 10_000_000 };
const CAPACITY = 1_000;
const SHOWN = 15;

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
}

async function loop(scenario: "hit" | "churn"): Promise<void> {
  const calls = CALLS[scenario];
  const keys = scenario === "hit" ? CAPACITY : 2 * CAPACITY;
  const cached = alruCache((key: number) => Promise.resolve(key), {
    maxSize: CAPACITY,
    policy: Deno.env.get("ALRU_POLICY") === "tinylfu" ? "tinylfu" : "lru",
  });
  for (let key = 0; key < CAPACITY; key++) await cached(key);
  let key = 0;
  const start = performance.now();
  for (let i = 0; i < calls; i++) {
    key = key === keys - 1 ? 0 : key + 1;
    await cached(key);
  }
  const nanoseconds = (performance.now() - start) * 1e6 / calls;
  console.log(`${scenario}: ${nanoseconds.toFixed(1)} ns per awaited call`);
}

/** Self-time share of each function in `profile`, largest first. */
export function selfTimes(profile: CpuProfile): [string, number][] {
  const frames = new Map(profile.nodes.map((node) => [node.id, node]));
  const counts = new Map<string, number>();
  for (const id of profile.samples) {
    const { functionName, url, lineNumber } = frames.get(id)!.callFrame;
    const file = url.slice(url.lastIndexOf("/") + 1);
    const label = file === ""
      ? functionName
      : `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return [...counts]
    .map(([label, count]): [string, number] => [
      label,
      count / profile.samples.length,
    ])
    .sort((a, b) => b[1] - a[1]);
}

async function profile(scenario: string): Promise<void> {
  const directory = await Deno.makeTempDir({ prefix: "alru_profile_" });
  try {
    const { success } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--cpu-prof",
        "--cpu-prof-interval=100",
        `--cpu-prof-dir=${directory}`,
        new URL(import.meta.url).pathname,
        "--loop",
        scenario,
      ],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!success) throw new Error(`the ${scenario} loop failed`);
    for await (const entry of Deno.readDir(directory)) {
      if (!entry.name.endsWith(".cpuprofile")) continue;
      const data: CpuProfile = JSON.parse(
        await Deno.readTextFile(`${directory}/${entry.name}`),
      );
      for (const [label, share] of selfTimes(data).slice(0, SHOWN)) {
        console.log(`${(share * 100).toFixed(1).padStart(5)}%  ${label}`);
      }
    }
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
}

if (import.meta.main) {
  const [first, second] = Deno.args;
  const scenario = first === "--loop" ? second : first;
  if (scenario !== "hit" && scenario !== "churn") {
    console.error("usage: deno task profile hit|churn");
    Deno.exit(2);
  }
  if (first === "--loop") await loop(scenario);
  else await profile(scenario);
}
