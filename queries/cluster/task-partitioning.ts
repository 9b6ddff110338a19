/**
 * Whether a continuous query can run as independent tasks, one per input partition group, without a
 * repartition exchange (issue 17). A task sees only its partitions' rows, so every stateful node must
 * keep rows of one partition of its input apart from rows of any other: its key (GROUP BY, join key,
 * dedup / Top-N partition) must contain the columns the input topic is partitioned by. Kafka Streams
 * makes the same assumption: a topic is partitioned by its record key.
 *
 * The check follows, node by node through the graph, which output columns still hold the input's
 * key columns unchanged (`keyCols`):
 * - a source: its record key columns — 'key.fields' (or an upsert source's PRIMARY KEY), or a
 *   METADATA FROM 'key' column; none: unknown (any stateful node above it needs an exchange);
 * - filter, window_assign: unchanged; project: where each key column is selected as a bare column
 *   (computed or dropped: unknown); expand: unknown if a grouping set nulls a key column;
 * - window/updating aggregate: GROUP BY must contain every key column, else refused; its output
 *   keeps them at their group-key positions; dedup and Top-N likewise on their partition columns;
 * - join: both sides keyed, and their key columns paired by the join condition (the same positions
 *   in leftKeys/rightKeys); output keeps the left side's; union: kept only when every input agrees;
 * - sort and limit: refused (global order or count across tasks);
 * - an `exchange` node (the repartition exchange being built, any op whose kind is 'exchange' with
 *   `keys`) re-partitions by its keys;
 * - a changelog reaching the sink must be keyed by columns containing the key (two tasks must never
 *   upsert one row).
 * A stateless query (filter/project over anything) always passes.
 */
import type { SourceDef } from '../../planner/catalog.ts';
import type { PhysicalOp, PhysicalPlan } from '../../planner/physical.ts';
import type { GraphNode } from '../../planner/physical-graph.ts';

export class TaskPlanError extends Error {}

/** The source's record-key columns by index (null when it declares none). */
export function sourceKeyColumns(def: SourceDef): number[] | null {
  const names = def.columns.map((c) => c.name);
  const o = def.options;
  const fields = o.keyFields ?? (o.changelog === 'upsert' ? o.primaryKey : undefined);
  if (fields && fields.length) {
    const ix = fields.map((f) => names.indexOf(f));
    return ix.every((i) => i >= 0) ? ix : null;
  }
  const meta = def.columns.findIndex((c) => c.metadata === 'key');
  return meta >= 0 ? [meta] : null;
}

const contains = (cols: readonly number[], key: readonly number[] | null): key is readonly number[] => key !== null && key.every((k) => cols.includes(k));

/**
 * Problems that rule out running `plan` as independent tasks (empty: it can). `hasExchange`: the
 * planner says the plan repartitions where it must (then nothing is checked here).
 */
