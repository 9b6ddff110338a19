/**
 * Top-N without windows: `ROW_NUMBER() | RANK() OVER (PARTITION BY k ORDER BY x) <= N` over an
 * append-only input or a keyed changelog (say, the top items of an updating COUNT). Its output is a
 * changelog: at each barrier, every partition whose rows changed is re-ranked and the difference to
 * what was emitted before goes out —
 * - ROW_NUMBER with the rank column: keyed by (partition, row number): a position whose row changed is
 *   upserted, a position that no longer exists deleted;
 * - otherwise keyed by the row's identity (the input's key, or every column): rows that left the top
 *   are deleted, rows that entered upserted.
 * Over an append-only input a partition keeps only its N best rows (rows never leave); over a
 * changelog it keeps every current row, since any may rise when a better one is deleted.
 * Ties under ROW_NUMBER are broken by the remaining columns, so results do not depend on arrival.
 *
 * State: `rows` (current input rows) and `emitted` (the ranked rows last emitted, output schema).
 */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../../planner/physical.ts';
import type { StreamKind } from '../../planner/physical-graph.ts';
import { batchVectors } from '../arrow.ts';
import { GroupTable } from '../kernels/group-table.ts';
import { batchFromValues, RowStore } from '../kernels/row-store.ts';
import { DELETE, UPSERT } from '../message.ts';
import type { Operator, Output, TableState } from '../operator.ts';
import type { Row } from '../rows.ts';
import { valueAt } from '../vector.ts';
import { rankRows, rowComparator } from './window-top-n.ts';

type TopNOp = Extract<PhysicalOp, { kind: 'top_n' }>;

