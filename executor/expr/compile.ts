/**
 * The vectorized expression compiler: turns a bound {@link Expr} into a function that evaluates it
 * over one batch of column vectors.
 *
 * Work is moved to compile time wherever it can be: function handlers are resolved once from a
 * dispatch table, literal-only subtrees are folded to constants (by running the node once on a
 * one-row batch, so folding can never disagree with evaluation), constant operands select scalar
 * kernel variants, and LIKE/regexp patterns, IN lists and date_trunc/extract units are compiled
 * once. Per batch, each node runs one typed-array loop over its inputs.
 *
 * NULLs: arithmetic, comparisons and most functions return NULL when any input is NULL; AND/OR use
 * three-valued logic; concat treats NULL as ''; coalesce/nullif/CASE/IN follow SQL. No kernel throws
 * on row data: bad values (division by zero, unparsable casts) become NULL.
 */
import { assertNever, typeToString, type Expr, type ScalarFn, type SqlType } from '../../planner/types.ts';
import { andValidity } from '../kernels/validity.ts';
import { constant, fold, isConst, isNullConst, node, type Compiled, type CompiledExpr, type FnCompiler } from './compiled.ts';
import { arithFns } from './arith.ts';
import { compareFns } from './compare.ts';
import { logicFns } from './logic.ts';
import { likeFns } from './like.ts';
import { inFns } from './in-list.ts';
import { stringFns } from './string-fns.ts';
import { mathFns } from './math-fns.ts';
import { conditionalFns, compileCase } from './conditional.ts';
import { timeFns } from './time-fns.ts';
import { sentimentFns } from './sentiment.ts';
import { compileCast } from './cast.ts';
import { parseTimestamp } from './calendar.ts';
import { retype, withValidity } from './vec.ts';

export type { CompiledExpr } from './compiled.ts';

/** Every scalar function's compiler. */
const FUNCTIONS: Record<ScalarFn, FnCompiler> = {
  ...arithFns,
  ...compareFns,
  ...logicFns,
  ...likeFns,
  ...inFns,
  ...stringFns,
  ...mathFns,
  ...conditionalFns,
  ...timeFns,
  ...sentimentFns,
};

/**
 * Functions that return NULL whenever any argument is NULL, so a NULL literal argument makes the
 * whole call a NULL constant. Not listed: and/or (FALSE AND NULL is FALSE), is_null/is_not_null,
 * in/not_in and between (NULLs in the list or bounds are not decisive), concat (NULL is ''),
 * coalesce, nullif.
 */
const STRICT: Record<ScalarFn, boolean> = {
  add: true, sub: true, mul: true, div: true, mod: true, neg: true,
  eq: true, neq: true, lt: true, lte: true, gt: true, gte: true,
  and: false, or: false, not: true,
  is_null: false, is_not_null: false,
  like: true, not_like: true,
  in: false, not_in: false,
  between: false, not_between: false,
  concat: false, lower: true, upper: true, length: true, substring: true, trim: true, split_part: true, regexp_like: true,
  abs: true, round: true, floor: true, ceil: true,
  coalesce: false, nullif: false,
  date_trunc: true, extract: true, to_timestamp: true, epoch_ms: true,
  sentiment: true,
};

/**
 * Compiles a bound expression to a batch evaluator. The result vector has the kind
 * `vectorKindOf(expr.type)` and `length` rows; `cols[i]` is the input column for
 * `{kind:'column', index:i}`. Throws (at compile time) for unknown functions, wrong arities, casts
 * between unrelated types and non-constant date_trunc/extract units.
 */
export function compileExpr(expr: Expr): CompiledExpr {
  return compileNode(expr).eval;
}

/** Compiles several expressions over the same input (a projection list). */
export function compileExprs(exprs: readonly Expr[]): CompiledExpr[] {
  return exprs.map(compileExpr);
}

/**
 * The value of an expression that folds to a constant (no column references), in `valueAt` form
 * (`null` for NULL); `undefined` when the expression depends on its input. Useful to planners that
 * need a literal (window sizes, LIMIT) after casts and arithmetic.
 */
