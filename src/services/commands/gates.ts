import type { StalenessTracker } from "../nats/staleness.js";
import type { Clock } from "../time/clock.js";
import { formatDuration, parseDuration } from "../wire/duration.js";
import { formatTimestamp } from "../wire/timestamp.js";
import type { Command } from "../wire/types.js";
import type { GateAsker, GateBucket } from "./gateReads.js";

/** A skip decision: the synthetic exit code and its stderr note (wire.md §4.4). */
export interface GateSkip {
  exitCode: number;
  note: string;
}

/** A KV read for a gate: the value of a PUT, or nothing (absent, tombstone, error, timeout). */
export type KvLookup = (bucket: GateBucket, key: string) => Promise<string | null>;

export interface GateDeps {
  platform: NodeJS.Platform;
  staleness: StalenessTracker;
  /** A read for this command: see GateReads for which reads may answer it. */
  readKv: (bucket: GateBucket, key: string, asker: GateAsker) => Promise<string | null>;
  clock: Clock;
}

/** behavior.md 5.2 steps 5–9, in spec order; null means "run it". */
export async function evaluateGates(
  cmd: Command,
  receivedAt: number,
  deps: GateDeps,
): Promise<GateSkip | null> {
  const local = unsupported(cmd, deps.platform) ?? stalenessGate(cmd, deps.staleness);
  if (local) return local;
  // Both reads go out at once (one round trip, not two); their verdicts keep the spec order.
  const asker = { requestId: cmd.requestId, receivedAt };
  const read: KvLookup = (bucket, key) => deps.readKv(bucket, key, asker);
  const [pin, revoked] = await Promise.all([versionPinGate(cmd, read), revokeGate(cmd, read)]);
  return pin ?? revoked ?? deadlineGate(cmd, receivedAt, deps.clock.now());
}

/** Step 5: what this agent cannot do (behavior.md 7.3, 7.9). */
export function unsupported(cmd: Command, platform: NodeJS.Platform): GateSkip | null {
  if (cmd.runAs !== "system")
    return {
      exitCode: 122,
      note: `rejected: run_as "${cmd.runAs}" is not supported by this agent`,
    };
  if (cmd.shell === "cmd" && platform !== "win32")
    return { exitCode: 122, note: `rejected: shell "cmd" is only available on Windows` };
  return null;
}

/** Step 6 (behavior.md §4.2): strict mode fails closed on an unparseable max_cache_age. */
export function stalenessGate(cmd: Command, tracker: StalenessTracker): GateSkip | null {
  if (cmd.staleness.mode !== "strict") return null;
  const maxMs = parseDuration(cmd.staleness.maxCacheAge) ?? 0;
  const stale = tracker.stalenessMs();
  if (stale <= maxMs) return null;
  const allowed = formatDuration(maxMs);
  const why = Number.isFinite(stale)
    ? `agent has been disconnected for ${formatDuration(stale)}`
    : "agent has not connected since start";
  return {
    exitCode: 127,
    note: `skipped: staleness policy (mode=strict) exceeded — ${why}, max allowed ${allowed}`,
  };
}

/** Step 7 (behavior.md 5.5): an exact string comparison, no semver. */
export async function versionPinGate(cmd: Command, readKv: KvLookup): Promise<GateSkip | null> {
  const current = await readKv("script_current", cmd.id);
  if (current === null || current === cmd.version) return null;
  return {
    exitCode: 124,
    note: `skipped: version pin mismatch (command version ${cmd.version}, script_current ${current})`,
  };
}

/** Step 8 (behavior.md 5.6): only the exact string REVOKED revokes. */
export async function revokeGate(cmd: Command, readKv: KvLookup): Promise<GateSkip | null> {
  const status = await readKv("script_status", cmd.id);
  if (status !== "REVOKED") return null;
  return { exitCode: 126, note: `skipped: ${cmd.id} is revoked (script_status = REVOKED)` };
}

/** Step 9 (behavior.md 5.7): `now == deadline_at` still runs. */
export function deadlineGate(cmd: Command, receivedAt: number, now: number): GateSkip | null {
  if (cmd.deadlineAt === undefined || now <= cmd.deadlineAt) return null;
  return { exitCode: 125, note: deadlineNote(cmd.deadlineAt, receivedAt, now) };
}

export function deadlineNote(deadlineAt: number, receivedAt: number, now: number): string {
  return `skipped: starting deadline expired ${formatDuration(now - deadlineAt)} ago (deadline ${formatTimestamp(deadlineAt)}, received ${formatTimestamp(receivedAt)})`;
}
