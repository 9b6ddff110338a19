import { afterAll, describe, expect, it } from 'vitest';
import type { RecordBatch } from 'apache-arrow';
import { createDecoder, type Decoded, type RawMessages } from '../../connectors/formats/decode.ts';
import { createFastJsonDecoder } from '../../connectors/formats/fast-json.ts';
import { generateBatch } from '../../connectors/demo/generator.ts';
import { batchVectors } from '../../executor/arrow.ts';
import { valueAt } from '../../executor/vector.ts';
import type { SourceDef } from '../../planner/index.ts';
import { bidSourceSql, sourceDef } from '../../bench/lib/sources.ts';

const bids = sourceDef(bidSourceSql('t'));
const mixed = sourceDef(`CREATE SOURCE m (
  id INT, big BIGINT, d DOUBLE, ok BOOLEAN, name VARCHAR, ts TIMESTAMP(3),
  k VARCHAR METADATA FROM 'key', p INT METADATA FROM 'partition', o BIGINT METADATA FROM 'offset',
  kts TIMESTAMP(3) METADATA FROM 'timestamp', tp VARCHAR METADATA FROM 'topic'
) WITH (connector = 'kafka', topic = 't', format = 'json')`);
const nested = sourceDef(`CREATE SOURCE n (id BIGINT, r ROW(a BIGINT, b VARCHAR)) WITH (connector = 'kafka', topic = 't', format = 'json')`);

function raw(values: readonly (string | Buffer | null)[], partition = 0, keys?: readonly (string | null)[]): RawMessages {
  return {
    topic: 'topic-a', partition,
    values: values.map((v) => (v === null ? null : typeof v === 'string' ? Buffer.from(v) : v)),
    keys: values.map((_, i) => (keys?.[i] == null ? null : Buffer.from(keys[i]!))),
    offsets: values.map((_, i) => 100 + i),
    timestamps: values.map((_, i) => 1_700_000_000_000 + i),
  };
}

/** Every cell as a plain value plus the validity, column by column. */
function cells(b: RecordBatch | null, def: SourceDef): unknown[][] {
  if (!b) return [];
  return batchVectors(b, def.schema).map((v) => Array.from({ length: v.length }, (_, i) => valueAt(v, i)));
}

function expectSame(got: Decoded, want: Decoded, def: SourceDef): void {
  expect(got.malformed).toEqual(want.malformed);
  expect(got.kept ? Array.from(got.kept) : null).toEqual(want.kept ? Array.from(want.kept) : null);
  expect(got.batch?.numRows ?? 0).toBe(want.batch?.numRows ?? 0);
  const g = cells(got.batch, def); const w = cells(want.batch, def);
  expect(g).toEqual(w);
  // Object.is semantics for -0 and NaN in numeric columns.
  g.forEach((col, c) => col.forEach((v, i) => { if (typeof v === 'number') expect(Object.is(v, w[c]![i])).toBe(true); }));
  if (got.batch && want.batch) {
    got.batch.data.children.forEach((d, c) => expect(d.nullCount).toBe(want.batch!.data.children[c]!.nullCount));
  }
}

// Messages covering what the fast scanner must hand to the reference path, and what it takes itself.
const tricky: (string | null)[] = [
  '{"id":1,"big":9007199254740993,"d":1.5e3,"ok":true,"name":"plain","ts":1700000000123}',
  '  {  "name" : "spaced" , "id" : -0 , "d" : -12.25E-2 }  ',
  '{"id":2147483648}', // out of INT range: malformed
  '{"id":1.5}', // not an integer: malformed
  '{"big":1.5}', // BIGINT must be integral: malformed
  '{"id":"42","d":"3.5","ok":"false","big":" 7 "}', // numbers and booleans as strings: coerced
  '{"name":"caf\u00e9 \\"quoted\\" \\u0041"}', // non-ASCII and escapes
  '{"name":12,"ok":null}', // number into VARCHAR
  '{"name":["x"]}', // array into VARCHAR: malformed
  '{"ts":"2024-05-01T10:00:00Z"}', // timestamp text
  '{"ts":"not a time"}',
  '{"id":1,"id":2}', // repeated key: last wins
  '{"other":{"deep":[1,2,{"x":null}]},"id":7}', // unknown nested key skipped
  '{"id":01}', // invalid JSON
  '{"id":1,}',
  '[1,2]',
  '"just a string"',
  'null',
  '',
  null, // tombstone
  '{}',
  '{"id":null,"big":null,"d":null,"ok":null,"name":null,"ts":null}',
  '{"d":1e400,"big":-123456789012345678}',
  '{"name":"tab\there"}', // raw control char: invalid JSON
  '{"ok":tru}',
  '{"id":3}trailing',
  '{"d":-}',
  '{"name":""}',
  '{"big":-42,"d":-0,"id":-7}',
  // Keys in changing orders (the scanner tries the column after the last match first), unknown
  // keys next to known ones of the same length, a key with an escape and a non-ASCII key.
  '{"ts":5,"id":9,"name":"x"}',
  '{"name":"y","ts":6,"id":10}',
  '{"idx":1,"nam":2,"id":11,"ok":false,"ko":true}',
  '{"i\\u0064":12}',
  '{"ключ":1,"id":13}',
];

