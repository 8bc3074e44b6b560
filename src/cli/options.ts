// Parsers for option and argument values. They throw commander's InvalidArgumentError, which
// commander reports as a usage error (exit 2) naming the option.
import { InvalidArgumentError, Option } from "commander";
import { validateGroup, validatePcId } from "../services/nats/subjects.js";
import {
  formatDuration,
  isKvKeySafe,
  parseDuration,
  tokenProblem,
} from "../services/wire/index.js";

/** humantime (`30s`, `1h 30m`) → milliseconds. */
export function durationArg(value: string): number {
  const ms = parseDuration(value);
  if (ms === null) {
    throw new InvalidArgumentError(
      `not a duration: ${JSON.stringify(value)} (e.g. 30s, 5m, 1h 30m)`,
    );
  }
  return ms;
}

export function pcIdArg(value: string): string {
  const problem = validatePcId(value);
  if (problem !== null) throw new InvalidArgumentError(`invalid pc_id: ${problem}`);
  return value;
}

/** A pc_id that is also used as a KV key (`agent_groups.<pc_id>`, `pcs.<pc_id>`). */
export function kvPcIdArg(value: string): string {
  pcIdArg(value);
  if (!isKvKeySafe(value)) {
    throw new InvalidArgumentError(
      `pc_id ${JSON.stringify(value)} cannot be a KV key (allowed: A-Z a-z 0-9 _ = / . -)`,
    );
  }
  return value;
}

export function groupArg(value: string): string {
  const problem = validateGroup(value);
  if (problem !== null) throw new InvalidArgumentError(`invalid group name: ${problem}`);
  if (!isKvKeySafe(value)) {
    throw new InvalidArgumentError(
      `group ${JSON.stringify(value)} cannot be part of a KV key (allowed: A-Z a-z 0-9 _ = / . -)`,
    );
  }
  return value;
}

/** exec_id / request_id: one subject token. */
export function tokenArg(value: string): string {
  const problem = tokenProblem(value);
  if (problem !== null) throw new InvalidArgumentError(`invalid id: ${problem}`);
  return value;
}

/** A manifest id or version used as a KV key or object name. */
export function keyArg(value: string): string {
  if (!isKvKeySafe(value)) {
    throw new InvalidArgumentError(
      `${JSON.stringify(value)} cannot be a KV key (allowed: A-Z a-z 0-9 _ = / . -)`,
    );
  }
  if (value.startsWith(".") || value.endsWith(".")) {
    throw new InvalidArgumentError(`${JSON.stringify(value)} must not start or end with '.'`);
  }
  return value;
}

/** Variadic arguments run through one parser each. */
export const each =
  (parse: (v: string) => string) =>
  (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), parse(value)];

/** A humantime option parsed to milliseconds, its default shown as typed (`60s`, not 60000). */
export function durationOption(flags: string, description: string, defaultMs: number): Option {
  return new Option(flags, description)
    .argParser(durationArg)
    .default(defaultMs, formatDuration(defaultMs));
}
