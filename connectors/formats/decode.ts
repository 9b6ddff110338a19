/**
 * Decoders from Kafka messages to Arrow batches for a source's schema: JSON objects mapped to columns
 * by name (nested objects to ROW columns), CSV in column order, or the raw value as one string.
 * Kafka metadata columns (timestamp, partition, offset, key, headers, topic) are filled beside them.
 * Pure code with no Kafka client, so it can run in worker threads.
 */
import type { RecordBatch } from 'apache-arrow';
import { makeBatch } from '../../executor/arrow.ts';
import type { SourceDef } from '../../planner/catalog.ts';
import { createBuilder, DecodeError, type ColumnBuilder } from './builders.ts';

/** A fetched run of messages from one topic partition, as plain arrays. */
export interface RawMessages {
  readonly topic: string;
  readonly partition: number;
  readonly values: readonly (Uint8Array | null)[];
  readonly keys: readonly (Uint8Array | null)[];
  readonly offsets: readonly number[];
  readonly timestamps: readonly number[];
  readonly headers?: readonly (Record<string, unknown> | undefined)[];
}

export interface Malformed {
  readonly index: number;
  readonly offset: number;
  readonly error: string;
}

export interface Decoded {
  /** Decoded rows (null when none). */
  readonly batch: RecordBatch | null;
  /** Index into the input of each decoded row, when some were skipped. */
  readonly kept: Int32Array | null;
  readonly malformed: readonly Malformed[];
  /** Per row +1 upsert / -1 delete, for changelog sources (connectors/formats/changelog.ts); else absent. */
  readonly ops?: Int8Array | null;
}

export type Decoder = (msgs: RawMessages) => Decoded;

const utf8 = new TextDecoder();

function text(b: Uint8Array | null): string | null {
  if (b === null) return null;
  return Buffer.isBuffer(b) ? b.toString('utf8') : utf8.decode(b);
}

/** Splits one CSV line, honouring double quotes. */
export function splitCsv(line: string, delim: string): string[] {
  const out: string[] = [];
  let cur = ''; let q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) {
      if (c === '"') { if (line[i + 1] === '"') { cur += '"'; i++; } else q = false; } else cur += c;
    } else if (c === '"') q = true;
    else if (c === delim) { out.push(cur); cur = ''; }
    else cur += c;
  }
  out.push(cur);
  return out;
}

export function createDecoder(source: SourceDef): Decoder {
  const cols = source.columns;
  const fmt = source.options.format;
  const delim = source.options.csvDelimiter;
  const failOnMissing = source.options.failOnMissingField === true;
  const dataCols = cols.map((c, i) => ({ c, i })).filter((x) => x.c.metadata === null);
  return (msgs) => {
    const n = msgs.values.length;
    const builders: ColumnBuilder[] = cols.map((c) => createBuilder(c.type, n, c.name));
    const malformed: Malformed[] = [];
    let row = 0;
    let kept: Int32Array | null = null;
    for (let m = 0; m < n; m++) {
      try {
        const raw = msgs.values[m]!;
        if (fmt === 'json') {
          const s = text(raw);
          if (s === null) throw new DecodeError('empty message (tombstone)');
          let obj: unknown;
          try { obj = JSON.parse(s); } catch (e) { throw new DecodeError(`invalid JSON: ${(e as Error).message}`); }
          if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new DecodeError('expected a JSON object');
          const o = obj as Record<string, unknown>;
          if (failOnMissing) {
            for (const { c } of dataCols) if (!(c.name in o)) throw new DecodeError(`missing field '${c.name}'`);
          }
          for (const { c, i } of dataCols) builders[i]!.set(row, o[c.name]);
        } else if (fmt === 'csv') {
          const s = text(raw);
          if (s === null) throw new DecodeError('empty message (tombstone)');
          const parts = splitCsv(s.replace(/\r?\n$/, ''), delim);
          if (parts.length !== dataCols.length) throw new DecodeError(`expected ${dataCols.length} CSV fields, got ${parts.length}`);
          dataCols.forEach(({ i }, j) => builders[i]!.set(row, parts[j] === '' ? null : parts[j]));
        } else {
          builders[dataCols[0]!.i]!.set(row, text(raw));
        }
        for (let i = 0; i < cols.length; i++) {
          switch (cols[i]!.metadata) {
            case null: break;
            case 'timestamp': builders[i]!.set(row, msgs.timestamps[m]); break;
            case 'partition': builders[i]!.set(row, msgs.partition); break;
            case 'offset': builders[i]!.set(row, msgs.offsets[m]); break;
            case 'key': builders[i]!.set(row, text(msgs.keys[m] ?? null)); break;
            case 'topic': builders[i]!.set(row, msgs.topic); break;
            case 'headers': {
              const h = msgs.headers?.[m];
              const o: Record<string, string> = {};
              if (h) for (const [k, v] of Object.entries(h)) o[k] = v instanceof Uint8Array ? text(v)! : String(v);
              builders[i]!.set(row, JSON.stringify(o));
              break;
            }
          }
        }
        if (kept) kept[row] = m;
        row++;
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        if (!kept) { kept = new Int32Array(n); for (let k = 0; k < row; k++) kept[k] = k; }
        malformed.push({ index: m, offset: msgs.offsets[m]!, error: e.message });
      }
    }
    const batch = row === 0 ? null : makeBatch(source.schema, builders.map((b) => b.finish(row)), row);
    return { batch, kept: kept ? kept.subarray(0, row) : null, malformed };
  };
}
