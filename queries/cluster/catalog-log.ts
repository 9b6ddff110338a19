/**
 * The engine's catalog shared through the cluster's command log (issue 17), as ksqlDB shares its
 * catalog through the command topic. With CLUSTER_ID, a request that changes the catalog is not
 * applied where it arrives: it is proposed to the log (queries/cluster/command-log.ts over
 * connectors/kafka/command-topic.ts), and every instance — the proposer included — applies it when it
 * reads it, in log order. So all instances hold the same catalog, and an instance that starts replays
 * the log from offset 0 to reach it (DATA_DIR/catalog.json is only a local cache of it).
 *
 * This file holds what the engine needs for that and nothing of the engine itself: which statements
 * go through the log, the ids a command gives its queries (the same on every instance), the instance
 * id, and opening the log. The engine (queries/engine.ts) supplies the CommandState: `check` plans the
 * request against its catalog, `apply` runs today's statement handlers on it.
 */
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Log } from '../../connectors/kafka/client.ts';
import { openCommandTopic } from '../../connectors/kafka/command-topic.ts';
import type { PlannedStatement } from '../../planner/index.ts';
import { CommandLog, type CommandState, type ProposedCommand } from './command-log.ts';

export interface ClusterOptions {
  /** CLUSTER_ID: names the command topic `_streamsql-<id>-commands`. */
  readonly clusterId: string;
  /** This instance, unique in the cluster (default: host, pid and a random suffix). */
  readonly instanceId?: string;
}

export interface ClusterCatalogInfo {
  readonly clusterId: string;
  readonly instanceId: string;
  readonly topic: string;
  /** The next command offset to read: every command below it is applied here. */
  readonly position: number;
  readonly applied: number;
  readonly skipped: number;
}

export interface ClusterCatalog {
  readonly instanceId: string;
  /** Proposes a request; resolves once this instance has applied it (`result`: what apply returned). */
  propose(sql: string): Promise<ProposedCommand>;
  /** Waits until every command already in the log is applied here. */
  syncToEnd(): Promise<void>;
  info(): ClusterCatalogInfo;
  close(): Promise<void>;
}

/** Statements that change the catalog (CREATE …, DROP …): a request with one of them goes through the log. */
export function changesCatalog(ps: PlannedStatement): boolean {
  switch (ps.planned.kind) {
    case 'create_source': case 'create_view': case 'create_materialized_view': case 'create_sink': case 'drop': return true;
    default: return false;
  }
}

/**
 * Query ids for the queries one command creates, in statement order: a UUID-shaped hash of the command
 * id and the query's index, so every instance (and every replay) names the query, its checkpoint
 * directory and later its tasks the same way.
 */
export function commandQueryIds(commandId: string): () => string {
  let n = 0;
  return () => {
    const h = createHash('sha256').update(`${commandId}:${n++}`).digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  };
}

/** Host and pid, and a random suffix: two engines in one process (tests) are two instances. */
export function defaultInstanceId(): string {
  const host = os.hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 60) || 'host';
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * Creates or checks the command topic, replays it into `state` from offset 0 to its end, and keeps
 * following it. Resolves when the replay is done.
 */
export async function openClusterCatalog(opts: { brokers: readonly string[]; cluster: ClusterOptions; state: CommandState; log: Log }): Promise<ClusterCatalog> {
  const instanceId = opts.cluster.instanceId ?? defaultInstanceId();
  const topic = openCommandTopic({ brokers: opts.brokers, clusterId: opts.cluster.clusterId, instanceId, log: opts.log });
  const log = new CommandLog(topic, opts.state, { instanceId, log: opts.log });
  try {
    await topic.ensure();
    await log.start();
  } catch (e) {
    await log.close().catch(() => undefined);
    throw e;
  }
  return {
    instanceId,
    propose: (sql) => log.propose(sql),
    syncToEnd: () => log.syncToEnd(),
    info: () => ({
      clusterId: opts.cluster.clusterId, instanceId, topic: topic.topic, position: log.position(),
      applied: log.commands().length, skipped: log.skippedCommands().length,
    }),
    close: () => log.close(),
  };
}
