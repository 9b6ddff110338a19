/**
 * A materialized view as the input of another continuous query. The downstream query follows the
 * view's committed changes epoch by epoch (an upstream epoch is delivered whole, as one batch, so the
 * downstream never sees half of one), as a changelog keyed like the view.
 *
 * Restarts: the two queries checkpoint independently, so after a crash the upstream may restore an
 * older or newer epoch than the one the downstream last saw. The input therefore keeps a mirror of the
 * view's rows as the downstream last saw them (checkpointed with the downstream's state), and on
 * attaching it delivers the difference between that mirror and the view's rows now: upserts for rows
 * that are new or changed, deletes for rows that are gone. Nothing is counted twice or missed,
 * whatever the two checkpoints' epochs are. The mirror costs one copy of the view's rows.
 *
 * Event time: each committed epoch carries the upstream query's watermark (query-table.ts); after the
 * epoch's batch the input delivers it (when it advanced), so event-time operators downstream — a
 * temporal join `FOR SYSTEM_TIME AS OF o.ts` against the view, windows over a join with it — progress.
 * The upstream's rows at or behind its watermark are final there, so the view's changes up to an
 * epoch are complete for that time. The catch-up ends with the table's watermark too.
 */
import type { RecordBatch } from 'apache-arrow';
import type { QueryTable, TableChange } from '../connectors/table/query-table.ts';
import { batchRows, rowsBatch, type Row } from '../executor/rows.ts';
import type { Schema } from '../planner/types.ts';

export interface ViewInput {
  /** The graph input it feeds. */
  readonly index: number;
  readonly view: string;
  /** Name of its state table in the downstream's checkpoint. */
  readonly stateName: string;
  /** The upstream epoch the downstream has seen (its changes delivered). */
  readonly seenEpoch: number;
  /** Rows delivered so far (changes), for progress. */
  readonly rows: number;
  /** The newest upstream watermark delivered (-Infinity: none). */
  readonly watermark: number;
  restore(mirror: RecordBatch | null): void;
  snapshot(): RecordBatch | null;
  /**
   * Starts following the view: first the catch-up difference, then each committed epoch. `schedule`
   * runs a task in the query's serial order; `deliver` pushes one batch of changes, `advance` the
   * upstream watermark after it.
   */
  attach(schedule: (task: () => void) => void, deliver: (batch: RecordBatch, ops: Int8Array) => void, advance?: (watermark: number) => void): void;
  detach(): void;
}

const UPSERT = 1; const DELETE = -1;

export function createViewInput(index: number, view: string, schema: Schema, key: readonly number[], table: QueryTable | undefined): ViewInput {
  const keyOf = (r: Row) => JSON.stringify(key.map((c) => r[c]));
  let mirror = new Map<string, Row>();
  let seen = 0;
  let delivered = 0;
  let watermark = -Infinity;
  let unsubscribe: (() => void) | null = null;
  const same = (a: Row, b: Row) => a.length === b.length && a.every((x, i) => x === b[i] || (x instanceof Date && b[i] instanceof Date && x.getTime() === (b[i] as Date).getTime()) || JSON.stringify(x) === JSON.stringify(b[i]));

  const send = (deliver: (batch: RecordBatch, ops: Int8Array) => void, rows: Row[], ops: number[]) => {
    if (!rows.length) return;
    delivered += rows.length;
    deliver(rowsBatch(schema, rows), Int8Array.from(ops));
  };

  return {
    index, view, stateName: `view-${index}`,
    get seenEpoch() { return seen; },
    get rows() { return delivered; },
    get watermark() { return watermark; },
    restore(b) {
      mirror = new Map();
      for (const r of b ? batchRows(b, schema) : []) mirror.set(keyOf(r), r);
    },
    snapshot: () => (mirror.size ? rowsBatch(schema, [...mirror.values()]) : null),
    attach(schedule, deliver, advance) {
      if (!table) throw new Error(`materialized view '${view}' is not running: its query must run before the queries that read it`);
      // Subscribed first, then the catch-up is queued ahead of every epoch committed after it.
      const progress = (w: number) => { if (w > watermark) { watermark = w; advance?.(w); } };
      unsubscribe = table.subscribe((e: number, changes: readonly TableChange[], w: number) => schedule(() => {
        if (e <= seen) return; // already part of the catch-up
        seen = e;
        const rows: Row[] = []; const ops: number[] = [];
        for (const c of changes) {
          const k = keyOf(c.row);
          if (c.op === 'delete') { if (!mirror.delete(k)) continue; rows.push(c.row); ops.push(DELETE); }
          else { mirror.set(k, c.row); rows.push(c.row); ops.push(UPSERT); }
        }
        send(deliver, rows, ops);
        progress(w);
      }), true);
      schedule(() => {
        seen = table.epoch;
        const now = new Map(table.rows().map((r) => [keyOf(r), r]));
        const rows: Row[] = []; const ops: number[] = [];
        for (const [k, r] of mirror) if (!now.has(k)) { rows.push(r); ops.push(DELETE); }
        for (const [k, r] of now) { const old = mirror.get(k); if (!old || !same(old, r)) { rows.push(r); ops.push(UPSERT); } }
        mirror = now;
        send(deliver, rows, ops);
        progress(table.watermark);
      });
    },
    detach() { unsubscribe?.(); unsubscribe = null; },
  };
}
