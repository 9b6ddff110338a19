/**
 * Aggregate accumulators over typed arrays indexed by group id. `update` runs one tight loop per
 * batch and aggregate; NULL arguments are skipped and FILTER (WHERE …) rows that are not TRUE are too.
 */
import type { AggCall, SqlType } from '../../planner/types.ts';
import { T } from '../../planner/types.ts';
import { asBool, asF64, asStr, type Vector } from '../vector.ts';

export interface Accumulator {
  /** Makes room for group ids < capacity. */
  ensure(capacity: number): void;
  /** Folds rows[i] (or i when rows is null) into group gids[i], for i < n. */
  update(gids: Int32Array, rows: Int32Array | null, n: number, arg: Vector | null, filter: Vector | null): void;
  /** Output values of groups gids[0..n). */
  result(gids: Int32Array, n: number): Vector;
  /** Folds group `from` into group `into` (session merges). */
  merge(into: number, from: number): void;
  /**
   * Folds groups from[i] of `src` (an accumulator of the same aggregate) into groups into[i] of this
   * one, for i < n (HOP panes combined into a window).
   */
  mergeFrom(src: Accumulator, from: Int32Array, into: Int32Array, n: number): void;
  /** Forgets group g (its id will be reused). */
  reset(g: number): void;
  /** State columns for checkpoints, and their restore. */
  readonly stateTypes: readonly SqlType[];
  state(gids: Int32Array, n: number): Vector[];
  restore(cols: readonly Vector[], gids: Int32Array, n: number): void;
  bytesPerGroup(): number;
}

function grow(a: Float64Array, cap: number): Float64Array {
  if (a.length >= cap) return a;
  const b = new Float64Array(Math.max(cap, a.length * 2));
  b.set(a);
  return b;
}

function growU8(a: Uint8Array, cap: number): Uint8Array {
  if (a.length >= cap) return a;
  const b = new Uint8Array(Math.max(cap, a.length * 2));
  b.set(a);
  return b;
}

/** Whether row r passes the FILTER clause. */
function passes(filter: Vector | null, r: number): boolean {
  if (filter === null) return true;
  return (filter.valid === null || filter.valid[r] === 1) && asBool(filter)[r] === 1;
}

function f64Vector(type: SqlType, values: Float64Array, valid: Uint8Array | null): Vector {
  return { kind: 'f64', type, length: values.length, values, valid };
}

function numericValues(arg: Vector): Float64Array | Int32Array {
  if (arg.kind !== 'f64' && arg.kind !== 'i32') throw new Error(`numeric aggregate over ${arg.kind}`);
  return arg.values;
}

class CountStar implements Accumulator {
  counts: Float64Array = new Float64Array(64);
  readonly stateTypes = [T.bigint];
  ensure(c: number) { this.counts = grow(this.counts, c); }
  update(gids: Int32Array, rows: Int32Array | null, n: number, _arg: Vector | null, filter: Vector | null) {
    const counts = this.counts;
    if (filter === null) { for (let i = 0; i < n; i++) counts[gids[i]!]!++; return; }
    for (let i = 0; i < n; i++) if (passes(filter, rows === null ? i : rows[i]!)) counts[gids[i]!]!++;
  }
  result(gids: Int32Array, n: number) {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.counts[gids[i]!]!;
    return f64Vector(T.bigint, out, null);
  }
  merge(into: number, from: number) { this.counts[into]! += this.counts[from]!; }
  mergeFrom(src: Accumulator, from: Int32Array, into: Int32Array, n: number) {
    const c = this.counts; const o = (src as CountStar).counts;
    for (let i = 0; i < n; i++) c[into[i]!]! += o[from[i]!]!;
  }
  reset(g: number) { this.counts[g] = 0; }
  state(gids: Int32Array, n: number) { return [this.result(gids, n)]; }
  restore(cols: readonly Vector[], gids: Int32Array, n: number) {
    const v = asF64(cols[0]!);
    for (let i = 0; i < n; i++) this.counts[gids[i]!] = v[i]!;
  }
  bytesPerGroup() { return 8; }
}

class Count extends CountStar {
  override update(gids: Int32Array, rows: Int32Array | null, n: number, arg: Vector | null, filter: Vector | null) {
    const counts = this.counts; const valid = arg!.valid;
    if (valid === null && filter === null) { for (let i = 0; i < n; i++) counts[gids[i]!]!++; return; }
    for (let i = 0; i < n; i++) {
      const r = rows === null ? i : rows[i]!;
      if ((valid === null || valid[r] === 1) && passes(filter, r)) counts[gids[i]!]!++;
    }
  }
}

