/**
 * What the engine offers the server (HTTP routes, the PostgreSQL wire server, metrics): the `Engine`
 * interface and the shapes of its answers. Kept apart from the implementation so the statement
 * handlers (queries/handlers/*) can name a result without importing the engine that calls them.
 */
import type { Log } from '../connectors/kafka/client.ts';
import type { QueryTable } from '../connectors/table/query-table.ts';
import type { CatalogObject } from '../planner/index.ts';
import type { TaskParts } from '../connectors/kafka/task-assignor.ts';
import type { ClusterCatalogInfo, ClusterOptions } from './cluster/catalog-log.ts';
import type { ClusterMember } from './cluster/membership.ts';
import type { ViewGather } from './cluster/view-gather.ts';
import type { PushQuery, RowChange, StartFrom, ViewFeed } from './push.ts';
import type { QueryProgress, QueryRunner, QueryState } from './runner.ts';

export interface EngineConfig {
  readonly brokers: readonly string[];
  readonly dataDir: string;
  readonly log: Log;
  readonly maxQueries?: number;
  readonly keepEpochs?: number;
  /**
   * CLUSTER_ID (issue 17): the catalog is the cluster's command log, shared by every instance with this
   * id (queries/cluster/catalog-log.ts). Absent: a single instance, as before.
   */
  readonly cluster?: ClusterOptions;
  /**
   * Whether this instance runs the continuous query behind view or sink `name` (default: every query in
   * its catalog). Asked each time the query would start (CREATE, start, replay); a query it declines is
   * in the catalog but has no runner, table or checkpoints here. The hook for cluster tasks to take over.
   */
  readonly runQuery?: (name: string, queryId: string) => boolean;
  /**
   * With a cluster: this instance's HTTP address as other instances and clients should use it
   * (ADVERTISED_URL, else http://<HOST>:<PORT>), reported in the task group (GET /v1/cluster).
   */
  readonly advertisedUrl?: string;
  /** With a cluster: the API token (API_TOKEN) sent when this instance reads a view's rows from the others (view-gather.ts). */
  readonly clusterToken?: string;
  /** With a cluster: the task group's session timeout (how long a silent instance keeps its tasks). Default 10 s. */
  readonly clusterSessionTimeoutMs?: number;
  /**
   * With a cluster: called with this instance's tasks (`<query>#<partition>` and their partitions) each
   * time the task group's assignment changes them. Which queries run is still `runQuery`'s.
   */
  readonly onAssignment?: (tasks: readonly TaskParts[]) => void;
}

/** engine.cluster(): the command log's position and the task group's members. */
export interface ClusterStatus extends ClusterCatalogInfo {
  readonly address: string | null;
  /** The task group (`_streamsql-<CLUSTER_ID>-tasks`); null before this instance joined it. */
  readonly groupId: string | null;
  /** Every instance seen in the task group, the current generation's (alive) first. */
  readonly members: readonly ClusterMember[];
  /** This instance's tasks with their partitions. */
  readonly tasks: readonly TaskParts[];
}

/** A continuous query's lag in the cluster: end offsets minus its consumer groups' committed offsets. */
export interface QueryLag { readonly name: string; readonly id: string; readonly lag: number | null }

export interface ColumnInfo { readonly name: string; readonly type: string }

/** One entry of POST /v1/sql's `results`, per statement. */
export interface StatementResult {
  readonly statement: string;
  readonly name?: string;
  readonly queryId?: string;
  readonly message?: string;
  readonly columns?: readonly ColumnInfo[];
  readonly rows?: readonly Record<string, unknown>[];
  readonly plan?: { readonly logical: string; readonly physical: string; readonly graph: string };
}

export interface QueryInfo {
  readonly id: string;
  readonly name: string;
  readonly kind: 'materialized_view' | 'sink';
  readonly sql: string;
  readonly status: QueryState;
  readonly error: string | null;
  /** With a cluster: where the query runs (as tasks or as one task, and which of them here). */
  readonly placement?: string;
}

export interface Engine {
  start(): Promise<void>;
  close(): Promise<void>;
  execute(sql: string): Promise<StatementResult[]>;
  queries(): QueryInfo[];
  query(id: string): QueryInfo | undefined;
  progress(id: string): Promise<QueryProgress | undefined>;
  /** Stops a query and drops the view or sink it feeds. */
  stopQuery(id: string): Promise<boolean>;
  table(name: string): QueryTable | undefined;
  objects(): CatalogObject[];
  runner(id: string): QueryRunner | undefined;
  // ---- push and the dashboard's catalog (see queries/push.ts) ----
  /** Sources, views and sinks with their columns, for GET /v1/catalog. */
  catalogInfo(): CatalogInfo;
  /** A materialized view's committed rows (the newest `limit`), or undefined when there is no such view. */
  viewRows(name: string, limit?: number): ViewRows | undefined;
  /** The change feed of a materialized view (shared by its SSE clients), or undefined. */
  viewFeed(name: string): { feed: ViewFeed; columns: ColumnInfo[] } | undefined;
  /** Starts an ad-hoc `SELECT … EMIT CHANGES`; SqlError when the SQL is not one push query. */
  /**
   * With CLUSTER_ID: views run as tasks read whole, gathered from every instance (queries/cluster/view-gather.ts);
   * null on a single instance. `viewRows`/`viewFeed` stay this instance's own (a task view's share, no feed).
   */
  viewGather?(): ViewGather | null;
  startPush(sql: string, opts: PushOptions): Promise<PushHandle>;
  pushQueries(): readonly PushHandle[];
  /** With CLUSTER_ID: this instance, its place in the command log, the task group; null on a single instance. */
  cluster?(): ClusterStatus | null;
  /** With CLUSTER_ID: every continuous query's lag (from the broker, the same on every instance); null on a single instance. */
  clusterLag?(): Promise<QueryLag[] | null>;
}

export interface CatalogInfo {
  readonly sources: readonly { name: string; columns: ColumnInfo[]; topics: string[]; topicPattern: string | null; format: string; watermark: { column: string; delayMs: number } | null }[];
  readonly views: readonly { name: string; kind: 'view' | 'materialized_view'; columns: ColumnInfo[]; queryId?: string; keyColumns?: string[] | null; emit?: 'changes' | 'window_close' }[];
  readonly sinks: readonly { name: string; topic: string; queryId?: string; columns: ColumnInfo[] }[];
}

export interface ViewRows {
  readonly name: string;
  readonly epoch: number;
  readonly total: number;
  readonly columns: ColumnInfo[];
  readonly rows: Record<string, unknown>[];
  /** With a cluster, a view run as tasks: only the rows of the tasks this instance runs. */
  readonly partial?: boolean;
}

export interface PushOptions {
  readonly startFrom?: StartFrom;
  readonly intervalMs?: number;
  onChanges(epoch: number, changes: readonly RowChange[]): void;
  onError(e: Error): void;
}

export interface PushHandle {
  readonly id: string;
  readonly sql: string;
  readonly columns: ColumnInfo[];
  readonly keyColumns: string[] | null;
  readonly query: PushQuery;
  stop(): Promise<void>;
}
