/**
 * Graph snapshots on disk. A snapshot is `{planFingerprint, epoch, nodes: {[nodeId]: {tables, meta}}}`;
 * each table is stored as its own Arrow IPC file named `<nodeId>.<table>` (so a node's state can later
 * move between instances table by table), the rest as one JSON document.
 *
 * Two forms:
 * - `toEpochState` / `fromEpochState`: the `{batches, meta}` the checkpoint log writes
 *   (queries/checkpoint-log.ts: atomic files, sha256 checksums in the commit marker);
 * - `toIpcFiles` / `fromIpcFiles`: plain bytes per file name (tests, moving state elsewhere).
 * Reading checks that every file the JSON names is there and nothing else; the fingerprint is checked
 * by `Graph.restore`, which refuses a snapshot of another plan before touching any operator.
 */
import { RecordBatch, Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import { StateMismatchError, type GraphSnapshot, type NodeSnapshot } from './graph.ts';

export const GRAPH_STATE_VERSION = 1;

interface GraphMeta {
  readonly version: number;
  readonly planFingerprint: string;
  readonly epoch: number | null;
  readonly nodes: Record<string, { readonly tables: string[]; readonly meta: Record<string, unknown> }>;
  readonly watermarks?: Record<string, readonly (number | null)[]>;
}

const fileOf = (node: string, table: string) => `${node}.${table}`;

function describe(s: GraphSnapshot): GraphMeta {
  const nodes: GraphMeta['nodes'] = {};
  for (const [id, ns] of Object.entries(s.nodes)) nodes[id] = { tables: Object.keys(ns.tables), meta: ns.meta };
  return { version: GRAPH_STATE_VERSION, planFingerprint: s.planFingerprint, epoch: s.epoch, nodes, watermarks: { ...(s.watermarks ?? {}) } };
}

function assemble(g: unknown, table: (name: string) => RecordBatch | undefined, names: Iterable<string>): GraphSnapshot {
  const m = g as GraphMeta | undefined;
  if (!m || typeof m !== 'object' || typeof m.planFingerprint !== 'string' || typeof m.nodes !== 'object') {
    throw new StateMismatchError('the checkpoint holds no graph state (written by an older version, or not a graph checkpoint)');
  }
  if (m.version !== GRAPH_STATE_VERSION) throw new StateMismatchError(`graph state version ${m.version} is not supported (this build reads ${GRAPH_STATE_VERSION})`);
  const expected = new Set<string>();
  const nodes: Record<string, NodeSnapshot> = {};
  for (const [id, n] of Object.entries(m.nodes)) {
    const tables: Record<string, RecordBatch> = {};
    for (const t of n.tables) {
      const f = fileOf(id, t);
      expected.add(f);
      const b = table(f);
      if (!b) throw new StateMismatchError(`state table ${f} is missing from the checkpoint`);
      tables[t] = b;
    }
    nodes[id] = { tables, meta: n.meta };
  }
  for (const f of names) if (!expected.has(f)) throw new StateMismatchError(`the checkpoint holds a state table ${f} no node declares`);
  return { planFingerprint: m.planFingerprint, epoch: m.epoch, nodes, watermarks: m.watermarks ?? {} };
}

/** The checkpoint log's form: batches by file name (without .arrow), graph description under meta.graph. */
export function toEpochState(s: GraphSnapshot, extraMeta: Record<string, unknown> = {}): { batches: Record<string, RecordBatch | null>; meta: Record<string, unknown> } {
  const batches: Record<string, RecordBatch | null> = {};
  for (const [id, ns] of Object.entries(s.nodes)) for (const [t, b] of Object.entries(ns.tables)) batches[fileOf(id, t)] = b;
  return { batches, meta: { ...extraMeta, graph: describe(s) } };
}

/**
 * Reads a snapshot back from the checkpoint log's form. `others` names batches that are not graph
 * state (a view's rows, say) and are left alone.
 */
export function fromEpochState(st: { batches: Record<string, RecordBatch | null>; meta: Record<string, unknown> }, others: readonly string[] = []): GraphSnapshot {
  const skip = new Set(others);
  const names = Object.keys(st.batches).filter((n) => !skip.has(n) && st.batches[n]);
  return assemble(st.meta.graph, (f) => st.batches[f] ?? undefined, names);
}

/** Arrow IPC file bytes per table, plus `graph.json`. */
export function toIpcFiles(s: GraphSnapshot): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  for (const [id, ns] of Object.entries(s.nodes)) for (const [t, b] of Object.entries(ns.tables)) files[`${fileOf(id, t)}.arrow`] = tableToIPC(new Table([b]), 'file');
  files['graph.json'] = new TextEncoder().encode(JSON.stringify(describe(s)));
  return files;
}

export function fromIpcFiles(files: Readonly<Record<string, Uint8Array>>): GraphSnapshot {
  const json = files['graph.json'];
  if (!json) throw new StateMismatchError('graph.json is missing from the state files');
  const names = Object.keys(files).filter((f) => f.endsWith('.arrow')).map((f) => f.slice(0, -'.arrow'.length));
  return assemble(JSON.parse(new TextDecoder().decode(json)), (f) => {
    const bytes = files[`${f}.arrow`];
    if (!bytes) return undefined;
    const t = tableFromIPC(bytes);
    if (t.batches.length > 1) throw new StateMismatchError(`state table ${f} holds ${t.batches.length} batches, expected one`);
    return t.batches[0] ?? new RecordBatch(t.schema);
  }, names);
}
