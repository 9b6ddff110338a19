/**
 * CREATE MATERIALIZED VIEW, CREATE SINK and INSERT INTO: a catalog entry and the continuous query that
 * computes it. The entry is written before the query starts, so a crash in between restarts the query
 * at the next start; a query that fails to start is taken back with the rest of its request.
 */
import { kindLabel } from '../../planner/index.ts';
import type { StatementResult } from '../engine-api.ts';
import type { QueryPlan } from '../query-registry.ts';
import { undoCreate, type HandlerContext, type UndoList } from './context.ts';

export async function createQuery(ctx: HandlerContext, p: QueryPlan, sql: string, undo: UndoList): Promise<StatementResult> {
  const statement = p.kind === 'create_sink' ? 'CREATE SINK' : 'CREATE MATERIALIZED VIEW';
  if (p.exists) {
    const queryId = ctx.store.queryIdOf(p.def.name);
    return { statement, name: p.def.name, message: `${p.def.name} already exists`, ...(queryId ? { queryId } : {}) };
  }
  const id = ctx.newQueryId();
  undo.push(undoCreate(ctx, p.def.name));
  await ctx.store.add(p.def, sql, id);
  await ctx.startQuery(p, sql, id);
  return { statement, name: p.def.name, queryId: id, message: `${kindLabel(p.def)} ${p.def.name} created; query ${id} started` };
}
