export type { AgentConfig, NatsAuth, NatsAuthMode, NatsTls } from "./agentConfig.js";
export { LOG_LEVELS } from "./agentConfig.js";
export { ConfigError } from "./configError.js";
export {
  type ConnectionOptionsInput,
  MAX_SECRET_FILE_BYTES,
  toConnectionOptions,
} from "./connectionOptions.js";
export { type ConfigDescription, describeConfig, maskUrlCredentials } from "./describeConfig.js";
export {
  CONFIG_ENV_VAR,
  type ConfigSource,
  type DiscoveryInput,
  type DiscoveryResult,
  discoverConfigPath,
} from "./discover.js";
export {
  LOG_LEVEL_ENV_VAR,
  type LoadedConfig,
  type LoadOptions,
  loadAgentConfig,
  MAX_CONFIG_BYTES,
  NATS_TOKEN_ENV_VAR,
} from "./loadAgentConfig.js";
export { defaultConfigPath, defaultDataDir, defaultLogPath, type Env } from "./platformPaths.js";
export { Secret } from "./secret.js";
export { defaultHostName, expandTemplates } from "./templates.js";