export function createTopN(op: TopNOp, input: StreamKind): Operator {
  const schema = op.inputSchema;
  const partTypes = op.partitionBy.map((c) => schema.fields[c]!.type);
  const inKey = input.kind === 'changelog' ? input.key : null;
  const byPosition = op.rankColumn && op.rankFn === 'row_number';
  const nIn = schema.fields.length;
  let store = new RowStore(schema);
  let cmp = rowComparator(store, op);
  let parts = new GroupTable(partTypes);
  let members: Set<number>[] = [];
  /** Changelog input: input key id → slot. */
  let keys = inKey ? new GroupTable(inKey.map((c) => schema.fields[c]!.type)) : null;
  let slotOfKey = new Int32Array(256).fill(-1);
  let partOfSlot = new Int32Array(256);
  let dirty = new Set<number>();
  /** Per partition: the output rows last emitted, best first. */
  let emitted: Row[][] = [];
  let gids = new Int32Array(1024); let kids = new Int32Array(1024);

  const identity = (r: Row): string => JSON.stringify(inKey ? inKey.map((c) => r[c]) : r.slice(0, nIn));
  const growSlots = (n: number) => { if (partOfSlot.length < n) { const p = new Int32Array(Math.max(n, partOfSlot.length * 2)); p.set(partOfSlot); partOfSlot = p; } };
  const growKeys = (n: number) => { if (slotOfKey.length < n) { const s = new Int32Array(Math.max(n, slotOfKey.length * 2)).fill(-1); s.set(slotOfKey); slotOfKey = s; } };

  const addRow = (cols: ReturnType<typeof batchVectors>, i: number, g: number) => {
    const s = store.add(cols, i);
    growSlots(s + 1);
    partOfSlot[s] = g;
    (members[g] ??= new Set()).add(s);
    dirty.add(g);
    return s;
  };
  const removeSlot = (s: number) => { const g = partOfSlot[s]!; members[g]!.delete(s); store.release(s); dirty.add(g); };

  const apply = (batch: RecordBatch, ops: Int8Array | null) => {
    const n = batch.numRows;
    const cols = batchVectors(batch, schema);
    if (gids.length < n) { gids = new Int32Array(n); kids = new Int32Array(n); }
    parts.assign(op.partitionBy.map((c) => cols[c]!), null, n, gids);
    if (!keys) { for (let i = 0; i < n; i++) addRow(cols, i, gids[i]!); return; }
    keys.assign(inKey!.map((c) => cols[c]!), null, n, kids);
    growKeys(keys.size);
    for (let i = 0; i < n; i++) {
      const k = kids[i]!; const old = slotOfKey[k]!;
      if (old >= 0) { removeSlot(old); slotOfKey[k] = -1; }
      if (ops === null || ops[i]! > 0) slotOfKey[k] = addRow(cols, i, gids[i]!);
    }
  };

  const outRow = (s: number, rank: number): Row => {
    const r: Row = [];
    for (let c = 0; c < nIn; c++) { const v = store.value(s, c); r.push(schema.fields[c]!.type.kind === 'boolean' && v !== null ? v === 1 : v); }
    if (op.rankColumn) r.push(rank);
    return r;
  };

  const flush = (out: Output) => {
    if (dirty.size === 0) return;
    const rows: Row[] = []; const opsOut: number[] = [];
    for (const g of [...dirty].sort((a, b) => a - b)) {
      const list = [...(members[g] ?? [])].sort(cmp);
      const r = rankRows(store, op, list);
      const next = list.slice(0, r.keep).map((s, i) => outRow(s, r.ranks[i]!));
      // An append-only input never brings back a row that fell out of the top: free it.
      if (!keys) for (let i = r.keep; i < list.length; i++) { members[g]!.delete(list[i]!); store.release(list[i]!); }
      const prev = emitted[g] ?? [];
      if (byPosition) {
        for (let i = 0; i < Math.max(prev.length, next.length); i++) {
          if (i < next.length) { if (i >= prev.length || JSON.stringify(prev[i]) !== JSON.stringify(next[i])) { rows.push(next[i]!); opsOut.push(UPSERT); } }
          else { rows.push(prev[i]!); opsOut.push(DELETE); }
        }
      } else {
        const nextIds = new Set(next.map(identity));
        const prevById = new Map(prev.map((p) => [identity(p), JSON.stringify(p)]));
        for (const p of prev) if (!nextIds.has(identity(p))) { rows.push(p); opsOut.push(DELETE); }
        for (const x of next) if (prevById.get(identity(x)) !== JSON.stringify(x)) { rows.push(x); opsOut.push(UPSERT); }
      }
      emitted[g] = next;
    }
    dirty = new Set();
    if (rows.length) out.batch(batchFromValues(op.schema, rows), Int8Array.from(opsOut));
  };

  return {
    name: 'top_n',
    schema: op.schema,
    stateTables: ['rows', 'emitted'],
    processBatch(batch: RecordBatch, ops: Int8Array | null) { if (batch.numRows) apply(batch, ops); },
    flush,
    end(out: Output) { flush(out); },
    snapshotTables(): TableState {
      const live = store.liveSlots();
      const em = emitted.flatMap((l) => l ?? []);
      return { tables: { rows: live.length ? store.batch(live) : null, emitted: em.length ? batchFromValues(op.schema, em) : null }, meta: {} };
    },
    restoreTables(s: TableState) {
      store = new RowStore(schema); cmp = rowComparator(store, op); parts = new GroupTable(partTypes); members = [];
      keys = inKey ? new GroupTable(inKey.map((c) => schema.fields[c]!.type)) : null;
      slotOfKey = new Int32Array(256).fill(-1); dirty = new Set(); emitted = [];
      if (s.tables.rows) apply(s.tables.rows, null);
      dirty = new Set();
      const em = s.tables.emitted;
      if (em) {
        const cols = batchVectors(em, op.schema);
        const rows = Array.from({ length: em.numRows }, (_, i): Row => cols.map((v) => valueAt(v, i)));
        const ids = new Int32Array(em.numRows);
        parts.assign(op.partitionBy.map((c) => cols[c]!), null, em.numRows, ids);
        rows.forEach((r, i) => (emitted[ids[i]!] ??= []).push(r));
      }
    },
    metrics() { return { stateRows: store.size, stateBytes: store.bytes() + parts.bytes(), lateRowsDropped: 0 }; },
  };
}
