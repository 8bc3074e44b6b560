// Object metadata carries the content digest as `SHA-256=<base64url of the 32-byte digest>`,
// padding optional on read (wire.md §7).

const PREFIX = "SHA-256=";
const BASE64URL_32 = /^[A-Za-z0-9_-]{43}=?$/;

/** The 32 digest bytes, or null when `digest` is missing or not a SHA-256 digest. */
export function parseSha256Digest(digest: string | undefined | null): Buffer | null {
  if (!digest?.startsWith(PREFIX)) return null;
  const text = digest.slice(PREFIX.length);
  // Node's decoder skips characters it does not know: check the alphabet first.
  if (!BASE64URL_32.test(text)) return null;
  const bytes = Buffer.from(text.replace(/=$/, ""), "base64url");
  return bytes.length === 32 ? bytes : null;
}

/** The metadata form of a digest (padded, as nats.js writes it). */
export function formatSha256Digest(bytes: Uint8Array): string {
  return `${PREFIX}${Buffer.from(bytes).toString("base64url")}=`;
}
