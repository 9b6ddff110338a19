/**
 * Query tables: the current result of a materialized view, kept in memory for pull queries and push
 * streams. Changes of an epoch are staged and become visible together at the epoch's commit, so a
 * reader never sees half an epoch.
 */
import type { RecordBatch } from 'apache-arrow';
import { batchRows, rowsBatch, type Row } from '../../executor/rows.ts';
import type { Schema } from '../../planner/types.ts';

export interface TableChange {
  /** 'upsert' (or 'insert' in an append-only table) and 'delete'. */
  readonly op: 'insert' | 'upsert' | 'delete';
  readonly row: Row;
}

export interface QueryTable {
  readonly name: string;
  readonly schema: Schema;
  readonly keyColumns: readonly number[] | null;
  /** Last committed epoch. */
  readonly epoch: number;
  readonly size: number;
  /** Stages a changelog batch (ops as in executor messages; null = inserts). */
  apply(batch: RecordBatch, ops: Int8Array | null): void;
  /** Makes the staged changes visible as of `epoch`. */
  commit(epoch: number): TableChange[];
  /** Drops staged changes (the epoch will be replayed). */
  abort(): void;
  /** The committed rows. */
  rows(): Row[];
  /** The committed rows as one batch, cached per epoch. */
  batch(): RecordBatch;
  /** Subscribes to committed changes; returns the unsubscribe function. */
  subscribe(f: (epoch: number, changes: readonly TableChange[]) => void): () => void;
  /** Replaces the content (restore from a checkpoint). */
  load(rows: readonly Row[], epoch: number): void;
}

/**
 * `retentionRows` bounds the table: an append-only table keeps its newest rows (10,000 when null); a keyed
 * table, only when it is set, drops the rows updated longest ago — for windowed views the oldest windows —
 * and tells subscribers with delete changes. Without it a keyed view keeps every window, as Flink and
 * RisingWave views do.
 */
export function createQueryTable(name: string, schema: Schema, keyColumns: readonly number[] | null, retentionRows: number | null = null): QueryTable {
  const appendLimit = retentionRows ?? 10_000;
  const keyed = new Map<string, Row>();
  let appended: Row[] = [];
  const staged: TableChange[] = [];
  let epoch = 0;
  let cached: { epoch: number; batch: RecordBatch } | null = null;
  const listeners = new Set<(epoch: number, changes: readonly TableChange[]) => void>();
  const keyOf = (r: Row) => JSON.stringify(keyColumns!.map((c) => r[c]));

  return {
    name, schema, keyColumns,
    get epoch() { return epoch; },
    get size() { return keyColumns ? keyed.size : appended.length; },
    apply(batch, ops) {
      const rows = batchRows(batch, schema);
      for (let i = 0; i < rows.length; i++) {
        const op = ops === null ? 'insert' : ops[i]! > 0 ? 'upsert' : 'delete';
        staged.push({ op: keyColumns ? op : 'insert', row: rows[i]! });
      }
    },
    commit(e) {
      const changes = staged.splice(0, staged.length);
      for (const c of changes) {
        if (keyColumns) {
          const k = keyOf(c.row);
          // With a retention bound, re-inserting keeps the Map in order of last change, oldest first.
          if (c.op === 'delete' || retentionRows !== null) keyed.delete(k);
          if (c.op !== 'delete') keyed.set(k, c.row);
        } else appended.push(c.row);
      }
      if (keyColumns && retentionRows !== null && keyed.size > retentionRows) {
        for (const [k, row] of keyed) {
          if (keyed.size <= retentionRows) break;
          keyed.delete(k);
          changes.push({ op: 'delete', row });
        }
      }
      if (!keyColumns && appended.length > appendLimit) appended = appended.slice(appended.length - appendLimit);
      epoch = e;
      if (changes.length) for (const l of listeners) l(e, changes);
      return changes;
    },
    abort() { staged.length = 0; },
    rows: () => (keyColumns ? [...keyed.values()] : [...appended]),
    batch() {
      if (!cached || cached.epoch !== epoch) cached = { epoch, batch: rowsBatch(schema, keyColumns ? [...keyed.values()] : appended) };
      return cached.batch;
    },
    subscribe(f) { listeners.add(f); return () => { listeners.delete(f); }; },
    load(rows, e) {
      keyed.clear(); appended = [];
      for (const r of rows) { if (keyColumns) keyed.set(keyOf(r), r); else appended.push(r); }
      epoch = e; cached = null; staged.length = 0;
    },
  };
}
