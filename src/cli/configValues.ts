// Turning what an operator types after `kanade config set <field>` into a ConfigScope member,
// refusing what the agent could not use (it would silently fall back to a default).
import { CONFIG_FIELDS, type ConfigField, configField } from "../services/wire/configFields.js";
import {
  type ConfigScope,
  formatTimestamp,
  parseDuration,
  parseTimestamp,
} from "../services/wire/index.js";
import { usageError } from "./errors.js";

const U32_MAX = 4_294_967_295;
const SECOND = 1_000;
const MINUTE = 60 * SECOND;

export function fieldNamed(name: string): ConfigField {
  const field = configField(name);
  if (field === undefined) {
    throw usageError(
      `unknown config field ${JSON.stringify(name)} (known: ${CONFIG_FIELDS.map((f) => f.name).join(", ")})`,
    );
  }
  return field;
}

export interface ParsedValue {
  value: NonNullable<ConfigScope[keyof ConfigScope]>;
  /** Set when the agent will clamp the value (it is written anyway). */
  note?: string;
}

/**
 * Validates and converts one value. Durations are kept as typed (humantime); a timestamp field
 * also takes a duration, meaning that long from now (`process_perf_expires_at 2h`).
 */
export function parseFieldValue(field: ConfigField, text: string, nowMs: number): ParsedValue {
  const bad = (expected: string) =>
    usageError(`${field.name}: ${JSON.stringify(text)} is not ${expected}`);
  const trimmed = text.trim();
  switch (field.kind) {
    case "string":
      if (trimmed === "") throw bad("a non-empty string");
      return { value: trimmed };
    case "duration": {
      const ms = parseDuration(trimmed);
      if (ms === null) throw bad("a duration (e.g. 30s, 5m, 1h 30m)");
      return withNote({ value: trimmed }, durationNote(field.name, ms));
    }
    case "bool": {
      const v = trimmed.toLowerCase();
      if (["true", "yes", "on", "1"].includes(v)) return { value: true };
      if (["false", "no", "off", "0"].includes(v)) return { value: false };
      throw bad("a boolean (true or false)");
    }
    case "u32": {
      if (!/^\d+$/.test(trimmed) || Number(trimmed) > U32_MAX) {
        throw bad(`an integer in 0…${U32_MAX}`);
      }
      const n = Number(trimmed);
      return withNote({ value: n }, integerNote(field.name, n));
    }
    case "timestamp": {
      if (parseTimestamp(trimmed) !== null) return { value: trimmed };
      const ms = parseDuration(trimmed);
      if (ms !== null) return { value: formatTimestamp(nowMs + ms) };
      throw bad("an RFC 3339 timestamp (2026-05-16T09:00:00Z) or a duration from now (2h)");
    }
  }
}

function withNote(v: ParsedValue, note: string | undefined): ParsedValue {
  return note === undefined ? v : { ...v, note };
}

// The bounds wire.md §5.1 states; the agent clamps rather than rejects.
function durationNote(name: string, ms: number): string | undefined {
  if ((name === "heartbeat_interval" || name === "host_perf_interval") && ms < SECOND) {
    return `${name} below 1s: agents use 1s`;
  }
  if ((name === "inventory_interval" || name === "inventory_check_interval") && ms < MINUTE) {
    return `${name} below 1m: agents use 1m`;
  }
  return undefined;
}

function integerNote(name: string, n: number): string | undefined {
  if (name === "process_perf_top_n" && (n < 1 || n > 500)) {
    return `process_perf_top_n outside 1…500: agents use ${n < 1 ? 1 : 500}`;
  }
  if (name === "max_local_concurrent" && n === 0) {
    return "max_local_concurrent 0: agents use their number of CPUs";
  }
  return undefined;
}

/** The scope with one member set (or removed, for `value` undefined). */
export function withField(
  scope: ConfigScope,
  field: ConfigField,
  value: ParsedValue["value"] | undefined,
): ConfigScope {
  const next: Record<string, unknown> = { ...scope };
  if (value === undefined) delete next[field.key];
  else next[field.key] = value;
  return next as ConfigScope;
}
