// Durations in the Rust `humantime` style (wire.md §1.3). The scanner follows humantime's own
// grammar (whitespace may appear between and around groups, a digit may directly follow a
// unit as in "1h30m") so that a value the Rust agent accepted is accepted here too; the unit
// list is exactly the one the spec names.

const MS_PER_SECOND = 1000;
const MS_PER_DAY = 86_400_000;

const UNIT_MS: ReadonlyMap<string, number> = new Map([
  ...["ms", "msec"].map((u) => [u, 1] as const),
  ...["s", "sec", "secs", "second", "seconds"].map((u) => [u, MS_PER_SECOND] as const),
  ...["m", "min", "mins", "minute", "minutes"].map((u) => [u, 60 * MS_PER_SECOND] as const),
  ...["h", "hr", "hrs", "hour", "hours"].map((u) => [u, 3_600 * MS_PER_SECOND] as const),
  ...["d", "day", "days"].map((u) => [u, MS_PER_DAY] as const),
  ...["w", "week", "weeks"].map((u) => [u, 7 * MS_PER_DAY] as const),
  // humantime: a month is 30.44 days and a year 365.25 days, both whole seconds.
  ...["M", "month", "months"].map((u) => [u, 2_630_016 * MS_PER_SECOND] as const),
  ...["y", "year", "years"].map((u) => [u, 31_557_600 * MS_PER_SECOND] as const),
]);

const isDigit = (c: string): boolean => c >= "0" && c <= "9";
const isLetter = (c: string): boolean => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");
const isSpace = (c: string): boolean => /\s/u.test(c);

/**
 * humantime string → milliseconds, or null when invalid. `"0"` is zero; any other number
 * without a unit, an unknown unit (units are case-sensitive: `m` minute, `M` month), a sign,
 * a fraction or a total beyond 2^53−1 ms is invalid.
 */
export function parseDuration(s: string): number | null {
  if (s === "0") return 0;
  const chars = [...s];
  let i = 0;
  let total = 0;
  let groups = 0;
  for (;;) {
    while (i < chars.length && isSpace(chars[i]!)) i++;
    if (i >= chars.length) return groups > 0 ? total : null;
    if (!isDigit(chars[i]!)) return null;
    let n = 0;
    // humantime lets whitespace sit between the digits of one number and before its unit.
    while (i < chars.length && (isDigit(chars[i]!) || isSpace(chars[i]!))) {
      const c = chars[i]!;
      if (isDigit(c)) {
        n = n * 10 + (c.charCodeAt(0) - 48);
        if (n > Number.MAX_SAFE_INTEGER) return null;
      }
      i++;
    }
    let unit = "";
    while (i < chars.length && isLetter(chars[i]!)) unit += chars[i++]!;
    const perUnit = UNIT_MS.get(unit);
    if (perUnit === undefined) return null;
    if (i < chars.length && !isDigit(chars[i]!) && !isSpace(chars[i]!)) return null;
    total += n * perUnit;
    if (!Number.isSafeInteger(total)) return null;
    groups++;
  }
}

/**
 * Milliseconds → the `<dur>` placeholder of wire §4.4: whole seconds (rounded down), largest
 * unit first, zero parts left out, units d/h/m/s: `0s`, `45s`, `2h 5m`, `1d 1h 1m 1s`.
 */
export function formatDuration(ms: number): string {
  const total = Number.isFinite(ms) && ms > 0 ? Math.floor(ms / MS_PER_SECOND) : 0;
  if (total === 0) return "0s";
  const parts: string[] = [];
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3_600);
  const minutes = Math.floor((total % 3_600) / 60);
  const seconds = total % 60;
  if (days > 0) parts.push(`${days}d`);
  if (hours > 0) parts.push(`${hours}h`);
  if (minutes > 0) parts.push(`${minutes}m`);
  if (seconds > 0) parts.push(`${seconds}s`);
  return parts.join(" ");
}
