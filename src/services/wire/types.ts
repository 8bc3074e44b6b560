// Domain types for every wire shape (wire.md §4, §5). camelCase here; the codecs in this
// folder are the only bridge to the snake_case JSON on the wire.

/** Milliseconds since the Unix epoch (UTC). Timestamps are kept at millisecond precision. */
export type EpochMs = number;

export type Shell = "powershell" | "cmd" | "sh" | "pwsh";
export type RunAs = "system" | "user" | "system_gui";

export type Staleness =
  | { mode: "cached" }
  | { mode: "unchecked" }
  /** maxCacheAge is the raw humantime string; an unparseable one fails closed at run time. */
  | { mode: "strict"; maxCacheAge: string };

export interface Command {
  id: string;
  version: string;
  requestId: string;
  execId: string | null;
  shell: Shell;
  script: string;
  timeoutSecs: number;
  jitterSecs: number | null;
  runAs: RunAs;
  cwd?: string;
  deadlineAt?: EpochMs;
  staleness: Staleness;
}

export interface ExecResult {
  /** "" only for results decoded from pre-0.29 senders. */
  resultId: string;
  requestId: string;
  execId?: string;
  pcId: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  startedAt: EpochMs;
  finishedAt: EpochMs;
  manifestId?: string;
  stdoutObject?: string;
  stderrObject?: string;
  skipped?: boolean;
}

export interface EventStarted {
  resultId: string;
  requestId: string;
  execId: string;
  pcId: string;
  startedAt: EpochMs;
  manifestId: string;
  version: string;
}

export interface Heartbeat {
  pcId: string;
  at: EpochMs;
  agentVersion: string;
  hostname?: string;
  osFamily?: string;
  agentCpuPct?: number;
  agentRssBytes?: number;
  agentDiskReadBytes?: number;
  agentDiskWrittenBytes?: number;
  quarantinedVersions?: string[];
}