export function partitioningProblems(plan: PhysicalPlan, opts: { hasExchange?: boolean } = {}): string[] {
  if (opts.hasExchange) return [];
  const problems: string[] = [];
  const keyOf = new Map<string, readonly number[] | null>();
  const name = (n: GraphNode) => (n.role === 'op' ? `${n.id} ${n.op.kind}` : n.id);
  for (const n of plan.graph.nodes) {
    if (n.role === 'source') {
      const s = n.source ?? plan.sources[n.input];
      if (!s || s.kind !== 'kafka_source') { problems.push(`${n.id}: input ${n.input} is not a Kafka source (a view's changes are not partitioned by task)`); keyOf.set(n.id, null); continue; }
      if (s.source.options.topicPattern) problems.push(`${n.id}: source ${s.source.name} reads a topic pattern; tasks need a fixed topic list`);
      keyOf.set(n.id, sourceKeyColumns(s.source));
      continue;
    }
    const ins = n.inputs.map((i) => keyOf.get(i) ?? null);
    if (n.role === 'sink') {
      if (n.stream.kind === 'changelog' && !contains(n.stream.key, ins[0] ?? null)) {
        problems.push(`${n.id} sink: the output is a changelog keyed by columns [${n.stream.key.join(', ')}] that do not contain the input's partition key: tasks would upsert the same rows`);
      }
      continue;
    }
    const op = n.op as PhysicalOp | { kind: 'exchange'; keys: readonly number[] };
    const k = ins[0] ?? null;
    const need = (cols: readonly number[], what: string): boolean => {
      if (contains(cols, k)) return true;
      const inSchema = 'inputSchema' in n.op ? n.op.inputSchema : n.op.schema;
      problems.push(`${name(n)}: ${what} [${cols.map((c) => inSchema.fields[c]?.name ?? `#${c}`).join(', ')}] ${k === null ? 'over an input whose partition key is not known here (the source declares no record key, or its key columns are dropped or computed before this node)' : 'does not contain the input\'s partition key'}: it needs a repartition exchange`);
      return false;
    };
    switch (op.kind) {
      case 'exchange': keyOf.set(n.id, op.keys); break;
      case 'filter': case 'window_assign': keyOf.set(n.id, k); break;
      case 'project': {
        if (!k) { keyOf.set(n.id, null); break; }
        const out = k.map((c) => op.exprs.findIndex((e) => e.kind === 'column' && e.index === c));
        keyOf.set(n.id, out.every((i) => i >= 0) ? out : null);
        break;
      }
      case 'expand': keyOf.set(n.id, k && op.sets.every((s) => k.every((c) => !op.keys.includes(c) || s.includes(c))) ? k : null); break;
      case 'window_aggregate':
        keyOf.set(n.id, need(op.groupBy, 'GROUP BY') ? k!.map((c) => 2 + op.groupBy.indexOf(c)) : null);
        break;
      case 'updating_aggregate':
        keyOf.set(n.id, need(op.groupBy, 'GROUP BY') ? k!.map((c) => op.groupBy.indexOf(c)) : null);
        break;
      case 'dedup': keyOf.set(n.id, need(op.keys, 'the deduplication key') ? k : null); break;
      case 'top_n': keyOf.set(n.id, need(op.partitionBy, 'PARTITION BY') ? k : null); break;
      case 'sort': case 'limit':
        problems.push(`${name(n)}: ORDER BY / LIMIT over a continuous query is global: it cannot be split into tasks`);
        keyOf.set(n.id, null);
        break;
      case 'union': {
        const first = ins[0] ?? null;
        keyOf.set(n.id, first && ins.every((x) => x && x.join(',') === first.join(',')) ? first : null);
        break;
      }
      case 'join': {
        const [l, r] = [ins[0] ?? null, ins[1] ?? null];
        // Each left key column must be joined (same position in the condition) to the matching right key column.
        const paired = l !== null && r !== null && l.length === r.length
          && l.every((c, i) => op.leftKeys.some((lk, j) => lk === c && op.rightKeys[j] === r[i]));
        if (!paired) problems.push(`${name(n)}: the join condition does not pair both inputs' partition keys (left ${l ? `[${l.join(', ')}]` : 'unknown'}, right ${r ? `[${r.join(', ')}]` : 'unknown'}): it needs a repartition exchange`);
        keyOf.set(n.id, paired ? l : null);
        break;
      }
      default: {
        problems.push(`${name(n)}: not known to be partition-local`);
        keyOf.set(n.id, null);
      }
    }
  }
  return problems;
}

/** Throws TaskPlanError naming every problem (see the header). */
export function checkTaskPlan(plan: PhysicalPlan, opts: { hasExchange?: boolean; query?: string } = {}): void {
  const p = partitioningProblems(plan, opts);
  if (p.length) throw new TaskPlanError(`query ${opts.query ?? ''} cannot run as partition tasks without a repartition exchange: ${p.join('; ')}`.replace('query  ', 'query '));
}
