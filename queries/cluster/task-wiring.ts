/**
 * Where a continuous query runs in a cluster (issue 17): the engine asks `place` at each start, and the
 * task group's assignment (membership.ts `onAssignment`) decides the rest.
 *
 * Which of these a query gets is decided from the catalog (placement.ts `catalogPlacement`, as every
 * member's partition groups are), and made 'single' when the planner still reports a problem.
 *
 * - 'tasks': it reads Kafka topics of this cluster (a fixed topic list). No whole-query runner
 *   anywhere; a TaskHost owned here runs this instance's tasks `<query>#p` with their own
 *   transactional ids and state topic (task-runner.ts), started and stopped by assignment. Where a
 *   keyed operator (GROUP BY, join, PARTITION BY, a changelog sink's key, a global ORDER BY/LIMIT) is
 *   not partitioned by the input topics' record key, planner/exchange.ts cuts the edge with a
 *   repartition exchange: `prepare` waits for the source topics, plans the exchanges with their
 *   partition counts (the largest source count = the task count), creates the repartition topics
 *   `_streamsql-<cluster>-<query>-<node>-repartition`, and only then lets the tasks start; each task
 *   runs both sides of every exchange for its partition (task-graph.ts). A view sink's rows are split
 *   across the tasks, so across instances: a pull read on one instance sees the rows of the tasks it
 *   runs (`viewRows` says `partial: true`).
 *   DROP deletes the query's state and repartition topics (one instance does it).
 *   A keyed view run as tasks also writes its changes topic, and a query reading such a view reads
 *   that topic as one more input (view-changes.ts): it runs as tasks too, its partition group being the
 *   changes topic (and its Kafka topics).
 * - 'single' (placement.ts: a topic pattern, a topic on another cluster, a sink on another cluster):
 *   one task `<query>#0` in the same TaskHost, reading every partition of its inputs (no exchanges: it
 *   sees every row); a keyed view so placed writes a changes topic of one partition. With its sink on
 *   another cluster its state topic and transaction are there (task-runner.ts `stateClusterOf`).
 * - 'whole': not placed by the cluster (never returned by `place`; the engine runs it here).
 */
import type { TaskParts } from '../../connectors/kafka/task-assignor.ts';
import { createQueryTable, type QueryTable } from '../../connectors/table/query-table.ts';
import { rowObject } from '../../executor/rows.ts';
import { planExchanges, redactSql, type CatalogObject, type ExchangePlan, type MaterializedViewDef } from '../../planner/index.ts';
import { deleteTopicsIfExist, ensureRepartitionTopic, topicPartitionCounts } from '../../connectors/kafka/admin.ts';
import { stateTopicName } from '../../connectors/kafka/state-topic.ts';
import type { EngineConfig, QueryInfo, ViewRows } from '../engine-api.ts';
import type { QueryPlan } from '../query-registry.ts';
import type { QueryProgress, QueryState } from '../runner.ts';
import { columnsOf, resultBudget } from '../results.ts';
import type { ClusterMember } from './membership.ts';
import { createTaskHost, type TaskHost } from './task-host.ts';
import { stateClusterOf, taskTransactionalId, type TaskRunnerConfig, type TaskStatus } from './task-runner.ts';
import { changesTopicName, queryStateName } from './view-changes.ts';
import { catalogPlacement, otherCluster } from './placement.ts';

/** placement.ts's, and 'whole': no cluster placement (run by the engine on this instance). */
export type Placement = 'tasks' | 'single' | 'whole';

/** Run by the task host: as tasks, or as one task reading every partition. */
const hosted = (r: { placement: Placement }): boolean => r.placement === 'tasks' || r.placement === 'single';

interface Registered {
  readonly id: string;
  readonly p: QueryPlan;
  readonly sql: string;
  readonly placement: Placement;
  readonly why: string;
  /** task id → the table of its current incarnation (view sinks run as tasks). */
  readonly tables: Map<string, QueryTable>;
  /** Names its state topic, transactional ids and repartition topics (the id keeps a re-created query apart). */
  readonly stateName: string;
  /** Repartition exchanges needed (planned without partition counts). */
  readonly needsExchanges: boolean;
  /** A keyed view run as tasks: the changes topic it writes (view-changes.ts). */
  readonly changesTopic: string | null;
  /** The keyed views run as tasks it reads (graph input → view and its changes topic). */
  readonly reads: readonly { readonly input: number; readonly view: string; readonly topic: string }[];
  /** Something to set up before its tasks start: exchanges, a changes topic to make, changes topics to wait for. */
  readonly needsPrepare: boolean;
  /** Once its input topics' partition counts are known and its topics exist: what its tasks move through topics (they start only then). */
  exchanges: NonNullable<TaskRunnerConfig['exchanges']> | null;
}

