import { describe, expect, it } from "vitest";
import { intBetween, runSeed, sampleIndices, seededRandom } from "../../../faults/random.js";

describe("seeded randomness of scenario runs", () => {
  it("the same seed gives the same sequence, another seed another one", () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom(43);
    const seqA = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(seqA);
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(seqA);
    for (const x of seqA) expect(x >= 0 && x < 1).toBe(true);
  });

  it("each scenario and repeat gets its own stable seed", () => {
    expect(runSeed(1, "a", 0)).toBe(runSeed(1, "a", 0));
    expect(runSeed(1, "a", 0)).not.toBe(runSeed(1, "a", 1));
    expect(runSeed(1, "a", 0)).not.toBe(runSeed(1, "b", 0));
    expect(runSeed(1, "a", 0)).not.toBe(runSeed(2, "a", 0));
  });

  it("intBetween stays inside its bounds and reaches both", () => {
    const r = seededRandom(7);
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(intBetween(r, 3, 6));
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
  });

  it("sampleIndices picks k distinct sorted indices", () => {
    const picked = sampleIndices(seededRandom(9), 100, 10);
    expect(picked).toHaveLength(10);
    expect(new Set(picked).size).toBe(10);
    expect([...picked].sort((x, y) => x - y)).toEqual(picked);
    expect(picked.every((i) => i >= 0 && i < 100)).toBe(true);
    expect(sampleIndices(seededRandom(9), 3, 10)).toEqual([0, 1, 2]);
  });
});
