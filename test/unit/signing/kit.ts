// Shared by the signing unit tests: the fixture vector and a settable clock.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Clock } from "../../../src/services/time/clock.js";

export const FIXTURE_DIR = fileURLToPath(new URL("../../fixtures/wire/", import.meta.url));

export interface Vector {
  keys: { kid: string; public_key: string; label?: string }[];
  seed_hex: string;
  at_ms: number;
  headers: Record<string, string>;
  body: string;
  tampered_body: string;
}

export const vector = JSON.parse(
  readFileSync(`${FIXTURE_DIR}signature-vector.json`, "utf8"),
) as Vector;
export const vectorSeed = new Uint8Array(Buffer.from(vector.seed_hex, "hex"));

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** A header lookup over a plain map, exact names. */
export const lookup =
  (h: Record<string, string>) =>
  (name: string): string | undefined =>
    h[name];

export class ManualClock implements Clock {
  constructor(
    public wall: number,
    public mono = 0,
  ) {}
  now(): number {
    return this.wall;
  }
  monotonic(): number {
    return this.mono;
  }
  advance(ms: number): void {
    this.wall += ms;
    this.mono += ms;
  }
}
