/**
 * Query tables: the current result of a materialized view, kept in memory for pull queries and push
 * streams. Changes of an epoch are staged and become visible together at the epoch's commit, so a
 * reader never sees half an epoch. Each commit also records the writing query's watermark then, so a
 * query reading the view's changes (queries/view-input.ts) can carry event time on.
 */
import type { RecordBatch } from 'apache-arrow';
import { batchRows, rowsBatchTrusted, type Row } from '../../executor/rows.ts';
import type { Schema } from '../../planner/types.ts';
import { KeyedRows } from './keyed-rows.ts';
import { deltaBatch } from './table-changes.ts';

export interface TableChange {
  /** 'upsert' (or 'insert' in an append-only table) and 'delete'. */
  readonly op: 'insert' | 'upsert' | 'delete';
  readonly row: Row;
}

/** What an epoch's commit changed: `size` changes (retention deletes included). */
export interface EpochCommit {
  readonly size: number;
  changes(): TableChange[];
  /** The changes as one batch with `__op` (connectors/table/table-changes.ts); null when none. */
  delta(): RecordBatch | null;
}

export interface QueryTable {
  readonly name: string;
  readonly schema: Schema;
  readonly keyColumns: readonly number[] | null;
  /** Last committed epoch. */
  readonly epoch: number;
  /** The writing query's watermark at the last commit (-Infinity: none yet, or the query has none). */
  readonly watermark: number;
  readonly size: number;
  /** Stages a changelog batch (ops as in executor messages; null = inserts). */
  apply(batch: RecordBatch, ops: Int8Array | null): void;
  /** Makes the staged changes visible as of `epoch`, written under `watermark` (the writer's, if any). */
  commit(epoch: number, watermark?: number): TableChange[];
  /** commit(), for the checkpoint: the number of changes and the epoch's delta batch (table-changes.ts), no change objects. */
  commitEpoch(epoch: number, watermark?: number): EpochCommit;
  /** Drops staged changes (the epoch will be replayed). */
  abort(): void;
  /** The committed rows. */
  rows(): Row[];
  /** The committed rows as one batch, cached per epoch. */
  batch(): RecordBatch;
  /**
   * Subscribes to committed changes; returns the unsubscribe function. With `progress`, also called
   * for commits without changes whose watermark advanced (`watermark` = the commit's).
   */
  subscribe(f: (epoch: number, changes: readonly TableChange[], watermark: number) => void, progress?: boolean): () => void;
  /** Replaces the content (restore from a checkpoint). */
  load(rows: readonly Row[], epoch: number, watermark?: number): void;
  /** Applies and commits an epoch's changes again (restore), without telling subscribers. */
  replay(batch: RecordBatch, ops: Int8Array | null, epoch: number): void;
}

/**
 * `retentionRows` bounds the table: an append-only table keeps its newest rows (10,000 when null); a keyed
 * table, only when it is set, drops the rows updated longest ago — for windowed views the oldest windows —
 * and tells subscribers with delete changes. Without it a keyed view keeps every window, as Flink and
 * RisingWave views do.
 */
export function createQueryTable(name: string, schema: Schema, keyColumns: readonly number[] | null, retentionRows: number | null = null): QueryTable {
  const appendLimit = retentionRows ?? 10_000;
  const keyed = keyColumns ? new KeyedRows(schema, keyColumns, retentionRows !== null) : null;
  let appended: Row[] = [];
  /**
   * The epoch's changes as staged: each batch with its rows, ops and (keyed) key ids. Change objects
   * ({op, row}) are made only for subscribers and `commit`'s callers; the checkpoint takes the epoch's
   * delta straight from the batches (`commitEpoch`).
   */
  const staged: { batch: RecordBatch; ids: Int32Array | null; rows: Row[]; ops: Int8Array | null }[] = [];
  let epoch = 0;
  let watermark = -Infinity;
  let cached: { epoch: number; batch: RecordBatch } | null = null;
  const listeners = new Map<(epoch: number, changes: readonly TableChange[], watermark: number) => void, boolean>();

  function commit(e: number, w: number, notify: boolean): EpochCommit {
    const batches = staged.splice(0, staged.length);
    const evicted: Row[] = [];
    if (keyed) {
      for (const b of batches) keyed.apply(b.ids!, b.rows, b.ops === null ? () => true : (i) => b.ops![i]! > 0);
      keyed.maybeCompact();
      if (retentionRows !== null) {
        while (keyed.live > retentionRows) { const row = keyed.evictOldest(); if (!row) break; evicted.push(row); }
      }
    } else for (const b of batches) for (const r of b.rows) appended.push(r);
    if (!keyColumns && appended.length > appendLimit) appended = appended.slice(appended.length - appendLimit);
    epoch = e;
    const advanced = w > watermark;
    if (advanced) watermark = w;
    const size = batches.reduce((n, b) => n + b.rows.length, 0) + evicted.length;
    let changes: TableChange[] | null = null;
    const changeList = (): TableChange[] => {
      if (changes) return changes;
      changes = [];
      for (const b of batches) {
        for (let i = 0; i < b.rows.length; i++) {
          const op = b.ops === null ? 'insert' : b.ops[i]! > 0 ? 'upsert' : 'delete';
          changes.push({ op: keyColumns ? op : 'insert', row: b.rows[i]! });
        }
      }
      for (const row of evicted) changes.push({ op: 'delete', row });
      return changes;
    };
    if (notify && (size || advanced)) for (const [l, progress] of listeners) if (size || progress) l(e, changeList(), watermark);
    return { size, changes: changeList, delta: () => (size ? deltaBatch(schema, keyColumns !== null, batches, evicted) : null) };
  }

  return {
    name, schema, keyColumns,
    get epoch() { return epoch; },
    get watermark() { return watermark; },
    get size() { return keyed ? keyed.live : appended.length; },
    apply(batch, ops) {
      if (batch.numRows === 0) return;
      staged.push({ batch, ids: keyed ? keyed.idsOf(batch) : null, rows: batchRows(batch, schema), ops });
    },
    commit(e, w = -Infinity) { return commit(e, w, true).changes(); },
    commitEpoch(e, w = -Infinity) { return commit(e, w, true); },
    abort() { staged.length = 0; },
    replay(batch, ops, e) { this.apply(batch, ops); commit(e, watermark, false); cached = null; },
    rows: () => (keyed ? keyed.rows() : [...appended]),
    batch() {
      if (!cached || cached.epoch !== epoch) cached = { epoch, batch: rowsBatchTrusted(schema, keyed ? keyed.rows() : appended) };
      return cached.batch;
    },
    subscribe(f, progress = false) { listeners.set(f, progress); return () => { listeners.delete(f); }; },
    load(rows, e, w = -Infinity) {
      appended = [];
      if (keyed) { keyed.clear(); if (rows.length) { const all = [...rows]; keyed.apply(keyed.idsOf(rowsBatchTrusted(schema, all)), all, () => true); } }
      else appended = [...rows];
      epoch = e; watermark = w; cached = null; staged.length = 0;
    },
  };
}
