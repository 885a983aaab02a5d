/**
 * What every paired-rounds bench shares: the shuffled order of a round's
 * variants, the median and quartiles of what the rounds measured, and their
 * Markdown table.
 *
 * @module
 */

/** `items` in a new random order (Fisher–Yates). */
export function shuffle<T>(items: T[]): T[] {
  const shuffled = items.slice();
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  return shuffled;
}

/** The median of `values` (NaN when empty). */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = values.toSorted((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The first and third quartiles of `values`. */
export function quartiles(values: number[]): [number, number] {
  const sorted = values.toSorted((a, b) => a - b);
  const at = (q: number) => sorted[Math.round(q * (sorted.length - 1))];
  return [at(0.25), at(0.75)];
}

/** A Markdown table of each row's median and quartiles. */
export function printTable(
  heading: string,
  rows: Map<string, number[]>,
  digits: number,
): void {
  console.log(`| ${heading} | quartiles |`);
  console.log("| --- | ---: | --- |");
  for (const [name, values] of rows) {
    const [low, high] = quartiles(values);
    console.log(
      `| ${name} | ${median(values).toFixed(digits)} | ${low.toFixed(digits)}–${
        high.toFixed(digits)
      } |`,
    );
  }
}
