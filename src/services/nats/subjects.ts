// The only place that builds a NATS subject, a JetStream resource name or the replay consumer
// name (wire.md §2, §5, §6, §7). Builders take ids that were validated where they entered the
// agent; the checks here are a guard against programming errors, so they throw.

import { dottedNameProblem, tokenProblem } from "../wire/ids.js";

/** A subject was about to be built from an id that breaks wire.md §1.4. */
export class SubjectError extends Error {
  override readonly name = "SubjectError";
}

// ── Resource names (wire §5–§7) ────────────────────────────────────────────────────────────

export const STREAM_EXEC = "EXEC";
export const STREAM_RESULTS = "RESULTS";
export const STREAM_EVENTS = "EVENTS";
export const STREAM_INVENTORY = "INVENTORY";
export const STREAM_AUDIT = "AUDIT";

export const KV_AGENT_CONFIG = "agent_config";
export const KV_AGENT_GROUPS = "agent_groups";
export const KV_SCRIPT_CURRENT = "script_current";
export const KV_SCRIPT_STATUS = "script_status";
export const KV_SCHEDULES = "schedules";
export const KV_JOBS = "jobs";
export const KV_AGENTS_STATE = "agents_state";
export const KV_JOBS_YAML = "jobs_yaml";
export const KV_SCHEDULES_YAML = "schedules_yaml";

export const OBJ_AGENT_RELEASES = "agent_releases";
export const OBJ_RESULT_OUTPUT = "result_output";

export type StreamName =
  | typeof STREAM_EXEC
  | typeof STREAM_RESULTS
  | typeof STREAM_EVENTS
  | typeof STREAM_INVENTORY
  | typeof STREAM_AUDIT;

/** The subject filter each stream captures, as a kanade 0.40 backend creates it (wire §6). */
export const STREAM_SUBJECTS: Readonly<Record<StreamName, string>> = {
  EXEC: "commands.>",
  RESULTS: "results.>",
  EVENTS: "events.>",
  INVENTORY: "inventory.>",
  AUDIT: "audit.>",
};

// ── Validation ─────────────────────────────────────────────────────────────────────────────

/** The broken wire §1.4.1 rule for a pc_id, or null when it is acceptable. */
export const validatePcId = (id: string): string | null => dottedNameProblem(id);

/** The broken wire §1.4.3 rule for a group name, or null when it is acceptable. */
export const validateGroup = (name: string): string | null => dottedNameProblem(name);

function token(kind: string, value: string): string {
  const problem = tokenProblem(value);
  if (problem !== null)
    throw new SubjectError(`invalid ${kind} ${JSON.stringify(value)}: ${problem}`);
  return value;
}

function dotted(kind: string, value: string): string {
  const problem = dottedNameProblem(value);
  if (problem !== null)
    throw new SubjectError(`invalid ${kind} ${JSON.stringify(value)}: ${problem}`);
  return value;
}

const pc = (pcId: string): string => dotted("pc_id", pcId);

// ── Commands (in) ──────────────────────────────────────────────────────────────────────────

const COMMANDS_ALL = "commands.all";
const COMMANDS_PC_PREFIX = "commands.pc.";
const COMMANDS_GROUP_PREFIX = "commands.group.";

export const commandsAll = (): string => COMMANDS_ALL;
export const commandsPc = (pcId: string): string => `${COMMANDS_PC_PREFIX}${pc(pcId)}`;
export const commandsGroup = (group: string): string =>
  `${COMMANDS_GROUP_PREFIX}${dotted("group", group)}`;
/** `commands.>`: the replay consumer's filter and the EXEC stream's subjects. */
export const commandsWildcard = (): string => "commands.>";

export type CommandSubject =
  | { kind: "all" }
  | { kind: "pc"; pcId: string }
  | { kind: "group"; group: string }
  | { kind: "other" };

/**
 * What a command subject addresses. Everything after `commands.pc.` / `commands.group.` is the
 * name, so a dotted pc_id or group spans several tokens. A name that breaks wire §1.4 is "other":
 * it can never be this agent's id or one of its groups.
 */