export interface TaskWiring {
  /** Registers a started query and says where it runs; only 'whole' is started by the engine at once. */
  place(p: QueryPlan, sql: string, id: string): Placement;
  /** A dropped query: its tasks stop here now, in the background (the next assignment drops them everywhere). */
  forget(id: string): void;
  /** This instance's tasks changed (membership's onAssignment). */
  onAssignment(tasks: readonly TaskParts[]): Promise<void>;
  /** A view run as tasks: the rows of this instance's tasks (`partial`); undefined for other views. */
  viewRows(name: string, limit?: number): (ViewRows & { partial: true }) | undefined;
  /** Queries run as tasks (with this instance's share). */
  infos(): QueryInfo[];
  placement(id: string): string | undefined;
  /** A query run as tasks: the consumer groups holding its tasks' input-0 offsets (every task the group lists); undefined otherwise. */
  taskGroups(id: string): string[] | undefined;
  /** A query run as tasks: the progress of this instance's share (its tasks' inputs, epochs, repartition traffic). */
  progress(id: string): QueryProgress | undefined;
  readonly host: TaskHost;
  close(): Promise<void>;
  /** A view run as tasks: its definition and the live map task → table of this instance's tasks (view-gather.ts). */
  viewTables(name: string): { def: MaterializedViewDef; tables: ReadonlyMap<string, QueryTable> } | undefined;
}

export interface TaskWiringConfig {
  readonly cfg: EngineConfig;
  readonly clusterId: string;
  objects(): readonly CatalogObject[];
  /** The query id of a catalog object (names the internal topics of the views it reads). */
  queryIdOf(name: string): string | undefined;
  /** This instance's id and the task group's members (membership.ts status; empty before the first join). */
  readonly self: string;
  members(): readonly ClusterMember[];
}

const groupOf = (task: string): string => task.slice(0, task.lastIndexOf('#'));