describe('flat-JSON fast decoder', () => {
  it('matches the reference decoder on tricky messages, including malformed ones and NULLs', () => {
    const keys = tricky.map((_, i) => (i % 3 === 0 ? null : i % 3 === 1 ? `k${i}` : 'ключ'));
    const r = raw(tricky, 3, keys);
    const fast = createFastJsonDecoder(mixed)!;
    const got = fast.decode(r);
    const want = createDecoder(mixed)(r);
    expect(want.malformed.length).toBeGreaterThan(5);
    expectSame(got, want, mixed);
    expect(fast.lastFallbacks()).toBeGreaterThan(10);
  });

  it('matches the reference decoder on generated Nexmark bids without falling back', () => {
    const msgs = generateBatch('bid', 5000, { seed: 7, baseTime: 1_700_000_000_000 });
    const r = raw(msgs.map((m) => m.value as Buffer));
    const fast = createFastJsonDecoder(bids)!;
    const got = fast.decode(r);
    expectSame(got, createDecoder(bids)(r), bids);
    expect(got.batch!.numRows).toBe(5000);
    expect(fast.lastFallbacks()).toBe(0);
  });

  it('decodes only the columns a query reads: the others are NULL, the read ones as the reference decodes them', () => {
    const msgs = generateBatch('bid', 2000, { seed: 9, baseTime: 1_700_000_000_000 });
    const r = raw(msgs.map((m) => m.value as Buffer));
    const used = bids.columns.map((c) => ['auction', 'price', 'dateTime'].includes(c.name));
    const fast = createFastJsonDecoder(bids, used)!;
    const got = fast.decode(r);
    const want = createDecoder(bids)(r);
    expect(fast.lastFallbacks()).toBe(0);
    const g = cells(got.batch, bids); const w = cells(want.batch, bids);
    bids.columns.forEach((c, i) => {
      if (used[i]) expect(g[i]).toEqual(w[i]);
      else { expect(g[i]!.every((v) => v === null)).toBe(true); expect(got.batch!.data.children[i]!.nullCount).toBe(2000); }
    });
    // Malformed or not by the source's schema, whatever the query reads: a bad value in a column nobody
    // reads still makes the message malformed, exactly as the reference decoder says.
    const bad = raw(['{"auction":1,"price":2,"dateTime":3,"channel":[1]}', '{"auction":"x","price":2,"dateTime":3}',
      '{"auction":1,"price":2,"dateTime":3,"bidder":1.5}', '{"auction":1,"price":2,"dateTime":3,"bidder":7,"url":"ok"}']);
    const d = fast.decode(bad);
    expect(d.malformed).toEqual(createDecoder(bids)(bad).malformed);
    expect(d.malformed.map((m) => m.index)).toEqual([0, 1, 2]);
    expect(d.batch!.numRows).toBe(1);
  });

  it('declines schemas and options it does not cover (ROW columns, fail-on-missing-field)', () => {
    expect(createFastJsonDecoder(nested)).toBeNull();
    const strict = sourceDef(`CREATE SOURCE s (a BIGINT, b VARCHAR) WITH (connector = 'kafka', topic = 't', format = 'json', 'json.fail-on-missing-field' = 'true')`);
    expect(createFastJsonDecoder(strict)).toBeNull();
  });
});
