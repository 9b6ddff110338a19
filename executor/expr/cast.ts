/**
 * CAST between BOOLEAN, INT, BIGINT, DOUBLE, VARCHAR, TIMESTAMP and INTERVAL (plus NULL to anything
 * and a struct to its own type or to VARCHAR). Row values that do not convert (unparsable strings,
 * out-of-range or non-finite numbers) become NULL: a malformed record must not fail the query.
 * Type pairs that make no sense (BOOLEAN to TIMESTAMP, …) fail at compile time instead.
 *
 * Conversions:
 * - VARCHAR → INT/BIGINT: optional sign and digits only, surrounding spaces allowed ('4.5' is NULL,
 *   as Postgres rejects it); INT out of 32-bit range is NULL.
 * - VARCHAR → DOUBLE: decimal or exponent notation, 'NaN', 'Infinity'/'inf' with optional sign.
 * - VARCHAR → BOOLEAN: true/false, t/f, yes/no, y/n, on/off, 1/0, case-insensitive (Postgres).
 * - VARCHAR → TIMESTAMP: the to_timestamp string rule (ISO-8601, or 'YYYY-MM-DD HH:MM:SS[.fff]' UTC).
 * - numbers → VARCHAR: JS shortest round-trip form, so integers print without '.0'.
 * - TIMESTAMP → VARCHAR: ISO-8601 UTC with milliseconds, `2024-01-01T12:00:00.000Z`.
 * - DOUBLE → INT/BIGINT: truncates toward zero.
 * - numbers ↔ TIMESTAMP/INTERVAL: epoch / duration milliseconds, the engine's physical form (use
 *   to_timestamp() for epoch seconds).
 * - numbers → BOOLEAN: non-zero is TRUE (NaN is NULL); BOOLEAN → numbers: 1/0.
 * - INTERVAL → VARCHAR: its milliseconds; a struct → VARCHAR: JSON of its fields.
 */
import { assertNever, sameType, typeToString, type SqlType, type TypeKind } from '../../planner/types.ts';
import { valueAt, vectorKindOf, type Vector } from '../vector.ts';
import { fold, isConst, node, type Compiled } from './compiled.ts';
import { compactValidity } from '../kernels/validity.ts';
import { formatTimestamp, parseTimestamp } from './calendar.ts';
import { boolVector, newNumArray, nullVector, numValues, numVector, retype, strValues, strVector } from './vec.ts';

/** Converts one batch's vector to the target type. */
export type CastKernel = (v: Vector, to: SqlType, n: number) => Vector;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

const INTEGER_RE = /^\s*[+-]?\d+\s*$/;
const FLOAT_RE = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;
const SPECIAL_FLOAT_RE = /^\s*([+-]?)(inf|infinity|nan)\s*$/i;

const TRUE_WORDS = new Set(['true', 't', 'yes', 'y', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'f', 'no', 'n', 'off', '0']);

/** Parses a boolean string: 1 for true, 0 for false, -1 when invalid. */
export function parseBooleanString(s: string): number {
  const w = s.trim().toLowerCase();
  return TRUE_WORDS.has(w) ? 1 : FALSE_WORDS.has(w) ? 0 : -1;
}

/** A number as SQL prints it: integers without a fractional part, `Infinity`, `NaN`. */
export function formatNumber(x: number): string {
  return String(x);
}

/**
 * The string form of every valid row of a vector, as CAST(… AS VARCHAR) and concat() print values.
 * Rows that cannot be printed (a timestamp beyond Date's range) come back NULL. A varchar vector's
 * own array is returned as is.
 */
