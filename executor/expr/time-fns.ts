/**
 * Time functions over epoch-millisecond TIMESTAMPs, all in UTC: date_trunc, extract, to_timestamp,
 * epoch_ms. The unit/field argument must be a constant string, so the per-row work is one
 * arithmetic loop chosen at compile time.
 */
import { assertNever, typeToString, type SqlType } from '../../planner/types.ts';
import type { Vector } from '../vector.ts';
import { compactValidity, writableValidity } from '../kernels/validity.ts';
import { isConst, node, type Compiled, type FnCompiler } from './compiled.ts';
import {
  MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, MS_PER_SECOND,
  dayOfMonthOfDay, daysFromCivil, dowOfDay, isoWeekOfDay, monthOfDay, parseTimestamp, yearOfDay,
} from './calendar.ts';
import { newNumArray, numValues, numVector, retype, strValues, type NumArray, type NumLike } from './vec.ts';

/** date_trunc units. */
export type TruncUnit = 'millisecond' | 'second' | 'minute' | 'hour' | 'day' | 'week' | 'month' | 'quarter' | 'year';

/** extract fields. `second` is whole seconds (0–59) and `millisecond` the milliseconds within it (0–999). */
export type ExtractField =
  | 'year' | 'quarter' | 'month' | 'week' | 'day' | 'hour' | 'minute' | 'second' | 'millisecond'
  | 'dow' | 'isodow' | 'doy' | 'epoch';

const TRUNC_UNITS: Record<string, TruncUnit> = {
  millisecond: 'millisecond', milliseconds: 'millisecond', ms: 'millisecond',
  second: 'second', seconds: 'second',
  minute: 'minute', minutes: 'minute',
  hour: 'hour', hours: 'hour',
  day: 'day', days: 'day',
  week: 'week', weeks: 'week',
  month: 'month', months: 'month',
  quarter: 'quarter', quarters: 'quarter',
  year: 'year', years: 'year',
};

const EXTRACT_FIELDS: Record<string, ExtractField> = {
  year: 'year', years: 'year',
  quarter: 'quarter',
  month: 'month', months: 'month',
  week: 'week',
  day: 'day', days: 'day', dayofmonth: 'day',
  hour: 'hour', hours: 'hour',
  minute: 'minute', minutes: 'minute',
  second: 'second', seconds: 'second',
  millisecond: 'millisecond', milliseconds: 'millisecond',
  dow: 'dow', dayofweek: 'dow',
  isodow: 'isodow',
  doy: 'doy', dayofyear: 'doy',
  epoch: 'epoch',
};

/** A constant string argument (unit or field name), lower-cased, or a compile error. */
function constantName(c: Compiled, fn: string): string {
  if (!isConst(c) || typeof c.constant.value !== 'string') throw new Error(`${fn}: the unit must be a string literal`);
  return c.constant.value.trim().toLowerCase();
}

/** Floors `ts` to a multiple of `unit` ms (floor, so instants before 1970 truncate downwards too). */
function floorLoop(src: NumLike, out: NumArray, n: number, unit: number): void {
  for (let i = 0; i < n; i++) out[i] = Math.floor(src[i]! / unit) * unit;
}

/**
 * Writes f(day number) for each timestamp, calling f only when the day changes: rows of a batch
 * mostly share a day (event time moves slowly), so calendar arithmetic runs a few times a batch
 * rather than once a row.
 */
function perDay(src: NumLike, out: NumArray, n: number, f: (day: number) => number): void {
  let lastDay = NaN; let last = 0;
  for (let i = 0; i < n; i++) {
    const z = Math.floor(src[i]! / MS_PER_DAY);
    if (z !== lastDay) { lastDay = z; last = f(z); }
    out[i] = last;
  }
}

const isoDow = (z: number): number => { const d = dowOfDay(z); return d === 0 ? 7 : d; };
const quarterOfDay = (z: number): number => Math.floor((monthOfDay(z) - 1) / 3) + 1;
const dayOfYear = (z: number): number => z - daysFromCivil(yearOfDay(z), 1, 1) + 1;

/** Truncates epoch-ms timestamps to a unit, in UTC. Weeks start on Monday (ISO). */
export function truncLoop(unit: TruncUnit, src: NumLike, out: NumArray, n: number): void {
  switch (unit) {
    case 'millisecond': for (let i = 0; i < n; i++) out[i] = Math.floor(src[i]!); return;
    case 'second': return floorLoop(src, out, n, MS_PER_SECOND);
    case 'minute': return floorLoop(src, out, n, MS_PER_MINUTE);
    case 'hour': return floorLoop(src, out, n, MS_PER_HOUR);
    case 'day': return floorLoop(src, out, n, MS_PER_DAY);
    case 'week': return perDay(src, out, n, (z) => (z - isoDow(z) + 1) * MS_PER_DAY);
    case 'month': return perDay(src, out, n, (z) => daysFromCivil(yearOfDay(z), monthOfDay(z), 1) * MS_PER_DAY);
    case 'quarter': return perDay(src, out, n, (z) => daysFromCivil(yearOfDay(z), quarterOfDay(z) * 3 - 2, 1) * MS_PER_DAY);
    case 'year': return perDay(src, out, n, (z) => daysFromCivil(yearOfDay(z), 1, 1) * MS_PER_DAY);
    default: assertNever(unit, 'date_trunc unit');
  }
}