/** SUM, MIN, MAX: one double per group plus a "has a value" flag (SUM of no rows is NULL). */
class Extremum implements Accumulator {
  vals: Float64Array = new Float64Array(64);
  has: Uint8Array = new Uint8Array(64);
  readonly stateTypes: readonly SqlType[];
  constructor(private readonly op: 'sum' | 'min' | 'max', private readonly type: SqlType) {
    this.stateTypes = [T.double, T.boolean];
  }
  ensure(c: number) { this.vals = grow(this.vals, c); this.has = growU8(this.has, c); }
  update(gids: Int32Array, rows: Int32Array | null, n: number, arg: Vector | null, filter: Vector | null) {
    const src = numericValues(arg!); const valid = arg!.valid; const vals = this.vals; const has = this.has;
    const plain = valid === null && filter === null;
    if (plain && rows === null) {
      // The common case (no NULLs, no FILTER, every row): loops without per-row tests.
      switch (this.op) {
        case 'sum': for (let i = 0; i < n; i++) { const g = gids[i]!; vals[g]! += src[i]!; has[g] = 1; } return;
        case 'min': for (let i = 0; i < n; i++) { const g = gids[i]!; const v = src[i]!; if (has[g] === 0 || v < vals[g]!) { vals[g] = v; has[g] = 1; } } return;
        case 'max': for (let i = 0; i < n; i++) { const g = gids[i]!; const v = src[i]!; if (has[g] === 0 || v > vals[g]!) { vals[g] = v; has[g] = 1; } } return;
      }
    }
    switch (this.op) {
      case 'sum':
        for (let i = 0; i < n; i++) {
          const r = rows === null ? i : rows[i]!;
          if (!plain && !((valid === null || valid[r] === 1) && passes(filter, r))) continue;
          const g = gids[i]!; vals[g]! += src[r]!; has[g] = 1;
        }
        return;
      case 'min':
        for (let i = 0; i < n; i++) {
          const r = rows === null ? i : rows[i]!;
          if (!plain && !((valid === null || valid[r] === 1) && passes(filter, r))) continue;
          const g = gids[i]!; const v = src[r]!;
          if (has[g] === 0 || v < vals[g]!) { vals[g] = v; has[g] = 1; }
        }
        return;
      case 'max':
        for (let i = 0; i < n; i++) {
          const r = rows === null ? i : rows[i]!;
          if (!plain && !((valid === null || valid[r] === 1) && passes(filter, r))) continue;
          const g = gids[i]!; const v = src[r]!;
          if (has[g] === 0 || v > vals[g]!) { vals[g] = v; has[g] = 1; }
        }
        return;
    }
  }
  result(gids: Int32Array, n: number): Vector {
    let valid: Uint8Array | null = null;
    for (let i = 0; i < n; i++) if (this.has[gids[i]!] === 0) { valid ??= new Uint8Array(n).fill(1); valid[i] = 0; }
    if (this.type.kind === 'int') {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = this.vals[gids[i]!]!;
      return { kind: 'i32', type: this.type, length: n, values: out, valid };
    }
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.vals[gids[i]!]!;
    return f64Vector(this.type, out, valid);
  }
  merge(into: number, from: number) {
    if (this.has[from] === 0) return;
    const a = this.vals[into]!; const b = this.vals[from]!;
    if (this.has[into] === 0) this.vals[into] = b;
    else this.vals[into] = this.op === 'sum' ? a + b : this.op === 'min' ? Math.min(a, b) : Math.max(a, b);
    this.has[into] = 1;
  }
  mergeFrom(src: Accumulator, from: Int32Array, into: Int32Array, n: number) {
    const o = src as Extremum; const vals = this.vals; const has = this.has;
    for (let i = 0; i < n; i++) {
      const f = from[i]!; if (o.has[f] === 0) continue;
      const g = into[i]!; const b = o.vals[f]!;
      if (has[g] === 0) { vals[g] = b; has[g] = 1; continue; }
      const a = vals[g]!;
      vals[g] = this.op === 'sum' ? a + b : this.op === 'min' ? (b < a ? b : a) : (b > a ? b : a);
    }
  }
  reset(g: number) { this.vals[g] = 0; this.has[g] = 0; }
  state(gids: Int32Array, n: number): Vector[] {
    const v = new Float64Array(n); const h = new Uint8Array(n);
    for (let i = 0; i < n; i++) { v[i] = this.vals[gids[i]!]!; h[i] = this.has[gids[i]!]!; }
    return [f64Vector(T.double, v, null), { kind: 'bool', type: T.boolean, length: n, values: h, valid: null }];
  }
  restore(cols: readonly Vector[], gids: Int32Array, n: number) {
    const v = asF64(cols[0]!); const h = asBool(cols[1]!);
    for (let i = 0; i < n; i++) { this.vals[gids[i]!] = v[i]!; this.has[gids[i]!] = h[i]!; }
  }
  bytesPerGroup() { return 9; }
}

