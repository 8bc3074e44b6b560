import { Match } from "@nats-io/nats-core";
import {
  concatMap,
  EMPTY,
  filter,
  map,
  merge,
  mergeMap,
  type Observable,
  type OperatorFunction,
  of,
  pipe,
} from "rxjs";
import type { Logger } from "../logging/logger.js";
import { classifyCommandSubject } from "../nats/subjects.js";
import { refusalNote } from "../signing/outcome.js";
import { refusalResultId } from "../signing/refusal.js";
import type { CommandVerifier } from "../signing/verifier.js";
import { type CommandMessage, classifyCommandMessage } from "../wire/commandEnvelope.js";
import { encodeCommand } from "../wire/index.js";
import type { Command } from "../wire/types.js";
import { dedupBy, ledgerGate } from "./dedup.js";
import type { IntakeMessage } from "./intake.js";
import type { Ledger } from "./ledger.js";
import { fingerprintOf, type LedgerSource } from "./ledgerRecord.js";

/** behavior.md §19: larger bodies are refused (only reachable with a raised max_payload). */
export const MAX_COMMAND_BYTES = 4 * 1024 * 1024;

/** A command that was not decodable as a whole but has a request_id: it ends with exit 122. */
export interface Rejection {
  note: string;
  execId: string | null;
  manifestId?: string;
}

/** What the pipeline hands to the root: exactly once per request_id, ever. */
export interface AdmittedCommand {
  requestId: string;
  command: Command | null;
  rejection?: Rejection;
  source: LedgerSource;
  subject: string;
  receivedAt: number;
}

/** A command built in-process (local scheduler), entering at the ledger step (5.1c). */
export interface LocalCommand {
  command: Command;
  subject: string;
  receivedAt: number;
  rejection?: string;
}

interface Candidate extends AdmittedCommand {
  fingerprint: string;
  ack?: () => void;
}

/** A command refused by the signature step (behavior.md 17.5): it gets an exit-123 result. */
export interface SignatureRefusal {
  requestId: string;
  execId: string | null;
  manifestId?: string;
  /** Deterministic (wire §4.4): UUID v5 of `<request_id>|<pc_id>|signature-refused`. */
  resultId: string;
  /** `refused: command signature <outcome>`. */
  note: string;
  source: "live" | "replay";
  subject: string;
  receivedAt: number;
}

export interface PipelineDeps {
  pcId: string;
  /** The current group membership (behavior.md 5.3). */
  isMember: (group: string) => boolean;
  ledger: Ledger;
  log: Logger;
  /** The signature step (5.2 step 2); absent when agent.toml has no `[signing]` table. */
  verifier?: CommandVerifier;
  /**
   * Writes the exit-123 result of a refused command to the result outbox. A replayed message is
   * acked once this resolves, and left unacked (redelivered) when it rejects.
   */
  onRefused?: (refusal: SignatureRefusal) => Promise<void>;
  /**
   * A decoded command whose request_id the ledger does not know yet, before the dedup step: its
   * gate reads can start now (they are made after it arrived either way).
   */
  onNew?: (command: Command, receivedAt: number) => void;
}

/** A bus message that passed the steps before decoding, classified once. */
interface Classified {
  m: IntakeMessage;
  message: CommandMessage;
}

/**
 * The one admission point (design.md "One pipeline for commands"): live, replayed and local
 * commands merge here; each passes addressed-to-me → signature → decode → dedup(ledger), in that
 * order (behavior.md 5.2 steps 1–4). Replay messages are acked once admitted, dropped or refused,
 * never when the ledger write (or the refusal's result write) failed (9.3, 6.8).
 */
