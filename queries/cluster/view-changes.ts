/**
 * A keyed materialized view read by another continuous query in a cluster (issue 17): its changes
 * go through a topic, as a ksqlDB table's changelog does.
 *
 * On one instance the downstream query follows the view's table in memory (queries/view-input.ts).
 * In a cluster a view run as tasks has no one table: task p holds the rows of partition p. So each
 * of its tasks also writes every change it makes to the view (the rows reaching the view's table,
 * +1 upsert / -1 delete, and its watermark) to the view's changes topic
 * `_streamsql-<cluster>-<view>-<id8>-changes`, keyed by the view's key (the exchange encoding of
 * connectors/kafka/exchange.ts, in the task's epoch transaction: an epoch's changes are visible
 * exactly when its state commits). A query reading the view reads that topic like a repartition
 * topic: task p of the downstream reads partition p, read_committed, its positions in its own state.
 * The downstream so runs as tasks too (its partition group is the changes topic, plus its other
 * topics), every way it moves is exactly once, and a chain of views is a chain of topics.
 *
 * The topic has as many partitions as the view has tasks, no time limit (a query created later
 * reads it from the start: all changes, which is the view's rows), and is deleted with the view.
 * It is not compacted: one record holds many rows (the exchange encoding), so the topic grows with
 * the view's changes, not its rows (README "Beyond one machine" says so).
 *
 * Which views write one is decided from the catalog alone (`taskViewTopics`), so that every member
 * of the task group agrees on the partition groups without planning: a keyed view whose inputs are
 * fixed Kafka topics and such views, at least one of them on this cluster. task-wiring.ts places
 * exactly those as tasks (its plan-level check, planner/exchange.ts `views`, agrees).
 */
import { topicPart } from '../../planner/exchange.ts';
import type { CatalogObject } from '../../planner/index.ts';

/** A query's name in its internal topics and transactional ids (the id keeps a re-created query apart). */
export const queryStateName = (name: string, queryId: string): string => `${name}-${queryId.slice(0, 8)}`;

export const changesTopicName = (clusterId: string, stateName: string): string => `_streamsql-${topicPart(clusterId)}-${topicPart(stateName)}-changes`;

/** Keyed views that run as tasks and write their changes topic: lowercase name → topic. */
export function taskViewTopics(objects: readonly CatalogObject[], queryIdOf: (name: string) => string | undefined, clusterId: string): Map<string, string> {
  const byName = new Map(objects.map((o) => [o.name.toLowerCase(), o]));
  const out = new Map<string, string>();
  const visiting = new Set<string>();
  const isTaskView = (name: string): boolean => {
    const key = name.toLowerCase();
    if (out.has(key)) return true;
    const o = byName.get(key);
    if (!o || o.kind !== 'materialized_view' || !o.keyColumns || visiting.has(key)) return false;
    visiting.add(key);
    let grouped = false;
    let ok = true;
    for (const d of o.dependsOn) {
      const dep = byName.get(d.toLowerCase());
      if (!dep) { ok = false; break; }
      if (dep.kind === 'source') {
        if (dep.options.topicPattern) { ok = false; break; }
        if (dep.options.bootstrapServers === null && dep.options.topics.length) grouped = true;
      } else if (dep.kind === 'materialized_view' && dep.keyColumns) {
        // Read as its changes: only a view run as tasks has them in a topic.
        if (!isTaskView(dep.name)) { ok = false; break; }
        grouped = true;
      }
      // A logical view or an append-only materialized view is planned inline: its own inputs are in dependsOn too.
    }
    visiting.delete(key);
    const id = queryIdOf(o.name);
    if (!ok || !grouped || !id) return false;
    out.set(key, changesTopicName(clusterId, queryStateName(o.name, id)));
    return true;
  };
  for (const o of objects) isTaskView(o.name);
  return out;
}
