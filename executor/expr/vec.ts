/**
 * Small helpers for building result vectors and viewing inputs, so each kernel module does not
 * repeat the Vector union's bookkeeping.
 */
import { typeToString, type SqlType } from '../../planner/types.ts';
import { constantVector, vectorKindOf, type Vector } from '../vector.ts';

/** The typed arrays numeric kernels read and write (i32 for INT, f64 for everything else numeric). */
export type NumArray = Float64Array | Int32Array;

/** Typed arrays kernels can read as numbers: numeric columns plus booleans (0/1). */
export type NumLike = Float64Array | Int32Array | Uint8Array;

/** The values of a numeric or boolean vector as numbers; throws for strings and structs. */
export function numValues(v: Vector): NumLike {
  if (v.kind === 'f64' || v.kind === 'i32' || v.kind === 'bool') return v.values;
  throw new Error(`expected a numeric vector, got ${v.kind} (${typeToString(v.type)})`);
}

/** The strings of a varchar vector; throws for other kinds. */
export function strValues(v: Vector): readonly string[] {
  if (v.kind === 'str') return v.values;
  throw new Error(`expected a varchar vector, got ${v.kind} (${typeToString(v.type)})`);
}

/** The 0/1 values of a boolean vector; throws for other kinds. */
export function boolValues(v: Vector): Uint8Array {
  if (v.kind === 'bool') return v.values;
  throw new Error(`expected a boolean vector, got ${v.kind} (${typeToString(v.type)})`);
}

/** A zeroed output array for a numeric result type: Int32Array for INT, Float64Array otherwise. */
export function newNumArray(type: SqlType, length: number): NumArray {
  const kind = vectorKindOf(type);
  if (kind === 'i32') return new Int32Array(length);
  if (kind === 'f64') return new Float64Array(length);
  throw new Error(`expected a numeric result type, got ${typeToString(type)}`);
}

/** Wraps a numeric output array as a vector of `type`. */
export function numVector(type: SqlType, values: NumArray, valid: Uint8Array | null): Vector {
  return values instanceof Int32Array
    ? { kind: 'i32', type, length: values.length, values, valid }
    : { kind: 'f64', type, length: values.length, values, valid };
}

export function boolVector(type: SqlType, values: Uint8Array, valid: Uint8Array | null): Vector {
  return { kind: 'bool', type, length: values.length, values, valid };
}

export function strVector(type: SqlType, values: readonly string[], valid: Uint8Array | null): Vector {
  return { kind: 'str', type, length: values.length, values, valid };
}

/** The same vector under another SQL type of the same physical kind (buffers shared). */
export function retype(v: Vector, type: SqlType): Vector {
  if (v.type === type) return v;
  if (vectorKindOf(type) !== v.kind) throw new Error(`cannot view a ${v.kind} vector as ${typeToString(type)}`);
  return { ...v, type } as Vector;
}

/** The same vector with different validity (buffers shared). */
export function withValidity(v: Vector, valid: Uint8Array | null): Vector {
  return { ...v, valid } as Vector;
}

/** An all-NULL vector. */
export function nullVector(type: SqlType, length: number): Vector {
  return constantVector(type, null, length);
}
