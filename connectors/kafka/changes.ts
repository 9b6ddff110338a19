/**
 * A keyed view's changes topic (issue 17, queries/cluster/view-changes.ts): what a view run as tasks
 * writes so that other queries can read it from any instance. Unlike a repartition topic (exchange.ts:
 * many rows a record, read once, kept 24 h), this topic is read from its start by any query created
 * later, so it is **compacted**: one record per changed row, keyed by the view's key, so Kafka keeps
 * the newest version of each row and the topic is as large as the view (plus the keys it deleted), not
 * as its history.
 *
 * - Writer: within an epoch, the changes of one key are folded into the last (the view's table applies
 *   them the same way), so an epoch writes each changed key once: `1` + the row as JSON (an upsert) or
 *   `2` + the row (a delete: the reader hands the deleted row on, as queries/view-input.ts does). The
 *   record key is the exchange key bytes of the view's key columns (exchange.ts `exchangeKeyBytes`)
 *   and the partition the Java client would pick for it. The task's watermark follows the rows on
 *   every partition, keyed `\0watermark\0<task>` (compaction keeps each task's newest), `3` + JSON
 *   `{task, watermark}`.
 * - Reader: rows of a fetch become one batch with their ops (+1 upsert, -1 delete); watermarks are
 *   tracked per upstream task as for an exchange (exchange.ts `ExchangeReader.observe`).
 *
 * Compaction may drop a row's older versions before a reader gets there; a reader only ever needs the
 * newest (upserts replace by key). A deleted key's delete record stays (not a tombstone), so a reader
 * that comes late still learns the row is gone; the cost is one record per key ever deleted.
 * JSON keeps the values as the view's rows hold them (numbers, strings, booleans, objects); a DOUBLE
 * NaN or ±Infinity becomes NULL.
 */
import type { RecordBatch } from 'apache-arrow';
import { batchVectors } from '../../executor/arrow.ts';
import { batchRows, rowsBatch, type Row } from '../../executor/rows.ts';
import type { Schema } from '../../planner/types.ts';
import type { PackedMessages } from '../formats/fast-json.ts';
import { ExchangeReader, exchangeKeyBytes } from './exchange.ts';
import { partitionForKey } from './partitioner.ts';

const UPSERT = 1;
const DELETE = 2;
const WATERMARK = 3;
/** Below the broker's default 1 MiB record batch, with room for record framing. */
const MAX_REQUEST_PARTITION_BYTES = 900_000;

export interface ChangesRecord { readonly topic: string; readonly messages: { key: Buffer; value: Buffer; partition: number }[]; readonly bytes: number }

export class ChangesWriter {
  /** The epoch's changes so far, by key: the last one wins. */
  private readonly open = new Map<string, { key: Buffer; partition: number; row: Row; del: boolean }>();
  private marks: { task: string; watermark: number }[] = [];
  readonly stats = { rows: 0, records: 0, bytes: 0 };

  constructor(readonly config: { readonly topic: string; readonly schema: Schema; readonly key: readonly number[]; readonly partitions: number }) {
    if (!config.key.length) throw new Error(`changes topic ${config.topic}: the view has no key`);
  }

  append(batch: RecordBatch, ops: Int8Array | null): void {
    const n = batch.numRows;
    if (!n) return;
    const cols = batchVectors(batch, this.config.schema);
    const keyCols = this.config.key.map((k) => cols[k]!);
    const rows = batchRows(batch, this.config.schema);
    for (let i = 0; i < n; i++) {
      const key = Buffer.from(exchangeKeyBytes(keyCols, i));
      const id = key.toString('latin1');
      // A key already open keeps its place (its partition is fixed by its key anyway).
      const was = this.open.get(id);
      const del = ops !== null && ops[i]! < 0;
      if (was) { was.row = rows[i]!; was.del = del; } else this.open.set(id, { key, partition: partitionForKey(key, this.config.partitions), row: rows[i]!, del });
    }
    this.stats.rows += n;
  }

  /** The task's watermark, written after the epoch's rows on every partition (-Infinity: "no event time yet"). */
  watermark(task: string, watermark: number): void { this.marks.push({ task, watermark }); }

