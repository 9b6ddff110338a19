/** CREATE VIEW: a named query, stored as text and bound again wherever it is read; nothing runs. */
import { kindLabel } from '../../planner/index.ts';
import { undoCreate, type Handler } from './context.ts';

export const createView: Handler<'create_view'> = async (ctx, p, sql, undo) => {
  const statement = 'CREATE VIEW';
  if (p.exists) return { statement, name: p.def.name, message: `${p.def.name} already exists` };
  undo.push(undoCreate(ctx, p.def.name));
  await ctx.store.add(p.def, sql);
  return { statement, name: p.def.name, message: `${kindLabel(p.def)} ${p.def.name} created` };
};
