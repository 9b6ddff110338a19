/**
 * DROP SOURCE / VIEW / MATERIALIZED VIEW / SINK. The planner has refused a drop that others depend on;
 * here the object's query is stopped, its checkpoints and table deleted, its catalog entry removed.
 * A drop is not undone when a later statement of its request fails (the query's state is gone).
 */
import type { Handler } from './context.ts';
import { removeObject } from './context.ts';

export const drop: Handler<'drop'> = async (ctx, p) => {
  if (!p.exists) return { statement: 'DROP', name: p.name, message: `${p.name} does not exist` };
  await removeObject(ctx, p.name);
  return { statement: 'DROP', name: p.name, message: `${p.object.replace('_', ' ')} ${p.name} dropped` };
};
