/**
 * Generators of Kafka records for a source `(k BIGINT, v DOUBLE, s VARCHAR, ts TIMESTAMP(3))` read as
 * JSON, CSV or raw: valid ones and malformed ones of every kind the issue names (binary garbage,
 * invalid UTF-8, JSON nested 10k levels deep, huge strings, numbers out of range such as
 * `{"ts": 9e15}`, wrong types, NaN/Infinity literals, duplicated keys, empty and null values, odd
 * keys and headers). Each record says whether the source must accept it, by construction, not by
 * asking a decoder: the in-suite fuzz (kafka-records.test.ts) and the long-running script
 * (scripts/fuzz.ts) compare the service's counts with these labels.
 */
import fc from 'fast-check';

export type KafkaFormat = 'json' | 'csv' | 'raw';

export interface FuzzRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: Readonly<Record<string, string>>;
  /** Whether the source decodes it into a row (the rest are malformed). */
  readonly valid: boolean;
  /** What the generator made, for failure messages. */
  readonly kind: string;
}

/** The source's columns for a format (CSV order); `kk` is the Kafka key. */
export const fuzzColumns = (format: KafkaFormat): string => (format === 'raw'
  ? `line VARCHAR, kk VARCHAR METADATA FROM 'key'`
  : `k BIGINT, v DOUBLE, s VARCHAR, ts TIMESTAMP(3), kk VARCHAR METADATA FROM 'key'`);

/** Epoch ms a TIMESTAMP column accepts: years 0000 to 9999 (connectors/formats/builders.ts). */
const TS_MIN = -62_167_219_200_000;
const TS_MAX = 253_402_300_799_999;

export interface GenOptions {
  /** Upper bound of a huge string or a binary blob, bytes (keep produced messages under 1 MB). */
  readonly hugeBytes?: number;
  /** Nesting depth of the deeply nested JSON values. */
  readonly depth?: number;
}

const text = (s: string) => Buffer.from(s, 'utf8');
const safeInt = fc.integer({ min: -1_000_000_000, max: 1_000_000_000 });
const finite = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 });
/** Strings with escapes, quotes, unicode (astral too) and control characters. */
const anyString = fc.string({ unit: 'binary', maxLength: 40 });
const tsMs = fc.oneof(fc.integer({ min: TS_MIN, max: TS_MAX }), fc.constantFrom(TS_MIN, TS_MAX, 0, 1_700_000_000_000));
const tsIso = fc.integer({ min: 0, max: TS_MAX }).map((ms) => new Date(ms).toISOString());

/** Odd keys: null, empty, binary, invalid UTF-8, long. */
const oddKey = fc.oneof(
  fc.constant(null),
  fc.constant(Buffer.alloc(0)),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  fc.constant(Buffer.from([0xc3, 0x28, 0xff, 0xfe])),
  fc.string({ maxLength: 20 }).map(text),
  fc.integer({ min: 1000, max: 20_000 }).map((n) => Buffer.alloc(n, 0x6b)),
);
/** Odd headers: empty names, unicode, long values (the source has no headers column: they must not matter). */
const oddHeaders = fc.option(fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 200 }), { maxKeys: 4 }), { nil: undefined });

/** Nested `[[[…]]]` or `{"a":{"a":…}}` of `depth` levels. */
export const nested = (depth: number, obj: boolean): string => (obj ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) : '['.repeat(depth) + ']'.repeat(depth));

interface Fields { k?: unknown; v?: unknown; s?: unknown; ts?: unknown }

/** A valid field set: each field a right value, JSON null, or absent. */
const validFields = (o: GenOptions) => fc.record({
  k: fc.oneof(safeInt, safeInt.map(String), fc.constant(null)),
  v: fc.oneof(finite, fc.constant(null), safeInt),
  s: fc.oneof(anyString, fc.constant(null), safeInt, fc.boolean(), fc.integer({ min: 1, max: o.hugeBytes ?? 200_000 }).map((n) => 'x'.repeat(n))),
  ts: fc.oneof(tsMs, tsIso, fc.constant(null)),
}, { requiredKeys: [] });

/** One field wrong: a type or a value the column refuses. */
const badField: fc.Arbitrary<[keyof Fields, string]> = fc.oneof(
  fc.constantFrom<[keyof Fields, string]>(
    ['ts', '9e15'], ['ts', '-9e15'], ['ts', '1e999'], ['ts', '8.64e15'], ['ts', '253402300800000'], ['ts', '"yesterday"'], ['ts', 'true'], ['ts', '"99999-01-01"'],
    ['k', '1.5'], ['k', '1e999'], ['k', '"seven"'], ['k', 'true'], ['k', '{"a":1}'], ['k', '[1]'], ['k', '""'],
    ['v', '"abc"'], ['v', 'false'], ['v', '[]'], ['v', '-1e999'], ['v', '"Infinity"'],
    ['s', '{"x":1}'], ['s', '[1,2]'],
  ),
);

