// The agent's copy of the `agent_config` scopes that concern it, and how one KV entry changes it
// (behavior.md 11.3, 11.4). Pure: the config supervisor's chart applies entries through these.
import { CONFIG_KEY_GLOBAL, configGroupKey } from "../nats/subjects.js";
import { decodeConfigScope } from "../wire/configScope.js";
import { parseJson } from "../wire/json.js";
import type { ConfigScope } from "../wire/types.js";

/** Which layer a key feeds; every other key of the bucket is ignored. */
export type ConfigTarget = { kind: "global" } | { kind: "group"; name: string } | { kind: "pc" };

export type ScopeChange =
  | { kind: "set"; scope: ConfigScope }
  | { kind: "removed" }
  | { kind: "malformed"; problem: string };

/** One `agent_config` entry that concerns this agent, decoded. */
export interface ConfigEntry {
  key: string;
  target: ConfigTarget;
  revision: number;
  change: ScopeChange;
}

/** What a raw KV entry carries (a subset of the library's KvEntry). */
export interface RawKvEntry {
  key: string;
  revision: number;
  operation: "PUT" | "DEL" | "PURGE";
  value: Uint8Array;
}

export interface ConfigMirror {
  global: ConfigScope | null;
  /** Every `groups.<g>` scope, members or not: a membership change needs no re-read. */
  groups: ReadonlyMap<string, ConfigScope>;
  pc: ConfigScope | null;
  /** Per key, the last revision applied (behavior.md 11.4). */
  revisions: ReadonlyMap<string, number>;
}

export const emptyConfigMirror = (): ConfigMirror => ({
  global: null,
  groups: new Map(),
  pc: null,
  revisions: new Map(),
});

// Derived from the builder so that the key layout lives in one place (subjects.ts).
const GROUP_PREFIX = configGroupKey("g").slice(0, -1);

/**
 * `global`, `groups.<g>` (the name is everything after `groups.`) or exactly `pcKey`; null for
 * anything else: other PCs' keys, the legacy `target_version`, unknown keys (wire §5).
 * `pcKey` is null when the pc_id cannot be a KV key (behavior.md 1.6).
 */
export function classifyConfigKey(key: string, pcKey: string | null): ConfigTarget | null {
  if (key === CONFIG_KEY_GLOBAL) return { kind: "global" };
  if (pcKey !== null && key === pcKey) return { kind: "pc" };
  if (key.startsWith(GROUP_PREFIX) && key.length > GROUP_PREFIX.length)
    return { kind: "group", name: key.slice(GROUP_PREFIX.length) };
  return null;
}

/** Decodes a KV entry; null when the key does not concern this agent. */
export function toConfigEntry(raw: RawKvEntry, pcKey: string | null): ConfigEntry | null {
  const target = classifyConfigKey(raw.key, pcKey);
  if (target === null) return null;
  return { key: raw.key, target, revision: raw.revision, change: decodeChange(raw) };
}

function decodeChange(raw: RawKvEntry): ScopeChange {
  // DEL and PURGE are tombstones: "no value" (wire §5).
  if (raw.operation !== "PUT") return { kind: "removed" };
  const json = parseJson(raw.value);
  if (!json.ok) return { kind: "malformed", problem: json.error.message };
  const scope = decodeConfigScope(json.value);
  return scope.ok
    ? { kind: "set", scope: scope.value }
    : { kind: "malformed", problem: scope.error.message };
}

export type ApplyOutcome = "applied" | "stale" | "malformed";

/**
 * Applies one entry. An entry not newer than the last one applied for its key is `stale` and
 * changes nothing; a malformed value leaves the key's scope as it was but counts as seen.
 */
export function applyConfigEntry(
  mirror: ConfigMirror,
  entry: ConfigEntry,
): { mirror: ConfigMirror; outcome: ApplyOutcome } {
  const last = mirror.revisions.get(entry.key) ?? 0;
  if (entry.revision <= last) return { mirror, outcome: "stale" };
  const revisions = new Map(mirror.revisions).set(entry.key, entry.revision);
  const { change } = entry;
  if (change.kind === "malformed")
    return { mirror: { ...mirror, revisions }, outcome: "malformed" };
  const scope = change.kind === "set" ? change.scope : null;
  const next: ConfigMirror = { ...mirror, revisions };
  switch (entry.target.kind) {
    case "global":
      next.global = scope;
      break;
    case "pc":
      next.pc = scope;
      break;
    case "group": {
      const groups = new Map(mirror.groups);
      if (scope) groups.set(entry.target.name, scope);
      else groups.delete(entry.target.name);
      next.groups = groups;
      break;
    }
  }
  return { mirror: next, outcome: "applied" };
}
