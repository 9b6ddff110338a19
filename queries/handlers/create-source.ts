/** CREATE SOURCE / CREATE TABLE: only a catalog entry; queries that read the source open their own readers. */
import { kindLabel } from '../../planner/index.ts';
import { undoCreate, type Handler } from './context.ts';

export const createSource: Handler<'create_source'> = async (ctx, p, sql, undo) => {
  const statement = 'CREATE SOURCE';
  if (p.exists) return { statement, name: p.def.name, message: `${p.def.name} already exists` };
  undo.push(undoCreate(ctx, p.def.name));
  await ctx.store.add(p.def, sql);
  return { statement, name: p.def.name, message: `${kindLabel(p.def)} ${p.def.name} created` };
};
