/**
 * The engine: what runs a SQL request from start to end, and nothing else. It owns the order of
 * things: requests one at a time (the serial lock), every statement of a request planned (checked)
 * before any takes effect, capacity checked before any query starts, the statements applied in order by
 * their handlers (queries/handlers/), and a request that fails half-way taken back (the undo list), so
 * it leaves nothing of itself behind. At start it replays the stored catalog and restarts its queries;
 * at close it stops them with a last checkpoint.
 *
 * Where the rest lives: the catalog and DATA_DIR/catalog.json in queries/catalog-store.ts, running
 * queries and view tables in queries/query-registry.ts, catalog and view reads in
 * queries/view-reads.ts, push queries in queries/push-registry.ts, the public types in
 * queries/engine-api.ts.
 *
 * With a cluster (EngineConfig.cluster, CLUSTER_ID) a request that changes the catalog is checked here
 * (planned, MAX_QUERIES, anything that needs this instance or the broker), then proposed to the
 * cluster's command log instead of applied; every instance applies it from the log, in order, with the
 * same handlers (`applyCommand`), and the proposer answers once it has applied it. Applying must be
 * deterministic: the planner and the catalog only, query ids from the command (no clock, no broker).
 * At start the log is replayed from offset 0 into an empty catalog (catalog.json is rewritten as a cache
 * of it), and only then are the queries started, once each, in creation order. Where each query runs
 * (as tasks by assignment, whole on one instance, or everywhere) is queries/cluster/task-wiring.ts's.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { holdReaders } from '../connectors/kafka/source.ts';
import { planRequest, preparseRequest, SqlError, warmParser, type PlannedStatement } from '../planner/index.ts';
import { createCatalogStore, type StoredObject } from './catalog-store.ts';
import { consumerGroupLag } from '../connectors/kafka/group-lag.ts';
import { changesCatalog, commandQueryIds, openClusterCatalog, type ClusterCatalog, type ClusterOptions } from './cluster/catalog-log.ts';
import { CommandRejectedError, type CommandState } from './cluster/command-log.ts';
import { startMembership, type Membership } from './cluster/membership.ts';
import { createTaskWiring, type TaskWiring } from './cluster/task-wiring.ts';
import { createViewGather, type ViewGather } from './cluster/view-gather.ts';
import type { QueryTable } from '../connectors/table/query-table.ts';
import type { Engine, EngineConfig, QueryInfo, StatementResult } from './engine-api.ts';
import { applyStatement, type HandlerContext, type UndoList } from './handlers/index.ts';
import { createPushRegistry } from './push-registry.ts';
import { createQueryRegistry, type QueryPlan } from './query-registry.ts';
import { queryDir } from './runner.ts';
import { createViewReads } from './view-reads.ts';

export type { CatalogInfo, ClusterStatus, ColumnInfo, Engine, EngineConfig, QueryLag, PushHandle, PushOptions, QueryInfo, StatementResult, ViewRows } from './engine-api.ts';
export { columnsOf } from './results.ts';

export function createEngine(cfg: EngineConfig): Engine {
  const store = createCatalogStore(cfg.dataDir);
  const queries = createQueryRegistry(cfg);
  const reads = createViewReads(store, queries);
  const pushes = createPushRegistry(cfg, store);
  let releaseReaders: (() => Promise<void>) | null = null;

  let lock: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => { const r = lock.then(f); lock = r.catch(() => undefined); return r; };

  // ---- cluster state (none without cfg.cluster) ----
  let commands: ClusterCatalog | null = null;
  /** The task group (queries/cluster/membership.ts): who is in the cluster and which tasks each owns. */
  let membership: Membership | null = null;
  /** Which continuous queries run here and how: tasks by assignment, or whole (task-wiring.ts). */
  let wiring: TaskWiring | null = null;
  /** Views run as tasks read whole: gathered from every instance at read time (view-gather.ts). */
  let gather: ViewGather | null = null;
  /** True while the command log is replayed at start: queries are started after it, once each. */
  let replaying = false;
  const deferred = new Map<string, { p: QueryPlan; sql: string }>();
  /** Query ids created by the log's commands (replay and after): tells a stale cached object from a pre-cluster one. */
  const logQueryIds = new Set<string>();

  async function startQuery(p: QueryPlan, sql: string, id: string): Promise<void> {
    if (cfg.cluster) logQueryIds.add(id);
    if (replaying) { deferred.set(id, { p, sql }); return; }
    if (cfg.runQuery && !cfg.runQuery(p.def.name, id)) { cfg.log('info', `query ${id} (${p.def.name}) does not run on this instance`); return; }
    // In a cluster, queries over Kafka topics run by the task group's assignment, not whole everywhere.
    if (wiring && wiring.place(p, sql, id) !== 'whole') return;
    await queries.start(p, sql, id);
  }
  async function dropQuery(id: string): Promise<void> {
    deferred.delete(id);
    if (!cfg.cluster) { await queries.drop(id); return; }
    wiring?.forget(id);
    // With a cluster the runner stops in the background (as stopQuery on one instance; close() waits for
    // it): the log's next commands do not wait behind a query's Kafka I/O. A query that does not run here,
    // or ran here before this instance restarted, has its checkpoints deleted too.
    const r = queries.take(id);
    if (r) void queries.retire(r.runner);
    else await fs.rm(queryDir(cfg.dataDir, id), { recursive: true, force: true });
  }
  const ctx: HandlerContext = { cfg, store, queries, closeFeed: (name) => reads.closeFeed(name), newQueryId: () => randomUUID(), startQuery, dropQuery };

  /** The catalog as the command log drives it: check = plan against it, apply = the handlers, in the engine's turn. */
  const commandState: CommandState = {
    check(sql) {
      try {
        planRequest(sql, store.catalog);
        return null;
      } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
      }
    },
    apply: (sql, cmd, mine) => serial(() => applyCommand(sql, cmd.id, mine)),
  };

  /**
   * Applies one command of the log. Every instance applies its catalog changes, in order, with query ids
   * from the command id; the proposer (`mine`) also answers its other statements (SHOW, SELECT, …) at
   * their place. Nothing is taken back on failure: a statement that fails here (a disk error) fails
   * here only, the catalog in memory stays what every instance has; the proposer gets the error.
   */
  async function applyCommand(sql: string, commandId: string, mine: boolean): Promise<StatementResult[]> {
    const planned = planRequest(sql, store.catalog);
    const c: HandlerContext = { ...ctx, newQueryId: commandQueryIds(commandId) };
    const results: StatementResult[] = [];
    let failure: unknown = null;
    for (const ps of planned) {
      const change = changesCatalog(ps);
      if (!change && (!mine || failure !== null)) continue;
      try {
        // A pull query of the proposer's request reads the views run as tasks whole, as outside a catalog change.
        const gathered = mine && ps.planned.kind === 'pull' ? await gatherTables([ps]) : new Map<string, QueryTable>();
        results.push(await applyStatement(gathered.size ? { ...c, viewTable: (name) => gathered.get(name.toLowerCase()) } : c, ps, []));
      } catch (e) {
        cfg.log('error', `command ${commandId}: ${ps.sql.slice(0, 80)}: ${(e as Error).message}`);
        failure ??= e;
      }
    }
    // A query created or dropped: the task group's leader must recompute the tasks (rejoin if they changed).
    membership?.refresh();
    if (failure !== null) throw failure;
    return results;
  }

  /**
   * Joins the cluster: replays the command log into the (empty) catalog, then writes catalog.json from
   * it and starts the queries. Objects of the old catalog.json that the log does not have are left out.
   */
  async function joinCluster(cluster: ClusterOptions): Promise<void> {
    let cached: StoredObject[] = [];
    try { cached = await store.load(); } catch (e) {
      cfg.log('warn', `${(e as Error).message} — with CLUSTER_ID it is only a cache: the command log is replayed instead`);
    }
    store.hold();
    replaying = true;
    try {
      commands = await openClusterCatalog({ brokers: cfg.brokers, cluster, state: commandState, log: cfg.log });
    } catch (e) {
      // Not started: catalog.json is left as it was (the store held every write).
      replaying = false;
      deferred.clear();
      throw e;
    }
    await serial(async () => {
      replaying = false;
      const starts = [...deferred];
      deferred.clear();
      await store.release();
      for (const [id, { p, sql }] of starts) {
        await startQuery(p, sql, id).catch((e: Error) => cfg.log('error', `cannot start query ${id} (${p.def.name}): ${e.message}`));
      }
      for (const s of cached) {
        if (store.get(s.name)) continue;
        if (s.queryId && !logQueryIds.has(s.queryId)) {
          cfg.log('warn', `${s.kind} ${s.name} of ${store.file} is not in the cluster's command log: left out (its checkpoints stay in ${queryDir(cfg.dataDir, s.queryId)}); create it again to share it`);
        } else if (s.queryId) {
          cfg.log('info', `${s.kind} ${s.name} was dropped from the cluster's catalog while this instance was away`);
        } else {
          cfg.log('info', `${s.kind} ${s.name} of ${store.file} is not in the cluster's catalog (dropped, or never created through it): left out`);
        }
      }
    });
    const info = commands.info();
    cfg.log('info', `cluster ${cluster.clusterId}: instance ${info.instanceId} replayed ${info.applied} commands of ${info.topic} (${info.skipped} skipped); ${store.all().length} objects`);
  }

  /** A request that changes the catalog, with a cluster: checked here, proposed, answered once applied here. */
  async function propose(sql: string): Promise<StatementResult[]> {
    if (!commands) throw new Error('the engine is not in its cluster (not started, or stopping)');
    try {
      const cmd = await commands.propose(sql);
      return cmd.result as StatementResult[];
    } catch (e) {
      // The catalog at the log's end refused it: the planner's SqlError (line:column, kind) as on one instance.
      if (e instanceof CommandRejectedError) throw e.cause ?? new SqlError(e.reason, 1, 1, 'conflict');
      throw e;
    }
  }

  /** What only this instance can check, before a request is proposed (nothing of it is in the log yet). */
  function preflight(planned: readonly PlannedStatement[]): void {
    checkCapacity(planned);
    // Refused at apply on one instance (and the request taken back); in the log it would be half applied.
    if (planned.some((ps) => ps.planned.kind === 'push')) throw new SqlError('push queries (SELECT … EMIT CHANGES) are served as a stream at POST /v1/query-stream', 1, 1);
  }

  /** Refuses a request whose new queries would go past MAX_QUERIES, before any statement takes effect. */
  function checkCapacity(planned: readonly PlannedStatement[]): void {
    if (cfg.maxQueries === undefined) return;
    const starts = planned.filter((ps) => (ps.planned.kind === 'create_materialized_view' || ps.planned.kind === 'create_sink') && !ps.planned.exists).length;
    const running = queries.size + pushes.size;
    if (starts > 0 && running + starts > cfg.maxQueries) {
      throw new SqlError(`too many running queries: this request starts ${starts}, ${Math.max(0, cfg.maxQueries - running)} more may run (MAX_QUERIES = ${cfg.maxQueries}); drop one first`, 1, 1, 'busy');
    }
  }

  /** Replays the stored catalog: each statement planned again, its query restarted from its checkpoints. */
  async function restore(): Promise<void> {
    for (const s of await store.load()) {
      try {
        const [ps] = planRequest(s.sql, store.catalog);
        const p = ps!.planned;
        if (p.kind === 'create_source' || p.kind === 'create_view' || p.kind === 'create_materialized_view' || p.kind === 'create_sink') {
          store.restore(p.def, s);
          if ((p.kind === 'create_materialized_view' || p.kind === 'create_sink') && s.queryId) await startQuery(p, s.sql, s.queryId);
        }
      } catch (e) {
        // Left out of the catalog (and of the file at its next write); the log says why.
        cfg.log('error', `cannot restore ${s.kind} ${s.name}: ${(e as Error).message}`);
      }
    }
  }

  /**
   * With a cluster: the whole table of each view run as tasks that the request's pull queries read
   * (view-gather.ts `table`). Planned here once more only to find them; the request is planned again
   * under the lock, where any planning error is raised.
   */
  async function gatherPulled(sql: string, parsed: Awaited<ReturnType<typeof preparseRequest>>): Promise<Map<string, QueryTable>> {
    const out = new Map<string, QueryTable>();
    const g = gather;
    if (!g) return out;
    let planned: PlannedStatement[];
    try { planned = planRequest(sql, store.catalog, parsed); } catch { return out; }
    return gatherTables(planned);
  }

  /** The gathered tables of the views run as tasks that the pull queries of `planned` read. */
  async function gatherTables(planned: readonly PlannedStatement[]): Promise<Map<string, QueryTable>> {
    const out = new Map<string, QueryTable>();
    const g = gather;
    if (!g) return out;
    const views = new Set<string>();
    for (const ps of planned) {
      if (ps.planned.kind !== 'pull') continue;
      for (const s of ps.planned.physical.sources) if (s.kind === 'view_source' && g.isTaskView(s.view)) views.add(s.view.toLowerCase());
    }
    for (const v of views) { const t = await g.table(v); if (t) out.set(v, t); }
    return out;
  }

  const withPlacement = (i: QueryInfo): QueryInfo => { const w = wiring?.placement(i.id); return w ? { ...i, placement: w } : i; };

  return {
    async start() {
      releaseReaders ??= holdReaders();
      warmParser();
      await fs.mkdir(cfg.dataDir, { recursive: true });
      if (cfg.cluster) {
        wiring = createTaskWiring({
          cfg, clusterId: cfg.cluster.clusterId, objects: () => store.all(), queryIdOf: (n) => store.queryIdOf(n),
          get self() { return commands?.instanceId ?? ''; }, members: () => membership?.status().members ?? [],
        });
        gather = createViewGather({
          self: () => commands?.instanceId ?? '', members: () => membership?.status().members ?? [], log: cfg.log,
          tables: (name) => wiring?.viewTables(name), ready: (task) => wiring?.host.runner(task)?.state() === 'running', token: cfg.clusterToken,
        });
        await joinCluster(cfg.cluster);
        try {
          membership = await startMembership({
            brokers: cfg.brokers, clusterId: cfg.cluster.clusterId, instanceId: commands!.instanceId, address: cfg.advertisedUrl ?? null,
            catalog: () => ({ objects: store.all(), queryIdOf: (n) => store.queryIdOf(n) }), log: cfg.log, sessionTimeoutMs: cfg.clusterSessionTimeoutMs,
            onAssignment: (tasks) => { cfg.onAssignment?.(tasks); void wiring?.onAssignment(tasks); },
          });
        } catch (e) {
          // The catalog and queries work without it; only the status (and tasks) are missing.
          cfg.log('error', `cluster ${cfg.cluster.clusterId}: cannot join the task group: ${(e as Error).message}`);
        }
      } else await restore();
    },
    async close() {
      // Tasks first (each commits its last epoch), then leave the group: the next owners resume there.
      const w = wiring; wiring = null;
      await w?.close().catch(() => undefined);
      const m = membership; membership = null;
      await m?.close().catch(() => undefined);
      const c = commands; commands = null;
      await c?.close().catch(() => undefined);
      await pushes.stopAll();
      reads.closeAll('the server is stopping');
      await serial(() => queries.stopAll());
      await queries.retired();
      const release = releaseReaders; releaseReaders = null;
      await release?.();
    },
    async execute(sql: string) {
      // Parsed off the main thread under a deadline, before waiting for the engine's turn.
      const parsed = await preparseRequest(sql);
      // Pull queries over views run as tasks read the whole view, gathered from every instance first (not under the lock).
      const gathered = await gatherPulled(sql, parsed);
      const run = () => serial(async () => {
        const planned = planRequest(sql, store.catalog, parsed);
        if (cfg.cluster && planned.some(changesCatalog)) {
          preflight(planned);
          return null;
        }
        checkCapacity(planned);
        const results: StatementResult[] = [];
        // A statement that fails while taking effect takes back the CREATEs of its request (DROPs stay done).
        const undo: UndoList = [];
        try {
          const c: HandlerContext = gathered.size ? { ...ctx, viewTable: (name) => gathered.get(name.toLowerCase()) } : ctx;
          for (const ps of planned) results.push(await applyStatement(c, ps, undo));
        } catch (e) {
          for (const u of undo.reverse()) await u().catch((x: Error) => cfg.log('warn', `undo failed: ${x.message}`));
          throw e;
        }
        return results;
      });
      let local: StatementResult[] | null;
      try {
        local = await run();
      } catch (e) {
        // With a cluster, an object named here may have been created on another instance a moment ago:
        // the request is checked against the whole log, so catch up with it and plan once more.
        if (!cfg.cluster || !commands || !(e instanceof SqlError) || e.kind !== 'plan') throw e;
        await commands.syncToEnd();
        local = await run();
      }
      return local ?? propose(sql);
    },
    queries: () => [...queries.ids().map((id) => withPlacement(queries.info(id)!)), ...(wiring?.infos() ?? []).filter((i) => !queries.get(i.id))],
    query: (id) => { const i = queries.info(id); return i ? withPlacement(i) : wiring?.infos().find((x) => x.id === id); },
    async progress(id) { return queries.get(id)?.runner.progress() ?? wiring?.progress(id); },
    async stopQuery(id) {
      if (cfg.cluster) {
        // A catalog change like any other: DROP through the log (refused while others depend on the object).
        const o = store.objectOfQuery(id);
        if (!o) return false;
        await propose(`DROP ${o.kind === 'sink' ? 'SINK' : 'MATERIALIZED VIEW'} ${quoteName(o.name)}`);
        return true;
      }
      // The catalog change is serialised with other statements; the runner's stop is not: other
      // requests never wait behind a query's Kafka I/O (its stop is bounded, see queries/runner.ts).
      const r = await serial(async () => {
        const x = queries.take(id);
        if (!x) return null;
        queries.removeTable(x.object);
        reads.closeFeed(x.object);
        await store.remove(x.object);
        return x;
      });
      if (!r) return false;
      await queries.retire(r.runner);
      return true;
    },
    table: (name) => queries.table(name),
    objects: () => store.all(),
    runner: (id) => queries.get(id)?.runner,
    catalogInfo: () => reads.catalogInfo(),
    viewRows: (name, limit) => wiring?.viewRows(name, limit) ?? reads.viewRows(name, limit),
    viewFeed: (name) => reads.viewFeed(name),
    viewGather: () => gather,
    startPush: (sql, opts) => pushes.start(sql, opts, queries.size),
    pushQueries: () => pushes.list(),
    cluster: () => {
      if (!commands) return null;
      const m = membership?.status();
      return { ...commands.info(), address: cfg.advertisedUrl ?? null, groupId: m?.groupId ?? null, members: m?.members ?? [], tasks: m?.tasks ?? [] };
    },
    async clusterLag() {
      if (!cfg.cluster) return null;
      // Every continuous query of the catalog (run here or not), its consumer group as the runner names it.
      // A query run as tasks: the sum over its tasks' groups (each task commits input 0's offsets to its own).
      const qs = store.stored().filter((s) => s.queryId).map((s) => ({ name: s.name, id: s.queryId!, groups: wiring?.taskGroups(s.queryId!) ?? [`streamsql-${s.name}-${s.queryId}`] }));
      const lags = await consumerGroupLag(cfg.brokers, qs.flatMap((q) => q.groups), cfg.log);
      return qs.map((q) => {
        const ls = q.groups.map((g) => lags.get(g) ?? null);
        return { name: q.name, id: q.id, lag: ls.length && ls.every((l) => l !== null) ? ls.reduce((a, b) => a! + b!, 0) : null };
      });
    },
  };
}

/** A catalog name as an identifier in a statement we write (DROP from stopQuery). */
function quoteName(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}
