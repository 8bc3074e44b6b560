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

export interface HostPerf {
  pcId: string;
  at: EpochMs;
  cpuPct?: number;
  cpuCount?: number;
  memUsedBytes?: number;
  memTotalBytes?: number;
  swapUsedBytes?: number;
  swapTotalBytes?: number;
  diskReadBytesPerSec?: number;
  diskWrittenBytesPerSec?: number;
  netRxBytesPerSec?: number;
  netTxBytesPerSec?: number;
}

export interface ProcessSnapshot {
  pid: number;
  name: string;
  cpuPct: number;
  rssBytes: number;
  diskReadBytesPerSec?: number;
  diskWrittenBytesPerSec?: number;
}

export interface ProcessPerf {
  pcId: string;
  at: EpochMs;
  processes: ProcessSnapshot[];
}

export interface LogsRequest {
  tailLines: number;
}

/**
 * One `agent_config` value (wire §5.1). Every member optional; durations and
 * `processPerfExpiresAt` stay raw strings because an unparseable one only falls back to a
 * default at use time, it does not make the scope malformed.
 */
export interface ConfigScope {
  targetVersion?: string;
  targetVersionJitter?: string;
  heartbeatInterval?: string;
  hostPerfInterval?: string;
  processPerfEnabled?: boolean;
  processPerfExpiresAt?: string;
  processPerfTopN?: number;
  inventoryEnabled?: boolean;
  inventoryInterval?: string;
  inventoryJitter?: string;
  inventoryCheckInterval?: string;
  maxLocalConcurrent?: number;
}

/** The resolved view: defaults ← global ← groups ← pc (wire §5.1), values still as on the wire. */
export interface EffectiveConfig {
  targetVersion: string | null;
  targetVersionJitter: string;
  heartbeatInterval: string;
  hostPerfInterval: string;
  processPerfEnabled: boolean;
  processPerfExpiresAt: string | null;
  processPerfTopN: number;
  inventoryEnabled: boolean;
  inventoryInterval: string;
  inventoryJitter: string;
  inventoryCheckInterval: string;
  /** 0 means "use the default" (the number of CPUs). */
  maxLocalConcurrent: number;
}

export interface AgentGroups {
  /** Sorted by byte order, without duplicates. Names are not checked here (behavior 10.1). */
  groups: string[];
}

export type ScheduleMode = "every_tick" | "once_per_pc" | "once_per_target";
export type RunsOn = "backend" | "agent";

export interface ScheduleTarget {
  all: boolean;
  pcs: string[];
  groups: string[];
}

/** The subset of a `schedules` value the agent reads (wire §5.3). */
export interface Schedule {
  id: string;
  /** 6 or 7 whitespace-separated fields; the field syntax is checked by the scheduler. */
  cron: string;
  jobId: string;
  target: ScheduleTarget;
  /** Raw humantime string. */
  jitter?: string;
  mode: ScheduleMode;
  /** Raw humantime string. */
  cooldown?: string;
  runsOn: RunsOn;
  enabled: boolean;
}

export interface ManifestExecute {
  shell: Shell;
  /** "" when the body lives in an object (`scriptObject`). */
  script: string;
  /** Set by later kanade manifests whose body is not inline: firing such a job gives exit 122. */
  scriptObject?: string;
  /** Raw humantime string; absent or invalid means 60 s. */
  timeout?: string;
  runAs: RunAs;
  cwd?: string;
}

/** The subset of a `jobs` value the agent reads (wire §5.3). */
export interface Manifest {
  id: string;
  version: string;
  execute: ManifestExecute;
  staleness: Staleness;
}

export interface DiskInfo {
  deviceId: string;
  sizeBytes: number;
  freeBytes: number;
  fileSystem: string | null;
}

export interface InventorySystem {
  manufacturer?: string;
  model?: string;
  serial?: string;
  uuid?: string;
  sku?: string;
  virtual?: boolean;
}

export interface InventoryBios {
  vendor?: string;
  version?: string;
  releaseDate?: string;
  serial?: string;
}

export interface InventoryBaseboard {
  manufacturer?: string;
  model?: string;
  version?: string;
  serial?: string;
  assetTag?: string;
}

export interface InventoryCpu {
  manufacturer?: string;
  brand?: string;
  speedGhz?: number;
  physicalCores?: number;
  logicalCores?: number;
  sockets?: number;
}

export interface MemoryModule {
  bank?: string;
  type?: string;
  manufacturer?: string;
  partNumber?: string;
  serial?: string;
  formFactor?: string;
  sizeBytes?: number;
  clockMhz?: number;
}

export interface PhysicalDisk {
  device?: string;
  name?: string;
  vendor?: string;
  type?: string;
  interfaceType?: string;
  serial?: string;
  firmwareRevision?: string;
  sizeBytes?: number;
}

export interface NetworkInterface {
  name?: string;
  mac?: string;
  type?: string;
  ipv4?: string[];
  ipv6?: string[];
  speedMbps?: number;
  virtual?: boolean;
  dhcp?: boolean;
}

export interface CollectionError {
  section: string;
  error: string;
}

/** wire §4.11: the legacy members plus the optional [ext] sections. */
export interface HwInventory {
  pcId: string;
  hostname: string;
  osName: string;
  osVersion: string;
  osBuild: string | null;
  cpuModel: string;
  cpuCores: number;
  ramBytes: number;
  disks: DiskInfo[];
  collectedAt: EpochMs;
  schemaVersion?: number;
  contentHash?: string;
  agentVersion?: string;
  osFamily?: string;
  osArch?: string;
  kernelVersion?: string;
  system?: InventorySystem;
  bios?: InventoryBios;
  baseboard?: InventoryBaseboard;
  cpu?: InventoryCpu;
  memoryModules?: MemoryModule[];
  physicalDisks?: PhysicalDisk[];
  networkInterfaces?: NetworkInterface[];
  collectionErrors?: CollectionError[];
}

/** `local_completions.json`: `"<schedule_id>::<job_id>"` → last successful completion. */
export type LocalCompletions = Map<string, EpochMs>;

export interface PendingRelease {
  version: string;
  armedAt: EpochMs;
  boots: number;
}

/** `staging/state.json` (behavior 15.8); `null` as a version means the base install. */
export interface ReleaseState {
  current: string | null;
  previous: string | null;
  pending: PendingRelease | null;
  quarantined: string[];
}
