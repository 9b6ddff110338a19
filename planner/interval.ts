/** Interval literals in every form users bring: `INTERVAL '1' MINUTE`, `INTERVAL '1 minute'`, Spark's '10 minutes'. */
import { MAX_INTERVAL_MS } from './limits.ts';

const UNIT_MS: Record<string, number> = {
  millisecond: 1, milliseconds: 1, ms: 1, msec: 1, msecs: 1,
  second: 1000, seconds: 1000, sec: 1000, secs: 1000, s: 1000,
  minute: 60_000, minutes: 60_000, min: 60_000, mins: 60_000, m: 60_000,
  hour: 3_600_000, hours: 3_600_000, hr: 3_600_000, hrs: 3_600_000, h: 3_600_000,
  day: 86_400_000, days: 86_400_000, d: 86_400_000,
  week: 604_800_000, weeks: 604_800_000,
};

/** Why an interval of `ms` cannot be used, or null: beyond MAX_INTERVAL_MS it could carry a time out of range. */
export function intervalRangeError(ms: number): string | null {
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_INTERVAL_MS ? null : `an interval may be at most ${MAX_INTERVAL_MS / 86_400_000} days (limit MAX_INTERVAL_MS)`;
}

export function unitMs(unit: string): number | null {
  return UNIT_MS[unit.toLowerCase()] ?? null;
}

/**
 * Parses the text of an interval: '10 minutes', '1 hour 30 minutes', '5' with a separate unit, or
 * 'HH:MM:SS'. Returns milliseconds or null when it is not an interval.
 */
export function parseIntervalText(text: string, unit?: string | null): number | null {
  const s = text.trim().toLowerCase();
  if (unit) {
    const u = unitMs(unit);
    if (u === null || !/^-?\d+(\.\d+)?$/.test(s)) return null;
    return Math.round(Number(s) * u);
  }
  const hms = /^(\d+):(\d{2}):(\d{2})(\.\d+)?$/.exec(s);
  if (hms) return ((Number(hms[1]) * 60 + Number(hms[2])) * 60 + Number(hms[3]) + Number(hms[4] ?? 0)) * 1000;
  const re = /(-?\d+(?:\.\d+)?)\s*([a-z]+)/g;
  let total = 0; let matched = ''; let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    const u = unitMs(m[2]!);
    if (u === null) return null;
    total += Number(m[1]) * u;
    matched += m[0];
  }
  if (matched.replace(/\s+/g, '') !== s.replace(/\s+/g, '') || matched === '') return null;
  return Math.round(total);
}
