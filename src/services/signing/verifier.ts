// The signature step of behavior.md 5.2 step 2 and §17: judges one command message (headers +
// exact body bytes + its envelope, if any) against the keyring, in observe or enforce mode.
import type { Logger } from "../logging/logger.js";
import type { Clock } from "../time/clock.js";
import type { CommandMessage } from "../wire/commandEnvelope.js";
import { parseSignatureHeaders, signedBytes } from "../wire/signatureHeaders.js";
import { ed25519Verify } from "./ed25519.js";
import { Keyring, loadKeyring } from "./keyring.js";
import { isFailure, type OutcomeKind, outcomeText, type SignatureOutcome } from "./outcome.js";

/** behavior.md 17.6: the keys file is re-read for an unknown kid at most this often. */
export const KEY_RELOAD_INTERVAL_MS = 60_000;
/** Failure logs: the first of each outcome, then at most one per outcome per this period. */
export const FAILURE_LOG_INTERVAL_MS = 60_000;

export interface VerifierOptions {
  pcId: string;
  /** Enforce (`true`) or observe (`false`), behavior.md 17.4/17.5. */
  require: boolean;
  /** `[signing] require_envelope`: legacy bodies fail with `envelope required`. */
  requireEnvelope?: boolean;
  /** Re-read on an unknown kid (17.6); absent = nothing to re-read. */
  keysFile?: string;
  keyring: Keyring;
  clock: Clock;
  log: Logger;
  /** Replaces `loadKeyring` (tests). */
  loadKeys?: (file: string) => Promise<Keyring>;
}

/** One message as the verifier sees it. */
export interface VerifyInput {
  body: Uint8Array;
  /** Header lookup; `undefined` when the header is absent. */
  header: (name: string) => string | undefined;
  message: CommandMessage;
  /** For log lines only. */
  subject: string;
  requestId?: string;
}

export interface Verdict {
  accepted: boolean;
  outcome: SignatureOutcome;
}

export class CommandVerifier {
  readonly enforcing: boolean;
  readonly #o: VerifierOptions;
  #keyring: Keyring;
  #lastReload: number | undefined;
  #reloading: Promise<void> | undefined;
  readonly #lastLogged = new Map<OutcomeKind, { at: number; suppressed: number }>();

  constructor(opts: VerifierOptions) {
    this.#o = opts;
    this.enforcing = opts.require;
    this.#keyring = opts.keyring;
  }

  /** Opens the verifier of a `[signing]` table, loading the keys file (KeyringError on failure). */
  static async open(
    signing: { require: boolean; requireEnvelope?: boolean; keysFile?: string },
    deps: { pcId: string; clock: Clock; log: Logger },
  ): Promise<CommandVerifier> {
    const keyring =
      signing.keysFile === undefined ? new Keyring([]) : await loadKeyring(signing.keysFile);
    deps.log.info(
      {
        mode: signing.require ? "enforce" : "observe",
        require_envelope: signing.requireEnvelope ?? false,
        keys: keyring.size,
        kids: keyring.kids,
      },
      "command signatures checked",
    );
    return new CommandVerifier({ ...deps, ...signing, keyring });
  }

  get keyring(): Keyring {
    return this.#keyring;
  }

  /** The verdict on one message; logs failures (rate-limited). Never throws. */
  async check(input: VerifyInput): Promise<Verdict> {
    let outcome = this.#judge(input);
    if (outcome.kind === "unknown key" && (await this.#reload(outcome.kid))) {
      outcome = this.#judge(input);
    }
    const accepted = this.enforcing ? outcome.kind === "valid" : true;
    this.#report(input, outcome, accepted);
    return { accepted, outcome };
  }

  #judge(input: VerifyInput): SignatureOutcome {
    const signature = this.#signature(input);
    if (signature.kind !== "valid") return signature;
    const m = input.message;
    if (m.form === "legacy") {
      return this.#o.requireEnvelope ? { kind: "envelope required" } : signature;
    }
    if (!m.envelope.ok) return { kind: "malformed envelope", reason: m.envelope.error.message };
    const { targetPcId, expiresAt } = m.envelope.value;
    if (targetPcId !== this.#o.pcId) return { kind: "wrong target", target: targetPcId };
    if (this.#o.clock.now() >= expiresAt) return { kind: "expired", expiresAt };
    return signature;
  }

  /** behavior.md 17.3, over the exact body bytes. */
  #signature(input: VerifyInput): SignatureOutcome {
    const h = parseSignatureHeaders(input.header);
    if (h.kind === "unsigned") return h;
    if (h.kind === "malformed") return h;
    if (h.alg !== "ed25519") return { kind: "unsupported algorithm", alg: h.alg };
    const entry = this.#keyring.get(h.kid);
    if (!entry) return { kind: "unknown key", kid: h.kid };
    if (!ed25519Verify(signedBytes(h.atMs, input.body), h.sig, entry.key)) {
      return { kind: "invalid", kid: h.kid };
    }
    const skewMs = this.#o.clock.now() - h.atMs;
    if (entry.maxAgeMs !== undefined && Math.abs(skewMs) > entry.maxAgeMs) {
      return { kind: "stale", kid: h.kid, skewMs };
    }
    return { kind: "valid", kid: h.kid };
  }

  /** 17.6: re-read the keys file (at most once per 60 s); true when it was re-read. */
  async #reload(kid: string): Promise<boolean> {
    const file = this.#o.keysFile;
    if (file === undefined) return false;
    if (this.#reloading) {
      await this.#reloading;
      return true;
    }
    const now = this.#o.clock.monotonic();
    if (this.#lastReload !== undefined && now - this.#lastReload < KEY_RELOAD_INTERVAL_MS) {
      return false;
    }
    this.#lastReload = now;
    const load = this.#o.loadKeys ?? loadKeyring;
    this.#reloading = load(file).then(
      (keyring) => {
        this.#keyring = keyring;
        this.#o.log.info(
          { keys_file: file, keys: keyring.size, kids: keyring.kids, asked_for: kid },
          "signing keys re-read for an unknown kid",
        );
      },
      (err: unknown) =>
        this.#o.log.warn(
          { keys_file: file, err: err instanceof Error ? err.message : String(err) },
          "signing keys re-read failed; keeping the current keys",
        ),
    );
    try {
      await this.#reloading;
    } finally {
      this.#reloading = undefined;
    }
    return true;
  }

  #report(input: VerifyInput, outcome: SignatureOutcome, accepted: boolean): void {
    const fields = {
      subject: input.subject,
      ...(input.requestId === undefined ? {} : { request_id: input.requestId }),
      signature: outcomeText(outcome),
      ...("reason" in outcome ? { reason: outcome.reason } : {}),
    };
    if (!isFailure(outcome) && accepted) {
      this.#o.log.debug(fields, "command signature checked");
      return;
    }
    const now = this.#o.clock.monotonic();
    const last = this.#lastLogged.get(outcome.kind);
    if (last && now - last.at < FAILURE_LOG_INTERVAL_MS) {
      last.suppressed += 1;
      this.#o.log.debug(fields, accepted ? "command signature not valid" : "command refused");
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.#lastLogged.set(outcome.kind, { at: now, suppressed: 0 });
    const more = suppressed > 0 ? { suppressed_since_last: suppressed } : {};
    if (accepted) {
      this.#o.log.warn(
        { ...fields, ...more },
        "command signature not valid; accepted because signing.require = false (observe mode)",
      );
    } else {
      this.#o.log.warn({ ...fields, ...more }, "command refused: signature not accepted");
    }
  }
}
