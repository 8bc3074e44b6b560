// The outcomes of the signature step (behavior.md 17.3) plus those of the command envelope
// (wire/commandEnvelope.ts), and their wording in a refusal (`refused: command signature <text>`).

export type SignatureOutcome =
  | { kind: "unsigned" }
  | { kind: "valid"; kid: string }
  | { kind: "malformed"; reason: string }
  | { kind: "unsupported algorithm"; alg: string }
  | { kind: "unknown key"; kid: string }
  | { kind: "invalid"; kid: string }
  /** `skewMs` = now − signing time (negative: signed "in the future"). */
  | { kind: "stale"; kid: string; skewMs: number }
  /** `[signing] require_envelope = true` and the body is a legacy Command. */
  | { kind: "envelope required" }
  | { kind: "malformed envelope"; reason: string }
  | { kind: "wrong target"; target: string }
  | { kind: "expired"; expiresAt: number };

export type OutcomeKind = SignatureOutcome["kind"];

/** What a target id may add to a stderr note; it comes from the (signed) body. */
const MAX_TARGET_SHOWN = 200;

/** The `<outcome>` of `refused: command signature <outcome>` (wire §4.4). */
export function outcomeText(o: SignatureOutcome): string {
  switch (o.kind) {
    case "unknown key":
      return `unknown key ${o.kid}`;
    case "wrong target":
      return `wrong target ${o.target.slice(0, MAX_TARGET_SHOWN)}`;
    default:
      return o.kind;
  }
}

/** The stderr of an exit-123 result. */
export function refusalNote(o: SignatureOutcome): string {
  return `refused: command signature ${outcomeText(o)}`;
}

/** 17.3: `unsigned` and `valid` are outcomes; everything else is a failure. */
export function isFailure(o: SignatureOutcome): boolean {
  return o.kind !== "unsigned" && o.kind !== "valid";
}
