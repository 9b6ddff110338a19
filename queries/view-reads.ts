/**
 * Reads of the catalog and of materialized views outside SQL: GET /v1/catalog (the dashboard, the
 * PostgreSQL server's pg_catalog), GET /v1/views/:name (a view's newest committed rows, bounded like a
 * pull result) and the shared change feed behind GET /v1/views/:name/changes (queries/push.ts). A
 * feed lives as long as its view's table: a dropped or re-created view closes the old one.
 */
import type { QueryTable } from '../connectors/table/query-table.ts';
import { rowObject } from '../executor/rows.ts';
import type { MaterializedViewDef } from '../planner/index.ts';
import type { CatalogStore } from './catalog-store.ts';
import type { CatalogInfo, ColumnInfo, ViewRows } from './engine-api.ts';
import { createViewFeed, type ViewFeed } from './push.ts';
import type { QueryRegistry } from './query-registry.ts';
import { columnsOf, resultBudget } from './results.ts';

export interface ViewReads {
  catalogInfo(): CatalogInfo;
  viewRows(name: string, limit?: number): ViewRows | undefined;
  viewFeed(name: string): { feed: ViewFeed; columns: ColumnInfo[] } | undefined;
  /** Ends the feed of a view that is gone (its SSE clients are told). */
  closeFeed(name: string): void;
  closeAll(reason: string): void;
}

export function createViewReads(store: CatalogStore, queries: QueryRegistry): ViewReads {
  const feeds = new Map<string, ViewFeed>();

  const materialized = (name: string): { def: MaterializedViewDef; table: QueryTable } | undefined => {
    const def = store.get(name);
    const table = queries.table(name);
    if (!def || def.kind !== 'materialized_view' || !table) return undefined;
    return { def, table };
  };
  const queryId = (name: string) => { const id = store.queryIdOf(name); return id ? { queryId: id } : {}; };

  return {
    catalogInfo() {
      const sources: CatalogInfo['sources'][number][] = [];
      const views: CatalogInfo['views'][number][] = [];
      const sinks: CatalogInfo['sinks'][number][] = [];
      for (const o of store.all()) {
        switch (o.kind) {
          case 'source':
            sources.push({
              name: o.name, columns: columnsOf(o.schema), topics: [...o.options.topics], topicPattern: o.options.topicPattern,
              format: o.options.format, watermark: o.watermark ? { column: o.watermark.column, delayMs: o.watermark.delayMs } : null,
            });
            break;
          case 'view': views.push({ name: o.name, kind: 'view', columns: columnsOf(o.schema) }); break;
          case 'materialized_view':
            views.push({
              name: o.name, kind: 'materialized_view', columns: columnsOf(o.schema, o.visibleCount), ...queryId(o.name),
              keyColumns: o.keyColumns ? o.keyColumns.map((i) => o.schema.fields[i]!.name) : null, emit: o.emit,
            });
            break;
          case 'sink': sinks.push({ name: o.name, topic: o.sink.topic, columns: columnsOf(o.schema), ...queryId(o.name) }); break;
        }
      }
      return { sources, views, sinks };
    },
    viewRows(name, limit) {
      const v = materialized(name);
      if (!v) return undefined;
      const all = v.table.rows();
      const rows = limit !== undefined && all.length > limit ? all.slice(all.length - limit) : all;
      const budget = resultBudget(`the newest ${rows.length} rows of ${v.def.name}`, 'ask for fewer with ?limit=N');
      const objects = rows.map((r) => budget.add(rowObject(v.def.schema, r, v.def.visibleCount)));
      return { name: v.def.name, epoch: v.table.epoch, total: all.length, columns: columnsOf(v.def.schema, v.def.visibleCount), rows: objects };
    },
    viewFeed(name) {
      const v = materialized(name);
      if (!v) return undefined;
      const key = v.def.name.toLowerCase();
      let feed = feeds.get(key);
      // A view dropped and created again has a new table: its old feed is stale.
      if (feed && feed.table !== v.table) { feed.close(); feed = undefined; }
      if (!feed) { feed = createViewFeed(v.table, v.def.visibleCount); feeds.set(key, feed); }
      return { feed, columns: columnsOf(v.def.schema, v.def.visibleCount) };
    },
    closeFeed(name) {
      const f = feeds.get(name.toLowerCase());
      if (f) { f.close(); feeds.delete(name.toLowerCase()); }
    },
    closeAll(reason) {
      for (const f of feeds.values()) f.close(reason);
      feeds.clear();
    },
  };
}
