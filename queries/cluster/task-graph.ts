/**
 * A task's dataflow graph when its query needs repartition exchanges (issue 17): the query's graph
 * with each Exchange (planner/exchange.ts) cut in two inside the task, as Kafka Streams splits a
 * topology at its repartition topics. The upstream side ends in a sink node `<x>-out` (the task's
 * ExchangeWriter: rows re-keyed into the repartition topic, inside the task's epoch transaction); the
 * downstream side starts at a source node `<x>-in` fed from partition p of that topic (task `<query>#p`
 * reads it), whose input index follows the query's own inputs.
 *
 * Why one task runs both sides (and not one task per sub-topology, as Kafka Streams does): every
 * exchange of a query has as many partitions as the query has tasks (the largest source partition
 * count), so task p's share of the downstream is partition p; one task then has one transaction and
 * one state record for all of its work, the assignor places one kind of task, and a task that moves
 * moves both its sides with one fencing. The cost is that the two sides of one partition run in one
 * thread, which is how tasks already share an instance.
 *
 * Node ids of the query's graph are kept (a checkpoint's state finds its node); the fingerprint adds
 * the cut, so a task's state is never restored into the uncut graph or the reverse.
 */
import type { ExchangeNode, ExchangePlan } from '../../planner/exchange.ts';
import type { GraphNode, PhysicalGraph } from '../../planner/physical-graph.ts';
import type { PhysicalPlan } from '../../planner/physical.ts';

export interface TaskExchange {
  readonly x: ExchangeNode;
  /** Partitions of its repartition topic (resolved: the query's task count, or 1 for a single-partition exchange). */
  readonly partitions: number;
  /** The graph input its downstream side reads. */
  readonly input: number;
  /** The sink node its upstream side writes. */
  readonly sinkId: string;
}

export interface TaskGraph {
  readonly graph: PhysicalGraph;
  readonly exchanges: readonly TaskExchange[];
}

export const exchangeInId = (x: ExchangeNode): string => `${x.id}-in`;
export const exchangeOutId = (x: ExchangeNode): string => `${x.id}-out`;

/** Cuts the plan's graph at the exchanges of `xp` (made from that graph); `tasks` resolves an exchange's unknown partition count. */
export function taskGraph(plan: PhysicalPlan, xp: ExchangePlan, tasks: number): TaskGraph {
  if (xp.graph.fingerprint !== plan.graph.fingerprint) throw new Error('the exchange plan was made from another graph');
  const first = plan.sources.length;
  const exchanges: TaskExchange[] = xp.exchanges.map((x, k) => ({ x, partitions: x.single ? 1 : x.partitions ?? tasks, input: first + k, sinkId: exchangeOutId(x) }));
  const byX = new Map(exchanges.map((e) => [e.x.id, e]));
  const nodes: GraphNode[] = exchanges.map((e) => ({ id: exchangeInId(e.x), role: 'source', input: e.input, source: null, inputs: [], schema: e.x.schema, stream: e.x.stream }));
  const rename = (id: string): string => (byX.has(id) ? exchangeInId(byX.get(id)!.x) : id);
  for (const n of xp.nodes) {
    if (n.role === 'exchange') {
      nodes.push({ id: exchangeOutId(n), role: 'sink', sink: { kind: 'collect' }, inputs: [n.inputs[0]], schema: n.schema, stream: n.stream });
      continue;
    }
    nodes.push(n.inputs.some((i) => byX.has(i)) ? { ...n, inputs: n.inputs.map(rename) } as GraphNode : n);
  }
  const cut = exchanges.map((e) => `${e.x.id}:${e.x.inputs[0]}>${e.x.target}.${e.x.port}/${e.partitions}${e.x.single ? 's' : ''}[${e.x.key.join(',')}]`).join(';');
  return { graph: { nodes, fingerprint: `${plan.graph.fingerprint}|exchanges:${cut}` }, exchanges };
}
