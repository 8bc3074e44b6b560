// Heartbeat and ping reply (wire.md §4.7).
import { z } from "zod";
import type { Decoded } from "./decoded.js";
import { decodeWith, f64, i64, omittedWhenEmpty, putIfPresent, str, timestamp } from "./schema.js";
import { formatTimestamp } from "./timestamp.js";
import type { Heartbeat } from "./types.js";

const wireHeartbeat = z.object({
  pc_id: str,
  at: timestamp,
  agent_version: str,
  hostname: omittedWhenEmpty(str),
  os_family: omittedWhenEmpty(str),
  agent_cpu_pct: omittedWhenEmpty(f64),
  agent_rss_bytes: omittedWhenEmpty(i64),
  agent_disk_read_bytes: omittedWhenEmpty(i64),
  agent_disk_written_bytes: omittedWhenEmpty(i64),
  quarantined_versions: omittedWhenEmpty(z.array(str)),
});

export function decodeHeartbeat(value: unknown): Decoded<Heartbeat> {
  const decoded = decodeWith(wireHeartbeat, value);
  if (!decoded.ok) return decoded;
  const w = decoded.value;
  const hb: Heartbeat = { pcId: w.pc_id, at: w.at, agentVersion: w.agent_version };
  if (w.hostname !== undefined) hb.hostname = w.hostname;
  if (w.os_family !== undefined) hb.osFamily = w.os_family;
  if (w.agent_cpu_pct !== undefined) hb.agentCpuPct = w.agent_cpu_pct;
  if (w.agent_rss_bytes !== undefined) hb.agentRssBytes = w.agent_rss_bytes;
  if (w.agent_disk_read_bytes !== undefined) hb.agentDiskReadBytes = w.agent_disk_read_bytes;
  if (w.agent_disk_written_bytes !== undefined) {
    hb.agentDiskWrittenBytes = w.agent_disk_written_bytes;
  }
  if (w.quarantined_versions !== undefined && w.quarantined_versions.length > 0) {
    hb.quarantinedVersions = w.quarantined_versions;
  }
  return { ok: true, value: hb };
}

export function encodeHeartbeat(hb: Heartbeat): Record<string, unknown> {
  const out: Record<string, unknown> = {
    pc_id: hb.pcId,
    at: formatTimestamp(hb.at),
    agent_version: hb.agentVersion,
  };
  putIfPresent(out, "hostname", hb.hostname);
  putIfPresent(out, "os_family", hb.osFamily);
  putIfPresent(out, "agent_cpu_pct", hb.agentCpuPct);
  putIfPresent(out, "agent_rss_bytes", hb.agentRssBytes);
  putIfPresent(out, "agent_disk_read_bytes", hb.agentDiskReadBytes);
  putIfPresent(out, "agent_disk_written_bytes", hb.agentDiskWrittenBytes);
  if (hb.quarantinedVersions && hb.quarantinedVersions.length > 0) {
    out.quarantined_versions = [...hb.quarantinedVersions];
  }
  return out;
}
