// The three kinds of `agent_config` scope an operator edits, and reading/writing one of them
// with the wire codecs (members this CLI does not know are written back unchanged).
import type { KV, KvEntry } from "@nats-io/kv";
import { Option } from "commander";
import {
  CONFIG_KEY_GLOBAL,
  configGroupKey,
  configPcKey,
  KV_AGENT_CONFIG,
} from "../services/nats/subjects.js";
import { rewriteConfigScope } from "../services/wire/configFields.js";
import { type ConfigScope, decodeConfigScope, parseJson } from "../services/wire/index.js";
import { doing, failed, usageError } from "./errors.js";
import { readModifyWrite } from "./kv.js";
import { groupArg, kvPcIdArg } from "./options.js";

export type ScopeRef =
  | { kind: "global" }
  | { kind: "group"; group: string }
  | { kind: "pc"; pcId: string };

export function scopeKey(ref: ScopeRef): string {
  switch (ref.kind) {
    case "global":
      return CONFIG_KEY_GLOBAL;
    case "group":
      return configGroupKey(ref.group);
    case "pc":
      return configPcKey(ref.pcId);
  }
}

export interface ScopeFlags {
  global?: boolean;
  group?: string;
  pc?: string;
}

/** `--group <g>` / `--pc <pc_id>` (and `--global` where a scope must be named explicitly). */
export function scopeOptions(withGlobal: boolean): Option[] {
  const others = (...names: string[]) => (withGlobal ? [...names, "global"] : names);
  const options = [
    new Option("--group <group>", "the scope of one group (groups.<group>)")
      .argParser(groupArg)
      .conflicts(others("pc")),
    new Option("--pc <pc_id>", "the scope of one PC (pcs.<pc_id>)")
      .argParser(kvPcIdArg)
      .conflicts(others("group")),
  ];
  if (withGlobal) {
    options.unshift(
      new Option("--global", "the fleet-wide scope (global)").conflicts(["group", "pc"]),
    );
  }
  return options;
}

/** The scope the flags name; with `explicit`, one of --global/--group/--pc is required. */
export function scopeFromFlags(flags: ScopeFlags, explicit: boolean): ScopeRef {
  if (flags.group !== undefined) return { kind: "group", group: flags.group };
  if (flags.pc !== undefined) return { kind: "pc", pcId: flags.pc };
  if (flags.global || !explicit) return { kind: "global" };
  throw usageError("name the scope: --global, --group <group> or --pc <pc_id>");
}

export interface ScopeValue {
  key: string;
  /** The stored JSON object, or null when the key has no value. */
  raw: Record<string, unknown> | null;
  scope: ConfigScope;
  revision: number | null;
}

/** Decodes a live entry; a value that is not a valid ConfigScope is an error naming the key. */
export function decodeScopeEntry(key: string, entry: KvEntry | null): ScopeValue {
  if (entry === null) return { key, raw: null, scope: {}, revision: null };
  const where = `${KV_AGENT_CONFIG}.${key}`;
  const parsed = parseJson(entry.value);
  const decoded = parsed.ok ? decodeConfigScope(parsed.value) : parsed;
  if (!decoded.ok) {
    throw failed(
      `${where} holds a malformed value (${decoded.error.message}); agents ignore it. Remove it with \`kanade config clear\` first`,
    );
  }
  return {
    key,
    // A ConfigScope decodes only from a JSON object.
    raw: (parsed.ok ? parsed.value : {}) as Record<string, unknown>,
    scope: decoded.value,
    revision: entry.revision,
  };
}

export async function readScope(kv: KV, key: string): Promise<ScopeValue> {
  const entry = await doing(`read ${KV_AGENT_CONFIG}.${key}`, () => kv.get(key));
  return decodeScopeEntry(key, entry !== null && entry.operation === "PUT" ? entry : null);
}

/**
 * Read-modify-write of one scope. `change` returns the new scope, or null to leave the key as
 * it is. Resolves with the scope as written (or as found, when unchanged).
 */
export async function editScope(
  kv: KV,
  key: string,
  change: (scope: ConfigScope) => ConfigScope | null,
): Promise<{ scope: ConfigScope; written: boolean }> {
  let result: ConfigScope = {};
  const written = await readModifyWrite(kv, KV_AGENT_CONFIG, key, (entry) => {
    const current = decodeScopeEntry(key, entry);
    const next = change(current.scope);
    result = next ?? current.scope;
    if (next === null) return { unchanged: true };
    return { write: JSON.stringify(rewriteConfigScope(current.raw, next)) };
  });
  return { scope: result, written };
}
