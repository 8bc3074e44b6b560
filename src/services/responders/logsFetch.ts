import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { datedLogDate, logFileNaming } from "../logging/logFileNames.js";
import type { Logger } from "../logging/logger.js";
import { errorText } from "../logging/retention.js";
import { readTail } from "../logging/tailFile.js";
import { followSubscription } from "../nats/followSubscription.js";
import type { NatsLink } from "../nats/link.js";
import { logsFetchSubject } from "../nats/subjects.js";
import { decodeLogsRequest } from "../wire/logsRequest.js";

/** wire.md §4.10: the reply is at most 800 KiB … */
export const LOGS_REPLY_MAX_BYTES = 819_200;
/** … and leaves this much of the server's max_payload for the message envelope (behavior.md 13.2). */
const PAYLOAD_HEADROOM = 1024;
/** Used until the server's INFO is known (nats-server's default max_payload). */
const DEFAULT_MAX_PAYLOAD = 1_048_576;
/** Requests waiting while one is served; more are answered "busy" rather than held. */
const MAX_QUEUED = 32;

const encoder = new TextEncoder();

export interface LogsResponderDeps {
  link: NatsLink;
  pcId: string;
  /** `[log] path`. */
  logPath: string;
  /** `[log] keep_days`; 0 = stdout only, and the reply says so. */
  keepDays: number;
  log: Logger;
}

export interface LogsResponder {
  stop(): void;
}

interface Pending {
  msg: Msg;
  nc: NatsConnection;
}

/**
 * Answers `logs.fetch.<pc_id>` (behavior.md 13.2) with the tail of the newest log file. One
 * request is served at a time. The core subscription follows the link: nats.js re-subscribes by
 * itself after a reconnect, but a rebuilt connection object needs a new subscription.
 */
export function startLogsResponder(deps: LogsResponderDeps): LogsResponder {
  const subject = logsFetchSubject(deps.pcId);
  const queue: Pending[] = [];
  let stopped = false;
  let serving = false;
  const accept = (msg: Msg, from: NatsConnection) => {
    if (stopped || !msg.reply) return;
    if (queue.length >= MAX_QUEUED) {
      respond(msg, encoder.encode(errorReply("busy, try again later")));
      return;
    }
    queue.push({ msg, nc: from });
    pump().catch((err: unknown) =>
      deps.log.error({ subject, err: errorText(err) }, "logs.fetch failed"),
    );
  };

  const respond = (msg: Msg, body: Uint8Array) => {
    try {
      msg.respond(body);
    } catch (err) {
      deps.log.warn({ subject, err: errorText(err) }, "logs.fetch reply not sent");
    }
  };

  const pump = async () => {
    if (serving) return;
    serving = true;
    try {
      for (let next = queue.shift(); next && !stopped; next = queue.shift()) {
        const request = decodeLogsRequest(next.msg.data);
        const body = await buildLogsReply({
          logPath: deps.logPath,
          keepDays: deps.keepDays,
          tailLines: request.tailLines,
          maxPayload: next.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD,
        });
        if (stopped) break;
        respond(next.msg, body);
        deps.log.debug({ tail_lines: request.tailLines, bytes: body.length }, "logs.fetch served");
      }
    } finally {
      serving = false;
    }
  };

  const subscription = followSubscription(deps.link, subject, accept, deps.log);

  return {
    stop() {
      stopped = true;
      subscription.stop();
      queue.length = 0;
    },
  };
}

export interface LogsReplyRequest {
  logPath: string;
  keepDays: number;
  tailLines: number;
  /** The server's max_payload. */
  maxPayload: number;
}

/** The reply body: raw UTF-8 text of the log tail, or `logs.fetch: <reason>` (wire.md §4.10). */
export async function buildLogsReply(r: LogsReplyRequest): Promise<Uint8Array> {
  if (r.keepDays === 0) return encoder.encode(errorReply("logging to stdout only"));
  if (r.tailLines === 0) return new Uint8Array(0);
  const maxBytes = Math.max(0, Math.min(LOGS_REPLY_MAX_BYTES, r.maxPayload - PAYLOAD_HEADROOM));
  try {
    const file = await findLogFile(r.logPath);
    if (file === null) return encoder.encode(errorReply(`no log file at ${r.logPath}`));
    return await readTail(file, r.tailLines, maxBytes);
  } catch (err) {
    return encoder.encode(errorReply(errorText(err)));
  }
}

/**
 * The newest `<stem>.YYYY-MM-DD<ext>` beside `logPath` by name, else `logPath` itself when it
 * exists, else null.
 */
export async function findLogFile(logPath: string): Promise<string | null> {
  const naming = logFileNaming(logPath);
  let newest: string | null = null;
  let names: string[] = [];
  try {
    names = await readdir(naming.dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  for (const name of names) {
    if (datedLogDate(naming, name) !== null && (newest === null || name > newest)) newest = name;
  }
  if (newest !== null) return join(naming.dir, newest);
  try {
    return (await stat(logPath)).isFile() ? logPath : null;
  } catch {
    return null;
  }
}

function errorReply(reason: string): string {
  return `logs.fetch: ${reason}`;
}
