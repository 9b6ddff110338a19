/**
 * Join conditions → the join the engine runs. A bound ON condition (over the left columns followed by
 * the right ones) is split into conjuncts and sorted out as Flink's planner does:
 * - `l.a = r.b` between plain columns of the two sides: equality keys (NULL never matches);
 * - `l.window_start = r.window_start AND l.window_end = r.window_end` where both sides are windowed by
 *   a window TVF or window aggregate: a window join (final per window when the watermark passes it);
 * - bounds on the difference of two TIMESTAMP columns (`l.ts BETWEEN r.ts - INTERVAL … AND r.ts + …`,
 *   `>`, `>=`, `<`, `<=`): with a lower and an upper bound, an interval join;
 * - everything else: the residual filter.
 * Without a time bound it is a regular join (state bounded only by `state.ttl`).
 */
import type { Expr, Schema } from './types.ts';
import type { JoinBound, JoinType } from './physical.ts';
import { planInputs, type LogicalPlan } from './logical.ts';

export interface JoinAnalysis {
  readonly leftKeys: number[];
  readonly rightKeys: number[];
  readonly residual: Expr | null;
  readonly bound: JoinBound;
  /** Conjuncts over one side only (inner joins push them below the join). */
  readonly leftOnly: Expr[];
  readonly rightOnly: Expr[];
}

export function conjuncts(e: Expr | null): Expr[] {
  if (!e) return [];
  if (e.kind === 'call' && e.fn === 'and') return e.args.flatMap(conjuncts);
  return [e];
}

export function andAll(es: readonly Expr[]): Expr | null {
  if (es.length === 0) return null;
  return es.reduce((a, b) => ({ kind: 'call', fn: 'and', args: [a, b], type: a.type }) as Expr);
}

export function columnsOf(e: Expr, into: Set<number> = new Set()): Set<number> {
  switch (e.kind) {
    case 'column': into.add(e.index); break;
    case 'literal': break;
    case 'call': for (const a of e.args) columnsOf(a, into); break;
    case 'field': case 'cast': columnsOf(e.input, into); break;
    case 'case': for (const w of e.whens) { columnsOf(w.when, into); columnsOf(w.then, into); } if (e.otherwise) columnsOf(e.otherwise, into); break;
  }
  return into;
}

/** Shifts column references by `by` (a right-side-only conjunct moved onto the right input). */
export function shiftColumns(e: Expr, by: number): Expr {
  switch (e.kind) {
    case 'column': return { ...e, index: e.index + by };
    case 'literal': return e;
    case 'call': return { ...e, args: e.args.map((a) => shiftColumns(a, by)) };
    case 'field': case 'cast': return { ...e, input: shiftColumns(e.input, by) } as Expr;
    case 'case': return { ...e, whens: e.whens.map((w) => ({ when: shiftColumns(w.when, by), then: shiftColumns(w.then, by) })), otherwise: e.otherwise ? shiftColumns(e.otherwise, by) : e.otherwise };
  }
}

/**
 * The window_start / window_end columns of a plan's output, when the plan is windowed by a window TVF
 * or a window aggregate and passes both through as plain columns.
 */
export function windowColumnsOf(p: LogicalPlan): { start: number; end: number } | null {
  switch (p.kind) {
    case 'window_assign': { const n = p.input.schema.fields.length; return { start: n, end: n + 1 }; }
    case 'aggregate': return p.window ? { start: 0, end: 1 } : null;
    case 'filter': return windowColumnsOf(p.input);
    case 'project': {
      const w = windowColumnsOf(p.input);
      if (!w) return null;
      const start = p.exprs.findIndex((e) => e.kind === 'column' && e.index === w.start);
      const end = p.exprs.findIndex((e) => e.kind === 'column' && e.index === w.end);
      return start >= 0 && end >= 0 ? { start, end } : null;
    }
    default: return null;
  }
}

/** Sources in a plan without a watermark (a time-bounded join needs one on every input). */
export function sourcesWithoutWatermark(p: LogicalPlan): string[] {
  if (p.kind === 'source_scan') return p.watermark ? [] : [p.source];
  return planInputs(p).flatMap(sourcesWithoutWatermark);
}

interface TimeTerm { readonly col: number; readonly offset: number }

/** `col`, `col + INTERVAL`, `col - INTERVAL` over a TIMESTAMP column; null otherwise. */
function timeTerm(e: Expr): TimeTerm | null {
  if (e.kind === 'column' && e.type.kind === 'timestamp') return { col: e.index, offset: 0 };
  if (e.kind === 'call' && (e.fn === 'add' || e.fn === 'sub') && e.args.length === 2) {
    const [a, b] = e.args as [Expr, Expr];
    if (a.kind === 'column' && a.type.kind === 'timestamp' && b.kind === 'literal' && b.type.kind === 'interval' && typeof b.value === 'number') {
      return { col: a.index, offset: e.fn === 'add' ? b.value : -b.value };
    }
  }
  return null;
}

interface Bounds { lc: number; rc: number; lower: number; upper: number; used: Expr[] }

/**
 * Adds what `x op y` (`op` one of < <= > >=) says about l - r for one pair of time columns, where x and
 * y are time terms on different sides. Returns false when the conjunct is not such a bound.
 */