/** A JSON object text with the fields in random order, optional whitespace and extra fields. */
function objectText(f: Fields, extra: string[], ws: boolean): string {
  const parts = Object.entries(f).filter(([, x]) => x !== undefined).map(([k, x]) => `${JSON.stringify(k)}:${typeof x === 'string' && x.startsWith('\u0000raw:') ? x.slice(5) : JSON.stringify(x)}`);
  parts.push(...extra);
  const sep = ws ? ' ,\n\t' : ',';
  return ws ? ` {\n ${parts.join(sep)} } ` : `{${parts.join(sep)}}`;
}
const raw = (t: string) => `\u0000raw:${t}`;

function jsonRecords(o: GenOptions): fc.Arbitrary<Omit<FuzzRecord, 'key' | 'headers'>> {
  const depth = o.depth ?? 10_000;
  const huge = o.hugeBytes ?? 200_000;
  const valid = fc.tuple(validFields(o), fc.boolean(), fc.constantFrom('none', 'extra', 'nested-extra', 'duplicate', 'invalid-utf8')).map(([f, ws, twist]) => {
    const extra: string[] = [];
    if (twist === 'extra') extra.push('"other":[1,{"x":null}]', '"k2":"ignored"');
    if (twist === 'nested-extra') extra.push(`"deep":${nested(Math.min(depth, 2000), true)}`);
    let t = objectText(f, extra, ws);
    // A duplicated key: JSON.parse keeps the last; both are valid here, so the row is too.
    if (twist === 'duplicate' && f.k !== undefined) t = t.replace(/^(\s*\{)/, `$1"k":"not-a-number",`);
    if (twist === 'invalid-utf8') return { value: Buffer.concat([text('{"s":"a'), Buffer.from([0xff, 0xc3, 0x28]), text('b","k":1}')]), valid: true, kind: 'json invalid-utf8 in a string' };
    return { value: text(t), valid: true, kind: `json valid ${twist}` };
  });
  const oneBad = fc.tuple(validFields(o), badField).map(([f, [k, bad]]) => ({ value: text(objectText({ ...f, [k]: raw(bad) }, [], false)), valid: false, kind: `json ${k}=${bad}` }));
  const malformed = fc.oneof(
    oneBad,
    fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => ({ value: Buffer.concat([Buffer.from([0xff]), Buffer.from(b)]), valid: false, kind: 'binary garbage' })),
    fc.integer({ min: 1000, max: huge }).map((n) => ({ value: Buffer.alloc(n, 0xfe), valid: false, kind: 'huge binary' })),
    fc.constantFrom(
      { value: text(nested(depth, false)), valid: false, kind: 'json array nested deep' },
      { value: text(`{"k":${nested(depth, false)}}`), valid: false, kind: 'json k nested deep' },
      { value: text(`{"s":${nested(depth, true)}}`), valid: false, kind: 'json s object nested deep' },
      { value: text('{"v": NaN}'), valid: false, kind: 'NaN literal' },
      { value: text('{"v": Infinity}'), valid: false, kind: 'Infinity literal' },
      { value: text('{"v": -Infinity, "k": 1}'), valid: false, kind: '-Infinity literal' },
      { value: Buffer.alloc(0), valid: false, kind: 'empty message' },
      { value: null, valid: false, kind: 'null value (tombstone)' },
      { value: text('null'), valid: false, kind: 'json null' },
      { value: text('[1,2,3]'), valid: false, kind: 'json array' },
      { value: text('"just a string"'), valid: false, kind: 'json string' },
      { value: text('42'), valid: false, kind: 'json number' },
      { value: text('{"k": 1, "v": 2'), valid: false, kind: 'truncated json' },
      { value: text('{"k": 1 "v": 2}'), valid: false, kind: 'missing comma' },
      { value: text('{"k": 1,}'), valid: false, kind: 'trailing comma' },
      { value: text("{'k': 1}"), valid: false, kind: 'single quotes' },
      { value: text('{"k":"seven","k":1} x'), valid: false, kind: 'trailing garbage' },
      // The last duplicate wins in JSON.parse: a bad last value is malformed whatever came first.
      { value: text('{"k":1,"k":"seven"}'), valid: false, kind: 'duplicate key, bad last' },
    ),
    fc.integer({ min: 1000, max: huge }).map((n) => ({ value: text(`{"k":"${'9'.repeat(n)}"}`), valid: false, kind: 'huge number string for BIGINT' })),
  );
  return fc.oneof({ arbitrary: valid, weight: 3 }, { arbitrary: malformed, weight: 2 });
}

