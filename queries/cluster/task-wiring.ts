/**
 * Where a continuous query runs in a cluster (issue 17): the engine asks `place` at each start, and the
 * task group's assignment (membership.ts `onAssignment`) decides the rest.
 *
 * - 'tasks': the plan is partition-local (task-partitioning.ts finds no problem: stateless, or every
 *   stateful node keyed by the input topic's record key) and it reads Kafka topics of this cluster. No
 *   whole-query runner anywhere; a TaskHost owned here runs this instance's tasks `<query>#p` with their
 *   own transactional ids and state topic (task-runner.ts), started and stopped by assignment. A view
 *   sink's rows are split across the tasks, so across instances: a pull read on one instance sees the
 *   rows of the tasks it runs (`viewRows` says `partial: true`); its change feed is not served.
 * - 'owner0': it reads Kafka topics but would need a repartition exchange (not wired yet): it runs whole on
 *   exactly one instance, the owner of task `<query>#0` — or, while no member owns that task (its topics do
 *   not exist yet), the alive member with the lowest instance id —, started and stopped as that moves (its
 *   checkpoints are in that instance's DATA_DIR: a move restarts it from the new owner's own
 *   checkpoints, or from its sources' startup mode).
 * - 'whole': no partition group (no Kafka input on this cluster: a view's changes, another cluster's
 *   topic, a pattern): it runs on every instance, as before tasks.
 */
import type { TaskParts } from '../../connectors/kafka/task-assignor.ts';
import { createQueryTable, type QueryTable } from '../../connectors/table/query-table.ts';
import { rowObject } from '../../executor/rows.ts';
import { redactSql, type CatalogObject, type MaterializedViewDef } from '../../planner/index.ts';
import type { EngineConfig, QueryInfo, ViewRows } from '../engine-api.ts';
import type { QueryPlan } from '../query-registry.ts';
import type { QueryState } from '../runner.ts';
import { columnsOf, resultBudget } from '../results.ts';
import { partitionGroups, type ClusterMember } from './membership.ts';
import { createTaskHost, type TaskHost } from './task-host.ts';
import { partitioningProblems } from './task-partitioning.ts';

export type Placement = 'tasks' | 'owner0' | 'whole';

interface Registered {
  readonly id: string;
  readonly p: QueryPlan;
  readonly sql: string;
  readonly placement: Placement;
  readonly why: string;
  /** task id → the table of its current incarnation (view sinks run as tasks). */
  readonly tables: Map<string, QueryTable>;
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
  /** Queries run as tasks (with this instance's share) and 'owner0' ones as if run elsewhere ('stopped' here: the engine prefers its runner's info). */
  infos(): QueryInfo[];
  placement(id: string): string | undefined;
  readonly host: TaskHost;
  close(): Promise<void>;
  /** A view run as tasks: its definition and the live map task → table of this instance's tasks (view-gather.ts). */
  viewTables(name: string): { def: MaterializedViewDef; tables: ReadonlyMap<string, QueryTable> } | undefined;
}

export interface TaskWiringConfig {
  readonly cfg: EngineConfig;
  readonly clusterId: string;
  objects(): readonly CatalogObject[];
  /** This instance's id and the task group's members (membership.ts status; empty before the first join). */
  readonly self: string;
  members(): readonly ClusterMember[];
  /** Starts (`run`) or stops an 'owner0' query's whole runner here. */
  whole(id: string, p: QueryPlan, sql: string, run: boolean): Promise<void>;
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
  /** 'owner0' query ids whose whole runner runs here. */
  const wholeHere = new Set<string>();
  let chain: Promise<unknown> = Promise.resolve();
  const serial = (f: () => Promise<void>): Promise<void> => { const r = chain.then(f); chain = r.catch(() => undefined); return r; };

  const host = createTaskHost({
    clusterId: w.clusterId, brokers: w.cfg.brokers, log: w.cfg.log, stateTopicPartitions: 3,
    query(name) {
      const r = byName(name);
      if (!r || r.placement !== 'tasks') return undefined;
      const p = r.p;
      return {
        plan: p.physical, options: p.def.options, stateName: `${p.def.name}-${r.id.slice(0, 8)}`,
        table: p.kind === 'create_materialized_view' ? (task) => {
          const t = createQueryTable(p.def.name, p.def.schema, p.def.keyColumns, p.def.options.retentionRows);
          r.tables.set(task, t);
          return t;
        } : undefined,
      };
    },
  });

