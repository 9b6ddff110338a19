/**
 * One handler per kind of planned statement (RisingWave's handler-per-statement layout): the engine
 * plans a whole request, then hands each statement here in order.
 */
import { assertNever, SqlError, type PlannedStatement } from '../../planner/index.ts';
import type { StatementResult } from '../engine-api.ts';
import type { HandlerContext, UndoList } from './context.ts';
import { createQuery } from './create-query.ts';
import { createSource } from './create-source.ts';
import { createView } from './create-view.ts';
import { describe } from './describe.ts';
import { drop } from './drop.ts';
import { explain } from './explain.ts';
import { pullSelect } from './pull-select.ts';
import { show } from './show.ts';

export type { HandlerContext, UndoList } from './context.ts';

/** Makes one planned statement take effect (or answers it); CREATEs add their undo step to `undo`. */
export async function applyStatement(ctx: HandlerContext, ps: PlannedStatement, undo: UndoList): Promise<StatementResult> {
  const p = ps.planned;
  switch (p.kind) {
    case 'create_source': return createSource(ctx, p, ps.sql, undo);
    case 'create_view': return createView(ctx, p, ps.sql, undo);
    case 'create_materialized_view': case 'create_sink': return createQuery(ctx, p, ps.sql, undo);
    case 'drop': return drop(ctx, p, ps.sql, undo);
    case 'show': return show(ctx, p, ps.sql, undo);
    case 'describe': return describe(ctx, p, ps.sql, undo);
    case 'explain': return explain(ctx, p, ps.sql, undo);
    case 'pull': return pullSelect(ctx, p, ps.sql, undo);
    case 'push': throw new SqlError('push queries (SELECT … EMIT CHANGES) are served as a stream at POST /v1/query-stream', 1, 1);
    default: return assertNever(p, 'statement');
  }
}
