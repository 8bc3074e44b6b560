// HostPerf (wire.md §4.8): pc_id and at required, everything else omitted when empty.
import { z } from "zod";
import type { Decoded } from "./decoded.js";
import {
  decodeWith,
  f64,
  i64,
  omittedWhenEmpty,
  putIfPresent,
  str,
  timestamp,
  u32,
} from "./schema.js";
import { formatTimestamp } from "./timestamp.js";
import type { HostPerf } from "./types.js";

// wire name ↔ domain name of every optional member, in wire order.
const OPTIONAL = [
  ["cpu_pct", "cpuPct"],
  ["cpu_count", "cpuCount"],
  ["mem_used_bytes", "memUsedBytes"],
  ["mem_total_bytes", "memTotalBytes"],
  ["swap_used_bytes", "swapUsedBytes"],
  ["swap_total_bytes", "swapTotalBytes"],
  ["disk_read_bytes_per_sec", "diskReadBytesPerSec"],
  ["disk_written_bytes_per_sec", "diskWrittenBytesPerSec"],
  ["net_rx_bytes_per_sec", "netRxBytesPerSec"],
  ["net_tx_bytes_per_sec", "netTxBytesPerSec"],
] as const satisfies readonly (readonly [string, keyof HostPerf])[];

const wireHostPerf = z.object({
  pc_id: str,
  at: timestamp,
  cpu_pct: omittedWhenEmpty(f64),
  cpu_count: omittedWhenEmpty(u32),
  mem_used_bytes: omittedWhenEmpty(i64),
  mem_total_bytes: omittedWhenEmpty(i64),
  swap_used_bytes: omittedWhenEmpty(i64),
  swap_total_bytes: omittedWhenEmpty(i64),
  disk_read_bytes_per_sec: omittedWhenEmpty(f64),
  disk_written_bytes_per_sec: omittedWhenEmpty(f64),
  net_rx_bytes_per_sec: omittedWhenEmpty(f64),
  net_tx_bytes_per_sec: omittedWhenEmpty(f64),
});

export function decodeHostPerf(value: unknown): Decoded<HostPerf> {
  const decoded = decodeWith(wireHostPerf, value);
  if (!decoded.ok) return decoded;
  const w = decoded.value;
  const perf: HostPerf = { pcId: w.pc_id, at: w.at };
  for (const [wire, domain] of OPTIONAL) {
    const v = w[wire];
    if (v !== undefined) perf[domain] = v;
  }
  return { ok: true, value: perf };
}

export function encodeHostPerf(p: HostPerf): Record<string, unknown> {
  const out: Record<string, unknown> = { pc_id: p.pcId, at: formatTimestamp(p.at) };
  for (const [wire, domain] of OPTIONAL) putIfPresent(out, wire, p[domain]);
  return out;
}
