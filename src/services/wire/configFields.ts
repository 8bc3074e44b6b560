// The members of a ConfigScope by wire name, with the kind of value each holds (wire.md §5.1),
// for tools that edit one member at a time (the operator CLI) and must keep the members they do
// not know (a later kanade's `client_display_name`) when they write a scope back.
import { encodeConfigScope } from "./configScope.js";
import type { ConfigScope } from "./types.js";

export type ConfigFieldKind = "string" | "duration" | "bool" | "u32" | "timestamp";

export interface ConfigField {
  /** The wire name, as operators type it: `heartbeat_interval`. */
  name: string;
  key: keyof ConfigScope;
  kind: ConfigFieldKind;
}

export const CONFIG_FIELDS: readonly ConfigField[] = [
  { name: "target_version", key: "targetVersion", kind: "string" },
  { name: "target_version_jitter", key: "targetVersionJitter", kind: "duration" },
  { name: "heartbeat_interval", key: "heartbeatInterval", kind: "duration" },
  { name: "host_perf_interval", key: "hostPerfInterval", kind: "duration" },
  { name: "process_perf_enabled", key: "processPerfEnabled", kind: "bool" },
  { name: "process_perf_expires_at", key: "processPerfExpiresAt", kind: "timestamp" },
  { name: "process_perf_top_n", key: "processPerfTopN", kind: "u32" },
  { name: "inventory_enabled", key: "inventoryEnabled", kind: "bool" },
  { name: "inventory_interval", key: "inventoryInterval", kind: "duration" },
  { name: "inventory_jitter", key: "inventoryJitter", kind: "duration" },
  { name: "inventory_check_interval", key: "inventoryCheckInterval", kind: "duration" },
  { name: "max_local_concurrent", key: "maxLocalConcurrent", kind: "u32" },
];

export const configField = (name: string): ConfigField | undefined =>
  CONFIG_FIELDS.find((f) => f.name === name);

/**
 * The JSON to write for `scope` over the value that was read (`raw`, a JSON object or null):
 * every ConfigScope member comes from `scope`, every other member of `raw` is kept as it was.
 */
export function rewriteConfigScope(
  raw: Readonly<Record<string, unknown>> | null,
  scope: ConfigScope,
): Record<string, unknown> {
  const out = encodeConfigScope(scope);
  for (const [name, value] of Object.entries(raw ?? {})) {
    if (configField(name) === undefined && !(name in out)) out[name] = value;
  }
  return out;
}
