// Sizes of texts inside a JSON document, computed from raw bytes. Fitting tries many cuts of
// outputs up to megabytes long; decoding and serializing each candidate costs tens of
// milliseconds per megabyte, a byte scan a fraction of that.

const REPLACEMENT_COST = 3; // U+FFFD in UTF-8

// JSON.stringify escapes `"`, `\` and control characters: \b \t \n \f \r take two bytes, the other
// controls six (\u00XX). Everything else is written as its UTF-8 bytes.
const ASCII_COST = new Uint8Array(128).map((_, c) => {
  if (c === 0x22 || c === 0x5c) return 2;
  if (c >= 0x20) return 1;
  return c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 2 : 6;
});

/**
 * Bytes that the text of `buf[start, end)` takes inside a JSON string (quotes excluded), where the
 * text is the UTF-8 decoding with U+FFFD for each maximal invalid subsequence (the WHATWG decoder,
 * which `Buffer#toString("utf8")` follows). Equals
 * `Buffer.byteLength(JSON.stringify(buf.subarray(start, end).toString("utf8"))) - 2`.
 */
export function jsonTextCost(buf: Uint8Array, start = 0, end = buf.length): number {
  let cost = 0;
  let needed = 0;
  let seen = 0;
  let lower = 0x80;
  let upper = 0xbf;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (needed === 0) {
      if (b < 0x80) cost += ASCII_COST[b]!;
      else if (b >= 0xc2 && b <= 0xdf) needed = 1;
      else if (b >= 0xe0 && b <= 0xef) {
        if (b === 0xe0) lower = 0xa0;
        else if (b === 0xed) upper = 0x9f;
        needed = 2;
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b === 0xf0) lower = 0x90;
        else if (b === 0xf4) upper = 0x8f;
        needed = 3;
      } else cost += REPLACEMENT_COST;
      continue;
    }
    if (b < lower || b > upper) {
      // The sequence so far is one replacement character; this byte starts afresh.
      cost += REPLACEMENT_COST;
      needed = 0;
      seen = 0;
      lower = 0x80;
      upper = 0xbf;
      i--;
      continue;
    }
    lower = 0x80;
    upper = 0xbf;
    seen++;
    if (seen === needed) {
      cost += needed + 1;
      needed = 0;
      seen = 0;
    }
  }
  if (needed !== 0) cost += REPLACEMENT_COST;
  return cost;
}

/** Bytes a string takes inside a JSON document, quotes excluded. */
export const jsonStringCost = (text: string): number => Buffer.byteLength(JSON.stringify(text)) - 2;
