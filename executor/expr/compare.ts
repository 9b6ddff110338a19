/**
 * Comparisons (eq, neq, lt, lte, gt, gte) and BETWEEN.
 *
 * Two domains: numbers (INT, BIGINT, DOUBLE, TIMESTAMP, INTERVAL, and BOOLEAN as 0/1 so FALSE < TRUE),
 * compared as IEEE doubles whatever mix of Int32Array and Float64Array the inputs are; and strings,
 * compared by UTF-16 code units (JS `<`), which is byte order for ASCII. Results are BOOLEAN with
 * NULL wherever either input is NULL.
 */
import { assertNever, typeToString, type SqlType } from '../../planner/types.ts';
import { vectorKindOf, type Vector } from '../vector.ts';
import { andValidity } from '../kernels/validity.ts';
import { constant, isConst, isNullConst, node, operand, resolve, type Compiled, type CompiledExpr, type FnCompiler, type PhysicalScalar } from './compiled.ts';
import { boolVector, numValues, strValues, type NumLike } from './vec.ts';
import { compileCast } from './cast.ts';
import { and3, not3 } from './logic.ts';

export type CompareOp = 'eq' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte';

/** The operator with its operands swapped: `s < x` is `x > s`. */
const FLIPPED: Record<CompareOp, CompareOp> = { eq: 'eq', neq: 'neq', lt: 'gt', lte: 'gte', gt: 'lt', gte: 'lte' };

function numVV(op: CompareOp, a: NumLike, b: NumLike, out: Uint8Array, n: number): void {
  switch (op) {
    case 'eq': for (let i = 0; i < n; i++) out[i] = a[i] === b[i] ? 1 : 0; return;
    case 'neq': for (let i = 0; i < n; i++) out[i] = a[i] !== b[i] ? 1 : 0; return;
    case 'lt': for (let i = 0; i < n; i++) out[i] = a[i]! < b[i]! ? 1 : 0; return;
    case 'lte': for (let i = 0; i < n; i++) out[i] = a[i]! <= b[i]! ? 1 : 0; return;
    case 'gt': for (let i = 0; i < n; i++) out[i] = a[i]! > b[i]! ? 1 : 0; return;
    case 'gte': for (let i = 0; i < n; i++) out[i] = a[i]! >= b[i]! ? 1 : 0; return;
    default: assertNever(op, 'comparison');
  }
}

function numVS(op: CompareOp, a: NumLike, s: number, out: Uint8Array, n: number): void {
  switch (op) {
    case 'eq': for (let i = 0; i < n; i++) out[i] = a[i] === s ? 1 : 0; return;
    case 'neq': for (let i = 0; i < n; i++) out[i] = a[i] !== s ? 1 : 0; return;
    case 'lt': for (let i = 0; i < n; i++) out[i] = a[i]! < s ? 1 : 0; return;
    case 'lte': for (let i = 0; i < n; i++) out[i] = a[i]! <= s ? 1 : 0; return;
    case 'gt': for (let i = 0; i < n; i++) out[i] = a[i]! > s ? 1 : 0; return;
    case 'gte': for (let i = 0; i < n; i++) out[i] = a[i]! >= s ? 1 : 0; return;
    default: assertNever(op, 'comparison');
  }
}

function strVV(op: CompareOp, a: readonly string[], b: readonly string[], out: Uint8Array, n: number): void {
  switch (op) {
    case 'eq': for (let i = 0; i < n; i++) out[i] = a[i] === b[i] ? 1 : 0; return;
    case 'neq': for (let i = 0; i < n; i++) out[i] = a[i] !== b[i] ? 1 : 0; return;
    case 'lt': for (let i = 0; i < n; i++) out[i] = a[i]! < b[i]! ? 1 : 0; return;
    case 'lte': for (let i = 0; i < n; i++) out[i] = a[i]! <= b[i]! ? 1 : 0; return;
    case 'gt': for (let i = 0; i < n; i++) out[i] = a[i]! > b[i]! ? 1 : 0; return;
    case 'gte': for (let i = 0; i < n; i++) out[i] = a[i]! >= b[i]! ? 1 : 0; return;
    default: assertNever(op, 'comparison');
  }
}

function strVS(op: CompareOp, a: readonly string[], s: string, out: Uint8Array, n: number): void {
  switch (op) {
    case 'eq': for (let i = 0; i < n; i++) out[i] = a[i] === s ? 1 : 0; return;
    case 'neq': for (let i = 0; i < n; i++) out[i] = a[i] !== s ? 1 : 0; return;
    case 'lt': for (let i = 0; i < n; i++) out[i] = a[i]! < s ? 1 : 0; return;
    case 'lte': for (let i = 0; i < n; i++) out[i] = a[i]! <= s ? 1 : 0; return;
    case 'gt': for (let i = 0; i < n; i++) out[i] = a[i]! > s ? 1 : 0; return;
    case 'gte': for (let i = 0; i < n; i++) out[i] = a[i]! >= s ? 1 : 0; return;
    default: assertNever(op, 'comparison');
  }
}

