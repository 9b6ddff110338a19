/**
 * Logical plan → the dataflow graph that runs. A plan over one input with single-input operators is
 * lowered as a chain (`toPhysical`) and converted with `chainToGraph`, so its node ids and fingerprint
 * — which checkpoints are tied to — stay what they have always been. A plan with several inputs
 * (UNION ALL, joins, a source read twice) is built node by node: each scan becomes a source node
 * (input 0, 1, … in the order the plan lists them, left before right), and every operator's inputs
 * are checked against what they emit (GraphPlanError when it cannot be computed exactly).
 *
 * Pull queries (`bounded`) read materialized views as they are now: bounded, append-only inputs that
 * end. Their outer and anti joins without a time bound are lowered as a join of one window that closes
 * at end of input (see `boundedJoin`): both inputs are buffered and joined once, with unmatched rows
 * padded or kept exactly as a batch join does, and the result stays append-only, so everything above
 * it (projections, GROUP BY, ORDER BY, LIMIT) reads plain rows.
 */
import type { EmitMode } from './ast.ts';
import { shiftColumns } from './bind-join.ts';
import { planInputs, type LogicalPlan } from './logical.ts';
import { APPEND, chainToGraph, GraphBuilder, GraphPlanError, type StreamKind } from './physical-graph.ts';
import { emitBelow, toPhysical, unaryOp, type PhysicalOp, type PhysicalPlan, type PhysicalSink, type PhysicalSource } from './physical.ts';
import { assertNever, T, type Expr, type Field, type Schema } from './types.ts';

/** Plans that need a graph: several inputs, or a view's changes (a keyed changelog input). */
function multiInput(p: LogicalPlan): boolean {
  return p.kind === 'union' || p.kind === 'join' || (p.kind === 'view_scan' && p.key !== undefined) || planInputs(p).some(multiInput);
}

export interface LowerOptions {
  readonly viewStream?: (view: string) => StreamKind;
  readonly stateTtlMs?: number;
  /** A pull query: its inputs are bounded (they end), so outer and anti joins run as batch joins. */
  readonly bounded?: boolean;
}

export function lowerPlan(plan: LogicalPlan, sink: PhysicalSink, emit: EmitMode, opts: LowerOptions = {}): PhysicalPlan {
  if (!multiInput(plan)) {
    const chain = toPhysical(plan, sink, emit);
    return { ...chain, graph: chainToGraph(chain), sources: [chain.source] };
  }
  const g = opts.bounded ? new BoundedGraphBuilder() : new GraphBuilder();
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
        let pb = p.bound;
        if (opts.bounded && pb.kind === 'temporal') {
          // A pull query reads each view once, as it is now: the version current at processing time is
          // that state, so AS OF PROCTIME() is a plain join; the versions of past event times are gone.
          if (pb.leftTime !== null) throw new GraphPlanError('FOR SYSTEM_TIME AS OF <time column> reads a table\'s versions over time, and a pull query reads each view once, as it is now: use FOR SYSTEM_TIME AS OF PROCTIME(), or a plain join');
          pb = { kind: 'regular', ttlMs: null };
        }
        if (opts.bounded && pb.kind === 'regular' && p.joinType !== 'inner' && p.joinType !== 'semi') return boundedJoin(g, p, l, r);
        const bound = pb.kind === 'regular' ? { kind: 'regular' as const, ttlMs: opts.stateTtlMs ?? null } : pb;
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
  const built = g.build();
  // Every stream of a bounded graph is final rows only (see BoundedGraphBuilder).
  const graph = opts.bounded ? { ...built, nodes: built.nodes.map((n) => ({ ...n, stream: APPEND })) } : built;
  return { source: sources[0]!, ops: [], sink, schema: plan.schema, graph, sources };
}

/**
 * The graph of a pull query. Its inputs are views read once, append-only, and no barrier ever reaches
 * it, so each operator emits final rows only: an aggregate emits each group once, at end of input; a
 * join emits pairs as they meet, and the outer and anti joins are `boundedJoin`s that emit at end of
 * input. Every stream in it is append-only, whatever the same operators emit in a continuous query
 * (an aggregate's changelog): an aggregate of a join of an aggregate, say, reads plain rows, and the
 * runtime picks the operators for append-only inputs. Stream kinds are therefore not derived here
 * (`checkSchemas` false, streams set to append-only at build); the binder has checked the columns.
 */
