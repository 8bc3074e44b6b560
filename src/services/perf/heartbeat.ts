import type { Clock } from "../time/clock.js";
import type { Heartbeat } from "../wire/types.js";
import type { AgentSelfSampler } from "./agentSelf.js";
import type { HostIdentity } from "./hostIdentity.js";

export interface HeartbeatSourceDeps {
  pcId: string;
  agentVersion: string;
  clock: Clock;
  identity: HostIdentity;
  quarantinedVersions: () => readonly string[];
  self: AgentSelfSampler;
}

/** Builds Heartbeats (wire §4.7): with the agent's own perf figures for the periodic beat, without for a ping reply. */
export class HeartbeatSource {
  constructor(private readonly deps: HeartbeatSourceDeps) {}

  /** The periodic heartbeat; each call is a CPU sample (the rate runs from the previous call). */
  beat(): Heartbeat {
    const hb = this.ping();
    const perf = this.deps.self.sample();
    if (perf.cpuPct !== undefined) hb.agentCpuPct = perf.cpuPct;
    hb.agentRssBytes = perf.rssBytes;
    if (perf.diskReadBytes !== undefined) hb.agentDiskReadBytes = perf.diskReadBytes;
    if (perf.diskWrittenBytes !== undefined) hb.agentDiskWrittenBytes = perf.diskWrittenBytes;
    return hb;
  }

  /** A heartbeat without the four `agent_*` perf members; leaves the CPU baseline alone. */
  ping(): Heartbeat {
    return buildPlainHeartbeat(this.deps);
  }
}

export function buildPlainHeartbeat(
  deps: Pick<
    HeartbeatSourceDeps,
    "pcId" | "agentVersion" | "clock" | "identity" | "quarantinedVersions"
  >,
): Heartbeat {
  const hb: Heartbeat = { pcId: deps.pcId, at: deps.clock.now(), agentVersion: deps.agentVersion };
  if (deps.identity.hostname) hb.hostname = deps.identity.hostname;
  if (deps.identity.osFamily) hb.osFamily = deps.identity.osFamily;
  const quarantined = deps.quarantinedVersions();
  if (quarantined.length > 0) hb.quarantinedVersions = [...quarantined].sort();
  return hb;
}