/**
 * Comparison kernel over vectors or physical scalars (at least one side a vector). Scalars must be
 * of the vector's domain (numbers for numeric/boolean vectors, strings for varchar).
 */
export function compareKernel(op: CompareOp, a: Vector | PhysicalScalar, b: Vector | PhysicalScalar, type: SqlType, n: number): Vector {
  if (typeof a !== 'object') {
    if (typeof b !== 'object') throw new Error('compareKernel needs at least one vector operand');
    return compareKernel(FLIPPED[op], b, a, type, n);
  }
  const out = new Uint8Array(n);
  if (typeof b !== 'object') {
    if (a.kind === 'str') strVS(op, a.values, String(b), out, n);
    else numVS(op, numValues(a), Number(b), out, n);
    return boolVector(type, out, a.valid);
  }
  if (a.kind === 'str') strVV(op, a.values, strValues(b), out, n);
  else numVV(op, numValues(a), numValues(b), out, n);
  return boolVector(type, out, andValidity(a.valid, b.valid, n));
}

type Domain = 'num' | 'str';

function domainOf(t: SqlType): Domain | null {
  switch (vectorKindOf(t)) {
    case 'f64': case 'i32': case 'bool': return 'num';
    case 'str': return 'str';
    case 'struct': return null;
  }
}

/**
 * Brings two comparison operands into one domain. The binder normally casts already; a constant of
 * the other domain (`ts > '2024-01-01'`) is cast to the column's type here, once, and an untyped
 * NULL takes the other side's type. Anything else is a binder bug and fails at compile time.
 */
export function unifyOperands(a: Compiled, b: Compiled): [Compiled, Compiled] {
  const da = domainOf(a.type); const db = domainOf(b.type);
  if (da === null || db === null) throw new Error(`cannot compare ${typeToString(a.type)} with ${typeToString(b.type)}`);
  if (da === db) return [a, b];
  if (a.type.kind === 'null' || isConst(a)) return [compileCast(a, b.type), b];
  if (b.type.kind === 'null' || isConst(b)) return [a, compileCast(b, a.type)];
  throw new Error(`cannot compare ${typeToString(a.type)} with ${typeToString(b.type)} without a cast`);
}

/** Per-batch evaluators for a pair of operands, constants as scalars (unless both are constant). */
function operands(a: Compiled, b: Compiled): [PhysicalScalar | CompiledExpr, PhysicalScalar | CompiledExpr] {
  if (isConst(a) && isConst(b)) return [a.eval, b.eval];
  return [operand(a), operand(b)];
}

function comparison(op: CompareOp): FnCompiler {
  return (args, type) => {
    if (args.length !== 2) throw new Error(`${op} takes 2 arguments, got ${args.length}`);
    const [a, b] = unifyOperands(args[0]!, args[1]!);
    const [ao, bo] = operands(a, b);
    return node(type, (cols, n) => compareKernel(op, resolve(ao, cols, n), resolve(bo, cols, n), type, n));
  };
}

/** `x BETWEEN low AND high` is `x >= low AND x <= high` with SQL three-valued logic; x is evaluated once. */
function between(negated: boolean): FnCompiler {
  return (args, type) => {
    if (args.length !== 3) throw new Error(`between takes 3 arguments, got ${args.length}`);
    // Unified separately against each bound; only a constant x can come back cast, so a column x is
    // still the same node in both pairs and is evaluated once.
    const [xl, lo] = unifyOperands(args[0]!, args[1]!);
    const [xh, hi] = unifyOperands(args[0]!, args[2]!);
    if (isNullConst(xl)) return constant(type, null);
    const [xlo, loO] = operands(xl, lo);
    const [xho, hiO] = operands(xh, hi);
    return node(type, (cols, n) => {
      const xv = resolve(xlo, cols, n);
      const ge = compareKernel('gte', xv, resolve(loO, cols, n), type, n);
      const le = compareKernel('lte', xh === xl ? xv : resolve(xho, cols, n), resolve(hiO, cols, n), type, n);
      const r = and3(ge, le, type, n);
      return negated ? not3(r, type, n) : r;
    });
  };
}

/** Compilers for comparisons and BETWEEN. */
export const compareFns = {
  eq: comparison('eq'),
  neq: comparison('neq'),
  lt: comparison('lt'),
  lte: comparison('lte'),
  gt: comparison('gt'),
  gte: comparison('gte'),
  between: between(false),
  not_between: between(true),
} satisfies Record<string, FnCompiler>;
