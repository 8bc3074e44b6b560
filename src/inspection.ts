import type { InspectionEvent } from "xstate";
import { openInspectLog } from "./services/inspect/inspectLog.js";
import type { Logger } from "./services/logging/logger.js";

/** `--inspect[=port]` and `--inspect-log <file>`: where the root actor's inspection events go. */
export async function startInspection(
  args: { inspect?: string | boolean; inspectLog?: string },
  log: Logger,
): Promise<{ observe: (e: InspectionEvent) => void; close: () => void } | undefined> {
  const sinks: ((e: InspectionEvent) => void)[] = [];
  const closers: (() => void)[] = [];
  if (args.inspect !== undefined && args.inspect !== false) {
    // Loaded only when asked for: the inspector and its WebSocket stack cost memory at idle.
    const { startInspectRelay } = await import("./services/inspect/relay.js");
    const { createWebSocketInspector } = await import("@statelyai/inspect");
    const relay = await startInspectRelay(
      typeof args.inspect === "string" ? Number(args.inspect) : 0,
    );
    const inspector = createWebSocketInspector({ url: relay.wsUrl });
    sinks.push((e) => inspector.inspect.next?.(e));
    closers.push(() => {
      inspector.stop();
      void relay.close();
    });
    log.info(
      { url: relay.pageUrl, ws: relay.wsUrl },
      `state machine inspector: open ${relay.pageUrl}`,
    );
  }
  if (args.inspectLog) {
    const file = openInspectLog(args.inspectLog);
    sinks.push(file.observe);
    closers.push(file.close);
    log.info({ file: args.inspectLog }, "writing inspection events");
  }
  if (sinks.length === 0) return undefined;
  return {
    observe: (e) => {
      for (const sink of sinks) sink(e);
    },
    close: () => {
      for (const c of closers) c();
    },
  };
}
