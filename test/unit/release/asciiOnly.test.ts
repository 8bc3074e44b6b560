import { describe, expect, it } from "vitest";
import { asciiOnly } from "../../../src/release/build.js";

// The bundles are made pure ASCII so that V8 holds their source as a one-byte string (half the
// heap of a two-byte one); the code must mean exactly what it meant.
describe("asciiOnly (release and base bundles)", () => {
  it("escapes what esbuild leaves in comments, so that the text is pure ASCII", () => {
    const out = asciiOnly("// nothing is a multiple of zero — the number branch\nconst a = 1;\n");
    expect(out).toBe("// nothing is a multiple of zero \\u2014 the number branch\nconst a = 1;\n");
    expect(/[\u0080-\uffff]/.test(asciiOnly("/* l’actor → “x” 😀 */"))).toBe(false);
  });

  it("leaves the meaning of strings, templates and regular expressions unchanged", () => {
    // (A regex's `source` and a function's text show the escapes, as esbuild's own do.)
    const code =
      "return ['— é 😀', `à $" + "{1} ×`, /é+/u.test('éé'), /[à-á]/.test('á'), /[à-á]/.test('b')];";
    const run = (src: string) => new Function(src)() as unknown[];
    expect(run(asciiOnly(code))).toEqual(run(code));
  });

  it("keeps a line separator inside a // comment as the end of that comment", () => {
    const code = "let x = 0; // note\u2028x = 1;\nreturn x;";
    expect(new Function(code)()).toBe(1);
    expect(new Function(asciiOnly(code))()).toBe(1);
  });
});
