// Payload bytes → JSON value (wire.md §1.1.1): strict UTF-8, no byte order mark.
import { type Decoded, fail, ok } from "./decoded.js";

// ignoreBOM keeps a leading U+FEFF in the text so that we can refuse it instead of hiding it.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Parses a payload. Never throws: invalid UTF-8, a BOM or invalid JSON give an error. */
export function parseJson(body: Uint8Array | string): Decoded<unknown> {
  let text: string;
  if (typeof body === "string") {
    text = body;
  } else {
    try {
      text = utf8.decode(body);
    } catch {
      return fail("", "not valid UTF-8");
    }
  }
  if (text.charCodeAt(0) === 0xfeff) return fail("", "not JSON: starts with a byte order mark");
  try {
    return ok(JSON.parse(text) as unknown);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return fail("", `not valid JSON: ${reason.length > 120 ? `${reason.slice(0, 120)}…` : reason}`);
  }
}
