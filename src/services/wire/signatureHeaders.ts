// Command signature headers (wire.md §3.2). Only parsing and the signed byte layout live
// here; keyring, algorithm support and verification are the signing service's.

export const SIG_HEADER = "Kanade-Sig";
export const SIG_KID_HEADER = "Kanade-Sig-Kid";
export const SIG_ALG_HEADER = "Kanade-Sig-Alg";
export const SIG_AT_HEADER = "Kanade-Sig-At";
const SIGNATURE_BYTES = 64;

export type SignatureHeaders =
  | { kind: "unsigned" }
  /** `alg` is as sent (`ed25519` when absent); whether it is supported is the verifier's call. */
  | { kind: "signed"; sig: Uint8Array; kid: string; alg: string; atMs: number }
  | { kind: "malformed"; reason: string };

const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL_INTEGER = /^-?[0-9]+$/;

/** Reads the four headers through `get` (the caller's header lookup). */
export function parseSignatureHeaders(get: (name: string) => string | undefined): SignatureHeaders {
  const sig = get(SIG_HEADER);
  const kid = get(SIG_KID_HEADER);
  const alg = get(SIG_ALG_HEADER);
  const at = get(SIG_AT_HEADER);
  if (sig === undefined && kid === undefined && alg === undefined && at === undefined) {
    return { kind: "unsigned" };
  }
  const missing = [
    [SIG_HEADER, sig],
    [SIG_KID_HEADER, kid],
    [SIG_AT_HEADER, at],
  ]
    .filter(([, v]) => v === undefined)
    .map(([name]) => name);
  if (missing.length > 0) return { kind: "malformed", reason: `missing ${missing.join(", ")}` };
  if (kid === "" || kid === undefined)
    return { kind: "malformed", reason: `${SIG_KID_HEADER} is empty` };
  if (sig === undefined || !STANDARD_BASE64.test(sig)) {
    return { kind: "malformed", reason: `${SIG_HEADER} is not standard padded base64` };
  }
  const bytes = new Uint8Array(Buffer.from(sig, "base64"));
  if (bytes.length !== SIGNATURE_BYTES) {
    return {
      kind: "malformed",
      reason: `${SIG_HEADER} holds ${bytes.length} bytes, expected ${SIGNATURE_BYTES}`,
    };
  }
  const atMs = at !== undefined && DECIMAL_INTEGER.test(at) ? Number(at) : Number.NaN;
  if (!Number.isSafeInteger(atMs)) {
    return { kind: "malformed", reason: `${SIG_AT_HEADER} is not an integer of milliseconds` };
  }
  return { kind: "signed", sig: bytes, kid, alg: alg ?? "ed25519", atMs };
}

/** The bytes a signature covers: be64(at_ms) ‖ body, the body exactly as received. */
export function signedBytes(atMs: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + body.length);
  new DataView(out.buffer).setBigInt64(0, BigInt(atMs), false);
  out.set(body, 8);
  return out;
}
