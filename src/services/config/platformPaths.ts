import path from "node:path";

export type Env = Readonly<Record<string, string | undefined>>;

const isWindows = (platform: NodeJS.Platform): boolean => platform === "win32";

/** Path semantics of the target platform, so Windows defaults can be tested anywhere. */
export const pathFor = (platform: NodeJS.Platform): path.PlatformPath =>
  isWindows(platform) ? path.win32 : path.posix;

/** `%ProgramData%`, looked up case-insensitively because a test or service may pass any casing. */
function programData(env: Env): string {
  for (const [name, value] of Object.entries(env)) {
    if (name.toLowerCase() === "programdata" && value) return value;
  }
  return "C:\\ProgramData";
}

export function defaultConfigPath(platform: NodeJS.Platform, env: Env): string {
  return isWindows(platform)
    ? path.win32.join(programData(env), "Kanade", "config", "agent.toml")
    : "/etc/kanade/agent.toml";
}

export function defaultDataDir(platform: NodeJS.Platform, env: Env): string {
  return isWindows(platform)
    ? path.win32.join(programData(env), "Kanade", "data")
    : "/var/lib/kanade";
}

export function defaultLogPath(platform: NodeJS.Platform, env: Env): string {
  return isWindows(platform)
    ? path.win32.join(programData(env), "Kanade", "logs", "agent.log")
    : "/var/log/kanade/agent.log";
}
