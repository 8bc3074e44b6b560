import { existsSync } from "node:fs";
import { defaultConfigPath, type Env } from "./platformPaths.js";

export const CONFIG_ENV_VAR = "KANADE_AGENT_CONFIG";

export type ConfigSource = "flag" | "env" | "default";

export type DiscoveryResult =
  | { ok: true; path: string; source: ConfigSource }
  | { ok: false; error: string };

export interface DiscoveryInput {
  /** The value of `--config`, when given. */
  flag?: string | undefined;
  env?: Env;
  platform?: NodeJS.Platform;
  exists?: (path: string) => boolean;
}

/**
 * Finds agent.toml (behavior.md 1.3): `--config`, then a non-empty `$KANADE_AGENT_CONFIG`, then
 * the per-OS default when it exists. A path named explicitly must exist; it never falls through
 * to the next option, so a typo is reported instead of silently loading another file.
 */
export function discoverConfigPath(input: DiscoveryInput = {}): DiscoveryResult {
  const env = input.env ?? process.env;
  const platform = input.platform ?? process.platform;
  const exists = input.exists ?? existsSync;

  if (input.flag !== undefined) {
    if (input.flag === "") return { ok: false, error: "--config needs a file path" };
    return exists(input.flag)
      ? { ok: true, path: input.flag, source: "flag" }
      : { ok: false, error: `config file not found: ${input.flag} (given with --config)` };
  }

  const fromEnv = env[CONFIG_ENV_VAR];
  if (fromEnv !== undefined && fromEnv !== "") {
    return exists(fromEnv)
      ? { ok: true, path: fromEnv, source: "env" }
      : { ok: false, error: `config file not found: ${fromEnv} (given in $${CONFIG_ENV_VAR})` };
  }

  const fallback = defaultConfigPath(platform, env);
  if (exists(fallback)) return { ok: true, path: fallback, source: "default" };
  return {
    ok: false,
    error:
      `no config file found: pass --config <file>, set $${CONFIG_ENV_VAR} to the file's path, ` +
      `or create ${fallback}`,
  };
}
