import {
  AckPolicy,
  type ConsumerInfo,
  type ConsumerMessages,
  DeliverPolicy,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import { commandsWildcard, replayConsumerName, STREAM_EXEC } from "./subjects.js";

/** Waits for nothing: one attempt to see stream EXEC (the caller retries, behavior.md 9.1). */
export async function checkExecStream(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: 5_000 });
  await jsm.streams.info(STREAM_EXEC);
}

export type EnsureOutcome = "kept" | "created" | "recreated";

/**
 * behavior.md 9.2 and 9.5: the durable pull consumer exists with explicit acks, the single
 * `commands.>` filter and last-per-subject delivery (or `new` for a migrated agent). A durable
 * that differs is deleted and created again: the server cannot update a deliver policy.
 */
export async function ensureReplayConsumer(
  nc: NatsConnection,
  pcId: string,
  ledgerIsEmpty: () => boolean,
): Promise<{ outcome: EnsureOutcome; deliverPolicy: string }> {
  const jsm = await jetstreamManager(nc, { timeout: 5_000 });
  const name = replayConsumerName(pcId);
  const existing = await jsm.consumers.info(STREAM_EXEC, name).catch((err: unknown) => {
    if (isNotFound(err)) return null;
    throw err;
  });
  if (existing && matches(existing))
    return { outcome: "kept", deliverPolicy: existing.config.deliver_policy };
  // A durable left by a previous agent on this PC, met by an agent that remembers nothing:
  // start from new so the commands the previous agent ran are not run again (9.5).
  const deliver = existing && ledgerIsEmpty() ? DeliverPolicy.New : DeliverPolicy.LastPerSubject;
  if (existing) await jsm.consumers.delete(STREAM_EXEC, name);
  await jsm.consumers.add(STREAM_EXEC, {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: deliver,
    filter_subject: commandsWildcard(),
  });
  return { outcome: existing ? "recreated" : "created", deliverPolicy: deliver };
}

function matches(info: ConsumerInfo): boolean {
  const c = info.config;
  return (
    c.ack_policy === AckPolicy.Explicit &&
    c.filter_subject === commandsWildcard() &&
    (c.deliver_policy === DeliverPolicy.LastPerSubject || c.deliver_policy === DeliverPolicy.New) &&
    !c.deliver_subject
  );
}

export function isNotFound(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return code === 10014 || code === 10059 || /not found/i.test(err.message);
}

/** At most this many stream sequences are read back per (re)open: beyond, the ack wait brings them. */
export const UNACKED_READ_MAX = 1_000;

export interface UnackedRead {
  /** Messages handed over. */
  read: number;
  /** Sequences of the range the stream no longer holds (replaced by a newer command, or aged out). */
  gone: number;
  /** Sequences beyond UNACKED_READ_MAX, left to the ack wait. */
  left: number;
}

/**
 * Messages the durable handed out and nobody acked when this process opens it: a pull of a
 * previous process (SIGKILLed, or its connection cut) that the broker fed before it noticed the
 * client was gone. It redelivers them only after the ack wait (30 s, wire §6); they are read back
 * from `EXEC` by sequence instead, so that they are judged now. The ledger absorbs any that were
 * handled already, and the redelivery after the ack wait is acked as a duplicate.
 */
export async function readUnacked(
  nc: NatsConnection,
  pcId: string,
  onMessage: (m: { subject: string; data: Uint8Array; headers?: MsgHdrs }) => void,
  max = UNACKED_READ_MAX,
): Promise<UnackedRead> {
  const jsm = await jetstreamManager(nc, { timeout: 5_000 });
  const info = await jsm.consumers.info(STREAM_EXEC, replayConsumerName(pcId));
  const out: UnackedRead = { read: 0, gone: 0, left: 0 };
  if (info.num_ack_pending === 0) return out;
  const first = info.ack_floor.stream_seq + 1;
  const last = info.delivered.stream_seq;
  const end = Math.min(last, first + max - 1);
  out.left = last - end;
  for (let seq = first; seq <= end; seq++) {
    const m = await jsm.streams.getMessage(STREAM_EXEC, { seq });
    if (!m) {
      out.gone++;
      continue;
    }
    out.read++;
    onMessage({ subject: m.subject, data: m.data, headers: m.header });
  }
  return out;
}

/** Why a consume loop ended: the caller re-ensures after 1 s (behavior.md 9.4). */
export type ConsumeEnd = { reason: string };

/** How often a draining loop asks the server whether its durable still exists. */
const CONSUMER_CHECK_MS = 5_000;

/**
 * Pulls batches of up to 100 with 30 s expiry and hands each message over. Resolves when the
 * consumer or stream went away or the iterator ended; `stop()` ends it early. A 2.9 server sends
 * nothing to pending pulls when the durable is deleted (the client would notice only after two
 * missed idle heartbeats and a look-up, ~45 s), so the loop also checks every 5 s (behavior 9.4).
 */
export function consumeReplay(
  nc: NatsConnection,
  pcId: string,
  onMessage: (m: JsMsg) => void,
  checkEveryMs = CONSUMER_CHECK_MS,
): { done: Promise<ConsumeEnd>; stop: (reason?: string) => void } {
  let messages: ConsumerMessages | undefined;
  let stopped = false;
  let stopReason = "stopped";
  let endReason = "consumer iterator ended";
  let check: NodeJS.Timeout | undefined;
  const end = (reason: string) => {
    endReason = reason;
    messages?.stop();
  };
  const done = (async (): Promise<ConsumeEnd> => {
    const name = replayConsumerName(pcId);
    const consumer = await jetstream(nc).consumers.get(STREAM_EXEC, name);
    messages = await consumer.consume({ max_messages: 100, expires: 30_000 });
    if (stopped) messages.stop();
    const msgs = messages;
    void (async () => {
      for await (const s of msgs.status()) {
        if (
          s.type === "consumer_deleted" ||
          s.type === "consumer_not_found" ||
          s.type === "stream_not_found"
        ) {
          end(s.type.replaceAll("_", " "));
          return;
        }
      }
    })().catch(() => {});
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    // Also seen after a cluster node died: messages pending and no pull waiting, for good. Two
    // checks in a row like that re-open the consumer (the ledger absorbs any repeat).
    let stalled = 0;
    check = setInterval(() => {
      jsm.consumers.info(STREAM_EXEC, name).then(
        (info) => {
          stalled =
            info.num_pending > 0 && info.num_waiting === 0 && info.num_ack_pending === 0
              ? stalled + 1
              : 0;
          if (stalled >= 2) end("consumer stalled: messages pending and no pull waiting");
        },
        (err: unknown) => {
          if (isNotFound(err)) end("consumer or stream not found");
        },
      );
    }, checkEveryMs);
    for await (const m of msgs) onMessage(m);
    return { reason: stopped ? stopReason : endReason };
  })()
    .catch((err: unknown) => ({ reason: err instanceof Error ? err.message : String(err) }))
    .finally(() => clearInterval(check));
  return {
    done,
    stop: (reason = "stopped") => {
      stopped = true;
      stopReason = reason;
      messages?.stop();
    },
  };
}