  /** The epoch's records as produce requests (each partition under ~900 KB per request), then cleared. */
  take(): ChangesRecord[] {
    const msgs: { key: Buffer; value: Buffer; partition: number }[] = [];
    for (const c of this.open.values()) {
      msgs.push({ key: c.key, partition: c.partition, value: Buffer.concat([Buffer.from([c.del ? DELETE : UPSERT]), Buffer.from(JSON.stringify(c.row), 'utf8')]) });
    }
    this.open.clear();
    for (const m of this.marks) {
      const key = Buffer.from(`\u0000watermark\u0000${m.task}`, 'utf8');
      const value = Buffer.concat([Buffer.from([WATERMARK]), Buffer.from(JSON.stringify({ task: m.task, watermark: Number.isFinite(m.watermark) ? m.watermark : null }), 'utf8')]);
      for (let p = 0; p < this.config.partitions; p++) msgs.push({ key, value, partition: p });
    }
    this.marks = [];
    const out: ChangesRecord[] = [];
    let chunk: typeof msgs = []; let bytes = 0;
    const size = new Map<number, number>();
    const cut = () => { if (chunk.length) out.push({ topic: this.config.topic, messages: chunk, bytes }); chunk = []; bytes = 0; size.clear(); };
    for (const m of msgs) {
      const len = m.value.length + m.key.length;
      const s = size.get(m.partition) ?? 0;
      if (s > 0 && s + len > MAX_REQUEST_PARTITION_BYTES) cut();
      chunk.push(m); bytes += len;
      size.set(m.partition, (size.get(m.partition) ?? 0) + len);
    }
    cut();
    this.stats.records += msgs.length;
    this.stats.bytes += out.reduce((n, x) => n + x.bytes, 0);
    return out;
  }
}

/** The reader of some partitions of a changes topic: rows as batches with ops, watermarks per upstream task. */
export class ChangesReader {
  /** The watermark bookkeeping of an exchange reader (its decoding is not used). */
  readonly marks: ExchangeReader;

  constructor(readonly config: { readonly schema: Schema; readonly upstreamTasks: number; readonly partitions: readonly number[] }) {
    this.marks = new ExchangeReader(config);
  }

  /** The rows of a native reader's fetch (one batch, in order), the watermark records applied on the way. */
  accept(m: PackedMessages): { batch: RecordBatch | null; ops: Int8Array; advanced: boolean } {
    const rows: Row[] = []; const ops: number[] = [];
    let advanced = false;
    for (let i = 0; i < m.count; i++) {
      if (m.nulls && m.nulls[i]) continue;
      const end = m.ends ? m.ends[i]! : m.starts[i + 1]!;
      advanced = this.one(m.partition, m.bytes.subarray(m.starts[i]!, end), rows, ops) || advanced;
    }
    return { batch: rows.length ? rowsBatch(this.config.schema, rows) : null, ops: Int8Array.from(ops), advanced };
  }

  /** Raw record values of one partition (kafkajs' path), as `accept`. */
  acceptValues(partition: number, values: readonly (Uint8Array | null)[]): { batch: RecordBatch | null; ops: Int8Array; advanced: boolean } {
    const rows: Row[] = []; const ops: number[] = [];
    let advanced = false;
    for (const v of values) if (v) advanced = this.one(partition, v, rows, ops) || advanced;
    return { batch: rows.length ? rowsBatch(this.config.schema, rows) : null, ops: Int8Array.from(ops), advanced };
  }

  private one(partition: number, v: Uint8Array, rows: Row[], ops: number[]): boolean {
    const kind = v[0];
    const text = Buffer.from(v.buffer, v.byteOffset + 1, v.byteLength - 1).toString('utf8');
    if (kind === WATERMARK) {
      const j = JSON.parse(text) as { task: string; watermark: number | null };
      return this.marks.observe(partition, j.task, j.watermark ?? NaN);
    }
    if (kind !== UPSERT && kind !== DELETE) throw new Error(`not a changes record (kind byte ${kind})`);
    rows.push(JSON.parse(text) as Row);
    ops.push(kind === UPSERT ? 1 : -1);
    return false;
  }

  watermark(): number { return this.marks.watermark(); }
}
