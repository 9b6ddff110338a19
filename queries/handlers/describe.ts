/** DESCRIBE name: the visible columns of an object, with what marks them (metadata, watermark, key). */
import { kindLabel, typeToString } from '../../planner/index.ts';
import type { Handler } from './context.ts';

export const describe: Handler<'describe'> = (_ctx, p) => {
  const o = p.object;
  const schema = o.schema;
  const visible = o.kind === 'materialized_view' ? o.visibleCount : schema.fields.length;
  const rows = schema.fields.slice(0, visible).map((f, i) => ({
    column: f.name, type: typeToString(f.type),
    ...(o.kind === 'source' && o.columns[i]!.metadata ? { metadata: o.columns[i]!.metadata } : {}),
    ...(o.kind === 'source' && o.watermark?.index === i ? { watermark: `${o.watermark.column} - INTERVAL '${o.watermark.delayMs}' MILLISECOND` } : {}),
    ...((o.kind === 'materialized_view' || o.kind === 'sink') && o.keyColumns?.includes(i) ? { key: true } : {}),
  }));
  return { statement: 'DESCRIBE', name: o.name, message: `${kindLabel(o)} ${o.name}`, columns: [{ name: 'column', type: 'VARCHAR' }, { name: 'type', type: 'VARCHAR' }], rows };
};