const csvField = (s: string) => (/[",\r\n]/.test(s) || s === '' ? `"${s.replace(/"/g, '""')}"` : s);

function csvRecords(o: GenOptions): fc.Arbitrary<Omit<FuzzRecord, 'key' | 'headers'>> {
  const valid = fc.tuple(fc.option(safeInt), fc.option(finite), fc.option(fc.string({ maxLength: 30 }).filter((s) => s !== '' && !s.includes('\n') && !s.includes('\r'))), fc.option(tsIso), fc.boolean())
    .map(([k, v, s, ts, crlf]) => ({
      value: text(`${k ?? ''},${v ?? ''},${s === null ? '' : csvField(s)},${ts ?? ''}${crlf ? '\r\n' : ''}`),
      valid: true, kind: 'csv valid',
    }));
  const malformed = fc.oneof(
    fc.constantFrom(
      { value: text('1,2,x'), valid: false, kind: 'csv 3 fields' },
      { value: text('1,2,x,2024-01-01T00:00:00Z,extra'), valid: false, kind: 'csv 5 fields' },
      { value: text('seven,2,x,2024-01-01T00:00:00Z'), valid: false, kind: 'csv bad BIGINT' },
      { value: text('1,abc,x,2024-01-01T00:00:00Z'), valid: false, kind: 'csv bad DOUBLE' },
      { value: text('1,2,x,9e15'), valid: false, kind: 'csv ts as a number' },
      { value: text('1,2,x,99999-01-01'), valid: false, kind: 'csv ts 5-digit year' },
      { value: text('1.5,2,x,'), valid: false, kind: 'csv BIGINT not integral' },
      { value: Buffer.alloc(0), valid: false, kind: 'csv empty message (1 field)' },
      { value: null, valid: false, kind: 'csv tombstone' },
    ),
    fc.uint8Array({ minLength: 1, maxLength: 200 }).filter((b) => !b.includes(0x2c)).map((b) => ({ value: Buffer.from(b), valid: false, kind: 'csv binary without commas' })),
    fc.integer({ min: 1000, max: o.hugeBytes ?? 200_000 }).map((n) => ({ value: text(`${'9'.repeat(n)},1,x,`), valid: false, kind: 'csv huge BIGINT' })),
  );
  return fc.oneof({ arbitrary: valid, weight: 3 }, { arbitrary: malformed, weight: 2 });
}

/** raw: the whole value is one VARCHAR; every message is a row (a tombstone a NULL). */
function rawRecords(o: GenOptions): fc.Arbitrary<Omit<FuzzRecord, 'key' | 'headers'>> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => ({ value: Buffer.from(b), valid: true, kind: 'raw binary' })),
    fc.string({ unit: 'binary', maxLength: 100 }).map((s) => ({ value: text(s), valid: true, kind: 'raw text' })),
    fc.constantFrom({ value: null, valid: true, kind: 'raw tombstone' }, { value: Buffer.alloc(0), valid: true, kind: 'raw empty' }, { value: text(nested(o.depth ?? 10_000, false)), valid: true, kind: 'raw nested text' }),
    fc.integer({ min: 1000, max: o.hugeBytes ?? 200_000 }).map((n) => ({ value: Buffer.alloc(n, 0x41), valid: true, kind: 'raw huge' })),
  );
}

/** Records for a source of `format`, with odd keys and headers. */
export function kafkaRecord(format: KafkaFormat, o: GenOptions = {}): fc.Arbitrary<FuzzRecord> {
  const body = format === 'json' ? jsonRecords(o) : format === 'csv' ? csvRecords(o) : rawRecords(o);
  return fc.tuple(body, oddKey, oddHeaders).map(([b, key, headers]) => ({ ...b, key, ...(headers ? { headers } : {}) }));
}

/** `n` records drawn with `seed` (reproducible), for one topic. */
export function sampleRecords(format: KafkaFormat, seed: number, n: number, o: GenOptions = {}): FuzzRecord[] {
  return fc.sample(kafkaRecord(format, o), { seed, numRuns: n });
}
