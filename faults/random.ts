import type { Random } from "../src/services/time/clock.js";

/**
 * mulberry32: small, fast and good enough to spread fault timings. Every random choice of a
 * scenario run comes from one of these, so `--seed` replays the same timings.
 */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A stable 32-bit seed for one scenario run: the same seed, name and repeat give the same run. */
export function runSeed(seed: number, scenario: string, repeat: number): number {
  // FNV-1a over the name, mixed with the seed and the repeat index.
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (const ch of `${scenario}#${repeat}`) {
    h ^= ch.codePointAt(0) ?? 0;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Uniform integer in [lo, hi]. */
export function intBetween(random: Random, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1));
}

/** `k` distinct indices out of [0, n), in ascending order. */
export function sampleIndices(random: Random, n: number, k: number): number[] {
  const pool = Array.from({ length: n }, (_, i) => i);
  const take = Math.min(k, n);
  for (let i = 0; i < take; i++) {
    const j = i + Math.floor(random() * (n - i));
    const tmp = pool[i]!;
    pool[i] = pool[j]!;
    pool[j] = tmp;
  }
  return pool.slice(0, take).sort((x, y) => x - y);
}
