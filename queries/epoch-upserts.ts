/**
 * The latest change per key within an epoch, for a keyed upsert sink (queries/sink-output.ts).
 *
 * Why: a changelog passed through (an upsert-kafka table into an upsert sink, a changelog's primary key)
 * yields one output change per input change, so a key updated three times in an epoch was written three
 * times. (Aggregates already emit at most one change per group per epoch.) Nothing outside the epoch's
 * transaction can see its intermediate changes (read_committed readers see the epoch at once; an
 * at-least-once sink also sends at the epoch's end), and an upsert topic is read as "the last value per
 * key", so only the last change per key is written: Kafka Streams' record cache and Flink's upsert-kafka
 * buffer (`sink.buffer-flush.*`) do the same. Order across keys is not kept; order per key is (one record).
 *
 * Only for a sink keyed by the query's own unique key (GROUP BY columns, a changelog's primary key)
 * with upsert values (a delete is a tombstone): a Debezium sink writes each change as an event and a
 * sink keyed by other columns may hold several rows per key, so those keep every change.
 */
import type { Row } from '../executor/rows.ts';

export interface EpochUpserts {
  /** One batch's rows with their changelog ops (null: all inserts). */
  add(rows: readonly Row[], ops: Int8Array | null): void;
  /** The epoch's last change per key, in the order of each key's last change; empties the buffer. */
  drain(): { row: Row; del: boolean }[];
  clear(): void;
  readonly size: number;
}

/** A key value as a string that no other value shares (strings length-prefixed, so no separator inside one can join two). */
const part = (v: unknown): string => (v === null || v === undefined ? '\u0000' : typeof v === 'string' ? `s${v.length}:${v}` : typeof v === 'number' ? `n${v}` : `${typeof v}${String(v)}`);

export function createEpochUpserts(keyColumns: readonly number[]): EpochUpserts {
  const latest = new Map<string, { row: Row; del: boolean }>();
  const keyOf = keyColumns.length === 1
    ? ((c) => (r: Row) => part(r[c]))(keyColumns[0]!)
    : (r: Row) => { let k = ''; for (const c of keyColumns) k += `${part(r[c])}\u0001`; return k; };
  return {
    add(rows, ops) {
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        const k = keyOf(r);
        // Deleted and set again: the key's last change goes last.
        latest.delete(k);
        latest.set(k, { row: r, del: ops !== null && ops[i]! < 0 });
      }
    },
    drain() { const out = [...latest.values()]; latest.clear(); return out; },
    clear() { latest.clear(); },
    get size() { return latest.size; },
  };
}
