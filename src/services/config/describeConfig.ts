import type { AgentConfig, NatsAuthMode } from "./agentConfig.js";

/** What the agent logs about its configuration at start: never a credential. */
export interface ConfigDescription {
  config_file: string;
  pc_id: string;
  pc_id_kv_safe: boolean;
  nats_urls: string[];
  data_dir: string;
  log_path: string;
  log_level: string;
  log_keep_days: number;
  auth: NatsAuthMode;
  tls: boolean;
  signing: "off" | "observe" | "enforce";
}

/** `nats://user:pass@host` → `nats://***@host`; a lone `token@` is hidden the same way. */
export function maskUrlCredentials(url: string): string {
  return url.replace(
    /^((?:[A-Za-z][A-Za-z0-9+.-]*:)?\/\/)?[^@/?#]*@/,
    (_m, scheme = "") => `${scheme}***@`,
  );
}

export function describeConfig(config: AgentConfig): ConfigDescription {
  return {
    config_file: config.configFile,
    pc_id: config.pcId,
    pc_id_kv_safe: config.pcIdKvSafe,
    nats_urls: config.natsUrls.map(maskUrlCredentials),
    data_dir: config.dataDir,
    log_path: config.log.path,
    log_level: config.log.level,
    log_keep_days: config.log.keepDays,
    auth: config.nats.auth.mode,
    tls: config.nats.tls !== undefined || config.natsUrls.some((u) => /^tls:\/\//i.test(u)),
    signing: config.signing === undefined ? "off" : config.signing.require ? "enforce" : "observe",
  };
}
