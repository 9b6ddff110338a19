/**
 * One call of node-sql-parser on a rewritten SELECT, with its outcome as plain data (it crosses a
 * thread boundary): the tree, or where and why it failed. Shared by the parse thread and the
 * main thread's direct path for trusted text (stored views).
 */
import nodeSqlParser from 'node-sql-parser';
import { checkShape } from './sql-shape.ts';

const parser = new nodeSqlParser.Parser();

export type ParseOutcome =
  | { readonly ok: true; readonly ast: unknown }
  /** `offset` into the text (null: at its end); `found` the token the parser stopped at; `limit` when a shape limit was crossed. */
  | { readonly ok: false; readonly offset: number | null; readonly found: string | null; readonly limit: string | null; readonly message?: string };

export function parseSqlText(text: string): ParseOutcome {
  let ast: unknown;
  try {
    ast = parser.astify(text, { database: 'postgresql', parseOptions: { includeLocations: true } } as never);
  } catch (e) {
    if (e instanceof RangeError) return { ok: false, offset: 0, found: null, limit: 'the query nests too deeply for the SQL parser (limit MAX_EXPRESSION_DEPTH)' };
    const l = (e as { location?: { start?: { offset?: number } }; found?: string | null }).location;
    return { ok: false, offset: l?.start?.offset ?? null, found: (e as { found?: string | null }).found ?? null, limit: null };
  }
  const problem = checkShape(ast);
  if (problem) return { ok: false, offset: problem.offset ?? 0, found: null, limit: problem.message };
  return { ok: true, ast };
}