export function toStrings(v: Vector, n: number): { values: readonly string[]; valid: Uint8Array | null } {
  if (v.kind === 'str') return { values: v.values, valid: v.valid };
  const out = new Array<string>(n);
  let valid = v.valid;
  switch (v.kind) {
    case 'bool':
      for (let i = 0; i < n; i++) out[i] = v.values[i] ? 'true' : 'false';
      break;
    case 'i32':
      for (let i = 0; i < n; i++) out[i] = String(v.values[i]);
      break;
    case 'f64': {
      const src = v.values;
      if (v.type.kind === 'timestamp') {
        for (let i = 0; i < n; i++) {
          if (valid !== null && valid[i] === 0) { out[i] = ''; continue; }
          const s = formatTimestamp(src[i]!);
          if (s !== null) { out[i] = s; continue; }
          if (valid === v.valid) valid = writableCopy(v.valid, n);
          valid![i] = 0; out[i] = '';
        }
      } else {
        for (let i = 0; i < n; i++) out[i] = formatNumber(src[i]!);
      }
      break;
    }
    case 'struct':
      for (let i = 0; i < n; i++) out[i] = valid === null || valid[i] === 1 ? JSON.stringify(valueAt(v, i)) : '';
      break;
    default: assertNever(v, 'vector');
  }
  return { values: out, valid };
}

function writableCopy(valid: Uint8Array | null, n: number): Uint8Array {
  return valid === null ? new Uint8Array(n).fill(1) : valid.slice(0, n);
}

/** A row parser: the parsed number, or null when the string does not convert. */
type RowParser = (s: string) => number | null;

/** Integers: sign and digits, spaces around; Number() alone would take '', '0x1F' and '1e3'. */
const parseIntegerRow: RowParser = (s) => (INTEGER_RE.test(s) ? Number(s) : null);
/** Doubles: decimal/exponent notation plus NaN and infinities; no hex, no empty string as 0. */
const parseDoubleRow: RowParser = (s) => {
  if (FLOAT_RE.test(s)) return Number(s);
  const m = SPECIAL_FLOAT_RE.exec(s);
  if (m === null) return null;
  if (m[2]!.toLowerCase() === 'nan') return NaN;
  return m[1] === '-' ? -Infinity : Infinity;
};
const parseTimestampRow: RowParser = (s) => {
  const t = parseTimestamp(s);
  return Number.isNaN(t) ? null : t;
};

/** Builds a numeric result from a per-row parse over a string vector; rows that do not parse are NULL. */
function parseStrings(v: Vector, to: SqlType, n: number, parse: RowParser, int32: boolean): Vector {
  const src = strValues(v);
  const out = newNumArray(to, n);
  const valid = writableCopy(v.valid, n);
  for (let i = 0; i < n; i++) {
    if (valid[i] === 0) continue;
    const x = parse(src[i]!);
    if (x === null || (int32 && (x < INT32_MIN || x > INT32_MAX))) { valid[i] = 0; continue; }
    out[i] = x;
  }
  return numVector(to, out, compactValidity(valid, n));
}

/** DOUBLE/BIGINT → INT/BIGINT: truncation toward zero; NaN, ±Infinity and (for INT) overflow are NULL. */
function truncateNumbers(v: Vector, to: SqlType, n: number): Vector {
  const src = numValues(v);
  const out = newNumArray(to, n);
  const int32 = out instanceof Int32Array;
  let valid = v.valid;
  for (let i = 0; i < n; i++) {
    const x = Math.trunc(src[i]!) + 0; // + 0: truncating -0.5 gives -0, which is no integer
    if (!Number.isFinite(x) || (int32 && (x < INT32_MIN || x > INT32_MAX))) {
      if (valid === v.valid) valid = writableCopy(v.valid, n);
      valid![i] = 0;
      continue;
    }
    out[i] = x;
  }
  return numVector(to, out, valid);
}

/** Numbers (or booleans as 0/1) copied into the target's array: INT → BIGINT/DOUBLE, BOOLEAN → numbers. */
function widenNumbers(v: Vector, to: SqlType, n: number): Vector {
  const src = numValues(v);
  const out = newNumArray(to, n);
  for (let i = 0; i < n; i++) out[i] = src[i]!;
  return numVector(to, out, v.valid);
}

const sameKind: CastKernel = (v, to) => retype(v, to);

/** From an untyped NULL: every row NULL. */
const allNull: CastKernel = (_v, to, n) => nullVector(to, n);

const numberToBool: CastKernel = (v, to, n) => {
  const src = numValues(v);
  const out = new Uint8Array(n);
  let valid = v.valid;
  for (let i = 0; i < n; i++) {
    const x = src[i]!;
    if (Number.isNaN(x)) { if (valid === v.valid) valid = writableCopy(v.valid, n); valid![i] = 0; continue; }
    out[i] = x !== 0 ? 1 : 0;
  }
  return boolVector(to, out, valid);
};

