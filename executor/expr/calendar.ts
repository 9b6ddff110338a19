/**
 * UTC calendar arithmetic on epoch milliseconds, allocation-free (no Date objects in row loops).
 * Civil-date conversions follow Howard Hinnant's days_from_civil / civil_from_days, exact for the
 * proleptic Gregorian calendar over any year a double can hold.
 */

export const MS_PER_SECOND = 1000;
export const MS_PER_MINUTE = 60_000;
export const MS_PER_HOUR = 3_600_000;
export const MS_PER_DAY = 86_400_000;

/** Days since 1970-01-01 of a civil date (month 1–12). */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const mp = (m + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

const YEAR = 0;
const MONTH = 1;
const DAY = 2;

/**
 * One component of civil_from_days. Returning a single number (rather than a {y, m, d} object)
 * keeps row loops allocation-free; callers needing two components pay the arithmetic twice, which
 * is cheaper than an object per row.
 */
function civil(z: number, part: typeof YEAR | typeof MONTH | typeof DAY): number {
  const zz = z + 719468;
  const era = Math.floor(zz / 146097);
  const doe = zz - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const m = mp < 10 ? mp + 3 : mp - 9;
  if (part === MONTH) return m;
  if (part === DAY) return doy - Math.floor((153 * mp + 2) / 5) + 1;
  return yoe + era * 400 + (m <= 2 ? 1 : 0);
}

/** Calendar year of a day number (days since 1970-01-01). */
export function yearOfDay(z: number): number {
  return civil(z, YEAR);
}

/** Month (1–12) of a day number. */
export function monthOfDay(z: number): number {
  return civil(z, MONTH);
}

/** Day of month (1–31) of a day number. */
export function dayOfMonthOfDay(z: number): number {
  return civil(z, DAY);
}

/** Day number (days since 1970-01-01, floored) of an epoch-ms timestamp. */
export function dayOf(ms: number): number {
  return Math.floor(ms / MS_PER_DAY);
}

/** Day of week, 0 = Sunday … 6 = Saturday (1970-01-01 was a Thursday). */
export function dowOfDay(z: number): number {
  // (… % 7 + 7) % 7 rather than a sign test: -7 % 7 is -0 in JS, which must not leak out.
  return (((z + 4) % 7) + 7) % 7;
}

/** ISO week number (1–53) of a day number: the week containing the year's first Thursday is week 1. */
export function isoWeekOfDay(z: number): number {
  const isoDow0 = (dowOfDay(z) + 6) % 7; // Monday = 0
  const thursday = z - isoDow0 + 3;
  const y = yearOfDay(thursday);
  return Math.floor((thursday - daysFromCivil(y, 1, 1)) / 7) + 1;
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** Days in a month (1–12) of a year. */
export function daysInMonth(y: number, m: number): number {
  if (m === 2) return isLeap(y) ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/**
 * `2024-01-01`, `2024-01-01 12:00:00[.fff…]`, ISO-8601 `2024-01-01T12:00:00[.fff…][Z|±hh[:mm]]`.
 * Without an offset the time is taken as UTC.
 */
const TIMESTAMP_RE = /^\s*([+-]?\d{4,6})-(\d{1,2})-(\d{1,2})(?:[Tt ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(?:([Zz])|(?:UTC)|([+-])(\d{2})(?::?(\d{2}))?)?\s*$/;

/**
 * Parses a timestamp string to epoch milliseconds (UTC unless it carries an offset); NaN when the
 * string is not a valid date/time. Fractions beyond milliseconds are rounded.
 */
export function parseTimestamp(s: string): number {
  const m = TIMESTAMP_RE.exec(s);
  if (m === null) return NaN;
  const y = Number(m[1]); const mo = Number(m[2]); const d = Number(m[3]);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return NaN;
  const hh = m[4] === undefined ? 0 : Number(m[4]);
  const mi = m[5] === undefined ? 0 : Number(m[5]);
  const ss = m[6] === undefined ? 0 : Number(m[6]);
  // 24:00:00 is the end of the day in ISO-8601; allow exactly that and nothing beyond.
  if (hh > 24 || mi > 59 || ss > 59 || (hh === 24 && (mi !== 0 || ss !== 0))) return NaN;
  let ms = 0;
  if (m[7] !== undefined) ms = Math.round(Number(`0.${m[7]}`) * 1000);
  let offsetMin = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]); const om = m[11] === undefined ? 0 : Number(m[11]);
    if (oh > 23 || om > 59) return NaN;
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return daysFromCivil(y, mo, d) * MS_PER_DAY + hh * MS_PER_HOUR + mi * MS_PER_MINUTE + ss * MS_PER_SECOND + ms
    - offsetMin * MS_PER_MINUTE;
}

/** The largest |epoch ms| a JS Date (and so ISO formatting) accepts. */
const MAX_DATE_MS = 8.64e15;

/** ISO-8601 UTC with milliseconds (`2024-01-01T12:00:00.000Z`); null when out of Date's range. */
export function formatTimestamp(ms: number): string | null {
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_DATE_MS) return null;
  return new Date(Math.floor(ms)).toISOString();
}