export function admissionPipeline(
  intake$: Observable<IntakeMessage>,
  local$: Observable<LocalCommand>,
  deps: PipelineDeps,
): Observable<AdmittedCommand> {
  const warnInvalid = rateLimited(60_000);
  const fromBus$ = intake$.pipe(
    filter((m) => {
      if (addressedToMe(m.subject, deps)) return true;
      m.ack?.();
      return false;
    }),
    map((m): Classified => ({ m, message: classifyCommandMessage(m.data) })),
    deps.verifier ? signatureStep(deps.verifier) : pipe(),
    mergeMap(({ m, message }) => {
      const c = decodeCandidate(m, message);
      if (c?.command && deps.onNew && !deps.ledger.lookup(c.requestId))
        deps.onNew(c.command, c.receivedAt);
      if (c) return of(c);
      m.ack?.();
      return EMPTY;
    }),
  );
  const fromLocal$ = local$.pipe(map(localCandidate));
  return merge(fromBus$, fromLocal$).pipe(
    dedupBy<Candidate>(
      ledgerGate(deps.ledger, (c) => ({
        requestId: c.requestId,
        fingerprint: c.fingerprint,
        source: c.source,
        subject: c.subject,
        receivedAt: c.receivedAt,
        command: c.command ? encodeCommand(c.command) : undefined,
        rejection: c.rejection?.note,
      })),
      {
        onDuplicate: (c) => {
          deps.log.debug(
            { request_id: c.requestId, subject: c.subject, source: c.source },
            "duplicate command dropped",
          );
          ackWhenDurable(c);
        },
        onError: (err, c) =>
          deps.log.error(
            { request_id: c.requestId, subject: c.subject, source: c.source, err: String(err) },
            "command not admitted: the ledger refused it (a replayed copy will come back)",
          ),
      },
    ),
    map((c) => {
      ackWhenDurable(c);
      const { fingerprint: _f, ack: _a, ...admitted } = c;
      return admitted;
    }),
  );

  /**
   * 9.3 with 6.8: a replayed message is acked once its request_id's record is on disk (for a
   * duplicate, the first delivery's record); if that write fails it stays unacked and comes back.
   */
  function ackWhenDurable(c: Candidate): void {
    const ack = c.ack;
    if (!ack) return;
    // No sync of its own: the command's next record (or the journal's linger) brings it.
    deps.ledger.durable(c.requestId, false).then(ack, () => {
      // The ledger logged the failed write; the server redelivers after its ack wait.
    });
  }

  /**
   * behavior.md 5.2 step 2 / §17. In order (concatMap), so a message waiting for a keys re-read
   * does not let later ones overtake it. A refusal is answered with exit 123 and never reaches
   * the ledger; a body without a valid request_id has nothing to answer on and is dropped.
   */
  function signatureStep(verifier: CommandVerifier): OperatorFunction<Classified, Classified> {
    const warnUnanswerable = rateLimited(60_000);
    return pipe(
      concatMap((c) =>
        judge(c).catch((err: unknown) => {
          // Unexpected: the message is dropped unacked (a replayed copy comes back), intake lives on.
          deps.log.error(
            { subject: c.m.subject, source: c.m.source, err: String(err) },
            "signature step failed; message dropped",
          );
          return null;
        }),
      ),
      filter((c): c is Classified => c !== null),
    );

    async function judge(c: Classified): Promise<Classified | null> {
      const { m, message } = c;
      const intake = message.intake;
      const requestId = intake.kind === "invalid" ? undefined : requestIdOf(intake);
      const verdict = await verifier.check({
        body: m.data,
        header: headerLookup(m),
        message,
        subject: m.subject,
        requestId,
      });
      if (verdict.accepted) return c;
      if (intake.kind === "invalid") {
        if (warnUnanswerable())
          deps.log.warn(
            { subject: m.subject, source: m.source, reason: intake.reason },
            "refused command without a valid request_id dropped (no result)",
          );
        m.ack?.();
        return null;
      }
      const refusal: SignatureRefusal = {
        requestId: requestIdOf(intake),
        execId: intake.kind === "ok" ? intake.command.execId : intake.execId,
        manifestId: intake.kind === "ok" ? intake.command.id : intake.manifestId,
        resultId: refusalResultId(requestIdOf(intake), deps.pcId),
        note: refusalNote(verdict.outcome),
        source: m.source,
        subject: m.subject,
        receivedAt: m.receivedAt,
      };
      try {
        await deps.onRefused?.(refusal);
        m.ack?.();
      } catch (err) {
        deps.log.error(
          { request_id: refusal.requestId, subject: m.subject, err: String(err) },
          "refusal result not written (a replayed copy will come back)",
        );
      }
      return null;
    }
  }

  function decodeCandidate(m: IntakeMessage, message: CommandMessage): Candidate | null {
    const base = { source: m.source, subject: m.subject, receivedAt: m.receivedAt, ack: m.ack };
    const fingerprint = fingerprintOf(m.data);
    const intake = message.intake;
    if (intake.kind === "invalid") {
      if (warnInvalid())
        deps.log.warn(
          { subject: m.subject, source: m.source, reason: intake.reason, bytes: m.data.length },
          "malformed command dropped",
        );
      return null;
    }
    if (intake.kind === "ok" && m.data.length <= MAX_COMMAND_BYTES)
      return { ...base, fingerprint, requestId: intake.command.requestId, command: intake.command };
    const requestId = intake.kind === "ok" ? intake.command.requestId : intake.requestId;
    const rejection: Rejection =
      intake.kind === "ok"
        ? {
            note: `rejected: command too large (${m.data.length} bytes)`,
            execId: intake.command.execId,
            manifestId: intake.command.id,
          }
        : {
            note: `rejected: invalid command: ${intake.reason}`,
            execId: intake.execId,
            manifestId: intake.manifestId,
          };
    deps.log.warn(
      { request_id: requestId, subject: m.subject, reason: rejection.note },
      "invalid command: answering exit 122",
    );
    return { ...base, fingerprint, requestId, command: null, rejection };
  }
}

function localCandidate(l: LocalCommand): Candidate {
  const encoded = JSON.stringify(encodeCommand(l.command));
  return {
    source: "local",
    subject: l.subject,
    receivedAt: l.receivedAt,
    fingerprint: fingerprintOf(encoded),
    requestId: l.command.requestId,
    command: l.rejection ? null : l.command,
    rejection: l.rejection
      ? { note: `rejected: ${l.rejection}`, execId: l.command.execId, manifestId: l.command.id }
      : undefined,
  };
}

function requestIdOf(intake: { kind: "ok"; command: Command } | { requestId: string }): string {
  return "command" in intake ? intake.command.requestId : intake.requestId;
}

/** Header names are compared without case, as HTTP-style headers usually are. */
function headerLookup(m: IntakeMessage): (name: string) => string | undefined {
  const h = m.headers;
  return (name) => (h?.has(name, Match.IgnoreCase) ? h.get(name, Match.IgnoreCase) : undefined);
}

/** behavior.md 5.3: the same check for live and replayed messages. */
export function addressedToMe(
  subject: string,
  deps: Pick<PipelineDeps, "pcId" | "isMember">,
): boolean {
  const s = classifyCommandSubject(subject);
  switch (s.kind) {
    case "all":
      return true;
    case "pc":
      return s.pcId === deps.pcId;
    case "group":
      return deps.isMember(s.group);
    default:
      return false;
  }
}

/** true for the first call, then at most once per `everyMs` (behavior.md §19 warnings). */
function rateLimited(everyMs: number, now: () => number = Date.now): () => boolean {
  let last = Number.NEGATIVE_INFINITY;
  return () => {
    const t = now();
    if (t - last < everyMs) return false;
    last = t;
    return true;
  };
}