class BoundedGraphBuilder extends GraphBuilder {
  override op(op: PhysicalOp, inputs: readonly string[]): string { return super.op(op, inputs, false); }
}

/** The column each input of a bounded join gets: one constant window end for the whole input. */
const END_OF_INPUT: Field = { name: '_end_of_input', type: T.timestamp, nullable: false };

/**
 * An outer or anti join of two bounded, append-only inputs, without a time bound (pull queries). The
 * regular join cannot compute it over append-only streams: it would have to take back a padded row when
 * a match comes later. Over bounded inputs nothing comes later than end of input, so it is computed the
 * way the window join computes one window (executor/operators/window-join.ts): each input gets a
 * constant window-end column, rows are buffered, and at end of input — the window's close — the rows
 * are joined on the keys and residual, left / right / full rows without a partner padded with NULLs,
 * anti rows without one kept; every row counted once per copy, as SQL's bag semantics want. A
 * projection then drops the two constant columns. Output: final, append-only.
 */
function boundedJoin(g: GraphBuilder, p: Extract<LogicalPlan, { kind: 'join' }>, l: string, r: string): string {
  const withEnd = (at: string, schema: Schema): { id: string; schema: Schema } => {
    const fields = [...schema.fields, END_OF_INPUT];
    const exprs: Expr[] = [
      ...schema.fields.map((f, i): Expr => ({ kind: 'column', index: i, name: f.name, type: f.type })),
      { kind: 'literal', value: 0, type: T.timestamp },
    ];
    const out: Schema = { fields };
    return { id: g.op({ kind: 'project', exprs, inputSchema: schema, schema: out }, [at]), schema: out };
  };
  const nl = p.left.schema.fields.length;
  const nr = p.right.schema.fields.length;
  const left = withEnd(l, p.left.schema);
  const right = withEnd(r, p.right.schema);
  // The residual reads left ++ right: the right side's columns are one further on now.
  const residual = p.residual ? shiftRight(p.residual, nl) : null;
  const padded = (f: Field, pad: boolean): Field => (pad ? { ...f, nullable: true } : f);
  const t = p.joinType;
  const fields = t === 'anti' || t === 'semi' ? left.schema.fields : [
    ...left.schema.fields.map((f) => padded(f, t === 'right' || t === 'full')),
    ...right.schema.fields.map((f) => padded(f, t === 'left' || t === 'full')),
  ];
  const joined = g.op({
    kind: 'join', joinType: t, leftKeys: p.leftKeys, rightKeys: p.rightKeys, residual,
    bound: { kind: 'window', leftEnd: nl, rightEnd: nr }, leftSchema: left.schema, rightSchema: right.schema, schema: { fields },
  }, [left.id, right.id]);
  // Back to the join's own columns.
  const keep = p.schema.fields.map((f, i): Expr => ({ kind: 'column', index: i < nl ? i : i + 1, name: f.name, type: f.type }));
  return g.op({ kind: 'project', exprs: keep, inputSchema: { fields }, schema: p.schema }, [joined]);
}

/** Shifts the references to right-side columns (at `nl` and on) by one. */
function shiftRight(e: Expr, nl: number): Expr {
  switch (e.kind) {
    case 'column': return e.index >= nl ? shiftColumns(e, 1) : e;
    case 'literal': return e;
    case 'call': return { ...e, args: e.args.map((a) => shiftRight(a, nl)) };
    case 'field': case 'cast': return { ...e, input: shiftRight(e.input, nl) } as Expr;
    case 'case': return { ...e, whens: e.whens.map((w) => ({ when: shiftRight(w.when, nl), then: shiftRight(w.then, nl) })), otherwise: e.otherwise ? shiftRight(e.otherwise, nl) : e.otherwise };
    default: return assertNever(e, 'expression');
  }
}
