/**
 * GET /metrics: Prometheus text format through prom-client. Per continuous query (label `query`, the
 * view or sink name, plus `query_id`): input rows, rates, watermark delay, late and malformed rows,
 * state per operator, checkpoints, per-partition lag; plus prom-client's process metrics.
 *
 * With CLUSTER_ID every series carries an `instance` label (INSTANCE_ID: several instances scraped into
 * one Prometheus stay apart even behind one address; Prometheus keeps a target's own `instance` label as
 * `exported_instance` unless `honor_labels`), and two cluster gauges are added: members alive in the task
 * group and tasks owned here. Without CLUSTER_ID the output is unchanged.
 *
 * Values are read from query progress at scrape time: the registry is refreshed (reset, then set)
 * on every scrape, so a dropped query disappears from the output instead of freezing at its last value.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine } from '../queries/engine.ts';

export interface Metrics {
  readonly contentType: string;
  render(): Promise<string>;
}

export function createMetrics(engine: Engine, extra: { sseStreams: () => number }): Metrics {
  const register = new Registry();
  const cluster = engine.cluster?.() ?? null;
  if (cluster) register.setDefaultLabels({ instance: cluster.instanceId });
  collectDefaultMetrics({ register, prefix: 'streamsql_' });
  const q = ['query', 'query_id'] as const;
  const counter = (name: string, help: string, labelNames: readonly string[] = q) => new Counter({ name, help, labelNames, registers: [register] });
  const gauge = (name: string, help: string, labelNames: readonly string[] = q) => new Gauge({ name, help, labelNames, registers: [register] });

  const up = gauge('streamsql_query_running', '1 when the query is running, 0 otherwise (see the status label)', [...q, 'status']);
  const inputRows = counter('streamsql_query_input_rows_total', 'Rows read from the query\'s sources');
  const inputRate = gauge('streamsql_query_input_rows_per_second', 'Input rate over the last 10 s');
  const processedRate = gauge('streamsql_query_processed_rows_per_second', 'Rows per second of processing time (the rate the query could sustain)');
  const wmDelay = gauge('streamsql_query_watermark_delay_seconds', 'Wall-clock time minus the event-time watermark');
  const late = counter('streamsql_query_late_rows_total', 'Rows dropped because their window had closed');
  const malformed = counter('streamsql_query_malformed_rows_total', 'Messages that could not be decoded');
  const deadLettered = counter('streamsql_query_dead_lettered_rows_total', 'Malformed messages sent to the dead-letter topic');
  const stateRows = gauge('streamsql_query_state_rows', 'Rows held in operator state', [...q, 'operator']);
  const stateBytes = gauge('streamsql_query_state_bytes', 'Estimated bytes of operator state', [...q, 'operator']);
  const epoch = gauge('streamsql_query_epoch', 'Last committed checkpoint epoch');
  const ckptDuration = gauge('streamsql_query_checkpoint_duration_seconds', 'Duration of the last checkpoint');
  const ckptFailures = counter('streamsql_query_checkpoint_failures_total', 'Checkpoints that failed');
  const lag = gauge('streamsql_query_partition_lag', 'Messages between the query\'s position and the end of the partition', [...q, 'topic', 'partition']);
  const offset = gauge('streamsql_query_partition_offset', 'Next offset the query reads in the partition', [...q, 'topic', 'partition']);
  const xBytes = counter('streamsql_exchange_bytes_total', 'Bytes this instance\'s tasks of the query wrote into repartition topics (as produced: deflated records)');
  const xRows = counter('streamsql_exchange_rows_total', 'Rows this instance\'s tasks of the query wrote into repartition topics');
  const xReadRows = counter('streamsql_exchange_read_rows_total', 'Rows this instance\'s tasks of the query read from repartition topics');
  const pushQueries = gauge('streamsql_push_queries', 'Ad-hoc push queries streaming now', []);
  const sse = gauge('streamsql_sse_streams', 'Open Server-Sent Events streams', []);

  const clusterMembers = cluster ? gauge('streamsql_cluster_members_alive', 'Instances in the task group\'s current generation', []) : null;
  const clusterTasks = cluster ? gauge('streamsql_cluster_tasks', 'Tasks this instance owns', []) : null;

  const perQuery = [xBytes, xRows, xReadRows, up, inputRows, inputRate, processedRate, wmDelay, late, malformed, deadLettered, stateRows, stateBytes, epoch, ckptDuration, ckptFailures, lag, offset];

  async function refresh(): Promise<void> {
    const infos = engine.queries();
    const progress = await Promise.all(infos.map((i) => engine.progress(i.id).catch(() => undefined)));
    for (const m of perQuery) m.reset();
    infos.forEach((info, k) => {
      const l = { query: info.name, query_id: info.id };
      up.set({ ...l, status: info.status }, info.status === 'running' ? 1 : 0);
      const p = progress[k];
      if (!p) return;
      inputRows.inc(l, p.inputRows);
      inputRate.set(l, p.inputRowsPerSecond);
      processedRate.set(l, p.processedRowsPerSecond);
      if (p.watermarkDelayMs !== null) wmDelay.set(l, p.watermarkDelayMs / 1000);
      late.inc(l, p.lateRowsDropped);
      malformed.inc(l, p.malformedRows);
      deadLettered.inc(l, p.deadLetteredRows);
      p.operators.forEach((o, i) => {
        const ol = { ...l, operator: `${i}:${o.name}` };
        stateRows.set(ol, o.stateRows);
        stateBytes.set(ol, o.stateBytes);
      });
      epoch.set(l, p.epoch);
      if (p.repartition) { xBytes.inc(l, p.repartition.writtenBytes); xRows.inc(l, p.repartition.writtenRows); xReadRows.inc(l, p.repartition.readRows); }
      if (p.lastCheckpoint) ckptDuration.set(l, p.lastCheckpoint.durationMs / 1000);
      ckptFailures.inc(l, p.checkpointFailures);
      for (const part of p.partitions) {
        const pl = { ...l, topic: part.topic, partition: String(part.partition) };
        offset.set(pl, part.offset);
        if (part.lag !== null) lag.set(pl, part.lag);
      }
    });
    pushQueries.set(engine.pushQueries().length);
    sse.set(extra.sseStreams());
    const c = clusterMembers || clusterTasks ? engine.cluster?.() : null;
    if (c) {
      clusterMembers?.set(c.members.filter((m) => m.alive).length);
      clusterTasks?.set(c.tasks.length);
    }
  }

  return {
    contentType: register.contentType,
    async render() {
      await refresh();
      return register.metrics();
    },
  };
}
