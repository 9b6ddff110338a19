/**
 * The rows of a keyed query table, by key, with the order a JS Map would give them: first insertion
 * (a key deleted and inserted again goes last), or — with a retention bound — last change, so the rows
 * changed longest ago can be dropped first.
 *
 * Why not a Map<string, Row>: a view of a windowed aggregate takes one upsert per output row, and
 * building a string key per row and hashing it made the view's commit the largest cost of a query
 * with many output rows (a HOP aggregate emits each change once per window it is in). Keys here go
 * through the executor's GroupTable (typed lanes, open addressing, no allocation per row): a key gets a
 * dense id, rows are stored by id. Ids of deleted keys stay in the GroupTable until dead ids outnumber
 * live ones, then the table is rebuilt from the live keys (in row order, so the order flag resets).
 * NULL and NaN are one key value, as they were in the JSON keys before.
 */
import type { RecordBatch } from 'apache-arrow';
import { batchVectors } from '../../executor/arrow.ts';
import { GroupTable } from '../../executor/kernels/group-table.ts';
import { rowsBatchTrusted, type Row } from '../../executor/rows.ts';
import type { Vector } from '../../executor/vector.ts';
import type { Schema } from '../../planner/types.ts';

export class KeyedRows {
  private table: GroupTable;
  private rowsById: (Row | undefined)[] = [];
  /** Order of each live id: rows() lists live ids by ascending seq. */
  private seq = new Float64Array(1024);
  private nextSeq = 1;
  /** True while id order equals seq order among live ids (every seq went to a brand-new id). */
  private idOrdered = true;
  /** The largest id given a seq so far (ids given seqs in increasing order keep idOrdered). */
  private maxOrderedId = -1;
  /** Retention only: (id, seq) in order of change; stale entries (seq moved on, or deleted) are skipped. */
  private qIds = new Int32Array(1024);
  private qSeqs = new Float64Array(1024);
  private qHead = 0;
  private qTail = 0;
  live = 0;

  constructor(private readonly schema: Schema, private readonly keyColumns: readonly number[], private readonly byLastChange: boolean) {
    this.table = new GroupTable(keyColumns.map((c) => schema.fields[c]!.type));
  }

  /**
   * The key id of each row of a batch (new keys get ids, but no row until applied). Done when a batch
   * is staged, so that nothing depends on the batch's buffers later.
   */
  idsOf(batch: RecordBatch): Int32Array {
    const n = batch.numRows;
    const all = batchVectors(batch, this.schema);
    const keyCols: Vector[] = this.keyColumns.map((c) => all[c]!);
    const ids = new Int32Array(n);
    if (n) this.table.assign(keyCols, null, n, ids);
    return ids;
  }

  /** Applies changes in row order: row i of `rows` has key id ids[i]; `upsert(i)` false = a delete. */
  apply(ids: Int32Array, rows: readonly Row[], upsert: (i: number) => boolean): void {
    const n = rows.length;
    if (n === 0) return;
    if (this.seq.length < this.table.size) { const s = new Float64Array(Math.max(this.table.size, this.seq.length * 2)); s.set(this.seq); this.seq = s; }
    const byId = this.rowsById;
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      if (!upsert(i)) {
        if (byId[id] !== undefined) { byId[id] = undefined; this.live--; }
        continue;
      }
      if (byId[id] === undefined) {
        this.live++;
        this.order(id);
      } else if (this.byLastChange) this.order(id);
      byId[id] = rows[i];
    }
  }

  /** Rebuilds the key table when dead ids outnumber live ones (call only with nothing staged). */
  maybeCompact(): void {
    if (this.table.size > 4096 && this.table.size > 2 * this.live) this.compact();
  }

  private order(id: number): void {
    if (id <= this.maxOrderedId) this.idOrdered = false; else this.maxOrderedId = id;
    const s = this.nextSeq++;
    this.seq[id] = s;
    if (!this.byLastChange) return;
    if (this.qTail === this.qIds.length) {
      const live = this.qTail - this.qHead;
      if (this.qHead > live) { this.qIds.copyWithin(0, this.qHead, this.qTail); this.qSeqs.copyWithin(0, this.qHead, this.qTail); }
      else {
        const ni = new Int32Array(this.qIds.length * 2); ni.set(this.qIds.subarray(this.qHead, this.qTail)); this.qIds = ni;
        const ns = new Float64Array(this.qSeqs.length * 2); ns.set(this.qSeqs.subarray(this.qHead, this.qTail)); this.qSeqs = ns;
      }
      this.qHead = 0; this.qTail = live;
    }
    this.qIds[this.qTail] = id; this.qSeqs[this.qTail] = s; this.qTail++;
  }

  /** Removes and returns the row changed longest ago (retention), or undefined when empty. */
  evictOldest(): Row | undefined {
    while (this.qHead < this.qTail) {
      const id = this.qIds[this.qHead]!; const s = this.qSeqs[this.qHead]!;
      this.qHead++;
      const row = this.rowsById[id];
      if (row === undefined || this.seq[id] !== s) continue;
      this.rowsById[id] = undefined;
      this.live--;
      return row;
    }
    return undefined;
  }

  /** Live ids in row order. */
  private liveIds(): Int32Array {
    const out = new Int32Array(this.live);
    let m = 0;
    const byId = this.rowsById;
    for (let id = 0; id < byId.length; id++) if (byId[id] !== undefined) out[m++] = id;
    if (!this.idOrdered) { const seq = this.seq; out.sort((a, b) => seq[a]! - seq[b]!); }
    return out;
  }

  rows(): Row[] {
    const ids = this.liveIds();
    const out: Row[] = new Array(ids.length);
    for (let i = 0; i < ids.length; i++) out[i] = this.rowsById[ids[i]!]!;
    return out;
  }

  /** Rebuilds the key table from the live rows, ids in row order. */
  private compact(): void {
    const rows = this.rows();
    this.table = new GroupTable(this.keyColumns.map((c) => this.schema.fields[c]!.type));
    this.rowsById = []; this.seq = new Float64Array(Math.max(1024, rows.length * 2)); this.nextSeq = 1; this.idOrdered = true; this.maxOrderedId = -1;
    this.qHead = 0; this.qTail = 0; this.live = 0;
    if (rows.length) this.apply(this.idsOf(rowsBatchTrusted(this.schema, rows)), rows, () => true);
  }

  clear(): void {
    this.table = new GroupTable(this.keyColumns.map((c) => this.schema.fields[c]!.type));
    this.rowsById = []; this.seq = new Float64Array(1024); this.nextSeq = 1; this.idOrdered = true; this.maxOrderedId = -1;
    this.qHead = 0; this.qTail = 0; this.live = 0;
  }
}
