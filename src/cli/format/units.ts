// Human-readable sizes and ages for tables.
import { formatDuration } from "../../services/wire/index.js";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "-";
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

/** Milliseconds as `0s`, `45s`, `1h 2m 3s` (the agent's own `<dur>` style). */
export function formatAge(ms: number): string {
  return formatDuration(Math.max(0, ms));
}

export function formatPct(p: number | undefined): string {
  return p === undefined ? "-" : `${p.toFixed(1)}`;
}
