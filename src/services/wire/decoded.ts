/** The outcome of decoding untrusted input: a typed value or an error naming the field. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; error: WireError };

export interface WireError {
  /** Dotted path of the offending member (`staleness.max_cache_age`), or "" for the whole value. */
  field: string;
  /** Human-readable, always mentions the field: `timeout_secs: expected an integer ≥ 0`. */
  message: string;
}

export const ok = <T>(value: T): Decoded<T> => ({ ok: true, value });
export const fail = <T = never>(field: string, problem: string): Decoded<T> => ({
  ok: false,
  error: { field, message: field ? `${field}: ${problem}` : problem },
});
