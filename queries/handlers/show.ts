/** SHOW SOURCES | VIEWS | MATERIALIZED VIEWS | SINKS | QUERIES: one row per object or running query. */
import { kindLabel } from '../../planner/index.ts';
import type { Handler } from './context.ts';

export const show: Handler<'show'> = (ctx, p) => {
  if (p.what === 'queries') {
    const rows = ctx.queries.ids().map((id) => ctx.queries.info(id)!).map((q) => ({ id: q.id, name: q.name, kind: q.kind, status: q.status }));
    return { statement: 'SHOW', columns: [{ name: 'id', type: 'VARCHAR' }, { name: 'name', type: 'VARCHAR' }, { name: 'kind', type: 'VARCHAR' }, { name: 'status', type: 'VARCHAR' }], rows };
  }
  const kind = ({ sources: 'source', views: 'view', materialized_views: 'materialized_view', sinks: 'sink' } as const)[p.what];
  const objs = ctx.store.all().filter((o) => o.kind === kind || (p.what === 'views' && o.kind === 'materialized_view'));
  const rows = objs.map((o) => {
    const queryId = ctx.store.queryIdOf(o.name);
    return { name: o.name, kind: kindLabel(o), ...(o.kind === 'source' ? { topics: o.options.topics.join(',') || o.options.topicPattern } : {}), ...(queryId ? { queryId } : {}) };
  });
  return { statement: 'SHOW', columns: [{ name: 'name', type: 'VARCHAR' }, { name: 'kind', type: 'VARCHAR' }], rows };
};
