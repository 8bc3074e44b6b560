import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import type { Subscription as RxSubscription } from "rxjs";
import type { AgentContext } from "../agentContext.js";
import { pingSubject } from "../nats/subjects.js";
import { buildPlainHeartbeat } from "../perf/heartbeat.js";
import { readHostIdentity } from "../perf/hostIdentity.js";
import { encodeHeartbeat } from "../wire/heartbeat.js";

export type PingResponderContext = Pick<
  AgentContext,
  "pcId" | "agentVersion" | "platform" | "clock" | "link" | "log" | "quarantinedVersions"
>;

export interface PingResponder {
  stop(): void;
}

/**
 * Answers `agents.<pc_id>.ping` (behavior.md 13.1) with a fresh Heartbeat without the `agent_*`
 * perf members; a message without a reply subject is ignored. nats.js re-subscribes by itself
 * after a reconnect; a rebuilt connection object gets a new subscription.
 */
export function startPingResponder(ctx: PingResponderContext): PingResponder {
  const subject = pingSubject(ctx.pcId);
  const identity = readHostIdentity(ctx.platform);
  let stopped = false;
  let nc: NatsConnection | null = null;
  let sub: Subscription | null = null;

  const drop = () => {
    try {
      sub?.unsubscribe();
    } catch {
      // The connection is already closed; so is the subscription.
    }
    sub = null;
  };

  const answer = (msg: Msg) => {
    if (stopped || !msg.reply) return;
    const hb = buildPlainHeartbeat({
      pcId: ctx.pcId,
      agentVersion: ctx.agentVersion,
      clock: ctx.clock,
      identity,
      quarantinedVersions: ctx.quarantinedVersions,
    });
    try {
      msg.respond(JSON.stringify(encodeHeartbeat(hb)));
    } catch (err) {
      ctx.log.warn({ subject, err: String(err) }, "ping reply not sent");
    }
  };

  const follow = () => {
    const current = ctx.link.connection;
    if (stopped || current === nc) return;
    drop();
    nc = current;
    if (current === null || current.isClosed()) return;
    sub = current.subscribe(subject, {
      callback: (err, msg) => {
        if (err) {
          ctx.log.warn({ subject, err: err.message }, "ping subscription error");
          return;
        }
        answer(msg);
      },
    });
  };

  const watch: RxSubscription = ctx.link.connected$.subscribe(follow);

  return {
    stop() {
      stopped = true;
      watch.unsubscribe();
      drop();
    },
  };
}
