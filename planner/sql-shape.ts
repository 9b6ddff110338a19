/**
 * The shape limits of a parsed query: depth and size of node-sql-parser's syntax tree. Checked before
 * the tree is handed to the binder, which walks it recursively (5,000 NOTs overflowed its stack), and
 * in the parse worker before the tree is copied back to the main thread. Iterative, so any tree can be
 * measured.
 */
import { MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_NODES } from './limits.ts';

export interface ShapeProblem {
  readonly message: string;
  /** Offset in the parsed text of the node where the limit was crossed, when the tree says. */
  readonly offset: number | null;
}

/** The first limit `ast` crosses, or null. Depth counts AST objects (arrays do not add a level). */
export function checkShape(ast: unknown): ShapeProblem | null {
  const stack: { v: unknown; d: number }[] = [{ v: ast, d: 0 }];
  let nodes = 0;
  while (stack.length) {
    const { v, d } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) { for (const x of v) stack.push({ v: x, d }); continue; }
    const o = v as Record<string, unknown>;
    if (++nodes > MAX_EXPRESSION_NODES) {
      return { message: `the query is too large: more than ${MAX_EXPRESSION_NODES} syntax nodes (limit MAX_EXPRESSION_NODES)`, offset: offsetOf(o) };
    }
    if (d > MAX_EXPRESSION_DEPTH) {
      return { message: `expression nested too deeply: more than ${MAX_EXPRESSION_DEPTH} levels (limit MAX_EXPRESSION_DEPTH); write a long chain of OR as IN (…)`, offset: offsetOf(o) };
    }
    for (const k in o) {
      if (k === 'loc') continue;
      const x = o[k];
      if (x !== null && typeof x === 'object') stack.push({ v: x, d: d + 1 });
    }
  }
  return null;
}

function offsetOf(o: Record<string, unknown>): number | null {
  const loc = o.loc as { start?: { offset?: number } } | undefined;
  return typeof loc?.start?.offset === 'number' ? loc.start.offset : null;
}
