/**
 * A keyed materialized view read by another continuous query in a cluster (issue 17): its changes
 * go through a topic, as a ksqlDB table's changelog does.
 *
 * On one instance the downstream query follows the view's table in memory (queries/view-input.ts).
 * In a cluster a view run as tasks has no one table: task p holds the rows of partition p. So each
 * of its tasks also writes every row it changes (the rows reaching the view's table, folded per epoch,
 * and its watermark) to the view's changes topic `_streamsql-<cluster>-<view>-<id8>-changes`, keyed by
 * the view's key (connectors/kafka/changes.ts, in the task's epoch transaction: an epoch's changes are
 * visible exactly when its state commits). A query reading the view reads that topic: task p of the
 * downstream reads partition p, read_committed, its positions in its own state. The downstream so runs
 * as tasks too (its partition group is the changes topic, plus its other topics), every way it moves is
 * exactly once, and a chain of views is a chain of topics.
 *
 * The topic has as many partitions as the view has tasks, is compacted without a time limit (a query
 * created later reads it from the start: the newest version of every row, which is the view), and is
 * deleted with the view.
 *
 * Every keyed view of a cluster writes one: it runs as tasks or as a single task (placement.ts
 * `catalogPlacement`, which also names the topics, from the catalog alone, so that every member agrees).
 * A view run as a single task has a changes topic of one partition.
 */
import { topicPart } from '../../planner/exchange.ts';

/** A query's name in its internal topics and transactional ids (the id keeps a re-created query apart). */
export const queryStateName = (name: string, queryId: string): string => `${name}-${queryId.slice(0, 8)}`;

export const changesTopicName = (clusterId: string, stateName: string): string => `_streamsql-${topicPart(clusterId)}-${topicPart(stateName)}-changes`;