export function classifyCommandSubject(subject: string): CommandSubject {
  if (subject === COMMANDS_ALL) return { kind: "all" };
  if (subject.startsWith(COMMANDS_PC_PREFIX)) {
    const pcId = subject.slice(COMMANDS_PC_PREFIX.length);
    return dottedNameProblem(pcId) === null ? { kind: "pc", pcId } : { kind: "other" };
  }
  if (subject.startsWith(COMMANDS_GROUP_PREFIX)) {
    const group = subject.slice(COMMANDS_GROUP_PREFIX.length);
    return dottedNameProblem(group) === null ? { kind: "group", group } : { kind: "other" };
  }
  return { kind: "other" };
}

// ── Kill (in) ──────────────────────────────────────────────────────────────────────────────

const KILL_PREFIX = "kill.";

export const killSubject = (execId: string): string => `${KILL_PREFIX}${token("exec_id", execId)}`;
/** `kill.*`: every kill subject (exec_id is always one token). */
export const killWildcard = (): string => "kill.*";

/** The exec_id of a `kill.<exec_id>` subject, or null for any other subject. */
export function execIdFromKillSubject(subject: string): string | null {
  if (!subject.startsWith(KILL_PREFIX)) return null;
  const execId = subject.slice(KILL_PREFIX.length);
  return tokenProblem(execId) === null ? execId : null;
}

// ── Request/reply responders (in) ──────────────────────────────────────────────────────────

export const pingSubject = (pcId: string): string => `agents.${pc(pcId)}.ping`;
export const inventoryRequestSubject = (pcId: string): string => `agents.${pc(pcId)}.inventory`;
export const stateRequestSubject = (pcId: string): string => `agents.${pc(pcId)}.state`;
export const logsFetchSubject = (pcId: string): string => `logs.fetch.${pc(pcId)}`;

// ── Publishes (out) ────────────────────────────────────────────────────────────────────────

export const resultSubject = (requestId: string): string =>
  `results.${token("request_id", requestId)}`;
export const eventStartedSubject = (execId: string, pcId: string): string =>
  `events.started.${token("exec_id", execId)}.${pc(pcId)}`;
export const heartbeatSubject = (pcId: string): string => `heartbeat.${pc(pcId)}`;
export const hostPerfSubject = (pcId: string): string => `host_perf.${pc(pcId)}`;
export const processPerfSubject = (pcId: string): string => `process_perf.${pc(pcId)}`;
export const inventorySubject = (pcId: string): string => `inventory.${pc(pcId)}.hw`;

// ── Wildcards used by tests, the operator CLI and backends (wire §2) ───────────────────────

export const heartbeatWildcard = (): string => "heartbeat.>";
export const hostPerfWildcard = (): string => "host_perf.>";
export const processPerfWildcard = (): string => "process_perf.>";
export const resultsWildcard = (): string => "results.>";
export const eventsStartedWildcard = (): string => "events.started.>";
/** Started events of one exec_id, from every PC (a dotted pc_id spans several tokens). */
export const eventsStartedForExec = (execId: string): string =>
  `events.started.${token("exec_id", execId)}.>`;
export const inventoryWildcard = (): string => "inventory.>";

// ── Replay consumer (wire §6) ──────────────────────────────────────────────────────────────

/**
 * Durable name of this agent's replay consumer: `agent_replay_<pc_id>` with every character
 * outside `A-Z a-z 0-9 _ -` replaced by `_` (one `_` per Unicode character, as the Rust agent
 * does). Not validated: the spec's own example (`host with space`) is not a valid pc_id.
 */
export const replayConsumerName = (pcId: string): string =>
  `agent_replay_${pcId.replace(/[^A-Za-z0-9_-]/gu, "_")}`;

// ── KV keys and object names (wire §5.1, §7) ───────────────────────────────────────────────

export const CONFIG_KEY_GLOBAL = "global";
export const configGroupKey = (group: string): string => `groups.${dotted("group", group)}`;
export const configPcKey = (pcId: string): string => `pcs.${pc(pcId)}`;

/** Object key in `result_output` for one PC's overflowing stream of one request (wire §4.5). */
export const resultOutputKey = (
  requestId: string,
  pcId: string,
  stream: "stdout" | "stderr",
): string => `${token("request_id", requestId)}/${pc(pcId)}/${stream}`;
