import { describe, expect, it } from "vitest";
import { jsonStringCost, jsonTextCost } from "../../../src/services/outbox/jsonCost.js";

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const expected = (b: Buffer) => jsonStringCost(b.toString("utf8"));

describe("jsonTextCost", () => {
  it("matches decoding and serializing for valid text, escapes included", () => {
    const text = 'plain "quoted" back\\slash\ttab\nnl\u0001ctl\u007f del ™ é 日本 😀 \u2028';
    const b = Buffer.from(text, "utf8");
    expect(jsonTextCost(b)).toBe(expected(b));
    expect(jsonTextCost(b)).toBe(Buffer.byteLength(JSON.stringify(text)) - 2);
  });

  it("matches the replacement decoding of any byte sequence (random bytes)", () => {
    const rand = prng(42);
    for (let round = 0; round < 3_000; round++) {
      const n = 1 + Math.floor(rand() * 24);
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) {
        // Bias towards the bytes that make UTF-8 interesting.
        const r = rand();
        b[i] =
          r < 0.4
            ? 0x80 + Math.floor(rand() * 0x40)
            : r < 0.7
              ? 0xc0 + Math.floor(rand() * 0x40)
              : Math.floor(rand() * 256);
      }
      expect(jsonTextCost(b), b.toString("hex")).toBe(expected(b));
    }
  });

  it("measures a sub-range as its own decoding", () => {
    const b = Buffer.from("ab™cd😀ef", "utf8");
    for (let s = 0; s <= b.length; s++) {
      for (let e = s; e <= b.length; e++) {
        expect(jsonTextCost(b, s, e), `${s}-${e}`).toBe(expected(b.subarray(s, e)));
      }
    }
  });
});
