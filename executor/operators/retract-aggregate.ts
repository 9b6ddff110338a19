/**
 * GROUP BY over a keyed changelog (an aggregate over an aggregate, over a last-row dedup, over a view's
 * changes): the aggregates retract. The operator keeps the input's current row per input key, so an
 * upsert first takes back what the key's previous row had added and a delete takes it back alone.
 * COUNT, SUM and AVG retract arithmetically; MIN, MAX and the DISTINCT aggregates keep a count per value
 * of each group, so a deleted current extreme gives way to the next one and a value leaves SUM(DISTINCT)
 * and AVG(DISTINCT) when its count reaches 0. Emits a changelog keyed by the
 * group columns at each barrier: upserts of the groups that changed, deletes of groups left empty.
 *
 * State: `input` (the input's current rows) — group values are rebuilt from it on restore — and
 * `emitted` (the keys of the groups whose row is out).
 */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../../planner/physical.ts';
import type { AggCall, Schema } from '../../planner/types.ts';
import { batchVectors, makeBatch } from '../arrow.ts';
import { GroupTable } from '../kernels/group-table.ts';
import { batchFromValues, RowStore } from '../kernels/row-store.ts';
import { DELETE, UPSERT } from '../message.ts';
import type { Operator, Output, TableState } from '../operator.ts';
import type { Row } from '../rows.ts';
import type { Vector } from '../vector.ts';

type AggOp = Extract<PhysicalOp, { kind: 'updating_aggregate' }>;

/** One group's running state for one aggregate. */
interface Acc { n: number; sum: number; values: Map<unknown, number> | null }

function newAcc(a: AggCall): Acc {
  return { n: 0, sum: 0, values: a.fn === 'min' || a.fn === 'max' || a.fn.endsWith('_distinct') ? new Map() : null };
}

function result(a: AggCall, acc: Acc): unknown {
  switch (a.fn) {
    case 'count_star': case 'count': return acc.n;
    case 'sum': return acc.n ? acc.sum : null;
    case 'avg': return acc.n ? acc.sum / acc.n : null;
    case 'count_distinct': return acc.values!.size;
    // Summed from the values present now (as MIN/MAX scan them): no drift from adding and taking back doubles.
    case 'sum_distinct': case 'avg_distinct': {
      const m = acc.values!;
      if (m.size === 0) return null;
      let sum = 0;
      for (const v of m.keys()) sum += v as number;
      return a.fn === 'sum_distinct' ? sum : sum / m.size;
    }
    case 'min': case 'max': {
      let best: unknown = null;
      for (const v of acc.values!.keys()) if (best === null || (a.fn === 'min' ? (v as number) < (best as number) : (v as number) > (best as number))) best = v;
      return best;
    }
  }
}

