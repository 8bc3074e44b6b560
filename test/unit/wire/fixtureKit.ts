// Shared by the wire tests: reading golden fixtures and comparing payloads the way
// test/fixtures/wire/README.md asks (parsed JSON, timestamps as instants at ms precision).
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { formatTimestamp, parseTimestamp } from "../../../src/services/wire/timestamp.js";

export const FIXTURE_DIR = fileURLToPath(new URL("../../fixtures/wire/", import.meta.url));
export const INVALID_DIR = `${FIXTURE_DIR}invalid/`;

export const fixtureBytes = (name: string): Uint8Array => readFileSync(`${FIXTURE_DIR}${name}`);
export const fixtureJson = (name: string): unknown =>
  JSON.parse(readFileSync(`${FIXTURE_DIR}${name}`, "utf8"));
export const fixtureObject = (name: string): Record<string, unknown> =>
  fixtureJson(name) as Record<string, unknown>;

export const jsonFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort();

/** Every timestamp spelled the way the agent writes it, so `…00Z` equals `…00.000Z`. */
export function normalizeTimestamps(value: unknown): unknown {
  if (typeof value === "string") {
    const ms = parseTimestamp(value);
    return ms === null ? value : formatTimestamp(ms);
  }
  if (Array.isArray(value)) return value.map(normalizeTimestamps);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, normalizeTimestamps(v)] as const),
    );
  }
  return value;
}

/** A payload as another process would see it: serialized and parsed again. */
export const overTheWire = (payload: unknown): unknown => JSON.parse(JSON.stringify(payload));
