/**
 * What the engine would do with consumption and decoding moved to worker threads: the parallel
 * consumer feeding the query's operator pipeline (planned from the same SQL, same watermark rule as
 * queries/runner.ts) on this thread, results into a query table. A prototype measurement for the
 * runner integration; the service path is measured separately through engine.execute.
 */
import { createFastJsonDecoder } from '../../connectors/formats/fast-json.ts';
import { consumeAll } from '../../connectors/kafka/bench-consumer.ts';
import { createParallelConsumer, type ParallelBatch } from '../../connectors/kafka/parallel-consumer.ts';
import { createQueryTable } from '../../connectors/table/query-table.ts';
import { dataToVector } from '../../executor/arrow.ts';
import { createPipeline } from '../../executor/pipeline.ts';
import { asF64 } from '../../executor/vector.ts';
import { WatermarkTracker } from '../../executor/watermark.ts';
import { createCatalog, planRequest, type SourceDef } from '../../planner/index.ts';

export async function runCoreQuery(opts: { brokers: string[]; sourceSql: string; viewSql: string; expected: number; workers: number; sourceTopic?: string }): Promise<{ ms: number; rows: number }> {
  const catalog = createCatalog();
  let def: SourceDef | null = null;
  let plan: Extract<ReturnType<typeof planRequest>[number]['planned'], { kind: 'create_materialized_view' }> | null = null;
  for (const ps of planRequest(`${opts.sourceSql}; ${opts.viewSql}`, catalog)) {
    const p = ps.planned;
    if (p.kind === 'create_source') { catalog.put(p.def); def = p.def; }
    if (p.kind === 'create_materialized_view') plan = p;
  }
  if (!def || !plan) throw new Error('expected a source and a materialized view');
  const table = createQueryTable(plan.def.name, plan.def.schema, plan.def.keyColumns, plan.def.options.retentionRows);
  const pipeline = createPipeline(plan.physical.ops, { batch: (b, ops) => table.apply(b, ops) });
  const tracker = new WatermarkTracker(def.watermark?.delayMs ?? 0, def.options.idleTimeoutMs);
  const wmIndex = def.watermark?.index ?? -1;
  let wm = -Infinity; let rows = 0; let epoch = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => { done = r; });
  const t0 = performance.now();
  const onBatch = (b: ParallelBatch): void => {
      const batch = b.decoded.batch;
      if (batch) {
        if (wmIndex >= 0) {
          const t = asF64(dataToVector(batch.data.children[wmIndex]!, def!.schema.fields[wmIndex]!.type));
          let max = -Infinity;
          for (let i = 0; i < t.length; i++) if (t[i]! > max) max = t[i]!;
          tracker.observe(`${b.topic}:${b.partition}`, max, Date.now());
        }
        pipeline.push({ kind: 'batch', batch, ops: null });
      }
      const w = tracker.current(Date.now());
      if (w > wm) { wm = w; pipeline.push({ kind: 'watermark', time: w }); }
      rows += b.messages;
      // The runner commits the table per epoch; once a second here, as with checkpoint.interval = 1 s.
      if (performance.now() - t0 > (epoch + 1) * 1000) table.commit(++epoch);
      if (rows >= opts.expected) done();
  };
  if (opts.workers === 0) {
    // Step 1 of the integration: kafkajs on this thread, the flat-JSON scanner inline.
    const decode = createFastJsonDecoder(def)!.decode;
    await consumeAll(opts.brokers, opts.sourceTopic ?? def.options.topics[0]!, opts.expected, {
      onBatch: (raw) => onBatch({ topic: raw.topic, partition: raw.partition, firstOffset: raw.offsets[0]!, nextOffset: raw.offsets.at(-1)! + 1, messages: raw.values.length, decoded: decode(raw) }),
    });
    const ms = performance.now() - t0;
    table.commit(++epoch);
    return { ms, rows };
  }
  const consumer = createParallelConsumer({ brokers: opts.brokers, def, groupId: `streamsql-core-${Date.now()}`, workers: opts.workers, onBatch });
  await consumer.start();
  await finished;
  const ms = performance.now() - t0;
  table.commit(++epoch);
  await consumer.stop();
  return { ms, rows };
}
