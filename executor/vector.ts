/**
 * Vectors: the executor's working form of one column of one batch.
 *
 * A Vector is a thin typed view over an Arrow column (see arrow.ts for the zero-copy conversions):
 * numeric columns share the Arrow buffer, validity is unpacked to one byte a row only when the column
 * has nulls (`valid === null` means "all valid", the common case, so kernels take a branch-free path).
 * Strings are decoded once per column per batch into JS strings, because every string kernel (hashing
 * a group key, LIKE, lower, …) needs them as JS strings anyway.
 */
import type { SqlType } from '../planner/types.ts';

export type Vector =
  | { readonly kind: 'f64'; readonly type: SqlType; readonly length: number; readonly values: Float64Array; readonly valid: Uint8Array | null }
  | { readonly kind: 'i32'; readonly type: SqlType; readonly length: number; readonly values: Int32Array; readonly valid: Uint8Array | null }
  | { readonly kind: 'bool'; readonly type: SqlType; readonly length: number; readonly values: Uint8Array; readonly valid: Uint8Array | null }
  | { readonly kind: 'str'; readonly type: SqlType; readonly length: number; readonly values: readonly string[]; readonly valid: Uint8Array | null }
  | {
      readonly kind: 'struct';
      readonly type: SqlType;
      readonly length: number;
      readonly children: readonly Vector[];
      readonly valid: Uint8Array | null;
    };

export type VectorKind = Vector['kind'];

/** Which vector kind carries values of a SQL type. */
export function vectorKindOf(t: SqlType): VectorKind {
  switch (t.kind) {
    case 'bigint': case 'double': case 'timestamp': case 'interval': case 'null': return 'f64';
    case 'int': return 'i32';
    case 'boolean': return 'bool';
    case 'varchar': return 'str';
    case 'struct': return 'struct';
  }
}

export function isValid(v: Vector, i: number): boolean {
  return v.valid === null || v.valid[i] === 1;
}

/** The value at row i as a plain JS value (null for NULL). For tests, pull queries and sinks — not hot paths. */
export function valueAt(v: Vector, i: number): unknown {
  if (v.valid !== null && v.valid[i] === 0) return null;
  switch (v.kind) {
    case 'f64': case 'i32': return v.values[i];
    case 'bool': return v.values[i] === 1;
    case 'str': return v.values[i];
    case 'struct': {
      const fields = v.type.kind === 'struct' ? v.type.fields : [];
      const o: Record<string, unknown> = {};
      fields.forEach((f, j) => { o[f.name] = valueAt(v.children[j]!, i); });
      return o;
    }
  }
}

/** A vector of `length` copies of one value (literals, NULL fill). */
export function constantVector(type: SqlType, value: unknown, length: number): Vector {
  const kind = vectorKindOf(type);
  const isNull = value === null || value === undefined;
  const valid = isNull ? new Uint8Array(length) : null;
  switch (kind) {
    case 'f64': return { kind, type, length, values: new Float64Array(length).fill(isNull ? 0 : Number(value)), valid };
    case 'i32': return { kind, type, length, values: new Int32Array(length).fill(isNull ? 0 : Number(value)), valid };
    case 'bool': return { kind, type, length, values: new Uint8Array(length).fill(value === true ? 1 : 0), valid };
    case 'str': return { kind, type, length, values: new Array<string>(length).fill(isNull ? '' : String(value)), valid };
    case 'struct': {
      const fields = type.kind === 'struct' ? type.fields : [];
      const obj = (value ?? {}) as Record<string, unknown>;
      return { kind, type, length, children: fields.map((f) => constantVector(f.type, isNull ? null : obj[f.name] ?? null, length)), valid };
    }
  }
}

/** Gathers rows `sel[0..n)` of a vector into a new vector (the `take` kernel). */
export function take(v: Vector, sel: Int32Array | Uint32Array, n = sel.length): Vector {
  let valid: Uint8Array | null = null;
  if (v.valid !== null) {
    valid = new Uint8Array(n);
    for (let i = 0; i < n; i++) valid[i] = v.valid[sel[i]!]!;
  }
  switch (v.kind) {
    case 'f64': {
      const out = new Float64Array(n); const src = v.values;
      for (let i = 0; i < n; i++) out[i] = src[sel[i]!]!;
      return { kind: 'f64', type: v.type, length: n, values: out, valid };
    }
    case 'i32': {
      const out = new Int32Array(n); const src = v.values;
      for (let i = 0; i < n; i++) out[i] = src[sel[i]!]!;
      return { kind: 'i32', type: v.type, length: n, values: out, valid };
    }
    case 'bool': {
      const out = new Uint8Array(n); const src = v.values;
      for (let i = 0; i < n; i++) out[i] = src[sel[i]!]!;
      return { kind: 'bool', type: v.type, length: n, values: out, valid };
    }
    case 'str': {
      const out = new Array<string>(n); const src = v.values;
      for (let i = 0; i < n; i++) out[i] = src[sel[i]!]!;
      return { kind: 'str', type: v.type, length: n, values: out, valid };
    }
    case 'struct':
      return { kind: 'struct', type: v.type, length: n, children: v.children.map((c) => take(c, sel, n)), valid };
  }
}

/** Concatenates vectors of one kind (used to coalesce small batches and to build pull-query inputs). */
export function concatVectors(type: SqlType, parts: readonly Vector[]): Vector {
  const length = parts.reduce((s, p) => s + p.length, 0);
  const anyNull = parts.some((p) => p.valid !== null);
  let valid: Uint8Array | null = null;
  if (anyNull) {
    valid = new Uint8Array(length);
    let o = 0;
    for (const p of parts) { if (p.valid) valid.set(p.valid, o); else valid.fill(1, o, o + p.length); o += p.length; }
  }
  const kind = vectorKindOf(type);
  switch (kind) {
    case 'f64': case 'i32': case 'bool': {
      const out = kind === 'f64' ? new Float64Array(length) : kind === 'i32' ? new Int32Array(length) : new Uint8Array(length);
      let o = 0;
      for (const p of parts) { out.set((p as { values: Float64Array }).values as never, o); o += p.length; }
      return { kind, type, length, values: out, valid } as Vector;
    }
    case 'str': {
      const out: string[] = [];
      for (const p of parts) for (const s of (p as { values: readonly string[] }).values) out.push(s);
      return { kind, type, length, values: out, valid };
    }
    case 'struct': {
      const fields = type.kind === 'struct' ? type.fields : [];
      return {
        kind, type, length, valid,
        children: fields.map((f, j) => concatVectors(f.type, parts.map((p) => (p as unknown as { children: Vector[] }).children[j]!))),
      };
    }
  }
}

export function asF64(v: Vector): Float64Array {
  if (v.kind !== 'f64') throw new Error(`expected a f64 vector, got ${v.kind}`);
  return v.values;
}

export function asBool(v: Vector): Uint8Array {
  if (v.kind !== 'bool') throw new Error(`expected a bool vector, got ${v.kind}`);
  return v.values;
}

export function asStr(v: Vector): readonly string[] {
  if (v.kind !== 'str') throw new Error(`expected a str vector, got ${v.kind}`);
  return v.values;
}
