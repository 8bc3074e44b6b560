import { fromCallback } from "xstate";
import { type PingResponderContext, startPingResponder } from "../services/responders/ping.js";

export { type PingResponderContext, startPingResponder };

/**
 * The `agents.<pc_id>.ping` responder (behavior.md 13.1) as a callback actor for the root to
 * invoke: it answers while the actor lives and unsubscribes when it stops. It takes no events.
 */
export function pingResponderActor(ctx: PingResponderContext) {
  return fromCallback(() => {
    const responder = startPingResponder({ ...ctx, log: ctx.log.child({ component: "ping" }) });
    return () => responder.stop();
  });
}
