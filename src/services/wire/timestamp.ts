// Timestamps of wire.md §1.2: read any RFC 3339 date-time, write UTC with exactly three
// fraction digits. Parsed by hand because Date.parse accepts far more than RFC 3339 (zoneless
// and date-only strings, which the spec requires us to refuse) and maps years 0–99 to 19xx.

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

const MS_PER_MINUTE = 60_000;
const MS_PER_DAY = 86_400_000;
/** 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: what four-digit years can spell. */
const MIN_MS = -62_167_219_200_000;
const MAX_MS = 253_402_300_799_999;

const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

function daysInMonth(y: number, m: number): number {
  if (m === 2) return isLeap(y) ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/**
 * RFC 3339 date-time → epoch milliseconds (UTC), or null. A zone (`Z` or `±hh:mm`) is
 * required; 0–9 fraction digits are accepted and digits beyond milliseconds are truncated.
 * Leap seconds (`:60`) are refused: epoch milliseconds cannot express them. So are instants
 * that an offset moves outside years 0000–9999, which could not be written back.
 */
export function parseTimestamp(s: string): number | null {
  const m = RFC3339.exec(s);
  if (!m) return null;
  const [, ys, mos, ds, hs, mis, ss, frac, sign, ohs, oms] = m;
  const year = Number(ys);
  const month = Number(mos);
  const day = Number(ds);
  const hour = Number(hs);
  const minute = Number(mis);
  const second = Number(ss);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const millis = frac ? Number(frac.slice(0, 3).padEnd(3, "0")) : 0;
  let offsetMinutes = 0;
  if (sign) {
    const oh = Number(ohs);
    const om = Number(oms);
    if (oh > 23 || om > 59) return null;
    offsetMinutes = (sign === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const ms =
    daysFromCivil(year, month, day) * MS_PER_DAY +
    ((hour * 60 + minute) * 60 + second) * 1000 +
    millis -
    offsetMinutes * MS_PER_MINUTE;
  // An offset can push 0000-01-01 or 9999-12-31 outside what we can write back.
  return ms < MIN_MS || ms > MAX_MS ? null : ms;
}

/** Epoch ms → `2026-05-16T00:00:30.001Z` (UTC, always three fraction digits). */
export function formatTimestamp(ms: number): string {
  if (!Number.isFinite(ms) || ms < MIN_MS || ms > MAX_MS) {
    throw new RangeError(`formatTimestamp: ${ms} is not an instant between years 0000 and 9999`);
  }
  return new Date(Math.trunc(ms)).toISOString();
}
