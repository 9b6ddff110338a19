/** EXPLAIN: the plans the planner made (logical, physical, dataflow graph), printed; nothing runs. */
import type { Handler } from './context.ts';

export const explain: Handler<'explain'> = (_ctx, p) => ({
  statement: 'EXPLAIN', plan: { logical: p.logical, physical: p.physical, graph: p.graph }, columns: [{ name: 'plan', type: 'VARCHAR' }],
  rows: [{ plan: `Logical plan:\n${p.logical}\n\nPhysical plan:\n${p.physical}\n\nDataflow graph (node, inputs, what it emits):\n${p.graph}` }],
});
