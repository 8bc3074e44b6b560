// ProcessPerf (wire.md §4.9).
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
import type { ProcessPerf, ProcessSnapshot } from "./types.js";

const wireSnapshot = z.object({
  pid: u32,
  name: str,
  cpu_pct: f64,
  rss_bytes: i64,
  disk_read_bytes_per_sec: omittedWhenEmpty(f64),
  disk_written_bytes_per_sec: omittedWhenEmpty(f64),
});

const wireProcessPerf = z.object({
  pc_id: str,
  at: timestamp,
  processes: z.array(wireSnapshot),
});

function toSnapshot(w: z.output<typeof wireSnapshot>): ProcessSnapshot {
  const s: ProcessSnapshot = { pid: w.pid, name: w.name, cpuPct: w.cpu_pct, rssBytes: w.rss_bytes };
  if (w.disk_read_bytes_per_sec !== undefined) s.diskReadBytesPerSec = w.disk_read_bytes_per_sec;
  if (w.disk_written_bytes_per_sec !== undefined) {
    s.diskWrittenBytesPerSec = w.disk_written_bytes_per_sec;
  }
  return s;
}

/** Keeps the sender's order (sorting and the top-n cut are the producer's job, §4.9). */
export function decodeProcessPerf(value: unknown): Decoded<ProcessPerf> {
  const decoded = decodeWith(wireProcessPerf, value);
  if (!decoded.ok) return decoded;
  const w = decoded.value;
  return { ok: true, value: { pcId: w.pc_id, at: w.at, processes: w.processes.map(toSnapshot) } };
}

export function encodeProcessPerf(p: ProcessPerf): Record<string, unknown> {
  return {
    pc_id: p.pcId,
    at: formatTimestamp(p.at),
    processes: p.processes.map((s) => {
      const out: Record<string, unknown> = {
        pid: s.pid,
        name: s.name,
        cpu_pct: s.cpuPct,
        rss_bytes: s.rssBytes,
      };
      putIfPresent(out, "disk_read_bytes_per_sec", s.diskReadBytesPerSec);
      putIfPresent(out, "disk_written_bytes_per_sec", s.diskWrittenBytesPerSec);
      return out;
    }),
  };
}