  /** Applies `mine` to the host (tasks of 'tasks' queries) and to 'owner0' runners. */
  const apply = (): Promise<void> => serial(async () => {
    const taskable = mine.filter((t) => byName(groupOf(t.id))?.placement === 'tasks');
    for (const r of byId.values()) for (const t of [...r.tables.keys()]) if (!taskable.some((x) => x.id === t)) r.tables.delete(t);
    const owned = new Set(mine.map((t) => t.id.toLowerCase()));
    const alive = w.members().filter((m) => m.alive);
    const lowest = alive.map((m) => m.id).sort()[0];
    const wholeOps: Promise<void>[] = [];
    for (const r of byId.values()) {
      if (r.placement !== 'owner0') continue;
      const t0 = `${r.p.def.name.toLowerCase()}#0`;
      const run = owned.has(t0) || (lowest === w.self && !alive.some((m) => m.tasks.some((t) => t.toLowerCase() === t0)));
      if (run === wholeHere.has(r.id)) continue;
      if (run) wholeHere.add(r.id); else wholeHere.delete(r.id);
      w.cfg.log('info', `query ${r.id} (${r.p.def.name}): ${run ? 'runs whole here (owner of its task #0)' : 'task #0 moved away: its whole runner stops here'}`);
      wholeOps.push(w.whole(r.id, r.p, r.sql, run).catch((e: Error) => w.cfg.log('error', `query ${r.id}: ${e.message}`)));
    }
    await Promise.all([host.assign(taskable), ...wholeOps]);
  });

  // Members come and go without changing this instance's tasks: 'owner0' queries looked at again.
  const timer = setInterval(() => { if ([...byId.values()].some((r) => r.placement === 'owner0')) void apply(); }, 2000);
  timer.unref();

  return {
    host,
    place(p, sql, id) {
      const grouped = partitionGroups(w.objects()).some((g) => g.id.toLowerCase() === p.def.name.toLowerCase());
      const problems = partitioningProblems(p.physical);
      const sinkServers = p.physical.sink.kind === 'kafka_sink' ? p.physical.sink.sink.bootstrapServers : null;
      if (sinkServers && sinkServers.split(',').join() !== w.cfg.brokers.join()) problems.push(`its sink writes to another Kafka cluster (${sinkServers}): a task's output and state commit in one transaction`);
      const placement: Placement = !grouped ? 'whole' : problems.length === 0 ? 'tasks' : 'owner0';
      const why = placement === 'tasks' ? 'partition-local: runs as tasks'
        : placement === 'owner0' ? `needs a repartition exchange (${problems[0]}${problems.length > 1 ? `; +${problems.length - 1} more` : ''}): runs whole on the owner of task ${p.def.name}#0`
          : 'reads no Kafka topic of this cluster: runs whole on every instance';
      byId.set(id, { id, p, sql, placement, why, tables: new Map() });
      w.cfg.log('info', `query ${id} (${p.def.name}): ${why}`);
      if (placement !== 'whole') void apply();
      return placement;
    },
    forget(id) {
      if (!byId.delete(id)) return;
      wholeHere.delete(id);
      // Not awaited: called under the engine's lock, and apply() may wait for it (an 'owner0' start).
      void apply();
    },
    onAssignment(tasks) { mine = tasks; return apply(); },
    viewRows(name, limit) {
      const r = byName(name);
      if (!r || r.placement !== 'tasks' || r.p.kind !== 'create_materialized_view') return undefined;
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
        // The engine lists its runner's info instead when it runs here.
        if (r.placement === 'owner0') out.push({ id: r.id, name: r.p.def.name, kind, sql: redactSql(r.sql), status: 'stopped', error: null, placement: `not here: ${r.why}` });
        if (r.placement !== 'tasks') continue;
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
    placement: (id) => {
      const r = byId.get(id);
      return r && r.placement !== 'tasks' ? r.why : undefined;
    },
    async close() {
      clearInterval(timer);
      await chain.catch(() => undefined);
      await host.close({ checkpoint: true });
    },
    viewTables(name) {
      const r = byName(name);
      return r && r.placement === 'tasks' && r.p.kind === 'create_materialized_view' ? { def: r.p.def, tables: r.tables } : undefined;
    },
  };
}
