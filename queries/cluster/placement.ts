/**
 * How each continuous query of a cluster's catalog runs (issue 17), decided from the catalog alone so
 * that every member of the task group computes the same partition groups without planning anything:
 *
 * - 'tasks': one task per partition of its inputs (`<query>#p` reads partition p of each), when its
 *   inputs are fixed Kafka topics of this cluster and keyed views (read through their changes topics,
 *   view-changes.ts), at least one of them. Where a key does not match the partitioning, the planner
 *   adds repartition exchanges (task-wiring.ts).
 * - 'single': one task `<query>#0` that reads every partition of its inputs itself, when its inputs
 *   cannot be split by partition: a topic pattern (partitions come and go), a topic on another Kafka
 *   cluster. It is still a task: placed by the group, fenced by its transactional id, its state in the
 *   state topic in the same transaction as its output, so a move resumes exactly — only not spread.
 *   A sink on another Kafka cluster is a single task too: its state topic and transaction are on the
 *   sink's cluster (task-runner.ts `stateClusterOf`), as one transaction spans one cluster; split, its
 *   tasks' repartition rows (on this cluster) could not commit with its output.
 *
 * Every keyed materialized view runs as tasks or as a single task, and writes its changes topic, so
 * any query can read any view across instances.
 */
import type { CatalogObject } from '../../planner/index.ts';
import type { PartitionGroup } from './assignor.ts';
import { changesTopicName, queryStateName } from './view-changes.ts';

export type ClusterPlacement = 'tasks' | 'single';

export interface CatalogPlacement {
  /** Keyed views and their changes topics (lowercase name → topic); a view whose query id is not known yet is missing. */
  readonly views: ReadonlyMap<string, string>;
  /** Lowercase query name → placement (continuous queries only). */
  readonly placements: ReadonlyMap<string, ClusterPlacement>;
  /** One partition group per continuous query, sorted by id (membership's task planner). */
  readonly groups: readonly PartitionGroup[];
}

/** Whether sink `servers` ('properties.bootstrap.servers') names another Kafka cluster than `brokers`. */
export const otherCluster = (servers: string | null | undefined, brokers: readonly string[]): boolean =>
  !!servers && servers.split(',').join() !== brokers.join();

export function catalogPlacement(objects: readonly CatalogObject[], queryIdOf: (name: string) => string | undefined, clusterId: string, brokers: readonly string[]): CatalogPlacement {
  const byName = new Map(objects.map((o) => [o.name.toLowerCase(), o]));
  const views = new Map<string, string>();
  for (const o of objects) {
    const id = o.kind === 'materialized_view' && o.keyColumns ? queryIdOf(o.name) : undefined;
    if (id) views.set(o.name.toLowerCase(), changesTopicName(clusterId, queryStateName(o.name, id)));
  }
  const placements = new Map<string, ClusterPlacement>();
  const groups: PartitionGroup[] = [];
  for (const o of objects) {
    if (o.kind !== 'materialized_view' && o.kind !== 'sink') continue;
    const topics = new Set<string>();
    let splittable = true;
    for (const d of o.dependsOn) {
      const dep = byName.get(d.toLowerCase());
      if (!dep) { splittable = false; continue; }
      if (dep.kind === 'source') {
        if (dep.options.topicPattern || dep.options.bootstrapServers !== null) splittable = false;
        else for (const t of dep.options.topics) topics.add(t);
      } else if (dep.kind === 'materialized_view' && dep.keyColumns) {
        const changes = views.get(dep.name.toLowerCase());
        if (changes) topics.add(changes); else splittable = false;
      }
      // A logical view or an append-only materialized view is planned inline: its own inputs are in dependsOn too.
    }
    const sinkElsewhere = o.kind === 'sink' && otherCluster(o.sink.bootstrapServers, brokers);
    const placement: ClusterPlacement = splittable && topics.size > 0 && !sinkElsewhere ? 'tasks' : 'single';
    placements.set(o.name.toLowerCase(), placement);
    groups.push({ id: o.name, topics: [...topics].sort(), ...(placement === 'tasks' ? {} : { single: true }) });
  }
  groups.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { views, placements, groups };
}
