// Reading this PC's membership from `agent_groups` (behavior.md 10.1).
import { validateGroup } from "../nats/subjects.js";
import { decodeAgentGroups } from "../wire/agentGroups.js";
import { parseJson } from "../wire/json.js";
import type { OpenBucket } from "./bucket.js";
import type { RawKvEntry } from "./configMirror.js";

/** What one read or watch entry of `agent_groups.<pc_id>` says about the membership. */
export type MembershipRead =
  /** Sorted, without duplicates; `dropped` are names that break wire §1.4.3. */
  | { kind: "groups"; groups: string[]; dropped: { name: string; problem: string }[] }
  /** No entry, or a tombstone: no groups. */
  | { kind: "none" }
  /** The value did not decode: no groups, and a warning. */
  | { kind: "malformed"; problem: string };

export interface MembershipEntry {
  revision: number;
  read: MembershipRead;
}

export function interpretGroupsEntry(raw: RawKvEntry | null): MembershipRead {
  if (raw === null || raw.operation !== "PUT") return { kind: "none" };
  const json = parseJson(raw.value);
  if (!json.ok) return { kind: "malformed", problem: json.error.message };
  const decoded = decodeAgentGroups(json.value);
  if (!decoded.ok) return { kind: "malformed", problem: decoded.error.message };
  const groups: string[] = [];
  const dropped: { name: string; problem: string }[] = [];
  // decodeAgentGroups already sorted and de-duplicated the names.
  for (const name of decoded.value.groups) {
    const problem = validateGroup(name);
    if (problem === null) groups.push(name);
    else dropped.push({ name, problem });
  }
  return { kind: "groups", groups, dropped };
}

/** The groups a read leaves the PC in. */
export const membershipOf = (read: MembershipRead): string[] =>
  read.kind === "groups" ? read.groups : [];

/** One read of key `<pc_id>`; rejects on a read error (the caller pauses and reads again). */
export async function readMembership(
  bucket: OpenBucket,
  pcId: string,
): Promise<MembershipEntry & { fromRevision: number }> {
  const raw = await bucket.kv.get(pcId).catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`kv ${bucket.name}: reading ${pcId} failed: ${message}`, { cause: err });
  });
  return {
    revision: raw?.revision ?? 0,
    read: interpretGroupsEntry(raw),
    fromRevision: bucket.lastRevision + 1,
  };
}
