// The reply of `agents.<pc_id>.state` [ext]: a snapshot of a running agent for operators and
// engineers (`kanade agent state <pc_id>`). Not a kanade shape; field names follow the wire style.
import { encodeEffectiveConfig } from "./configScope.js";
import { formatTimestamp } from "./timestamp.js";
import type { EffectiveConfig } from "./types.js";

export interface AgentStateSnapshot {
  pcId: string;
  agentVersion: string;
  at: number;
  /** Each actor's current state value, dotted (`open.connected.healthy`), by actor id. */
  actors: Record<string, string>;
  connected: boolean;
  commands: { live: number; running: number; waitingForSlot: number };
  outbox: { results: number; events: number };
  ledger: { records: number; unfinished: number };
  groups: readonly string[];
  effectiveConfig: EffectiveConfig;
}

export function encodeAgentState(s: AgentStateSnapshot): Record<string, unknown> {
  return {
    pc_id: s.pcId,
    agent_version: s.agentVersion,
    at: formatTimestamp(s.at),
    connected: s.connected,
    actors: s.actors,
    commands: {
      live: s.commands.live,
      running: s.commands.running,
      waiting_for_slot: s.commands.waitingForSlot,
    },
    outbox: s.outbox,
    ledger: s.ledger,
    groups: s.groups,
    effective_config: encodeEffectiveConfig(s.effectiveConfig),
  };
}

/** `{ open: { connected: "healthy" } }` → `open.connected.healthy`; parallel regions joined by `,`. */
export function stateValueText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object") {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${k}.${stateValueText(v)}`)
      .join(",");
  }
  return String(value);
}
