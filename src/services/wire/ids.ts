// Identifier rules of wire.md §1.4. Each function returns the broken rule as text, or null
// when the value is acceptable, so callers can quote it in their own error.

const CONTROL_OR_SPACE = /[\s\p{Cc}]/u;
const KV_KEY_SAFE = /^[A-Za-z0-9_=/.-]+$/;

/** request_id / exec_id: exactly one subject token (wire §1.4.2). */
export function tokenProblem(value: string): string | null {
  if (value.length === 0) return "must not be empty";
  if (Buffer.byteLength(value, "utf8") > 200) return "must be at most 200 bytes";
  if (CONTROL_OR_SPACE.test(value)) return "must not contain whitespace or control characters";
  if (/[.*>]/.test(value)) return "must be one subject token (no '.', '*' or '>')";
  return null;
}

/** pc_id and group names: may span several tokens (wire §1.4.1, §1.4.3). */
export function dottedNameProblem(value: string): string | null {
  if (value.length === 0) return "must not be empty";
  if (Buffer.byteLength(value, "utf8") > 200) return "must be at most 200 bytes";
  if (CONTROL_OR_SPACE.test(value)) return "must not contain whitespace or control characters";
  if (/[*>]/.test(value)) return "must not contain '*' or '>'";
  if (value.startsWith(".") || value.endsWith(".")) return "must not start or end with '.'";
  if (value.includes("..")) return "must not contain an empty token ('..')";
  return null;
}

/** Whether a pc_id can be used as a KV key (behavior.md 1.6). */
export const isKvKeySafe = (value: string): boolean => KV_KEY_SAFE.test(value);
