// Command signatures (behavior.md §17, wire §3.2) and the v2 command envelope.
export {
  defaultKid,
  ED25519_KEY_BYTES,
  type GeneratedKeyPair,
  generateKeyPair,
  publicKeyFromRaw,
  rawPublicKey,
} from "./ed25519.js";
export {
  Keyring,
  type KeyringEntry,
  KeyringError,
  loadKeyring,
  MAX_KEYRING_BYTES,
  parseKeyring,
} from "./keyring.js";
export {
  isFailure,
  type OutcomeKind,
  outcomeText,
  refusalNote,
  type SignatureOutcome,
} from "./outcome.js";
export { OID_NAMESPACE, refusalResultId, uuidV5 } from "./refusal.js";
export {
  buildEnvelopeV2,
  formatPrivateKeyFile,
  keyringEntry,
  parsePrivateKeyFile,
  signCommandBody,
} from "./sign.js";
export { checkSecurityAtStart } from "./startupChecks.js";
export {
  CommandVerifier,
  FAILURE_LOG_INTERVAL_MS,
  KEY_RELOAD_INTERVAL_MS,
  type Verdict,
  type VerifierOptions,
  type VerifyInput,
} from "./verifier.js";