class Avg implements Accumulator {
  sums: Float64Array = new Float64Array(64);
  counts: Float64Array = new Float64Array(64);
  readonly stateTypes = [T.double, T.bigint];
  ensure(c: number) { this.sums = grow(this.sums, c); this.counts = grow(this.counts, c); }
  update(gids: Int32Array, rows: Int32Array | null, n: number, arg: Vector | null, filter: Vector | null) {
    const src = numericValues(arg!); const valid = arg!.valid;
    for (let i = 0; i < n; i++) {
      const r = rows === null ? i : rows[i]!;
      if ((valid !== null && valid[r] === 0) || !passes(filter, r)) continue;
      const g = gids[i]!; this.sums[g]! += src[r]!; this.counts[g]!++;
    }
  }
  result(gids: Int32Array, n: number): Vector {
    const out = new Float64Array(n); let valid: Uint8Array | null = null;
    for (let i = 0; i < n; i++) {
      const g = gids[i]!; const c = this.counts[g]!;
      if (c === 0) { valid ??= new Uint8Array(n).fill(1); valid[i] = 0; } else out[i] = this.sums[g]! / c;
    }
    return f64Vector(T.double, out, valid);
  }
  merge(into: number, from: number) { this.sums[into]! += this.sums[from]!; this.counts[into]! += this.counts[from]!; }
  mergeFrom(src: Accumulator, from: Int32Array, into: Int32Array, n: number) {
    const o = src as Avg;
    for (let i = 0; i < n; i++) { const g = into[i]!; const f = from[i]!; this.sums[g]! += o.sums[f]!; this.counts[g]! += o.counts[f]!; }
  }
  reset(g: number) { this.sums[g] = 0; this.counts[g] = 0; }
  state(gids: Int32Array, n: number): Vector[] {
    const s = new Float64Array(n); const c = new Float64Array(n);
    for (let i = 0; i < n; i++) { s[i] = this.sums[gids[i]!]!; c[i] = this.counts[gids[i]!]!; }
    return [f64Vector(T.double, s, null), f64Vector(T.bigint, c, null)];
  }
  restore(cols: readonly Vector[], gids: Int32Array, n: number) {
    const s = asF64(cols[0]!); const c = asF64(cols[1]!);
    for (let i = 0; i < n; i++) { this.sums[gids[i]!] = s[i]!; this.counts[gids[i]!] = c[i]!; }
  }
  bytesPerGroup() { return 16; }
}

/** COUNT(DISTINCT x): a set per group. State is kept as a JSON list per group in checkpoints. */
class CountDistinct implements Accumulator {
  sets: (Set<unknown> | undefined)[] = [];
  bytes = 0;
  readonly stateTypes = [T.varchar];
  ensure(_c: number) { /* sets grow on demand */ }
  update(gids: Int32Array, rows: Int32Array | null, n: number, arg: Vector | null, filter: Vector | null) {
    const a = arg!;
    if (a.kind === 'struct') throw new Error('COUNT(DISTINCT) over a ROW');
    const vals = a.values as ArrayLike<unknown>;
    for (let i = 0; i < n; i++) {
      const r = rows === null ? i : rows[i]!;
      if ((a.valid !== null && a.valid[r] === 0) || !passes(filter, r)) continue;
      const g = gids[i]!;
      let s = this.sets[g];
      if (!s) { s = new Set(); this.sets[g] = s; }
      const before = s.size; s.add(vals[r]);
      if (s.size !== before) this.bytes += 16;
    }
  }
  result(gids: Int32Array, n: number): Vector {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.sets[gids[i]!]?.size ?? 0;
    return f64Vector(T.bigint, out, null);
  }
  merge(into: number, from: number) {
    const f = this.sets[from]; if (!f) return;
    let s = this.sets[into]; if (!s) { s = new Set(); this.sets[into] = s; }
    for (const v of f) s.add(v);
  }
  mergeFrom(src: Accumulator, from: Int32Array, into: Int32Array, n: number) {
    const o = src as CountDistinct;
    for (let i = 0; i < n; i++) {
      const f = o.sets[from[i]!]; if (!f) continue;
      const g = into[i]!;
      let s = this.sets[g]; if (!s) { s = new Set(); this.sets[g] = s; }
      for (const v of f) s.add(v);
    }
  }
  reset(g: number) { const s = this.sets[g]; if (s) this.bytes -= 16 * s.size; this.sets[g] = undefined; }
  state(gids: Int32Array, n: number): Vector[] {
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = JSON.stringify([...(this.sets[gids[i]!] ?? [])]);
    return [{ kind: 'str', type: T.varchar, length: n, values: out, valid: null }];
  }
  restore(cols: readonly Vector[], gids: Int32Array, n: number) {
    const v = asStr(cols[0]!);
    for (let i = 0; i < n; i++) { const s = new Set<unknown>(JSON.parse(v[i]!) as unknown[]); this.sets[gids[i]!] = s; this.bytes += 16 * s.size; }
  }
  bytesPerGroup() { return 24; }
}

