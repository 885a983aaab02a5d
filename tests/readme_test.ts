/**
 * The README's claims that a test can hold it to: the signatures it shows are
 * those mod.ts declares. (The demo's output block is checked by demo_test.ts,
 * and every `ts` block is run by `deno test --doc`.)
 */
import assert from "node:assert/strict";

const read = (path: string) =>
  Deno.readTextFile(new URL(`../${path}`, import.meta.url));

/** A signature with its layout, comments and trailing commas taken out. */
function normalise(signature: string): string {
  return signature
    .replace(/\/\/.*$/gm, "")
    .replace(/\s+/g, "")
    .replace(/[,;]([)}\]>])/g, "$1")
    .replace(/;$/, "");
}

/** The overloads of `alruCache` in mod.ts, without the implementation. */
function declaredOverloads(source: string): string[] {
  const overloads: string[] = [];
  const pattern = /^export function alruCache([^]*?^\)[^\n]*?)(;| \{)$/gm;
  for (const [, signature, end] of source.matchAll(pattern)) {
    if (end === ";") overloads.push(normalise(signature));
  }
  return overloads;
}

/** The call signatures of the README's `interface AlruCache`. */
function shownOverloads(readme: string): string[] {
  const body = /^interface AlruCache \{\n([^]*?)^\}$/m.exec(readme)?.[1];
  assert.ok(body, "README has no `interface AlruCache { ... }` block");
  // Split at the semicolons outside any brackets: the type literals inside a
  // signature have semicolons of their own.
  const signatures: string[] = [];
  let depth = 0;
  let start = 0;
  const text = normalise(body);
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if ("({[<".includes(char)) depth++;
    else if (")}]".includes(char) || (char === ">" && text[i - 1] !== "=")) {
      depth--;
    } else if (char === ";" && depth === 0) {
      signatures.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (start < text.length) signatures.push(text.slice(start));
  return signatures;
}

Deno.test("every alruCache signature the README shows is one mod.ts declares", async () => {
  const declared = declaredOverloads(await read("mod.ts"));
  const shown = shownOverloads(await read("README.md"));
  assert.ok(declared.length >= 5, `found ${declared.length} overloads`);
  assert.ok(shown.length >= 5, `README shows ${shown.length} overloads`);
  for (const signature of shown) {
    assert.ok(
      declared.includes(signature),
      `README shows\n  ${signature}\nwhich mod.ts does not declare; it has\n  ${
        declared.join("\n  ")
      }`,
    );
  }
});
