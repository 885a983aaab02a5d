/**
 * Runs the peer-group bench three times, takes the median of each case's
 * average and of each headline ratio, prints them as Markdown tables (it
 * reports the ratios; it does not judge them), and draws
 * bench/peers.svg. Run with `deno task bench:report`.
 */

const RUNS = 3;
const BATCH = 100; // calls per iteration in bench/peers_bench.ts
const benchFile = new URL("./peers_bench.ts", import.meta.url);
const chartFile = new URL("./peers.svg", import.meta.url);

interface BenchResult {
  group: string;
  name: string;
  results: { ok?: { avg: number } }[];
}

interface Report {
  runtime: string;
  cpu: string;
  benches: BenchResult[];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

async function bench(args: string[]): Promise<Report> {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bench",
      "--config",
      new URL("./deno.json", import.meta.url).pathname,
      "--allow-all",
      "--json",
      ...args,
      benchFile.pathname,
    ],
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).output();
  if (!success) throw new Error(`deno bench ${args.join(" ")} failed`);
  return JSON.parse(new TextDecoder().decode(stdout));
}

// Each case runs in a process of its own: in one process, cases share call
// sites (and their type feedback) and each other's garbage, which skews every
// case but the first.
async function runOnce(names: string[]): Promise<Report> {
  const reports: Report[] = [];
  for (const name of names) {
    reports.push(await bench(["--filter", `/^${escapeRegExp(name)}$/`]));
  }
  return {
    ...reports[0],
    benches: reports.flatMap((report) => report.benches),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Median over the runs of each case's average ns per iteration, by group then name. */
export function medians(reports: Report[]): Map<string, Map<string, number>> {
  const samples = new Map<string, Map<string, number[]>>();
  for (const report of reports) {
    for (const bench of report.benches) {
      const avg = bench.results[0]?.ok?.avg;
      if (avg === undefined) continue;
      const group = samples.get(bench.group) ?? new Map<string, number[]>();
      samples.set(bench.group, group);
      const label = bench.name.slice(bench.name.indexOf(": ") + 2);
      group.set(label, [...(group.get(label) ?? []), avg]);
    }
  }
  const result = new Map<string, Map<string, number>>();
  for (const [group, cases] of samples) {
    result.set(
      group,
      new Map([...cases].map(([name, values]) => [name, median(values)])),
    );
  }
  return result;
}

// Case names hold characters such as `&` and `<` that SVG text must escape.
function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(
    />/g,
    "&gt;",
  );
}

function chart(table: Map<string, Map<string, number>>): string {
  const width = 760;
  const labelWidth = 260;
  const barHeight = 16;
  const rows: string[] = [];
  let y = 30;
  for (const [group, cases] of table) {
    if (group === "signal churn") continue; // one peer is 100x off the scale
    rows.push(
      `<text x="10" y="${y}" font-weight="bold">${
        escapeXml(group)
      } (ns per call)</text>`,
    );
    y += 8;
    const largest = Math.max(...cases.values());
    for (const [name, value] of cases) {
      const length = Math.max(1, (width - labelWidth - 90) * value / largest);
      const ours = name.startsWith("alruCache");
      rows.push(
        `<text x="10" y="${y + 12}">${escapeXml(name)}</text>`,
        `<rect x="${labelWidth}" y="${y}" width="${
          length.toFixed(1)
        }" height="${barHeight - 3}" fill="${ours ? "#c0392b" : "#7f8c8d"}"/>`,
        `<text x="${labelWidth + length + 6}" y="${y + 12}">${
          (value / BATCH).toFixed(1)
        }</text>`,
      );
      y += barHeight;
    }
    y += 22;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n${
    rows.join("\n")
  }\n</svg>\n`;
}

if (import.meta.main) {
  // Outside `deno bench`, Deno.bench registers nothing, so importing the
  // bench file only lists its cases.
  const names = (await import("./peers_bench.ts")).CASES;
  const reports: Report[] = [];
  for (let run = 0; run < RUNS; run++) {
    console.error(`run ${run + 1} of ${RUNS}`);
    reports.push(await runOnce(names));
  }
  const table = medians(reports);
  console.log(
    `${reports[0].runtime}, ${reports[0].cpu}, ${
      new Date().toISOString().slice(0, 10)
    }, median of ${RUNS} runs, ns per call\n`,
  );
  const peers = [...new Set([...table.values()].flatMap((c) => [...c.keys()]))];
  console.log(`| case | ${peers.join(" | ")} |`);
  console.log(`| --- |${" ---: |".repeat(peers.length)}`);
  for (const [group, cases] of table) {
    const cells = peers.map((peer) => {
      const value = cases.get(peer);
      return value === undefined ? "" : (value / BATCH).toFixed(1);
    });
    console.log(`| ${group} | ${cells.join(" | ")} |`);
  }
  // Each ratio is taken within a run, from two cases measured a few seconds
  // apart, and then the median over runs: the machine's speed drifts more
  // between runs than between neighbouring cases.
  const perRun = reports.map((report) => medians([report]));
  const ratio = (
    group: string,
    name: string,
    baseGroup: string,
    baseName: string,
  ) =>
    perRun.map((run) =>
      run.get(group)!.get(name)! / run.get(baseGroup)!.get(baseName)!
    );
  const ratios: [string, number[]][] = [
    [
      "hit / bare Map",
      ratio("hit", "alruCache", "hit", "bare Map of promises (limit)"),
    ],
    [
      "lru-cache `fetch()` hit / hit",
      ratio("hit", "lru-cache fetch()", "hit", "alruCache"),
    ],
    [
      "hit with ttl / hit",
      ratio("hit with ttl", "alruCache", "hit", "alruCache"),
    ],
    [
      "churn / minimal LRU of promises",
      ratio("churn", "alruCache", "churn", "minimal LRU of promises"),
    ],
    [
      "minimal LRU of abandonable promises / minimal LRU of promises, on churn",
      ratio(
        "churn",
        "minimal LRU of abandonable promises",
        "churn",
        "minimal LRU of promises",
      ),
    ],
    [
      "churn / minimal LRU of abandonable promises",
      ratio(
        "churn",
        "alruCache",
        "churn",
        "minimal LRU of abandonable promises",
      ),
    ],
    [
      "lru-cache `fetch()` churn / churn",
      ratio("churn", "lru-cache fetch()", "churn", "alruCache"),
    ],
    [
      "burst of 100 / bare Map",
      ratio("burst", "alruCache", "burst", "bare Map of promises (limit)"),
    ],
  ];
  console.log(
    "\n| ratio | median | each run |\n| --- | ---: | --- |",
  );
  for (const [what, runs] of ratios) {
    console.log(
      `| ${what} | ${median(runs).toFixed(2)} | ${
        runs.map((value) => value.toFixed(2)).join(", ")
      } |`,
    );
  }
  await Deno.writeTextFile(chartFile, chart(table));
  console.error(`wrote ${chartFile.pathname}`);
}