const stringToBool: CastKernel = (v, to, n) => {
  const src = strValues(v);
  const out = new Uint8Array(n);
  const valid = writableCopy(v.valid, n);
  for (let i = 0; i < n; i++) {
    if (valid[i] === 0) continue;
    const b = parseBooleanString(src[i]!);
    if (b < 0) valid[i] = 0; else out[i] = b;
  }
  return boolVector(to, out, compactValidity(valid, n));
};

const toVarchar: CastKernel = (v, to, n) => {
  const { values, valid } = toStrings(v, n);
  return strVector(to, values, valid);
};

/**
 * How to cast to each target kind, per source kind; a missing pair has no SQL meaning (BOOLEAN →
 * TIMESTAMP) and fails at compile time. NULL-typed and struct sources are handled before the table.
 */
const CASTS: Record<TypeKind, Partial<Record<TypeKind, CastKernel>>> = {
  boolean: { boolean: sameKind, int: numberToBool, bigint: numberToBool, double: numberToBool, varchar: stringToBool },
  int: {
    int: sameKind, boolean: widenNumbers, bigint: truncateNumbers, double: truncateNumbers,
    varchar: (v, to, n) => parseStrings(v, to, n, parseIntegerRow, true),
  },
  bigint: {
    bigint: sameKind, int: widenNumbers, boolean: widenNumbers, double: truncateNumbers,
    timestamp: truncateNumbers, interval: truncateNumbers,
    varchar: (v, to, n) => parseStrings(v, to, n, parseIntegerRow, false),
  },
  double: {
    double: sameKind, int: widenNumbers, boolean: widenNumbers, bigint: sameKind, timestamp: sameKind, interval: sameKind,
    varchar: (v, to, n) => parseStrings(v, to, n, parseDoubleRow, false),
  },
  varchar: {
    varchar: sameKind, boolean: toVarchar, int: toVarchar, bigint: toVarchar, double: toVarchar,
    timestamp: toVarchar, interval: toVarchar, struct: toVarchar,
  },
  timestamp: {
    timestamp: sameKind, int: widenNumbers, bigint: sameKind, double: sameKind,
    varchar: (v, to, n) => parseStrings(v, to, n, parseTimestampRow, false),
  },
  interval: { interval: sameKind, int: widenNumbers, bigint: sameKind, double: sameKind },
  null: {},
  struct: {},
};

/** The kernel casting `from` to `to`; throws for pairs that have no conversion. */
export function castKernelFor(from: SqlType, to: SqlType): CastKernel {
  if (from.kind === 'null') return allNull;
  if (to.kind === 'struct' || from.kind === 'struct') {
    if (sameType(from, to)) return sameKind;
    if (to.kind === 'varchar') return toVarchar;
    throw new Error(`cannot cast ${typeToString(from)} to ${typeToString(to)}`);
  }
  const k = CASTS[to.kind][from.kind];
  if (k === undefined) throw new Error(`cannot cast ${typeToString(from)} to ${typeToString(to)}`);
  return k;
}

/** Applies a cast to one vector (convenience for callers outside compiled expressions). */
export function castVector(v: Vector, to: SqlType, n: number = v.length): Vector {
  return castKernelFor(v.type, to)(v, to, n);
}

/** Compiles CAST(input AS to); a constant input is converted once, at compile time. */
export function compileCast(input: Compiled, to: SqlType): Compiled {
  if (sameType(input.type, to)) return input;
  const kernel = castKernelFor(input.type, to);
  const c = node(to, (cols, n) => kernel(input.eval(cols, n), to, n));
  return isConst(input) ? fold(c) : c;
}

/**
 * Makes `c` carry values the way `to` does: a cast when the physical kind differs (INT feeding a
 * BIGINT result, an untyped NULL feeding a VARCHAR one), otherwise `c` itself.
 */
export function coerce(c: Compiled, to: SqlType): Compiled {
  if (c.type.kind !== 'null' && vectorKindOf(c.type) === vectorKindOf(to)) return c;
  if (sameType(c.type, to)) return c;
  return compileCast(c, to);
}