/**
 * SUM(DISTINCT x) and AVG(DISTINCT x): the set of values seen per group, with the sum and count of
 * its members kept as values join it (each value counted once, whatever the merge order). State in
 * checkpoints: the set as a JSON list per group; sum and count are rebuilt from it.
 */
class DistinctSum implements Accumulator {
  sets: (Set<number> | undefined)[] = [];
  sums: Float64Array = new Float64Array(64);
  counts: Float64Array = new Float64Array(64);
  bytes = 0;
  readonly stateTypes = [T.varchar];
  constructor(private readonly avg: boolean, private readonly type: SqlType) {}
  ensure(c: number) { this.sums = grow(this.sums, c); this.counts = grow(this.counts, c); }
  private add(g: number, v: number) {
    let s = this.sets[g];
    if (!s) { s = new Set(); this.sets[g] = s; }
    if (s.has(v)) return;
    s.add(v); this.sums[g]! += v; this.counts[g]!++; this.bytes += 16;
  }
  update(gids: Int32Array, rows: Int32Array | null, n: number, arg: Vector | null, filter: Vector | null) {
    const src = numericValues(arg!); const valid = arg!.valid;
    for (let i = 0; i < n; i++) {
      const r = rows === null ? i : rows[i]!;
      if ((valid !== null && valid[r] === 0) || !passes(filter, r)) continue;
      this.add(gids[i]!, src[r]!);
    }
  }
  result(gids: Int32Array, n: number): Vector {
    let valid: Uint8Array | null = null;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const g = gids[i]!; const c = this.counts[g]!;
      if (c === 0) { valid ??= new Uint8Array(n).fill(1); valid[i] = 0; continue; }
      out[i] = this.avg ? this.sums[g]! / c : this.sums[g]!;
    }
    if (this.type.kind === 'int') return { kind: 'i32', type: this.type, length: n, values: Int32Array.from(out), valid };
    return f64Vector(this.type, out, valid);
  }
  merge(into: number, from: number) {
    const f = this.sets[from]; if (!f) return;
    for (const v of f) this.add(into, v);
  }
  mergeFrom(src: Accumulator, from: Int32Array, into: Int32Array, n: number) {
    const o = src as DistinctSum;
    for (let i = 0; i < n; i++) {
      const f = o.sets[from[i]!]; if (!f) continue;
      const g = into[i]!;
      for (const v of f) this.add(g, v);
    }
  }
  reset(g: number) {
    const s = this.sets[g]; if (s) this.bytes -= 16 * s.size;
    this.sets[g] = undefined; this.sums[g] = 0; this.counts[g] = 0;
  }
  state(gids: Int32Array, n: number): Vector[] {
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = JSON.stringify([...(this.sets[gids[i]!] ?? [])]);
    return [{ kind: 'str', type: T.varchar, length: n, values: out, valid: null }];
  }
  restore(cols: readonly Vector[], gids: Int32Array, n: number) {
    const v = asStr(cols[0]!);
    for (let i = 0; i < n; i++) {
      const g = gids[i]!;
      this.reset(g);
      for (const x of JSON.parse(v[i]!) as number[]) this.add(g, x);
    }
  }
  bytesPerGroup() { return 40; }
}

export function createAccumulator(call: AggCall): Accumulator {
  switch (call.fn) {
    case 'count_star': return new CountStar();
    case 'count': return new Count();
    case 'count_distinct': return new CountDistinct();
    case 'sum': return new Extremum('sum', call.type);
    case 'min': return new Extremum('min', call.type);
    case 'max': return new Extremum('max', call.type);
    case 'avg': return new Avg();
    case 'sum_distinct': return new DistinctSum(false, call.type);
    case 'avg_distinct': return new DistinctSum(true, call.type);
  }
}