export function createTaskWiring(w: TaskWiringConfig): TaskWiring {
  const byId = new Map<string, Registered>();
  const byName = (name: string): Registered | undefined => {
    const n = name.toLowerCase();
    for (const r of byId.values()) if (r.p.def.name.toLowerCase() === n) return r;
    return undefined;
  };
  let mine: readonly TaskParts[] = [];
  const rates = new Map<string, { t: number; rows: number; rate: number }>();
  let chain: Promise<unknown> = Promise.resolve();
  /** Set by close(): a query still waiting for its source topics (`prepare`) stops waiting. */
  let closed = false;
  const serial = (f: () => Promise<void>): Promise<void> => { const r = chain.then(f); chain = r.catch(() => undefined); return r; };

  const host = createTaskHost({
    clusterId: w.clusterId, brokers: w.cfg.brokers, log: w.cfg.log, stateTopicPartitions: 3,
    query(name) {
      const r = byName(name);
      if (!r || !hosted(r)) return undefined;
      const p = r.p;
      if (r.needsPrepare && !r.exchanges) return undefined;
      return {
        plan: p.physical, options: p.def.options, stateName: r.stateName, ...(r.exchanges ? { exchanges: r.exchanges } : {}),
        ...(r.placement === 'single' ? { single: true } : {}),
        table: p.kind === 'create_materialized_view' ? (task) => {
          const t = createQueryTable(p.def.name, p.def.schema, p.def.keyColumns, p.def.options.retentionRows);
          r.tables.set(task, t);
          return t;
        } : undefined,
      };
    },
  });

  /** Applies `mine` to the host: the tasks this instance owns, of queries ready to run them. */
  const apply = (): Promise<void> => serial(async () => {
    const taskable = mine.filter((t) => {
      const r = byName(groupOf(t.id));
      return !!r && hosted(r) && (r.placement === 'tasks' || t.id.endsWith('#0')) && (!r.needsPrepare || r.exchanges !== null);
    });
    for (const r of byId.values()) for (const t of [...r.tables.keys()]) if (!taskable.some((x) => x.id === t)) r.tables.delete(t);
    await host.assign(taskable);
  });

  /**
   * A query with exchanges, a keyed view's changes or views read: waits for its input topics (a query
   * may be created before them; a view's changes topic is made by that view's own prepare), then plans
   * its exchanges with their partition counts, creates the repartition topics (and its changes topic)
   * and lets its tasks start.
   */
  async function prepare(r: Registered): Promise<void> {
    const single = r.placement === 'single';
    // A single task reads its sources whole (patterns, other clusters): it waits only for the views' changes topics.
    const topics = [...new Set([...(single ? [] : r.p.physical.sources.flatMap((s) => (s.kind === 'kafka_source' ? s.source.options.topics : []))), ...r.reads.map((v) => v.topic)])];
    for (let delay = 500; byId.get(r.id) === r && !closed; delay = Math.min(delay * 2, 5000)) {
      try {
        const counts = await topicPartitionCounts(w.cfg.brokers, topics);
        if (topics.every((t) => counts.has(t))) {
          const views = Object.fromEntries(r.reads.map((v) => [v.view.toLowerCase(), counts.get(v.topic)!]));
          const planned = planExchanges(r.p.physical.graph, { clusterId: w.clusterId, query: r.stateName, topicPartitions: Object.fromEntries(counts), views });
          // One task sees every row: no exchange.
          const plan = single ? { ...planned, nodes: r.p.physical.graph.nodes, exchanges: [] } : planned;
          const tasks = single ? 1 : Math.max(...topics.map((t) => counts.get(t)!));
          for (const x of plan.exchanges) await ensureRepartitionTopic(w.cfg.brokers, x.topic, x.partitions ?? tasks);
          // Compacted, without a time limit: a query created later reads the view's rows from the start.
          if (r.changesTopic) await ensureRepartitionTopic(w.cfg.brokers, r.changesTopic, tasks, { retentionMs: -1, compact: true });
          if (byId.get(r.id) !== r || closed) return;
          const def = r.p.def;
          r.exchanges = {
            plan, tasks,
            changes: r.changesTopic && def.keyColumns ? { topic: r.changesTopic, schema: def.schema, key: def.keyColumns, partitions: tasks } : null,
            views: r.reads.map((v) => ({ input: v.input, view: v.view, topic: v.topic, schema: r.p.physical.sources[v.input]!.schema, partitions: counts.get(v.topic)! })),
          };
          w.cfg.log('info', `query ${r.id} (${r.p.def.name}): ${plan.exchanges.length} repartition topic(s) ready (${plan.exchanges.map((x) => `${x.topic} × ${x.partitions ?? tasks}`).join(', ')})${r.changesTopic ? `, its changes to ${r.changesTopic}` : ''}${r.reads.length ? `, reading ${r.reads.map((v) => v.topic).join(', ')}` : ''}; ${tasks} tasks`);
          await apply();
          return;
        }
      } catch (e) {
        w.cfg.log('warn', `query ${r.id} (${r.p.def.name}): repartition topics not ready: ${(e as Error).message}`);
      }
      await new Promise((res) => setTimeout(res, delay).unref());
    }
  }

  return {
    host,
    place(p, sql, id) {
      const cp = catalogPlacement(w.objects(), (n) => w.queryIdOf(n), w.clusterId, w.cfg.brokers);
      const taskViews = cp.views;
      const decided = cp.placements.get(p.def.name.toLowerCase());
      const stateName = queryStateName(p.def.name, id);
      const reads = p.physical.sources.flatMap((s, input) => {
        if (s.kind !== 'view_source' || !s.key?.length) return [];
        const topic = taskViews.get(s.view.toLowerCase());
        return topic ? [{ input, view: s.view, topic }] : [];
      });
      const xp = planExchanges(p.physical.graph, { clusterId: w.clusterId, query: stateName, views: Object.fromEntries(reads.map((v) => [v.view.toLowerCase(), null])) });
      const problems = [...xp.problems];
      for (const s of p.physical.sources) {
        if (s.kind === 'kafka_source' && s.source.options.bootstrapServers !== null) problems.push(`source ${s.source.name} reads another Kafka cluster (its partitions are not this cluster's)`);
      }
      const sinkServers = p.physical.sink.kind === 'kafka_sink' ? p.physical.sink.sink.bootstrapServers : null;
      if (otherCluster(sinkServers, w.cfg.brokers)) problems.unshift(`its sink writes to another Kafka cluster (${sinkServers}): its state and transaction are there, one task's worth`);
      // The catalog's decision (every member's groups follow it); the plan can only make a split query single.
      const placement: Placement = decided === 'tasks' && problems.length === 0 ? 'tasks' : 'single';
      const needsExchanges = placement === 'tasks' && xp.exchanges.length > 0;
      // Its changes topic: named from the catalog as every member names it (its own query id may not be in the catalog yet here).
      const changesTopic = hosted({ placement }) && p.kind === 'create_materialized_view' && p.def.keyColumns
        ? (taskViews.get(p.def.name.toLowerCase()) ?? changesTopicName(w.clusterId, stateName)) : null;
      const needsPrepare = hosted({ placement }) && (needsExchanges || changesTopic !== null || reads.length > 0);
      const viaViews = reads.length ? `; reads ${reads.map((v) => v.view).join(', ')} through ${reads.length > 1 ? 'their changes topics' : 'its changes topic'}` : '';
      const why = placement === 'tasks' ? (needsExchanges ? `runs as tasks, re-keyed through ${xp.exchanges.length} repartition topic(s) (${xp.exchanges.map((x) => x.reason).join('; ')})${viaViews}` : `partition-local: runs as tasks${viaViews}`)
        : `cannot be split by partition (${problems[0] ?? 'it reads no fixed Kafka topic of this cluster'}): runs as one task ${p.def.name}#0 that reads every partition${viaViews}`;
      const r: Registered = { id, p, sql, placement, why, tables: new Map(), stateName, needsExchanges, changesTopic, reads, needsPrepare, exchanges: null };
      byId.set(id, r);
      w.cfg.log('info', `query ${id} (${p.def.name}): ${why}`);
      if (needsPrepare) void prepare(r);
      void apply();
      return placement;
    },
    forget(id) {
      const r = byId.get(id);
      if (!r || !byId.delete(id)) return;
      // Not awaited: called under the engine's lock.
      const stopped = apply();
      // Its internal topics (state, repartition) go with it, deleted by one instance: the lowest alive
      // id. A task elsewhere still writing to them fails its epoch, which is dropped with the query.
      const alive = w.members().filter((m) => m.alive).map((m) => m.id).sort();
      if (hosted(r) && (alive[0] ?? w.self) === w.self) {
        const sc = stateClusterOf(r.p.physical, w.cfg.brokers);
        const state = stateTopicName(w.clusterId, r.stateName);
        const topics = [...(sc.elsewhere ? [] : [state]), ...(r.exchanges?.plan.exchanges.map((x) => x.topic) ?? []), ...(r.changesTopic ? [r.changesTopic] : [])];
        // A state topic on the sink's cluster is deleted there.
        if (sc.elsewhere) void stopped.then(() => deleteTopicsIfExist(sc.brokers, [state], sc.properties)).catch((e: Error) => w.cfg.log('warn', `query ${id} (${r.p.def.name}) dropped: its state topic ${state} on ${sc.brokers.join()} was not deleted (${e.message}); delete it by hand`));
        void stopped.then(() => deleteTopicsIfExist(w.cfg.brokers, topics)).then(
          (gone) => { if (gone.length) w.cfg.log('info', `query ${id} (${r.p.def.name}) dropped: deleted its topics ${gone.join(', ')}`); },
          (e: Error) => w.cfg.log('warn', `query ${id} (${r.p.def.name}) dropped: its topics ${topics.join(', ')} were not deleted (${e.message}); delete them by hand`),
        );
      }
    },
    onAssignment(tasks) { mine = tasks; return apply(); },
    viewRows(name, limit) {
      const r = byName(name);
      if (!r || !hosted(r) || r.p.kind !== 'create_materialized_view') return undefined;
      const def = r.p.def;
      const tables = [...r.tables.values()];
      const all = tables.flatMap((t) => t.rows());
      const rows = limit !== undefined && all.length > limit ? all.slice(all.length - limit) : all;
      const budget = resultBudget(`the newest ${rows.length} rows of ${def.name}`, 'ask for fewer with ?limit=N');
      return {
        name: def.name, epoch: tables.reduce((m, t) => Math.min(m, t.epoch), tables.length ? Infinity : 0), total: all.length,
        columns: columnsOf(def.schema, def.visibleCount), rows: rows.map((x) => budget.add(rowObject(def.schema, x, def.visibleCount))), partial: true,
      };
    },
    infos() {
      const status = host.status();
      const out: QueryInfo[] = [];
      for (const r of byId.values()) {
        const kind = r.p.kind === 'create_materialized_view' ? 'materialized_view' : 'sink';
        if (!hosted(r)) continue;
        const name = r.p.def.name.toLowerCase();
        const mineT = status.filter((s) => groupOf(s.task).toLowerCase() === name);
        const st: QueryState = mineT.some((s) => s.state === 'failed') ? 'failed' : mineT.some((s) => s.state === 'lost') ? 'recovering'
          : mineT.some((s) => s.state === 'starting' || s.state === 'idle') ? 'starting' : 'running';
        const err = mineT.find((s) => s.lastError)?.lastError ?? null;
        out.push({
          id: r.id, name: r.p.def.name, kind, sql: redactSql(r.sql), status: st, error: st === 'running' ? null : err,
          placement: `tasks here: ${mineT.map((s) => s.task).sort().join(', ') || 'none'} (${r.why})`,
        });
      }
      return out;
    },
    taskGroups(id) {
      const r = byId.get(id);
      if (!r || !hosted(r)) return undefined;
      const name = r.p.def.name.toLowerCase();
      const tasks = [...new Set(w.members().flatMap((m) => m.tasks).filter((t) => groupOf(t).toLowerCase() === name))].sort();
      return tasks.map((t) => taskTransactionalId(w.clusterId, r.stateName, t));
    },
    progress(id) {
      const r = byId.get(id);
      if (!r || !hosted(r)) return undefined;
      const name = r.p.def.name.toLowerCase();
      const st = host.status().filter((s) => groupOf(s.task).toLowerCase() === name).sort((x, y) => x.task.localeCompare(y.task));
      const inputRows = st.reduce((n, s) => n + s.inputRows, 0);
      // Rates over the time since the previous call (the dashboard and /metrics poll).
      const now = Date.now();
      const prev = rates.get(id);
      const rate = prev && now > prev.t ? Math.max(0, (inputRows - prev.rows) * 1000 / (now - prev.t)) : 0;
      if (!prev || now - prev.t >= 1000) rates.set(id, { t: now, rows: inputRows, rate });
      const shown = prev && now - prev.t < 1000 ? prev.rate : rate;
      const wms = st.map((s) => s.watermark).filter((w): w is number => w !== null);
      const wm = wms.length === st.length && wms.length ? Math.min(...wms) : null;
      const sum = (f: (x: NonNullable<TaskStatus['exchange']>) => number) => st.reduce((n, s) => n + (s.exchange ? f(s.exchange) : 0), 0);
      return {
        inputRows, inputRowsPerSecond: shown, processedRowsPerSecond: shown,
        watermark: wm === null ? null : new Date(wm).toISOString(), watermarkDelayMs: wm === null ? null : now - wm,
        lateRowsDropped: st.reduce((n, s) => n + s.lateRows, 0), malformedRows: st.reduce((n, s) => n + s.malformedRows, 0), deadLetteredRows: 0, sideOutputTruncated: 0,
        epoch: st.length ? Math.min(...st.map((s) => s.epoch)) : 0, lastCheckpoint: null, checkpointFailures: 0,
        restoredFromEpoch: null, rolledForwardEpoch: null, groupId: `_streamsql-${w.clusterId}-${r.stateName}-<task>`, dataLoss: { events: 0, offsets: 0 }, skippedEpochs: [], operators: [],
        partitions: st.flatMap((s) => s.positions.map((p) => ({ ...(p.input ? { input: p.input } : {}), topic: p.topic, partition: p.partition, offset: p.offset, endOffset: null, lag: null }))),
        source: { state: st.some((s) => s.state === 'failed') ? 'failed' : st.some((s) => s.state !== 'running') ? 'recovering' : 'running', lastError: st.find((s) => s.lastError)?.lastError ?? null, retries: 0 },
        // This instance's tasks, and what they moved through repartition topics (bytes as produced: deflated).
        tasks: st.map((s) => ({ task: s.task, state: s.state, epoch: s.epoch, inputRows: s.inputRows, outputRows: s.outputRows, restoreMs: s.restoreMs, lastError: s.lastError })),
        ...(r.needsExchanges ? { repartition: { writtenRows: sum((x) => x.writtenRows), writtenBytes: sum((x) => x.writtenBytes), readRows: sum((x) => x.readRows), readRecords: sum((x) => x.readRecords) } } : {}),
      } as QueryProgress;
    },
    placement: (id) => {
      const r = byId.get(id);
      return r && !hosted(r) ? r.why : undefined;
    },
    async close() {
      closed = true;
      await chain.catch(() => undefined);
      await host.close({ checkpoint: true });
    },
    viewTables(name) {
      const r = byName(name);
      return r && hosted(r) && r.p.kind === 'create_materialized_view' ? { def: r.p.def, tables: r.tables } : undefined;
    },
  };
}