function addBound(b: Bounds | null, x: Expr, op: string, y: Expr, nl: number): Bounds | null | false {
  const tx = timeTerm(x); const ty = timeTerm(y);
  if (!tx || !ty) return false;
  const xl = tx.col < nl; const yl = ty.col < nl;
  if (xl === yl) return false;
  // Normalise to  L + lo  op  R + ro  with L on the left side.
  let [L, R, o] = xl ? [tx, ty, op] : [ty, tx, ({ '<': '>', '<=': '>=', '>': '<', '>=': '<=' } as Record<string, string>)[op]!];
  const lc = L.col; const rc = R.col - nl;
  if (b && (b.lc !== lc || b.rc !== rc)) return false;
  const out: Bounds = b ?? { lc, rc, lower: -Infinity, upper: Infinity, used: [] };
  // l + L.offset op r + R.offset  ⇔  l - r op R.offset - L.offset; timestamps are whole milliseconds.
  const c = R.offset - L.offset;
  switch (o) {
    case '>=': out.lower = Math.max(out.lower, c); break;
    case '>': out.lower = Math.max(out.lower, c + 1); break;
    case '<=': out.upper = Math.min(out.upper, c); break;
    case '<': out.upper = Math.min(out.upper, c - 1); break;
    default: return false;
  }
  void L; void R;
  return out;
}

const CMP: Record<string, string> = { lt: '<', lte: '<=', gt: '>', gte: '>=' };

export function analyzeJoin(
  cond: Expr | null, left: LogicalPlan, right: LogicalPlan, joinType: JoinType, ttlMs: number | null, temporal: JoinBound | null = null,
): JoinAnalysis {
  const nl = left.schema.fields.length;
  const leftKeys: number[] = []; const rightKeys: number[] = [];
  const rest: Expr[] = []; const leftOnly: Expr[] = []; const rightOnly: Expr[] = [];
  for (const c of conjuncts(cond)) {
    const cols = [...columnsOf(c)];
    const onLeft = cols.every((i) => i < nl); const onRight = cols.every((i) => i >= nl);
    if (cols.length && onLeft) { leftOnly.push(c); continue; }
    if (cols.length && onRight) { rightOnly.push(shiftColumns(c, -nl)); continue; }
    if (c.kind === 'call' && c.fn === 'eq') {
      const [a, b] = c.args as [Expr, Expr];
      if (a.kind === 'column' && b.kind === 'column' && (a.index < nl) !== (b.index < nl) && a.type.kind === b.type.kind) {
        const [l, r] = a.index < nl ? [a, b] : [b, a];
        leftKeys.push(l.index); rightKeys.push(r.index - nl);
        continue;
      }
    }
    rest.push(c);
  }
  // A temporal join's bound is its FOR SYSTEM_TIME AS OF clause; the rest is residual.
  if (temporal) return { leftKeys, rightKeys, residual: andAll(rest), bound: temporal, leftOnly, rightOnly };
  // A window join: both sides windowed, their window_start and window_end equal.
  const lw = windowColumnsOf(left); const rw = windowColumnsOf(right);
  const paired = (l: number, r: number) => leftKeys.some((k, i) => k === l && rightKeys[i] === r);
  if (lw && rw && paired(lw.start, rw.start) && paired(lw.end, rw.end)) {
    return { leftKeys, rightKeys, residual: andAll(rest), bound: { kind: 'window', leftEnd: lw.end, rightEnd: rw.end }, leftOnly, rightOnly };
  }
  // An interval join: a lower and an upper bound on l.time - r.time for one pair of time columns.
  let bounds: Bounds | null = null;
  const residual: Expr[] = [];
  for (const c of rest) {
    let next: Bounds | null | false = false;
    if (c.kind === 'call' && CMP[c.fn] && c.args.length === 2) next = addBound(bounds, c.args[0]!, CMP[c.fn]!, c.args[1]!, nl);
    else if (c.kind === 'call' && c.fn === 'between' && c.args.length === 3) {
      const lo = addBound(bounds, c.args[0]!, '>=', c.args[1]!, nl);
      next = lo === false ? false : addBound(lo, c.args[0]!, '<=', c.args[2]!, nl);
    }
    if (next === false) { residual.push(c); continue; }
    bounds = next;
    bounds!.used.push(c);
  }
  if (bounds && Number.isFinite(bounds.lower) && Number.isFinite(bounds.upper)) {
    return {
      leftKeys, rightKeys, residual: andAll(residual),
      bound: { kind: 'interval', leftTime: bounds.lc, rightTime: bounds.rc, lowerMs: bounds.lower, upperMs: bounds.upper }, leftOnly, rightOnly,
    };
  }
  void joinType;
  return { leftKeys, rightKeys, residual: andAll(rest), bound: { kind: 'regular', ttlMs }, leftOnly, rightOnly };
}

/** The output schema of a join: left then right columns; the padded side of an outer join is nullable. */
export function joinSchema(left: Schema, right: Schema, t: JoinType): Schema {
  if (t === 'semi' || t === 'anti') return left;
  const l = left.fields.map((f) => (t === 'right' || t === 'full' ? { ...f, nullable: true } : f));
  const r = right.fields.map((f) => (t === 'left' || t === 'full' ? { ...f, nullable: true } : f));
  return { fields: [...l, ...r] };
}
