import type { LogLevel } from "../logging/logger.js";
import type { Secret } from "./secret.js";

export const LOG_LEVELS: readonly LogLevel[] = ["error", "warn", "info", "debug", "trace"];

/** How the agent authenticates to NATS. At most one mode is configured (behavior.md 1.7, `[nats]`). */
export type NatsAuth =
  | { mode: "none" }
  | { mode: "token"; token: Secret }
  | { mode: "token_file"; file: string }
  | { mode: "user_password"; user: string; password: Secret }
  | { mode: "creds_file"; file: string }
  | { mode: "nkey_seed_file"; file: string };

export type NatsAuthMode = NatsAuth["mode"];

export interface NatsTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** agent.toml after templating, validation, defaults and path resolution. */
export interface AgentConfig {
  /** The file this was loaded from, as given to the loader; used in error messages. */
  configFile: string;
  pcId: string;
  /** False when the pc_id cannot be a KV key: no group membership, no `pcs.<pc_id>` scope. */
  pcIdKvSafe: boolean;
  /** One or more server URLs, passed to the client unchanged (credentials in them included). */
  natsUrls: string[];
  dataDir: string;
  log: { path: string; level: LogLevel; keepDays: number };
  /** Absent when agent.toml has no `[signing]` table: signature headers are then ignored. */
  signing?: { require: boolean; keysFile?: string; requireEnvelope?: boolean };
  nats: { auth: NatsAuth; tls?: NatsTls };
}
