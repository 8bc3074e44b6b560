// The signed command envelope [ext, beyond kanade #1165]. A legacy signature (wire §3.2) covers
// only the Command, so a captured signed command can be re-published to any PC and replayed until
// the key's max age runs out. The envelope puts the target and an expiry inside the signed bytes:
//
//   {"kind": "kanade.command.v2", "target_pc_id": "<pc_id>",
//    "expires_at": "<timestamp>", "command": {<Command, wire §4.1>}}
//
// The message body IS the envelope JSON; the signature headers and the signed bytes are exactly
// those of wire §3.2 (be64(at_ms) ‖ body). A body is an envelope when it is a JSON object whose
// `kind` is the string above; anything else is a legacy Command body. After the signature step,
// the agent checks `target_pc_id === pc_id` and `now < expires_at`, then decodes `command` as the
// Command (same rules and exit 122 as a legacy body). Unknown members are ignored.
import { z } from "zod";
import { type CommandIntake, classifyCommandBody, encodeCommand } from "./command.js";
import type { Decoded } from "./decoded.js";
import { parseJson } from "./json.js";
import { decodeWith, isPlainObject, kindOf, str, timestamp } from "./schema.js";
import { formatTimestamp } from "./timestamp.js";
import type { Command, EpochMs } from "./types.js";

export const COMMAND_ENVELOPE_KIND = "kanade.command.v2";

/** What the envelope adds around the Command. */
export interface EnvelopeFacts {
  targetPcId: string;
  expiresAt: EpochMs;
}

/**
 * A command message body, classified once: a legacy Command, or an envelope whose own members
 * decoded (`envelope.ok`) or not. `intake` is the classification of the Command itself (for an
 * envelope: of its `command` member), as behavior.md §5.2 step 3 needs it.
 */
export type CommandMessage =
  | { form: "legacy"; intake: CommandIntake }
  | { form: "envelope"; envelope: Decoded<EnvelopeFacts>; intake: CommandIntake };

const wireEnvelope = z.object({
  target_pc_id: str,
  expires_at: timestamp,
});

/** True when `value` claims to be an envelope (its `kind` is the v2 kind). */
function isEnvelope(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value) && value.kind === COMMAND_ENVELOPE_KIND;
}

/** Classifies a command body as received (legacy or envelope). Never throws. */
export function classifyCommandMessage(body: Uint8Array): CommandMessage {
  const parsed = parseJson(body);
  if (!parsed.ok || !isEnvelope(parsed.value)) {
    return { form: "legacy", intake: classifyCommandBody(body) };
  }
  const value = parsed.value;
  const decoded = decodeWith(wireEnvelope, value);
  const envelope: Decoded<EnvelopeFacts> = decoded.ok
    ? {
        ok: true,
        value: { targetPcId: decoded.value.target_pc_id, expiresAt: decoded.value.expires_at },
      }
    : decoded;
  return { form: "envelope", envelope, intake: classifyInner(value.command, envelope) };
}

/**
 * The inner Command. Re-serialising it gives the exact classification of a legacy body; a broken
 * envelope turns an otherwise fine command into a rejection (exit 122 when signatures are off).
 */
function classifyInner(command: unknown, envelope: Decoded<EnvelopeFacts>): CommandIntake {
  if (!isPlainObject(command)) {
    const got =
      command === undefined ? "is required" : `expected a JSON object, got ${kindOf(command)}`;
    return { kind: "invalid", reason: `command: ${got}` };
  }
  const intake = classifyCommandBody(new TextEncoder().encode(JSON.stringify(command)));
  if (envelope.ok || intake.kind !== "ok") return intake;
  const c = intake.command;
  return {
    kind: "rejected",
    requestId: c.requestId,
    execId: c.execId,
    manifestId: c.id,
    version: c.version,
    reason: `envelope ${envelope.error.message}`,
  };
}

/** The envelope body for `command`, as the JSON text that gets signed and published. */
export function encodeCommandEnvelope(command: Command, facts: EnvelopeFacts): string {
  return JSON.stringify({
    kind: COMMAND_ENVELOPE_KIND,
    target_pc_id: facts.targetPcId,
    expires_at: formatTimestamp(facts.expiresAt),
    command: encodeCommand(command),
  });
}
