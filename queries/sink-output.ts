/**
 * Where a continuous query's output goes: the sink node's stream applied to the view's query table
 * (staged until the epoch commits) or encoded into Kafka records for the sink's transaction. Kept apart
 * from the driver (which does not know sinks) and from the checkpoint protocol (which only commits).
 * A sink keyed by the query's unique key writes only the epoch's last change per key (epoch-upserts.ts).
 */
import type { RecordBatch } from 'apache-arrow';
import type { Log } from '../connectors/kafka/client.ts';
import { createKafkaSink, type KafkaSinkConfig } from '../connectors/kafka/sink.ts';
import { createSinkEncoder } from '../connectors/formats/sink-record.ts';
import type { SinkWriter } from '../connectors/source.ts';
import type { QueryTable } from '../connectors/table/query-table.ts';
import type { GraphSink } from '../executor/graph.ts';
import { batchRows } from '../executor/rows.ts';
import { createEpochUpserts, type EpochUpserts } from './epoch-upserts.ts';
import { brokersOf } from './kafka-inputs.ts';
import type { PhysicalPlan } from '../planner/physical.ts';

export interface SinkOutput {
  /** The graph's sink. */
  readonly sink: GraphSink;
  /** The Kafka sink writer (null when the output is a view's table). */
  readonly kafka: SinkWriter | null;
}

/** What a scale-out task sets on its Kafka sink (queries/cluster/task-runner.ts); the runner sets none. */
export type SinkOverrides = Partial<Pick<KafkaSinkConfig, 'transactionalId' | 'exactlyOnce' | 'extraRecords'>>;

export function createSinkOutput(plan: PhysicalPlan, cfg: { id: string; brokers: readonly string[]; groupId: string; log: Log; table?: QueryTable; kafka?: SinkOverrides }): SinkOutput {
  const psink = plan.sink;
  const schema = plan.schema;
  let kafka: SinkWriter | null = null;
  let encode: ReturnType<typeof createSinkEncoder> | null = null;
  let upserts: EpochUpserts | null = null;
  if (psink.kind === 'kafka_sink') {
    const sb = psink.sink.bootstrapServers ? psink.sink.bootstrapServers.split(',') : [...cfg.brokers];
    // The first Kafka source's positions go into the sink's transaction: only on the same cluster (kafka/sink.ts positionsElsewhere).
    const firstSource = plan.sources.find((s) => s.kind === 'kafka_source');
    const positionsElsewhere = firstSource?.kind === 'kafka_source' && brokersOf(firstSource.source, cfg.brokers).join() !== sb.join();
    const writer = createKafkaSink({
      positionsElsewhere,
      brokers: sb, topic: psink.sink.topic, exactlyOnce: psink.sink.deliveryGuarantee === 'exactly-once', transactionalId: `${psink.sink.transactionalIdPrefix ?? 'streamsql'}-${cfg.id}`, groupId: cfg.groupId, log: cfg.log,
      properties: psink.sink.properties, partitioner: psink.sink.partitioner,
      ...cfg.kafka,
    });
    kafka = writer;
    // Keyed by the query's own unique key, with upsert values: only the epoch's last change per key is written.
    const key = psink.keyColumns;
    const keyFields = psink.sink.keyFields;
    const byQueryKey = key !== null && key.length > 0 && (!keyFields?.length || sameColumns(keyFields, key.map((c) => schema.fields[c]!.name)));
    if (byQueryKey && psink.emit === 'changes' && psink.sink.format !== 'debezium-json') {
      const u = createEpochUpserts(key);
      upserts = u;
      kafka = {
        ...writer,
        async commitEpoch(epoch, positions) {
          // Encoded once, at the epoch's first attempt: a retry finds the buffer empty and the writer holds the epoch's records.
          if (u.size) { encode ??= createSinkEncoder(schema, psink.sink, key); writer.write(u.drain().map((x) => encode!(x.row, x.del))); }
          await writer.commitEpoch(epoch, positions);
        },
        async abortEpoch() { u.clear(); await writer.abortEpoch(); },
      };
    }
  }
  const sink: GraphSink = {
    batch(b: RecordBatch, ops: Int8Array | null) {
      switch (psink.kind) {
        case 'query_table': cfg.table!.apply(b, ops); break;
        case 'kafka_sink': {
          const rows = batchRows(b, schema);
          if (upserts) { upserts.add(rows, ops); break; }
          encode ??= createSinkEncoder(schema, psink.sink, psink.keyColumns);
          kafka!.write(rows.map((r, i) => encode!(r, ops !== null && ops[i]! < 0)));
          break;
        }
        case 'collect': break;
      }
    },
  };
  return { sink, kafka };
}

/** The same column names, in any order and case. */
function sameColumns(a: readonly string[], b: readonly string[]): boolean {
  const norm = (x: readonly string[]) => [...x].map((s) => s.toLowerCase()).sort().join('\u0000');
  return a.length === b.length && norm(a) === norm(b);
}
