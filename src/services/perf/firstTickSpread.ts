/** Upper bound of the first-tick spread: the first beat after a start still comes quickly. */
export const FIRST_TICK_SPREAD_CAP_MS = 5_000;

/**
 * Delay of a ticker's first tick after the process starts, in [0, min(interval, 5 s)): a fleet
 * that restarts together (an update, a power cut) must not beat in lockstep. Derived from the
 * pc_id with a stable hash, so one agent always gets the same offset, and salted by the ticker
 * so that one agent's tickers do not all land on the same instant.
 */
export function firstTickSpreadMs(pcId: string, salt: string, intervalMs: number): number {
  const span = Math.min(Math.max(0, intervalMs), FIRST_TICK_SPREAD_CAP_MS);
  if (span === 0) return 0;
  return Math.floor((stableHash32(`${salt}\u0000${pcId}`) / 2 ** 32) * span);
}

/**
 * 32-bit FNV-1a over the UTF-16 code units, then murmur3's final mix: without the mix, ids that
 * differ only in their last character (`pc-001`, `pc-002`) would land a few ms apart.
 */
export function stableHash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
