// The systeminformation calls behind each part of the inventory (behavior.md 14.6). A map of
// plain async functions, so a test can swap one for a stub that fails or never answers.
import { createRequire } from "node:module";
import si, { type Systeminformation } from "systeminformation";

export interface Collectors {
  osInfo(): Promise<Systeminformation.OsData>;
  cpu(): Promise<Systeminformation.CpuData>;
  mem(): Promise<Systeminformation.MemData>;
  /** Local fixed volumes only: on Windows the caller gets fixed drives alone (see below). */
  fsSize(): Promise<Systeminformation.FsSizeData[]>;
  system(): Promise<Systeminformation.SystemData>;
  uuid(): Promise<Systeminformation.UuidData>;
  bios(): Promise<Systeminformation.BiosData>;
  baseboard(): Promise<Systeminformation.BaseboardData>;
  memLayout(): Promise<Systeminformation.MemLayoutData[]>;
  diskLayout(): Promise<Systeminformation.DiskLayoutData[]>;
  networkInterfaces(): Promise<Systeminformation.NetworkInterfacesData[]>;
}

export type CollectorName = keyof Collectors;

/**
 * Call order: the calls behind required legacy members first, so that a collection cut short by
 * the overall time limit still has them from the library rather than from the fallbacks.
 */
export const COLLECTOR_NAMES: readonly CollectorName[] = [
  "osInfo",
  "cpu",
  "mem",
  "fsSize",
  "system",
  "uuid",
  "bios",
  "baseboard",
  "memLayout",
  "diskLayout",
  "networkInterfaces",
];

/** The payload part a failed call is reported under in `collection_errors` (wire §4.11). */
export const SECTION_OF: Readonly<Record<CollectorName, string>> = {
  osInfo: "os",
  cpu: "cpu",
  mem: "ram",
  fsSize: "disks",
  system: "system",
  uuid: "system",
  bios: "bios",
  baseboard: "baseboard",
  memLayout: "memory_modules",
  diskLayout: "physical_disks",
  networkInterfaces: "network_interfaces",
};

/** A persistent shell shared by every call of one collection (Windows only). */
export interface ShellSession {
  start(): void;
  release(): void;
}

export const systeminformationShell: ShellSession = {
  start: () => si.powerShellStart(),
  release: () => si.powerShellRelease(),
};

/** A full network rescan at least this often; in between only when the address set changed. */
export const NETWORK_RESCAN_MS = 24 * 3_600_000;
/** How long static hardware facts (CPU, system, BIOS, board, memory and disk layout) are kept. */
export const STATIC_FACTS_MS = 24 * 3_600_000;

/** The last successful answer of `call` for `ttlMs`; a failure is never cached. */
function cachedFor<T>(
  call: () => Promise<T>,
  ttlMs: number,
  monotonic: () => number,
): () => Promise<T> {
  let cached: { at: number; value: T } | undefined;
  return async () => {
    if (cached && monotonic() - cached.at < ttlMs) return cached.value;
    const value = await call();
    cached = { at: monotonic(), value };
    return value;
  };
}

/**
 * The real calls. `versions()` and the other slow probes are deliberately absent.
 * `networkInterfaces()` is by far the most expensive call (a shell per interface on Linux), and
 * the library can reuse its previous answer while the runtime's address list is unchanged; that
 * reuse is allowed for a day at most, so that a changed link speed still shows within a day.
 */
export function systeminformationCollectors(
  platform: NodeJS.Platform,
  monotonic: () => number = () => performance.now(),
): Collectors {
  let lastFullScan = Number.NEGATIVE_INFINITY;
  const networkInterfaces = async () => {
    const rescan = monotonic() - lastFullScan >= NETWORK_RESCAN_MS;
    const result = await si.networkInterfaces(rescan);
    if (rescan) lastFullScan = monotonic();
    return result;
  };
  // Hardware facts change with a reboot (which restarts the agent) or not at all: asked again at
  // most once a day, they cost the hourly check nothing (each is a shell or two on Linux).
  const daily = <T>(call: () => Promise<T>) => cachedFor(call, STATIC_FACTS_MS, monotonic);
  return {
    osInfo: () => si.osInfo(),
    cpu: daily(() => si.cpu()),
    mem: () => si.mem(),
    fsSize: platform === "win32" ? windowsFixedDrives : () => si.fsSize(),
    system: daily(() => si.system()),
    uuid: daily(() => si.uuid()),
    bios: daily(() => si.bios()),
    baseboard: daily(() => si.baseboard()),
    memLayout: daily(() => si.memLayout()),
    diskLayout: daily(() => si.diskLayout()),
    networkInterfaces,
  };
}

type PowerShellRunner = (command: string) => Promise<string>;

/**
 * systeminformation's `fsSize()` lists every logical disk on Windows, removable and network
 * drives included, and says nothing of the drive type. The drive types come from one more
 * query through the library's shell runner, so it rides on the collection's persistent
 * PowerShell instead of starting another one. The runner is internal to the library; if a
 * future version moves it, the query fails and the disks section is reported as failed rather
 * than filled with drives that are not fixed.
 */
async function windowsFixedDrives(): Promise<Systeminformation.FsSizeData[]> {
  const runner = libraryPowerShell();
  if (runner === null) throw new Error("systeminformation's PowerShell runner is not available");
  const [all, listing] = await Promise.all([
    si.fsSize(),
    runner(
      "Get-CimInstance -ClassName Win32_LogicalDisk -Filter 'DriveType=3' | ForEach-Object { $_.DeviceID }",
    ),
  ]);
  const fixed = new Set(
    String(listing)
      .split(/\r?\n/)
      .map((line) => line.trim().toUpperCase())
      .filter((line) => /^[A-Z]:$/.test(line)),
  );
  // The runner answers "" instead of failing; Windows always has a fixed system drive.
  if (fixed.size === 0) throw new Error("the fixed drive letters could not be listed");
  return all.filter((v) => fixed.has(v.mount.trim().toUpperCase()));
}

function libraryPowerShell(): PowerShellRunner | null {
  try {
    const util = createRequire(import.meta.url)("systeminformation/lib/util.js") as {
      powerShell?: unknown;
    };
    return typeof util.powerShell === "function" ? (util.powerShell as PowerShellRunner) : null;
  } catch {
    return null;
  }
}