export function createRetractAggregate(op: AggOp, inputKey: readonly number[]): Operator {
  const schema = op.inputSchema;
  const keyTypes = op.groupBy.map((i) => schema.fields[i]!.type);
  const keySchema: Schema = { fields: op.groupBy.map((i, j) => ({ name: `_k${j}`, type: schema.fields[i]!.type, nullable: true })) };
  let store = new RowStore(schema);
  let inKeys = new GroupTable(inputKey.map((c) => schema.fields[c]!.type));
  let groups = new GroupTable(keyTypes);
  let slotOfKey = new Int32Array(256).fill(-1);
  let groupOfSlot = new Int32Array(256);
  let rowsIn: number[] = [];
  let accs: Acc[][] = [];
  let emitted = new Uint8Array(256);
  let dirty = new Set<number>();
  let kids = new Int32Array(1024); let gids = new Int32Array(1024);

  const grow = <A extends Int32Array | Uint8Array>(a: A, n: number, fill = 0): A => {
    if (a.length >= n) return a;
    const b = new (a.constructor as new (n: number) => A)(Math.max(n, a.length * 2));
    if (fill) b.fill(fill as never); b.set(a as never); return b;
  };

  /** Adds (sign +1) or takes back (-1) the contribution of the row in `slot` to its group. */
  const contribute = (slot: number, g: number, sign: number) => {
    rowsIn[g] = (rowsIn[g] ?? 0) + sign;
    const ga = accs[g] ??= op.aggs.map(newAcc);
    for (let j = 0; j < op.aggs.length; j++) {
      const a = op.aggs[j]!; const acc = ga[j]!;
      if (a.filter >= 0 && store.value(slot, a.filter) !== 1) continue;
      if (a.fn === 'count_star') { acc.n += sign; continue; }
      const v = store.value(slot, a.arg);
      if (v === null) continue;
      acc.n += sign;
      if (a.fn === 'sum' || a.fn === 'avg') acc.sum += sign * (v as number);
      else if (acc.values !== null) {
        const m = acc.values!;
        const c = (m.get(v) ?? 0) + sign;
        if (c > 0) m.set(v, c); else m.delete(v);
      }
    }
    dirty.add(g);
  };

  const apply = (batch: RecordBatch, ops: Int8Array | null) => {
    const n = batch.numRows;
    const cols = batchVectors(batch, schema);
    if (kids.length < n) { kids = new Int32Array(n); gids = new Int32Array(n); }
    inKeys.assign(inputKey.map((c) => cols[c]!), null, n, kids);
    slotOfKey = grow(slotOfKey, inKeys.size, -1);
    groups.assign(op.groupBy.map((c) => cols[c]!), null, n, gids);
    emitted = grow(emitted, groups.size);
    for (let i = 0; i < n; i++) {
      const k = kids[i]!; const old = slotOfKey[k]!;
      if (old >= 0) { contribute(old, groupOfSlot[old]!, -1); store.release(old); slotOfKey[k] = -1; }
      if (ops !== null && ops[i]! < 0) continue;
      const s = store.add(cols, i);
      groupOfSlot = grow(groupOfSlot, s + 1);
      groupOfSlot[s] = gids[i]!;
      slotOfKey[k] = s;
      contribute(s, gids[i]!, +1);
    }
  };

  const flush = (out: Output) => {
    if (dirty.size === 0) return;
    const ids = [...dirty].sort((a, b) => a - b);
    dirty = new Set();
    const keyVecs = groups.keyVectors(Int32Array.from(ids), ids.length);
    const rows: Row[] = []; const o: number[] = [];
    ids.forEach((g, i) => {
      const key = keyVecs.map((v) => (v.valid !== null && v.valid[i] === 0 ? null : v.kind === 'bool' ? v.values[i] === 1 : (v as { values: ArrayLike<unknown> }).values[i]));
      if ((rowsIn[g] ?? 0) > 0) {
        rows.push([...key, ...op.aggs.map((a, j) => result(a, accs[g]![j]!))]); o.push(UPSERT); emitted[g] = 1;
      } else if (emitted[g] === 1) {
        rows.push([...key, ...op.aggs.map(() => null)]); o.push(DELETE); emitted[g] = 0;
      }
    });
    if (rows.length) out.batch(batchFromValues(op.schema, rows), Int8Array.from(o));
  };

  const reset = () => {
    store = new RowStore(schema); inKeys = new GroupTable(inputKey.map((c) => schema.fields[c]!.type)); groups = new GroupTable(keyTypes);
    slotOfKey = new Int32Array(256).fill(-1); groupOfSlot = new Int32Array(256); rowsIn = []; accs = []; emitted = new Uint8Array(256); dirty = new Set();
  };

  return {
    name: 'retract_aggregate',
    schema: op.schema,
    stateTables: ['input', 'emitted'],
    processBatch(batch: RecordBatch, ops: Int8Array | null) { if (batch.numRows) apply(batch, ops); },
    flush,
    end(out: Output) { flush(out); },
    snapshotTables(): TableState {
      const live = store.liveSlots();
      const em: number[] = [];
      for (let g = 0; g < groups.size; g++) if (emitted[g] === 1) em.push(g);
      const ids = Int32Array.from(em);
      return {
        tables: {
          input: live.length ? store.batch(live) : null,
          emitted: ids.length ? makeBatch(keySchema, groups.keyVectors(ids, ids.length) as Vector[], ids.length) : null,
        },
        meta: {},
      };
    },
    restoreTables(s: TableState) {
      reset();
      if (s.tables.input) apply(s.tables.input, null);
      dirty = new Set();
      const e = s.tables.emitted;
      if (e) {
        const ids = new Int32Array(e.numRows);
        groups.assign(batchVectors(e, keySchema), null, e.numRows, ids);
        emitted = grow(emitted, groups.size);
        for (const g of ids) emitted[g] = 1;
      }
    },
    metrics() { return { stateRows: store.size, stateBytes: store.bytes() + inKeys.bytes() + groups.bytes(), lateRowsDropped: 0 }; },
  };
}
