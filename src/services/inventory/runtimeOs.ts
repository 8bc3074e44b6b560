// The runtime's own view of the host: the fallback for required legacy members when a
// systeminformation call fails (behavior.md 14.6), and the source of `os_family`/`os_arch`.
import os from "node:os";

export interface RuntimeOs {
  /** `Linux`, `Windows_NT`, `Darwin`. */
  type(): string;
  release(): string;
  arch(): string;
  hostname(): string;
  cpuModel(): string;
  cpuCount(): number;
  totalMemory(): number;
}

export const nodeRuntimeOs: RuntimeOs = {
  type: () => os.type(),
  release: () => os.release(),
  arch: () => os.arch(),
  hostname: () => os.hostname(),
  cpuModel: () => os.cpus()[0]?.model.trim() ?? "",
  cpuCount: () => os.availableParallelism(),
  totalMemory: () => os.totalmem(),
};

/** As the heartbeat reports it (wire §4.7): `windows`, `linux`, `macos`, else the platform name. */
export function osFamilyOf(platform: NodeJS.Platform): string {
  if (platform === "win32") return "windows";
  if (platform === "darwin") return "macos";
  return platform;
}

/** wire §4.7: env `COMPUTERNAME`, else env `HOSTNAME`, else the OS host name. */
export function inventoryHostname(env: NodeJS.ProcessEnv, osHostname: string): string {
  return env.COMPUTERNAME || env.HOSTNAME || osHostname;
}
