/**
 * The compiler's internal node: what every per-function compiler receives for its arguments and
 * returns. Kept apart from compile.ts so the function modules can share it without import cycles.
 */
import type { SqlType } from '../../planner/types.ts';
import { constantVector, valueAt, vectorKindOf, type Vector } from '../vector.ts';

/** A compiled expression: evaluates one batch. `cols[i]` is the input column bound as `{kind:'column', index:i}`. */
export type CompiledExpr = (cols: readonly Vector[], length: number) => Vector;

/**
 * A compiled subtree: its SQL type, its per-batch evaluator and, when the subtree is constant, its
 * value. Kernels look at `constant` at compile time to pick scalar variants (`x > 10` compares against
 * a number instead of a materialized column of tens).
 */
export interface Compiled {
  readonly type: SqlType;
  readonly eval: CompiledExpr;
  /** Present iff the subtree is constant; `value` is in `valueAt` form (null for NULL). */
  readonly constant?: { readonly value: unknown };
}

/** A compiled constant. */
export type ConstCompiled = Compiled & { readonly constant: { readonly value: unknown } };

/** Compiles one function call: gets its compiled arguments and the call's bound result type. */
export type FnCompiler = (args: readonly Compiled[], type: SqlType) => Compiled;

/** A physical scalar as kernels see it: numbers (booleans as 0/1) or strings. */
export type PhysicalScalar = number | string;

/** Wraps an evaluator as a non-constant node. */
export function node(type: SqlType, evaluate: CompiledExpr): Compiled {
  return { type, eval: evaluate };
}

/** A constant node; each batch gets a fresh vector since callers may hand results on zero-copy. */
export function constant(type: SqlType, value: unknown): ConstCompiled {
  const v = value === undefined ? null : value;
  return { type, constant: { value: v }, eval: (_cols, length) => constantVector(type, v, length) };
}

export function isConst(c: Compiled): c is ConstCompiled {
  return c.constant !== undefined;
}

export function isNullConst(c: Compiled): boolean {
  return c.constant !== undefined && c.constant.value === null;
}

/**
 * The physical form of a non-null constant for a kernel: booleans become 0/1 (how bool vectors hold
 * them), numbers and strings pass through.
 */
export function physical(value: unknown): PhysicalScalar {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number' || typeof value === 'string') return value;
  throw new Error(`no scalar form for constant ${JSON.stringify(value)}`);
}

/**
 * A per-batch operand: the physical scalar for a non-null constant (so kernels can take their scalar
 * path), otherwise the argument's evaluator.
 */
export function operand(c: Compiled): PhysicalScalar | CompiledExpr {
  if (isConst(c) && c.constant.value !== null && vectorKindOf(c.type) !== 'struct') return physical(c.constant.value);
  return c.eval;
}

/** Resolves an operand for one batch. */
export function resolve(op: PhysicalScalar | CompiledExpr, cols: readonly Vector[], length: number): Vector | PhysicalScalar {
  return typeof op === 'function' ? op(cols, length) : op;
}

/** Folds a node whose inputs are all constant: evaluates it once on a one-row batch. */
export function fold(c: Compiled): ConstCompiled {
  if (isConst(c)) return c;
  return constant(c.type, valueAt(c.eval([], 1), 0));
}
