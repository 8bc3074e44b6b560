import type { Msg } from "@nats-io/nats-core";
import type { AgentContext } from "../agentContext.js";
import { followSubscription } from "../nats/followSubscription.js";
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

  const subscription = followSubscription(ctx.link, subject, answer, ctx.log);

  return {
    stop() {
      stopped = true;
      subscription.stop();
    },
  };
}
