// The numbers behind an EffectiveConfig: wire.md §5.1 states, per member, what an invalid
// value falls back to and where it is clamped. Kept next to the codec so that every consumer
// (heartbeat, perf, inventory, self-update, concurrency limit) applies the same rules.
import { parseDuration } from "./duration.js";
import { parseTimestamp } from "./timestamp.js";
import type { EffectiveConfig, EpochMs } from "./types.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

export interface EffectiveSettings {
  targetVersion: string | null;
  targetVersionJitterMs: number;
  heartbeatIntervalMs: number;
  hostPerfIntervalMs: number;
  processPerfTopN: number;
  inventoryEnabled: boolean;
  inventoryIntervalMs: number;
  inventoryJitterMs: number;
  inventoryCheckIntervalMs: number;
  maxLocalConcurrent: number;
}

function durationOr(text: string, fallbackMs: number, minMs = 0): number {
  const ms = parseDuration(text);
  return Math.max(ms ?? fallbackMs, minMs);
}

/** Applies the fallbacks and bounds of wire §5.1; `cpus` is the default concurrency. */
export function interpretEffectiveConfig(c: EffectiveConfig, cpus: number): EffectiveSettings {
  return {
    targetVersion: c.targetVersion,
    targetVersionJitterMs: durationOr(c.targetVersionJitter, 0),
    heartbeatIntervalMs: durationOr(c.heartbeatInterval, 30 * SECOND, SECOND),
    hostPerfIntervalMs: durationOr(c.hostPerfInterval, 60 * SECOND, SECOND),
    processPerfTopN: Math.min(500, Math.max(1, c.processPerfTopN)),
    inventoryEnabled: c.inventoryEnabled,
    inventoryIntervalMs: durationOr(c.inventoryInterval, 24 * HOUR, MINUTE),
    inventoryJitterMs: durationOr(c.inventoryJitter, 60 * SECOND),
    inventoryCheckIntervalMs: durationOr(c.inventoryCheckInterval, HOUR, MINUTE),
    maxLocalConcurrent: c.maxLocalConcurrent > 0 ? c.maxLocalConcurrent : Math.max(1, cpus),
  };
}

/**
 * behavior.md 12.5: process perf runs while enabled and the expiry is unset or in the future;
 * an unparseable expiry turns it off (wire §5.1).
 */
export function isProcessPerfActive(c: EffectiveConfig, nowMs: EpochMs): boolean {
  if (!c.processPerfEnabled) return false;
  if (c.processPerfExpiresAt === null) return true;
  const expiresAt = parseTimestamp(c.processPerfExpiresAt);
  return expiresAt !== null && nowMs < expiresAt;
}
