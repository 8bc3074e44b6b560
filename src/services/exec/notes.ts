import type { StreamName } from "./capture.js";

/** Why the agent ended a run (behavior.md 7.12, 18.2). */
export type KillReason = "remote" | "timeout" | "stopping";

/** The agent notes of wire §4.4, exact texts. */
export const remoteKillNote = (execId: string): string =>
  `killed by remote signal (kill.${execId})`;
export const timeoutNote = (seconds: number): string => `timeout after ${seconds}s`;
export const STOPPING_NOTE = "killed: agent stopping";
export const signalNote = (signal: string): string => `terminated by signal ${signal}`;
export const captureFailedNote = (stream: StreamName, reason: string): string =>
  `[agent: ${stream} capture failed: ${reason}]`;
/** Not in wire §4.4: the process watching the child died, so its exit code cannot be known. */
export const lostNote = (reason: string): string =>
  `[agent: ${reason}; the script was killed, its exit code is unknown]`;
export const failedToStartNote = (reason: string): string => `failed to start: ${reason}`;

export function killNote(
  reason: KillReason,
  ctx: { execId: string | undefined; timeoutSecs: number },
): string {
  switch (reason) {
    case "remote":
      return remoteKillNote(ctx.execId ?? "");
    case "timeout":
      return timeoutNote(ctx.timeoutSecs);
    case "stopping":
      return STOPPING_NOTE;
  }
}
