// The layering of agent_config scopes into one EffectiveConfig (wire.md §5.1, behavior.md 11.5).
// Pure: the config supervisor and the operator CLI (`kanade config effective`) share it.
import { normalizeGroups } from "../wire/agentGroups.js";
import {
  applyScope,
  defaultEffectiveConfig,
  encodeConfigScope,
  encodeEffectiveConfig,
} from "../wire/configScope.js";
import type { ConfigScope, EffectiveConfig } from "../wire/types.js";

export interface ConfigLayers {
  /** The `global` scope; absent when the key has no value. */
  global?: ConfigScope | null;
  /** Every `groups.<g>` scope by group name, members or not. */
  groups: ReadonlyMap<string, ConfigScope>;
  /** The `pcs.<pc_id>` scope of this PC. */
  pc?: ConfigScope | null;
  /** This PC's groups; order and duplicates do not matter. */
  membership: readonly string[];
  /** Default of `max_local_concurrent`. */
  cpus: number;
}

/** A member set by two or more of the agent's groups; the last group in byte order won. */
export interface ConfigConflict {
  /** Wire name of the member (`heartbeat_interval`). */
  field: string;
  /** The groups that set it, in the order they were applied. */
  groups: string[];
}

export interface ConfigResolution {
  config: EffectiveConfig;
  conflicts: ConfigConflict[];
}

/** defaults ← global ← the member groups that have a scope, byte order, last wins ← pc. */
export function resolveEffectiveConfig(layers: ConfigLayers): ConfigResolution {
  let config = defaultEffectiveConfig(layers.cpus);
  if (layers.global) config = applyScope(config, layers.global);

  const setBy = new Map<string, string[]>();
  for (const group of normalizeGroups(layers.membership)) {
    const scope = layers.groups.get(group);
    if (!scope) continue;
    config = applyScope(config, scope);
    // The codec is the one place that knows wire names; it writes exactly the members set.
    for (const field of Object.keys(encodeConfigScope(scope))) {
      const groups = setBy.get(field);
      if (groups) groups.push(group);
      else setBy.set(field, [group]);
    }
  }

  if (layers.pc) config = applyScope(config, layers.pc);

  const conflicts: ConfigConflict[] = [];
  for (const field of Object.keys(encodeEffectiveConfig(config))) {
    const groups = setBy.get(field);
    if (groups && groups.length >= 2) conflicts.push({ field, groups });
  }
  return { config, conflicts };
}

/** Wire names of the members whose values differ, in wire order; [] when a equals b. */
export function diffEffectiveConfig(a: EffectiveConfig, b: EffectiveConfig): string[] {
  const before = encodeEffectiveConfig(a);
  const after = encodeEffectiveConfig(b);
  const changed: string[] = [];
  for (const field of Object.keys(after)) {
    if (!sameValue(before[field], after[field])) changed.push(field);
  }
  return changed;
}

// Members are JSON scalars today; the JSON comparison keeps this right if one ever is not.
function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