export function constantValue(expr: Expr): unknown {
  const c = compileNode(expr);
  return isConst(c) ? c.constant.value : undefined;
}

/** Compiles one node, folding it when every input is constant. */
export function compileNode(expr: Expr): Compiled {
  switch (expr.kind) {
    case 'column': {
      const { index, name } = expr;
      return node(expr.type, (cols) => {
        const v = cols[index];
        if (v === undefined) throw new Error(`column ${index} (${name}) is missing from the batch (${cols.length} columns)`);
        return v;
      });
    }
    case 'literal':
      return constant(expr.type, literalValue(expr.value, expr.type));
    case 'call': {
      const args = expr.args.map(compileNode);
      const compiler = FUNCTIONS[expr.fn];
      if (compiler === undefined) throw new Error(`unknown function ${String(expr.fn)}`);
      if (STRICT[expr.fn] && args.some(isNullConst)) return constant(expr.type, null);
      const c = compiler(args, expr.type);
      return args.every(isConst) ? fold(c) : c;
    }
    case 'field': {
      const input = compileNode(expr.input);
      const c = compileField(input, expr.field, expr.type);
      return isConst(input) ? fold(c) : c;
    }
    case 'cast':
      return compileCast(compileNode(expr.input), expr.type);
    case 'case': {
      const whens = expr.whens.map((w) => ({ when: compileNode(w.when), then: compileNode(w.then) }));
      const otherwise = expr.otherwise === null ? null : compileNode(expr.otherwise);
      const c = compileCase(whens, otherwise, expr.type);
      const all = whens.every((w) => isConst(w.when) && isConst(w.then)) && (otherwise === null || isConst(otherwise));
      return all ? fold(c) : c;
    }
    default:
      return assertNever(expr, 'expression');
  }
}

/**
 * A literal's value in `valueAt` form for its type: timestamps may be written as strings
 * ('2024-01-01 00:00:00') and are parsed once here; an unparsable one is NULL.
 */
function literalValue(value: number | string | boolean | null, type: SqlType): unknown {
  if (value === null) return null;
  switch (type.kind) {
    case 'timestamp': {
      if (typeof value === 'number') return value;
      const t = typeof value === 'string' ? parseTimestamp(value) : NaN;
      return Number.isNaN(t) ? null : t;
    }
    case 'int': case 'bigint': case 'double': case 'interval':
      return typeof value === 'boolean' ? (value ? 1 : 0) : Number(value);
    case 'boolean':
      return typeof value === 'boolean' ? value : typeof value === 'number' ? value !== 0 : value.toLowerCase() === 'true';
    case 'varchar':
      return String(value);
    case 'null':
      return null;
    case 'struct':
      throw new Error(`a ${typeToString(type)} literal is not supported`);
    default:
      return assertNever(type, 'literal type');
  }
}

/**
 * A struct field by name (exact match first, then case-insensitive, as unquoted SQL identifiers
 * are). The field is NULL where the struct itself is NULL.
 */
function compileField(input: Compiled, field: string, type: SqlType): Compiled {
  if (input.type.kind !== 'struct') throw new Error(`field access .${field} on ${typeToString(input.type)}`);
  const fields = input.type.fields;
  let j = fields.findIndex((f) => f.name === field);
  if (j < 0) j = fields.findIndex((f) => f.name.toLowerCase() === field.toLowerCase());
  if (j < 0) throw new Error(`no field ${field} in ${typeToString(input.type)}`);
  const index = j;
  return node(type, (cols, n) => {
    const s = input.eval(cols, n);
    if (s.kind !== 'struct') throw new Error(`expected a struct vector for .${field}, got ${s.kind}`);
    const child = s.children[index]!;
    const v = s.valid === null ? child : withValidity(child, andValidity(s.valid, child.valid, n));
    return child.kind === 'struct' || v.type === type ? v : retype(v, type);
  });
}

