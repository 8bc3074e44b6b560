// Start-up checks of behavior.md 17.1 and the local hardening: run after the config is loaded and
// before the data directory is prepared; a problem stops the agent with exit 2.
import type { AgentConfig } from "../config/agentConfig.js";
import { ConfigError } from "../config/configError.js";
import {
  dataDirPaths,
  findReadableByOthers,
  findWritableByOthers,
  keysFilePaths,
} from "../fs/permissions.js";
import { KeyringError, loadKeyring } from "./keyring.js";

/**
 * Throws ConfigError (exit 2) when the data directory or the keys file is writable by group or
 * others (POSIX), when the keys file is unreadable or invalid, or when `signing.require = true`
 * and the keyring holds no key. Returns warnings to log (paths readable by others).
 */
export async function checkSecurityAtStart(
  config: AgentConfig,
  platform: NodeJS.Platform = process.platform,
): Promise<{ warnings: string[] }> {
  const keysFile = config.signing?.keysFile;
  const trusted = [
    ...dataDirPaths(config.dataDir),
    ...(keysFile === undefined ? [] : keysFilePaths(keysFile)),
  ];
  const writable = await findWritableByOthers(trusted, platform);
  if (writable) {
    throw new ConfigError(config.configFile, `${writable.key}: ${writable.message}`, {
      key: writable.key,
    });
  }
  const readable = await findReadableByOthers(dataDirPaths(config.dataDir).slice(0, 1), platform);
  const warnings = readable.map(
    (p) =>
      `${p.what} ${p.path} is readable by group or others: results and scripts are kept there ` +
      `(restrict it with: chmod go-rwx ${p.path})`,
  );

  if (config.signing !== undefined && keysFile !== undefined) {
    try {
      const keyring = await loadKeyring(keysFile);
      if (config.signing.require && keyring.size === 0) {
        throw new ConfigError(
          config.configFile,
          `signing.keys_file: ${keysFile} holds no key, but signing.require = true would then ` +
            "refuse every command; add a key or set require = false",
          { key: "signing.keys_file" },
        );
      }
    } catch (err) {
      if (err instanceof KeyringError) {
        throw new ConfigError(config.configFile, `signing.keys_file: ${err.message}`, {
          key: "signing.keys_file",
        });
      }
      throw err;
    }
  }
  return { warnings };
}
