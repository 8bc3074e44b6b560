// AgentGroups, the value of `agent_groups.<pc_id>` (wire.md §5.2).
import { z } from "zod";
import type { Decoded } from "./decoded.js";
import { compareBytes, decodeWith, str } from "./schema.js";
import type { AgentGroups } from "./types.js";

const wireAgentGroups = z.object({ groups: z.array(str) });

/** Sorted by byte order and de-duplicated, whatever the producer did. */
export function normalizeGroups(groups: readonly string[]): string[] {
  return [...new Set(groups)].sort(compareBytes);
}

/** `{}` does not decode (the caller treats that as no membership, behavior 10.1). */
export function decodeAgentGroups(value: unknown): Decoded<AgentGroups> {
  const decoded = decodeWith(wireAgentGroups, value);
  return decoded.ok
    ? { ok: true, value: { groups: normalizeGroups(decoded.value.groups) } }
    : decoded;
}

export function encodeAgentGroups(g: AgentGroups): Record<string, unknown> {
  return { groups: normalizeGroups(g.groups) };
}
