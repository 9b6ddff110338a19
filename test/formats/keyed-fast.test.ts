/**
 * The keyed fast path (connectors/formats/packed.ts `createFetchedDecoder`): a JSON source with one raw
 * key column is scanned by the flat-JSON scanner and its key column replaced by the record keys. It
 * must give exactly what the reference decoder (connectors/formats/changelog.ts) gives — rows, key
 * values (the record key wins over the value's field), malformed messages and kept indices — on random
 * fetches with malformed values, missing fields, keys that differ from the value's field, non-ASCII keys
 * and a record without a key, both as plain arrays and packed as the native reader hands them.
 */
import { describe, expect, it } from 'vitest';
import type { RecordBatch } from 'apache-arrow';
import { createChangelogDecoder } from '../../connectors/formats/changelog.ts';
import type { RawMessages } from '../../connectors/formats/decode.ts';
import type { PackedMessages } from '../../connectors/formats/fast-json.ts';
import { createFetchedDecoder, keyedFastPath } from '../../connectors/formats/packed.ts';
import { batchVectors } from '../../executor/arrow.ts';
import { valueAt } from '../../executor/vector.ts';
import type { SourceDef } from '../../planner/index.ts';
import { sourceDef } from '../../bench/lib/sources.ts';

const keyed = sourceDef(`CREATE SOURCE s (auction BIGINT, k VARCHAR, price BIGINT, ts TIMESTAMP(3), p INT METADATA FROM 'partition')
  WITH (connector = 'kafka', topic = 't', format = 'json', 'key.format' = 'raw', 'key.fields' = 'k')`);
// A BIGINT key read from the key's text (as the bench keys bids by auction); some keys are not numbers.
const numeric = sourceDef(`CREATE SOURCE s (auction BIGINT, k BIGINT, price BIGINT, ts TIMESTAMP(3))
  WITH (connector = 'kafka', topic = 't', format = 'json', 'key.format' = 'raw', 'key.fields' = 'k')`);

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

function fetch(seed: number, n: number, numericKeys = false): RawMessages {
  const r = rng(seed);
  const values: (Buffer | null)[] = []; const keys: (Buffer | null)[] = [];
  const noKey = seed % 5 === 0 ? Math.floor(r() * n) : -1;
  for (let i = 0; i < n; i++) {
    const k = numericKeys ? (r() < 0.03 ? 'x12' : String(Math.floor(r() * 1e6))) : r() < 0.1 ? `ключ-${i}` : `k${Math.floor(r() * 50)}`;
    const x = r();
    const v = x < 0.05 ? '{"auction": 1.5}' // BIGINT not integral: malformed
      : x < 0.1 ? 'not json'
        : x < 0.2 ? JSON.stringify({ auction: i, price: i * 3 }) // no k in the value
          : x < 0.3 ? JSON.stringify({ auction: i, k: 'other', price: 7, ts: '2024-05-01T10:00:00Z' }) // the key wins
            : JSON.stringify({ auction: i, k, price: i % 11, ts: 1_700_000_000_000 + i });
    values.push(x < 0.02 ? null : Buffer.from(v));
    keys.push(i === noKey ? null : Buffer.from(k));
  }
  return { topic: 't', partition: seed % 3, values, keys, offsets: values.map((_, i) => 10 + i), timestamps: values.map((_, i) => 1_700_000_000_000 + i) };
}

/** The same messages packed into one buffer, as the native reader hands them. */
function pack(m: RawMessages): PackedMessages {
  const parts: Buffer[] = []; let at = 0;
  const put = (b: Uint8Array | null) => { const s = at; if (b) { parts.push(Buffer.from(b)); at += b.byteLength; } return [s, at] as const; };
  const n = m.values.length;
  const starts = new Int32Array(n), ends = new Int32Array(n), kstarts = new Int32Array(n), kends = new Int32Array(n);
  const nulls = new Uint8Array(n), knulls = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    [starts[i], ends[i]] = put(m.values[i] ?? null); if (m.values[i] == null) nulls[i] = 1;
    [kstarts[i], kends[i]] = put(m.keys[i] ?? null); if (m.keys[i] == null) knulls[i] = 1;
  }
  const bytes = new Uint8Array(Buffer.concat(parts));
  return {
    topic: m.topic, partition: m.partition, count: n, bytes, starts, ends, nulls,
    keys: { bytes, starts: kstarts, ends: kends, nulls: knulls }, offsets: Float64Array.from(m.offsets), timestamps: Float64Array.from(m.timestamps),
  };
}

const cells = (b: RecordBatch | null, def: SourceDef): unknown[][] => (b ? batchVectors(b, def.schema).map((v) => Array.from({ length: v.length }, (_, i) => valueAt(v, i))) : []);

describe('keyed sources at the scanner\'s speed', () => {
  it.each([['VARCHAR', keyed, false], ['BIGINT', numeric, true]] as const)('equals the reference decoder on random fetches, plain and packed (%s key)', (_, def, numericKeys) => {
    const reference = createChangelogDecoder(def);
    const decode = createFetchedDecoder(def);
    const path = keyedFastPath(def, null)!;
    expect(path).not.toBeNull();
    let rows = 0; let malformed = 0; let fast = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const m = fetch(seed, 1 + (seed * 7) % 40, numericKeys);
      if (path(pack(m)) !== null) fast++;
      const want = reference(m);
      for (const got of [decode(m), decode(pack(m))]) {
        expect(got.malformed.map((x) => x.index)).toEqual(want.malformed.map((x) => x.index));
        expect(got.batch?.numRows ?? 0).toBe(want.batch?.numRows ?? 0);
        expect(cells(got.batch, def)).toEqual(cells(want.batch, def));
        expect(got.ops ?? null).toBeNull();
      }
      rows += want.batch?.numRows ?? 0; malformed += want.malformed.length;
    }
    // The random fetches did cover rows and malformed messages.
    expect(rows).toBeGreaterThan(500);
    expect(malformed).toBeGreaterThan(20);
    // …and the fast path took the fetches whose keys all convert (others go to the reference decoder whole).
    expect(fast).toBeGreaterThan(20);
  });
});
