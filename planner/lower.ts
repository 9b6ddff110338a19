/**
 * Logical plan → the dataflow graph that runs. A plan over one input with single-input operators is
 * lowered as a chain (`toPhysical`) and converted with `chainToGraph`, so its node ids and fingerprint
 * — which checkpoints are tied to — stay what they have always been. A plan with several inputs
 * (UNION ALL, joins, a source read twice) is built node by node: each scan becomes a source node
 * (input 0, 1, … in the order the plan lists them, left before right), and every operator's inputs
 * are checked against what they emit (GraphPlanError when it cannot be computed exactly).
 */
import type { EmitMode } from './ast.ts';
import { planInputs, type LogicalPlan } from './logical.ts';
import { APPEND, chainToGraph, GraphBuilder, type StreamKind } from './physical-graph.ts';
import { emitBelow, toPhysical, unaryOp, type PhysicalPlan, type PhysicalSink, type PhysicalSource } from './physical.ts';
import { assertNever } from './types.ts';

/** Plans that need a graph: several inputs, or a view's changes (a keyed changelog input). */
function multiInput(p: LogicalPlan): boolean {
  return p.kind === 'union' || p.kind === 'join' || (p.kind === 'view_scan' && p.key !== undefined) || planInputs(p).some(multiInput);
}

export function lowerPlan(plan: LogicalPlan, sink: PhysicalSink, emit: EmitMode, opts: { viewStream?: (view: string) => StreamKind; stateTtlMs?: number } = {}): PhysicalPlan {
  if (!multiInput(plan)) {
    const chain = toPhysical(plan, sink, emit);
    return { ...chain, graph: chainToGraph(chain), sources: [chain.source] };
  }
  const g = new GraphBuilder();
  const sources: PhysicalSource[] = [];
  const walk = (p: LogicalPlan, em: EmitMode): string => {
    switch (p.kind) {
      case 'source_scan': {
        const s: PhysicalSource = { kind: 'kafka_source', source: p.def, schema: p.schema };
        sources.push(s);
        // A changelog source (upsert-kafka, debezium-json, a keyed table) delivers upserts and deletes by its key.
        const pk = p.def.options.primaryKey ?? [];
        const key = pk.map((n) => p.schema.fields.findIndex((f) => f.name.toLowerCase() === n.toLowerCase()));
        const stream: StreamKind = p.def.options.changelog && key.length && key.every((k) => k >= 0) ? { kind: 'changelog', key } : APPEND;
        return g.source(s, p.schema, stream);
      }
      case 'view_scan': {
        const s: PhysicalSource = { kind: 'view_source', view: p.view, schema: p.schema, ...(p.key ? { key: p.key } : {}) };
        sources.push(s);
        return g.source(s, p.schema, p.key ? { kind: 'changelog', key: p.key } : opts.viewStream?.(p.view) ?? APPEND);
      }
      case 'union': {
        const ins = p.inputs.map((x) => walk(x, em));
        return g.op({ kind: 'union', inputs: ins.length, schema: p.schema }, ins);
      }
      case 'join': {
        // Window aggregates feeding a join emit each window once, final, when it closes (as Flink's do):
        // a join's inputs are then append-only rows whose time the watermark orders.
        const below: EmitMode = 'window_close';
        const l = walk(p.left, below);
        const r = walk(p.right, below);
        const bound = p.bound.kind === 'regular' ? { kind: 'regular' as const, ttlMs: opts.stateTtlMs ?? null } : p.bound;
        return g.op({
          kind: 'join', joinType: p.joinType, leftKeys: p.leftKeys, rightKeys: p.rightKeys, residual: p.residual, bound,
          leftSchema: p.left.schema, rightSchema: p.right.schema, schema: p.schema,
        }, [l, r]);
      }
      case 'filter': case 'project': case 'window_assign': case 'aggregate': case 'sort': case 'limit': case 'dedup': case 'top_n': case 'rank': case 'expand': {
        const at = walk(p.input, emitBelow(p, em));
        const op = unaryOp(p, em);
        return op ? g.op(op, [at]) : at;
      }
      default: return assertNever(p, 'plan node');
    }
  };
  const out = walk(plan, emit);
  g.sink(sink, out);
  const graph = g.build();
  return { source: sources[0]!, ops: [], sink, schema: plan.schema, graph, sources };
}