/** Extracts a field from epoch-ms timestamps, in UTC. */
export function extractLoop(field: ExtractField, src: NumLike, out: NumArray, n: number): void {
  switch (field) {
    case 'year': return perDay(src, out, n, yearOfDay);
    case 'quarter': return perDay(src, out, n, quarterOfDay);
    case 'month': return perDay(src, out, n, monthOfDay);
    case 'week': return perDay(src, out, n, isoWeekOfDay);
    case 'day': return perDay(src, out, n, dayOfMonthOfDay);
    case 'dow': return perDay(src, out, n, dowOfDay);
    case 'isodow': return perDay(src, out, n, isoDow);
    case 'doy': return perDay(src, out, n, dayOfYear);
    case 'hour': for (let i = 0; i < n; i++) out[i] = Math.floor(msOfDay(src[i]!) / MS_PER_HOUR); return;
    case 'minute': for (let i = 0; i < n; i++) out[i] = Math.floor(msOfDay(src[i]!) / MS_PER_MINUTE) % 60; return;
    case 'second': for (let i = 0; i < n; i++) out[i] = Math.floor(msOfDay(src[i]!) / MS_PER_SECOND) % 60; return;
    case 'millisecond': for (let i = 0; i < n; i++) out[i] = Math.floor(msOfDay(src[i]!)) % 1000; return;
    case 'epoch': for (let i = 0; i < n; i++) out[i] = src[i]! / 1000; return;
    default: assertNever(field, 'extract field');
  }
}

/** Milliseconds since the start of the (UTC) day, never negative. */
function msOfDay(ts: number): number {
  return ts - Math.floor(ts / MS_PER_DAY) * MS_PER_DAY;
}

const date_trunc: FnCompiler = (args, type) => {
  if (args.length !== 2) throw new Error(`date_trunc takes 2 arguments, got ${args.length}`);
  const name = constantName(args[0]!, 'date_trunc');
  const unit = TRUNC_UNITS[name];
  if (unit === undefined) throw new Error(`date_trunc: unknown unit '${name}'`);
  const ts = args[1]!;
  return node(type, (cols, n) => {
    const v = ts.eval(cols, n);
    const out = newNumArray(type, n);
    truncLoop(unit, numValues(v), out, n);
    return numVector(type, out, v.valid);
  });
};

const extract: FnCompiler = (args, type) => {
  if (args.length !== 2) throw new Error(`extract takes 2 arguments, got ${args.length}`);
  const name = constantName(args[0]!, 'extract');
  const field = EXTRACT_FIELDS[name];
  if (field === undefined) throw new Error(`extract: unknown field '${name}'`);
  const ts = args[1]!;
  return node(type, (cols, n) => {
    const v = ts.eval(cols, n);
    const out = newNumArray(type, n);
    extractLoop(field, numValues(v), out, n);
    return numVector(type, out, v.valid);
  });
};

/**
 * to_timestamp(x): a number is epoch seconds (Postgres), rounded to the millisecond; a string is
 * ISO-8601 or 'YYYY-MM-DD HH:MM:SS[.fff]' (UTC unless it carries an offset). Unparsable strings and
 * non-finite numbers give NULL.
 */
const to_timestamp: FnCompiler = (args, type) => {
  if (args.length !== 1) throw new Error(`to_timestamp takes 1 argument, got ${args.length}`);
  const a = args[0]!;
  if (a.type.kind === 'timestamp') return a;
  const fromString = a.type.kind === 'varchar';
  if (!fromString && a.type.kind !== 'int' && a.type.kind !== 'bigint' && a.type.kind !== 'double' && a.type.kind !== 'null') {
    throw new Error(`to_timestamp: expected a number or a string, got ${typeToString(a.type)}`);
  }
  return node(type, (cols, n) => {
    const v = a.eval(cols, n);
    const out = newNumArray(type, n);
    const valid = writableValidity(v.valid, n);
    if (fromString) {
      const src = strValues(v);
      for (let i = 0; i < n; i++) {
        if (valid[i] === 0) continue;
        const t = parseTimestamp(src[i]!);
        if (Number.isNaN(t)) valid[i] = 0; else out[i] = t;
      }
    } else {
      const src = numValues(v);
      for (let i = 0; i < n; i++) {
        const t = Math.round(src[i]! * 1000);
        if (Number.isFinite(t)) out[i] = t; else valid[i] = 0;
      }
    }
    return numVector(type, out, compactValidity(valid, n));
  });
};

/** epoch_ms(ts): the timestamp's epoch milliseconds as BIGINT; the physical value already is that. */
const epoch_ms: FnCompiler = (args, type) => {
  if (args.length !== 1) throw new Error(`epoch_ms takes 1 argument, got ${args.length}`);
  const a = args[0]!;
  return node(type, (cols, n) => toType(a.eval(cols, n), type, n));
};

function toType(v: Vector, type: SqlType, n: number): Vector {
  if (v.kind === 'f64' && type.kind !== 'int') return retype(v, type);
  const out = newNumArray(type, n);
  const src = numValues(v);
  for (let i = 0; i < n; i++) out[i] = src[i]!;
  return numVector(type, out, v.valid);
}

/** Compilers for the time functions. */
export const timeFns = {
  date_trunc,
  extract,
  to_timestamp,
  epoch_ms,
} satisfies Record<string, FnCompiler>;
