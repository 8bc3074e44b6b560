// Shared by the signing unit tests: the fixture vector, a settable clock and a log catcher.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import type { Logger } from "../../../src/services/logging/logger.js";
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

export interface CapturedLog {
  log: Logger;
  lines: Record<string, unknown>[];
  /** Lines at `level` (pino number: 40 warn, 30 info, 20 debug) whose msg matches. */
  at(level: number, msg?: RegExp): Record<string, unknown>[];
}

export function captureLog(): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: "debug", base: undefined },
    { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return {
    log,
    lines,
    at: (level, msg) =>
      lines.filter((l) => l.level === level && (msg === undefined || msg.test(String(l.msg)))),
  };
}
