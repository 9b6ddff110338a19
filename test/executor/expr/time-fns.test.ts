import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { SqlType } from '../../../planner/types.ts';
import { T, call, col, evalVector, evaluate, f64, i32, i64, lit, scalar, str, ts, valuesOf } from './helpers.ts';
import { daysFromCivil, dayOfMonthOfDay, formatTimestamp, isoWeekOfDay, monthOfDay, parseTimestamp, yearOfDay } from '../../../executor/expr/calendar.ts';

const TS = T.timestamp;
// Wednesday 2024-02-28 13:45:30.123 UTC (2024 is a leap year)
const FIXED = Date.parse('2024-02-28T13:45:30.123Z');
const trunc = (unit: string, values: (number | null)[]) => evaluate(call('date_trunc', TS, lit(unit, T.varchar), col(0, TS)), [ts(values)]);
const extract = (field: string, values: (number | null)[], type: SqlType = T.bigint) => evaluate(call('extract', type, lit(field, T.varchar), col(0, TS)), [ts(values)]);

describe('date_trunc', () => {
  it('truncates a fixed timestamp to every unit, in UTC', () => {
    const at = (iso: string) => Date.parse(iso);
    expect(trunc('millisecond', [FIXED])).toEqual([FIXED]);
    expect(trunc('second', [FIXED])).toEqual([at('2024-02-28T13:45:30Z')]);
    expect(trunc('minute', [FIXED])).toEqual([at('2024-02-28T13:45:00Z')]);
    expect(trunc('hour', [FIXED])).toEqual([at('2024-02-28T13:00:00Z')]);
    expect(trunc('day', [FIXED])).toEqual([at('2024-02-28T00:00:00Z')]);
    expect(trunc('week', [FIXED])).toEqual([at('2024-02-26T00:00:00Z')]); // Monday
    expect(trunc('month', [FIXED])).toEqual([at('2024-02-01T00:00:00Z')]);
    expect(trunc('quarter', [FIXED])).toEqual([at('2024-01-01T00:00:00Z')]);
    expect(trunc('year', [FIXED])).toEqual([at('2024-01-01T00:00:00Z')]);
    expect(trunc('HOUR', [FIXED, null])).toEqual([at('2024-02-28T13:00:00Z'), null]);
  });

  it('weeks start on Monday; a Sunday belongs to the previous week; a Monday is its own start', () => {
    expect(trunc('week', [Date.parse('2024-03-03T23:59:59Z')])).toEqual([Date.parse('2024-02-26T00:00:00Z')]);
    expect(trunc('week', [Date.parse('2024-03-04T00:00:00Z')])).toEqual([Date.parse('2024-03-04T00:00:00Z')]);
    expect(trunc('week', [0])).toEqual([Date.parse('1969-12-29T00:00:00Z')]);
  });

  it('truncates instants before 1970 downwards', () => {
    expect(trunc('second', [-1])).toEqual([-1000]);
    expect(trunc('day', [Date.parse('1969-07-20T20:17:40Z')])).toEqual([Date.parse('1969-07-20T00:00:00Z')]);
    expect(trunc('month', [Date.parse('1900-03-15T01:00:00Z')])).toEqual([Date.parse('1900-03-01T00:00:00Z')]);
  });

  it('rejects unknown or non-constant units at compile time', () => {
    expect(() => trunc('fortnight', [0])).toThrow(/unknown unit/);
    expect(() => evaluate(call('date_trunc', TS, col(1, T.varchar), col(0, TS)), [ts([0]), str(['day'])])).toThrow(/literal/);
  });
});

