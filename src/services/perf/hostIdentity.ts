import { defaultHostName } from "../config/templates.js";

/** Heartbeat members read once at start (behavior.md 12.3). */
export interface HostIdentity {
  hostname: string;
  osFamily: string;
}

/** wire §4.7: `windows`, `linux`, `macos`; other platforms by the runtime's platform name. */
export function osFamilyOf(platform: NodeJS.Platform): string {
  switch (platform) {
    case "win32":
      return "windows";
    case "darwin":
      return "macos";
    default:
      return platform;
  }
}

export function readHostIdentity(
  platform: NodeJS.Platform,
  env: Record<string, string | undefined> = process.env,
): HostIdentity {
  return { hostname: defaultHostName(env), osFamily: osFamilyOf(platform) };
}
