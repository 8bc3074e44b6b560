import { fromCallback } from "xstate";
import type { AgentContext } from "../services/agentContext.js";
import type { AgentConfig } from "../services/config/agentConfig.js";
import { type LogsResponder, startLogsResponder } from "../services/responders/logsFetch.js";

export type LogsResponderContext = Pick<AgentContext, "pcId" | "link" | "log">;
export type LogsResponderConfig = Pick<AgentConfig["log"], "path" | "keepDays">;

/** Starts the `logs.fetch.<pc_id>` responder (behavior.md 13.2) for the daemon. */
export function startLogsResponderFor(
  ctx: LogsResponderContext,
  logConfig: LogsResponderConfig,
): LogsResponder {
  return startLogsResponder({
    link: ctx.link,
    pcId: ctx.pcId,
    logPath: logConfig.path,
    keepDays: logConfig.keepDays,
    log: ctx.log.child({ component: "logs.fetch" }),
  });
}

/**
 * The responder as a callback actor for the root to invoke (it has no states of its own): it
 * answers while the actor lives and unsubscribes when the actor stops. It takes no events.
 */
export function logsResponderActor(ctx: LogsResponderContext, logConfig: LogsResponderConfig) {
  return fromCallback(() => {
    const responder = startLogsResponderFor(ctx, logConfig);
    return () => responder.stop();
  });
}
