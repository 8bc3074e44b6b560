// Command (wire.md §4.1) and the intake classification of behavior.md §5.2 step 3 / §19.
import { z } from "zod";
import { type Decoded, fail } from "./decoded.js";
import { tokenProblem } from "./ids.js";
import { parseJson } from "./json.js";
import {
  checkedString,
  decodeWith,
  defaulted,
  hasMember,
  isPlainObject,
  kindOf,
  nullWhenEmpty,
  omittedWhenEmpty,
  putIfPresent,
  show,
  str,
  timestamp,
  u64,
} from "./schema.js";
import { encodeStaleness, stalenessSchema } from "./staleness.js";
import { formatTimestamp } from "./timestamp.js";
import type { Command } from "./types.js";

export const SHELLS = ["powershell", "cmd", "sh", "pwsh"] as const;
export const RUN_AS = ["system", "user", "system_gui"] as const;

export const shellSchema = z.enum(SHELLS);
export const runAsSchema = z.enum(RUN_AS);

const token = checkedString(tokenProblem);

/** "string, token, or null"; `""` is not empty-as-null here: it breaks the token rule. */
const execIdSchema = z
  .unknown()
  .optional()
  .transform((value, ctx): string | null => {
    if (value === undefined || value === null) return null;
    const problem =
      typeof value !== "string"
        ? `expected a string token or null, got ${kindOf(value)}`
        : tokenProblem(value);
    if (problem === null) return value as string;
    ctx.addIssue({ code: "custom", input: value, message: problem });
    return z.NEVER;
  });

// Member order = the order problems are reported in (the first one becomes the reason).
const wireCommand = z.object({
  id: str,
  version: str,
  request_id: token,
  exec_id: execIdSchema,
  shell: shellSchema,
  script: str,
  timeout_secs: u64,
  jitter_secs: nullWhenEmpty(u64),
  run_as: defaulted(runAsSchema, "system"),
  cwd: omittedWhenEmpty(str),
  deadline_at: omittedWhenEmpty(timestamp),
  staleness: stalenessSchema,
  // Later kanade: the body lives in an object store. Unsupported, and running the empty
  // inline `script` instead would be wrong, so such a command is refused.
  script_object: z
    .unknown()
    .optional()
    .superRefine((value, ctx) => {
      if (value === undefined || value === null || value === "") return;
      ctx.addIssue({
        code: "custom",
        input: value,
        message: "a script body stored as an object is not supported by this agent",
      });
    }),
});

/** Decodes a Command; `job_id` (pre-0.29) is read as `exec_id`. Never throws. */
export function decodeCommand(value: unknown): Decoded<Command> {
  if (!isPlainObject(value)) return fail("", `expected a JSON object, got ${kindOf(value)}`);
  const viaAlias = hasMember(value, "job_id");
  if (viaAlias && hasMember(value, "exec_id")) {
    return fail("job_id", "must not be sent together with exec_id (job_id is its pre-0.29 alias)");
  }
  const decoded = decodeWith(wireCommand, viaAlias ? { ...value, exec_id: value.job_id } : value);
  if (!decoded.ok) {
    // Name the member the sender actually wrote.
    const { field, message } = decoded.error;
    if (viaAlias && field === "exec_id") return fail("job_id", message.slice("exec_id: ".length));
    return decoded;
  }
  const w = decoded.value;
  const command: Command = {
    id: w.id,
    version: w.version,
    requestId: w.request_id,
    execId: w.exec_id,
    shell: w.shell,
    script: w.script,
    timeoutSecs: w.timeout_secs,
    jitterSecs: w.jitter_secs,
    runAs: w.run_as,
    staleness: w.staleness,
  };
  if (w.cwd !== undefined) command.cwd = w.cwd;
  if (w.deadline_at !== undefined) command.deadlineAt = w.deadline_at;
  return { ok: true, value: command };
}

/** The Command as kanade writes it: `exec_id`/`jitter_secs` as null, `run_as` and `staleness` always. */
export function encodeCommand(c: Command): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: c.id,
    version: c.version,
    request_id: c.requestId,
    exec_id: c.execId === "" ? null : c.execId,
    shell: c.shell,
    script: c.script,
    timeout_secs: c.timeoutSecs,
    jitter_secs: c.jitterSecs,
    run_as: c.runAs,
  };
  putIfPresent(out, "cwd", c.cwd);
  if (c.deadlineAt !== undefined) out.deadline_at = formatTimestamp(c.deadlineAt);
  out.staleness = encodeStaleness(c.staleness);
  return out;
}

export type CommandIntake =
  | { kind: "ok"; command: Command }
  | {
      kind: "rejected";
      requestId: string;
      execId: string | null;
      manifestId?: string;
      version?: string;
      /** The first problem, `<field>: <problem>`; the caller adds `rejected: invalid command: `. */
      reason: string;
    }
  | { kind: "invalid"; reason: string };

/**
 * behavior.md §5.2 step 3: a body that is not JSON, not an object, or has no valid
 * `request_id` token is `invalid` (dropped, no result: there is no subject to answer on);
 * any other schema violation is `rejected` (exit 122) with what could be salvaged for the result.
 */
export function classifyCommandBody(body: Uint8Array): CommandIntake {
  const parsed = parseJson(body);
  if (!parsed.ok) return { kind: "invalid", reason: parsed.error.message };
  const value = parsed.value;
  if (!isPlainObject(value)) {
    return { kind: "invalid", reason: `expected a JSON object, got ${kindOf(value)}` };
  }
  const requestId = value.request_id;
  if (typeof requestId !== "string") {
    const problem =
      requestId === undefined
        ? "is required"
        : `expected a string token, got ${requestId === null ? "null" : show(requestId)}`;
    return { kind: "invalid", reason: `request_id: ${problem}` };
  }
  const broken = tokenProblem(requestId);
  if (broken !== null) return { kind: "invalid", reason: `request_id: ${broken}` };

  const decoded = decodeCommand(value);
  if (decoded.ok) return { kind: "ok", command: decoded.value };

  const rawExecId = hasMember(value, "exec_id") ? value.exec_id : value.job_id;
  const rejected: CommandIntake = {
    kind: "rejected",
    requestId,
    execId: typeof rawExecId === "string" && tokenProblem(rawExecId) === null ? rawExecId : null,
    reason: decoded.error.message,
  };
  if (typeof value.id === "string") rejected.manifestId = value.id;
  if (typeof value.version === "string") rejected.version = value.version;
  return rejected;
}