describe('extract', () => {
  it('extracts every field of a fixed timestamp, in UTC', () => {
    expect(extract('year', [FIXED])).toEqual([2024]);
    expect(extract('month', [FIXED])).toEqual([2]);
    expect(extract('day', [FIXED])).toEqual([28]);
    expect(extract('hour', [FIXED])).toEqual([13]);
    expect(extract('minute', [FIXED])).toEqual([45]);
    expect(extract('second', [FIXED])).toEqual([30]);
    expect(extract('millisecond', [FIXED])).toEqual([123]);
    expect(extract('dow', [FIXED])).toEqual([3]); // Wednesday
    expect(extract('doy', [FIXED])).toEqual([59]);
    expect(extract('quarter', [FIXED])).toEqual([1]);
    expect(extract('week', [FIXED])).toEqual([9]);
    expect(extract('isodow', [FIXED])).toEqual([3]);
    expect(extract('epoch', [FIXED], T.double)).toEqual([FIXED / 1000]);
    expect(extract('YEAR', [FIXED, null])).toEqual([2024, null]);
  });

  it('dow is 0 on Sunday, isodow 7', () => {
    const sunday = Date.parse('2024-03-03T12:00:00Z');
    expect(extract('dow', [sunday])).toEqual([0]);
    expect(extract('isodow', [sunday])).toEqual([7]);
    expect(extract('doy', [Date.parse('2024-12-31T00:00:00Z')])).toEqual([366]);
  });

  it('handles instants before 1970', () => {
    const t = Date.parse('1969-12-31T23:59:58.750Z');
    expect(extract('year', [t])).toEqual([1969]);
    expect(extract('hour', [t])).toEqual([23]);
    expect(extract('second', [t])).toEqual([58]);
    expect(extract('millisecond', [t])).toEqual([750]);
    expect(extract('dow', [t])).toEqual([3]);
  });

  it('writes the result type the binder chose', () => {
    expect(evalVector(call('extract', T.int, lit('year', T.varchar), col(0, TS)), [ts([FIXED])]).kind).toBe('i32');
    expect(evalVector(call('extract', T.double, lit('epoch', T.varchar), col(0, TS)), [ts([FIXED])]).kind).toBe('f64');
  });

  it('matches Date on random instants', () => {
    fc.assert(fc.property(fc.integer({ min: -62135596800000, max: 253402300799999 }), (ms) => {
      const d = new Date(ms);
      const z = Math.floor(ms / 86_400_000);
      expect(yearOfDay(z)).toBe(d.getUTCFullYear());
      expect(monthOfDay(z)).toBe(d.getUTCMonth() + 1);
      expect(dayOfMonthOfDay(z)).toBe(d.getUTCDate());
      expect(daysFromCivil(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate())).toBe(z);
      const [h, m, s, dow] = extractAll(ms);
      expect([h, m, s, dow]).toEqual([d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCDay()]);
    }), { numRuns: 300 });
  });

  it('computes ISO weeks at year boundaries', () => {
    const week = (iso: string) => isoWeekOfDay(Math.floor(Date.parse(iso) / 86_400_000));
    expect(week('2021-01-03T00:00:00Z')).toBe(53); // Sunday of 2020-W53
    expect(week('2021-01-04T00:00:00Z')).toBe(1);
    expect(week('2024-12-30T00:00:00Z')).toBe(1); // Monday of 2025-W01
  });
});

function extractAll(ms: number): number[] {
  return ['hour', 'minute', 'second', 'dow'].map((f) => extract(f, [ms])[0] as number);
}

describe('to_timestamp', () => {
  it('reads numbers as epoch seconds', () => {
    const r = evalVector(call('to_timestamp', TS, col(0, T.bigint)), [i64([1_700_000_000, null, 0])]);
    expect(r.kind).toBe('f64');
    expect(r.type).toEqual(TS);
    expect(Array.from(valuesOf(r) as Float64Array).slice(0, 1)).toEqual([1_700_000_000_000]);
    expect(evaluate(call('to_timestamp', TS, col(0, T.double)), [f64([1.5, 1700000000.123, Number.NaN])])).toEqual([1500, 1700000000123, null]);
    expect(evaluate(call('to_timestamp', TS, col(0, T.int)), [i32([60])])).toEqual([60_000]);
  });

  it('parses ISO-8601 and SQL timestamp strings as UTC', () => {
    const s = str([
      '2024-01-01T12:00:00Z', '2024-01-01 12:00:00', '2024-01-01 12:00:00.5', '2024-01-01T12:00:00.123+02:00',
      '2024-01-01', 'not a date', '2024-02-30 00:00:00', '2024-01-01 25:00:00', null, '2024-01-01T12:00',
    ]);
    expect(evaluate(call('to_timestamp', TS, col(0, T.varchar)), [s])).toEqual([
      Date.parse('2024-01-01T12:00:00Z'), Date.parse('2024-01-01T12:00:00Z'), Date.parse('2024-01-01T12:00:00.500Z'),
      Date.parse('2024-01-01T10:00:00.123Z'), Date.parse('2024-01-01T00:00:00Z'), null, null, null, null,
      Date.parse('2024-01-01T12:00:00Z'),
    ]);
    expect(scalar(call('to_timestamp', TS, lit('2024-01-01 00:00:00', T.varchar)))).toBe(Date.parse('2024-01-01T00:00:00Z'));
  });

  it('parseTimestamp edge cases', () => {
    expect(parseTimestamp('2024-02-29T00:00:00Z')).toBe(Date.parse('2024-02-29T00:00:00Z'));
    expect(parseTimestamp('2023-02-29T00:00:00Z')).toBeNaN();
    expect(parseTimestamp('  2024-01-01 00:00:00.123456  ')).toBe(Date.parse('2024-01-01T00:00:00.123Z'));
    expect(parseTimestamp('2024-01-01T24:00:00Z')).toBe(Date.parse('2024-01-02T00:00:00Z'));
    expect(parseTimestamp('2024-01-01T00:00:00-0530')).toBe(Date.parse('2024-01-01T05:30:00Z'));
    expect(parseTimestamp('')).toBeNaN();
    expect(formatTimestamp(Date.parse('2024-01-01T12:00:00Z'))).toBe('2024-01-01T12:00:00.000Z');
    expect(formatTimestamp(Number.NaN)).toBeNull();
  });
});

describe('epoch_ms', () => {
  it('returns the timestamp in milliseconds as BIGINT', () => {
    const r = evalVector(call('epoch_ms', T.bigint, col(0, TS)), [ts([FIXED, null])]);
    expect(r.type).toEqual(T.bigint);
    expect(evaluate(call('epoch_ms', T.bigint, col(0, TS)), [ts([FIXED, null])])).toEqual([FIXED, null]);
  });
});
