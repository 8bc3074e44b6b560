// ConfigScope, the value of an `agent_config` key, and EffectiveConfig, the agent's resolved
// view (wire.md §5.1).
import { availableParallelism } from "node:os";
import { z } from "zod";
import type { Decoded } from "./decoded.js";
import {
  bool,
  decodeWith,
  nullWhenEmpty,
  omittedWhenEmpty,
  putIfPresent,
  str,
  u32,
} from "./schema.js";
import type { ConfigScope, EffectiveConfig } from "./types.js";

export type { ConfigScope, EffectiveConfig } from "./types.js";

// wire name ↔ domain name, in wire order. Durations and the expiry stay raw strings.
const MEMBERS = [
  ["target_version", "targetVersion"],
  ["target_version_jitter", "targetVersionJitter"],
  ["heartbeat_interval", "heartbeatInterval"],
  ["host_perf_interval", "hostPerfInterval"],
  ["process_perf_enabled", "processPerfEnabled"],
  ["process_perf_expires_at", "processPerfExpiresAt"],
  ["process_perf_top_n", "processPerfTopN"],
  ["inventory_enabled", "inventoryEnabled"],
  ["inventory_interval", "inventoryInterval"],
  ["inventory_jitter", "inventoryJitter"],
  ["inventory_check_interval", "inventoryCheckInterval"],
  ["max_local_concurrent", "maxLocalConcurrent"],
] as const satisfies readonly (readonly [string, keyof ConfigScope & keyof EffectiveConfig])[];

// `null` is the same as absent; a member of the wrong type makes the whole scope malformed.
const wireConfigScope = z.object({
  target_version: omittedWhenEmpty(str),
  target_version_jitter: omittedWhenEmpty(str),
  heartbeat_interval: omittedWhenEmpty(str),
  host_perf_interval: omittedWhenEmpty(str),
  process_perf_enabled: omittedWhenEmpty(bool),
  process_perf_expires_at: omittedWhenEmpty(str),
  process_perf_top_n: omittedWhenEmpty(u32),
  inventory_enabled: omittedWhenEmpty(bool),
  inventory_interval: omittedWhenEmpty(str),
  inventory_jitter: omittedWhenEmpty(str),
  inventory_check_interval: omittedWhenEmpty(str),
  max_local_concurrent: omittedWhenEmpty(u32),
});

export function decodeConfigScope(value: unknown): Decoded<ConfigScope> {
  const decoded = decodeWith(wireConfigScope, value);
  if (!decoded.ok) return decoded;
  const scope: Record<string, unknown> = {};
  for (const [wire, domain] of MEMBERS) {
    const v = decoded.value[wire];
    if (v !== undefined) scope[domain] = v;
  }
  return { ok: true, value: scope as ConfigScope };
}

export function encodeConfigScope(scope: ConfigScope): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [wire, domain] of MEMBERS) putIfPresent(out, wire, scope[domain]);
  return out;
}

/** Built-in defaults of wire §5.1; `max_local_concurrent` defaults to the number of CPUs. */
export function defaultEffectiveConfig(cpus: number): EffectiveConfig {
  return {
    targetVersion: null,
    targetVersionJitter: "0s",
    heartbeatInterval: "30s",
    hostPerfInterval: "60s",
    processPerfEnabled: false,
    processPerfExpiresAt: null,
    processPerfTopN: 20,
    inventoryEnabled: true,
    inventoryInterval: "24h",
    inventoryJitter: "60s",
    inventoryCheckInterval: "1h",
    maxLocalConcurrent: Math.max(1, Math.floor(cpus)),
  };
}

/** The defaults for this machine. Prefer defaultEffectiveConfig(cpus) where the count is known. */
export const DEFAULT_EFFECTIVE_CONFIG: Readonly<EffectiveConfig> = Object.freeze(
  defaultEffectiveConfig(availableParallelism()),
);

/** One resolution step (wire §5.1): members the scope sets replace those of `base`. */
export function applyScope(base: EffectiveConfig, scope: ConfigScope): EffectiveConfig {
  const next: Record<string, unknown> = { ...base };
  for (const [, domain] of MEMBERS) {
    const v = scope[domain];
    if (v !== undefined) next[domain] = v;
  }
  return next as unknown as EffectiveConfig;
}

/** Every member written; unset ones (`target_version`, `process_perf_expires_at`) as `null`. */
export function encodeEffectiveConfig(c: EffectiveConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [wire, domain] of MEMBERS) out[wire] = c[domain];
  return out;
}

const wireEffectiveConfig = z.object({
  target_version: nullWhenEmpty(str),
  target_version_jitter: str,
  heartbeat_interval: str,
  host_perf_interval: str,
  process_perf_enabled: bool,
  process_perf_expires_at: nullWhenEmpty(str),
  process_perf_top_n: u32,
  inventory_enabled: bool,
  inventory_interval: str,
  inventory_jitter: str,
  inventory_check_interval: str,
  max_local_concurrent: omittedWhenEmpty(u32),
});

/** Reads the JSON form back (tests, tools); a missing `max_local_concurrent` means `cpus`. */
export function decodeEffectiveConfig(value: unknown, cpus: number): Decoded<EffectiveConfig> {
  const decoded = decodeWith(wireEffectiveConfig, value);
  if (!decoded.ok) return decoded;
  const config = defaultEffectiveConfig(cpus);
  const fields: Record<string, unknown> = config as unknown as Record<string, unknown>;
  for (const [wire, domain] of MEMBERS) {
    const v = decoded.value[wire];
    if (v !== undefined) fields[domain] = v;
  }
  return { ok: true, value: config };
}
