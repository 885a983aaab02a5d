/**
 * The check of option names: an option that is not known is an error that
 * names it, and suggests the option meant when one is close (a slip of the
 * keyboard, or another library's spelling).
 *
 * @module
 */

// Libraries spell one option in different case, with `_` or `-` (Python's
// max_size, say); the spelling is not what the user meant to change.
function normalized(name: string): string {
  return name.toLowerCase().replace(/[_-]/g, "");
}

// Optimal string alignment distance: insertions, deletions, substitutions and
// swaps of adjacent letters each cost 1.
function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        current[j] = Math.min(current[j], before[j - 2] + 1);
      }
    }
    before = previous;
    previous = current;
  }
  return previous[b.length];
}

// Two slips are a typo in a long name; in a short one they make a different
// word ("kit" was hardly meant as "key"), so short names get one.
function closestOption(
  name: string,
  names: readonly string[],
): string | undefined {
  const given = normalized(name);
  let closest: string | undefined;
  let closestDistance = Infinity;
  for (const option of names) {
    const known = normalized(option);
    const allowed = Math.min(given.length, known.length) >= 4 ? 2 : 1;
    const distance = editDistance(given, known);
    if (distance <= allowed && distance < closestDistance) {
      closest = option;
      closestDistance = distance;
    }
  }
  return closest;
}

function unknownOption(
  name: string | symbol,
  names: readonly string[],
): TypeError {
  const named = typeof name === "string" ? JSON.stringify(name) : String(name);
  const start = `alruCache option ${named} is not known`;
  if (typeof name === "string" && normalized(name) === "typed") {
    return new TypeError(
      `${start}: Python's typed flag has no counterpart, as keys are always typed (values equal under SameValueZero have the same type, so 1, "1" and 1n are three keys); remove it`,
    );
  }
  const meant = typeof name === "string"
    ? closestOption(name, names)
    : undefined;
  if (meant !== undefined) {
    return new TypeError(`${start}; did you mean ${JSON.stringify(meant)}?`);
  }
  const list = `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
  return new TypeError(`${start}; the options are ${list}`);
}

/**
 * Throws a `TypeError` for the first of `options`' own enumerable keys that
 * is not one of `names`, suggesting the name meant when one is close. A
 * misspelt option would otherwise be ignored and leave its default in
 * force; inherited keys are not the caller's options (a class instance's
 * methods, say), and neither are hidden ones.
 */
export function rejectUnknownOptions(
  options: object,
  names: readonly string[],
): void {
  for (const name of Reflect.ownKeys(options)) {
    const known = typeof name === "string" && names.includes(name);
    if (!known && Object.prototype.propertyIsEnumerable.call(options, name)) {
      throw unknownOption(name, names);
    }
  }
}
