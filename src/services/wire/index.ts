// The wire codecs: the only place that knows a field name (design.md). zod stays inside.
export { decodeAgentGroups, encodeAgentGroups, normalizeGroups } from "./agentGroups.js";
export {
  type CommandIntake,
  classifyCommandBody,
  decodeCommand,
  encodeCommand,
  RUN_AS,
  SHELLS,
} from "./command.js";
export {
  applyScope,
  DEFAULT_EFFECTIVE_CONFIG,
  decodeConfigScope,
  decodeEffectiveConfig,
  defaultEffectiveConfig,
  encodeConfigScope,
  encodeEffectiveConfig,
} from "./configScope.js";
export { type Decoded, fail, ok, type WireError } from "./decoded.js";
export { formatDuration, parseDuration } from "./duration.js";
export {
  type EffectiveSettings,
  interpretEffectiveConfig,
  isProcessPerfActive,
} from "./effectiveSettings.js";
export { decodeEventStarted, encodeEventStarted } from "./eventStarted.js";
export { decodeExecResult, encodeExecResult } from "./execResult.js";
export { decodeHeartbeat, encodeHeartbeat } from "./heartbeat.js";
export { decodeHostPerf, encodeHostPerf } from "./hostPerf.js";
export { decodeHwInventory, encodeHwInventory, inventoryContentHash } from "./hwInventory.js";
export { dottedNameProblem, isKvKeySafe, tokenProblem } from "./ids.js";
export { parseJson } from "./json.js";
export {
  completionKey,
  decodeLocalCompletions,
  encodeLocalCompletions,
} from "./localCompletions.js";
export {
  DEFAULT_TAIL_LINES,
  decodeLogsRequest,
  decodeLogsRequestValue,
  encodeLogsRequest,
} from "./logsRequest.js";
export { decodeManifest, encodeManifest } from "./manifest.js";
export { decodeProcessPerf, encodeProcessPerf } from "./processPerf.js";
export { decodeReleaseState, emptyReleaseState, encodeReleaseState } from "./releaseState.js";
export { decodeSchedule, encodeSchedule, RUNS_ON, SCHEDULE_MODES } from "./schedule.js";
export {
  parseSignatureHeaders,
  SIG_ALG_HEADER,
  SIG_AT_HEADER,
  SIG_HEADER,
  SIG_KID_HEADER,
  type SignatureHeaders,
  signedBytes,
} from "./signatureHeaders.js";
export { formatTimestamp, parseTimestamp } from "./timestamp.js";
export type * from "./types.js";
