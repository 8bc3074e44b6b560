import type { Logger } from "../logging/logger.js";
import { parseOutboxFile } from "../outbox/resultFile.js";
import type { OutboxStore } from "../outbox/store.js";
import { decodeCommand } from "../wire/index.js";
import type { Ledger } from "./ledger.js";
import type { AdmittedCommand } from "./pipeline.js";
import { syntheticResult } from "./report.js";

export const OUTCOME_UNKNOWN_NOTE = "outcome unknown: agent restarted during run";

/** A command the previous process admitted but never finished, to run from where it stopped. */
export interface Resumable {
  admitted: AdmittedCommand;
  resume?: { resultId: string; startedAt: number; spawnAt: number };
}

/**
 * behavior.md 6.6, at start: a `running` record whose result never reached the outbox gets an
 * exit-121 result and is never run again; `launching` and `admitted` records are handed back to
 * be resumed (after the first connect, or 30 s).
 */
export async function recoverLedger(deps: {
  ledger: Ledger;
  results: OutboxStore;
  pcId: string;
  now: () => number;
  log: Logger;
}): Promise<Resumable[]> {
  const resumable: Resumable[] = [];
  // Results that were durable in the ledger only: maybe published, maybe not. The outbox takes
  // them now (a second publish of one that made it is absorbed by the duplicate window).
  for (const rec of deps.ledger.heldResults()) {
    const log = deps.log.child({ request_id: rec.requestId });
    await heldResultToOutbox(rec, deps.results, log);
    await deps.ledger.releaseResult(rec.requestId);
  }
  for (const rec of deps.ledger.unfinished()) {
    const log = deps.log.child({ request_id: rec.requestId, result_id: rec.resultId });
    const decoded = rec.command === undefined ? null : decodeCommand(rec.command);
    const command = decoded?.ok ? decoded.value : null;
    if (rec.state === "running") {
      const resultId = rec.resultId!;
      if (await deps.results.has(resultId)) {
        await deps.ledger.markFinished(rec.requestId, {
          finishedAt: deps.now(),
          exitCode: rec.exitCode ?? -1,
        });
        continue;
      }
      const now = deps.now();
      const file = syntheticResult(
        {
          pcId: deps.pcId,
          requestId: rec.requestId,
          execId: command?.execId ?? null,
          manifestId: command?.id,
          resultId,
          startedAt: rec.startedAt,
          receivedAt: rec.receivedAt,
          now,
        },
        121,
        OUTCOME_UNKNOWN_NOTE,
      );
      await deps.results.write(file.payload, file.privateMembers);
      await deps.ledger.markFinished(rec.requestId, { finishedAt: now, exitCode: 121 });
      log.warn(
        { exec_id: command?.execId ?? undefined },
        "agent restarted while this command ran: reporting outcome unknown (121), not running it again",
      );
      continue;
    }
    const admitted: AdmittedCommand = {
      requestId: rec.requestId,
      command,
      source: rec.source,
      subject: rec.subject,
      receivedAt: rec.receivedAt,
      ...(command
        ? {}
        : {
            rejection: {
              note:
                rec.rejection ??
                `rejected: invalid command: ${decoded && !decoded.ok ? decoded.error.message : "not recorded"}`,
              execId: null,
            },
          }),
    };
    const resume =
      rec.state === "launching" && command
        ? { resultId: rec.resultId!, startedAt: rec.startedAt!, spawnAt: rec.spawnAt! }
        : undefined;
    log.info({ state: rec.state }, "resuming a command admitted before the restart");
    resumable.push({ admitted, resume });
  }
  return resumable;
}

/** Writes a result the ledger held to the outbox unless it is there already. */
async function heldResultToOutbox(
  rec: { result?: string },
  results: OutboxStore,
  log: Logger,
): Promise<void> {
  const file = parseOutboxFile(Buffer.from(rec.result ?? "", "utf8"));
  if (typeof file === "string") {
    log.error({ err: file }, "result held by the ledger is unreadable; dropped");
    return;
  }
  const { payload, privateMembers } = file;
  if (typeof payload.result_id === "string" && (await results.has(payload.result_id))) return;
  await results.write(payload, privateMembers);
  log.info("result held by the ledger moved to the outbox");
}
