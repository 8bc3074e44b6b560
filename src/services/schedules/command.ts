// behavior.md 16.5: the Command a local schedule fire hands to the admission pipeline.
import { parseDuration } from "../wire/duration.js";
import type { Command, Manifest, Schedule } from "../wire/types.js";

export const DEFAULT_TIMEOUT_SECS = 60;

export interface ScheduledCommand {
  command: Command;
  /** Set when the job cannot run here; the pipeline turns it into exit 122 `rejected: <it>`. */
  rejection?: string;
}

/** Whole seconds of a humantime string, or null when it does not parse. */
function wholeSeconds(text: string | undefined): number | null {
  if (text === undefined) return null;
  const ms = parseDuration(text);
  return ms === null ? null : Math.floor(ms / 1000);
}

/**
 * `newId` mints the request_id and the exec_id (random UUID v4 in production). No deadline: a
 * local fire is decided on the spot.
 */
export function buildScheduledCommand(
  schedule: Schedule,
  manifest: Manifest,
  newId: () => string,
): ScheduledCommand {
  const x = manifest.execute;
  const command: Command = {
    id: manifest.id,
    version: manifest.version,
    requestId: newId(),
    execId: newId(),
    shell: x.shell,
    script: x.script,
    timeoutSecs: wholeSeconds(x.timeout) ?? DEFAULT_TIMEOUT_SECS,
    jitterSecs: wholeSeconds(schedule.jitter),
    runAs: x.runAs,
    staleness: manifest.staleness,
  };
  if (x.cwd !== undefined && x.cwd !== "") command.cwd = x.cwd;
  if (x.scriptObject === undefined) return { command };
  return {
    command,
    rejection: `job ${manifest.id} keeps its script in an object (script_object), which this agent does not support`,
  };
}
