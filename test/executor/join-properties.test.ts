/**
 * Property tests of the join operators through the graph runtime (two sources → join → sink): random
 * rows on both inputs, random batch splits and interleavings, random watermarks per input and random
 * barriers; the committed output must equal a plain batch join (join-reference.ts) of the rows that
 * took part — the ones that were not late at the join (the watermark there is the minimum over both
 * inputs when the batch arrived), the current rows of changelogs, the right version valid at a left
 * row's time — straight, and when the run is killed after each barrier (snapshot through Arrow IPC
 * files, lost uncommitted output) and resumed in a new graph that replays what came after the barrier.
 * Every join type of every bound is covered: interval, window, regular (append-only inner / semi, and
 * keyed changelogs), temporal (event time and processing time).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RecordBatch } from 'apache-arrow';
import { createGraph } from '../../executor/graph.ts';
import type { LateRows } from '../../executor/operator.ts';
import { fromIpcFiles, toIpcFiles } from '../../executor/graph-state.ts';
import { batchRows, rowsBatch, type Row } from '../../executor/rows.ts';
import type { JoinBound, PhysicalOp } from '../../planner/physical.ts';
import { GraphBuilder, type PhysicalGraph, type StreamKind } from '../../planner/physical-graph.ts';
import { T, type Expr, type Schema } from '../../planner/types.ts';
import { canon } from './reference.ts';
import { currentRows, refJoin, sqlEq, versionAt, type JoinType, type JRow } from './join-reference.ts';

const f = (name: string, type: Schema['fields'][number]['type']) => ({ name, type, nullable: true });
export const LS: Schema = { fields: [f('id', T.int), f('k', T.varchar), f('g', T.int), f('v', T.bigint), f('ts', T.timestamp), f('ws', T.timestamp), f('we', T.timestamp)] };
export const RS: Schema = { fields: [f('rid', T.int), f('rk', T.varchar), f('rg', T.int), f('w', T.bigint), f('rts', T.timestamp), f('rws', T.timestamp), f('rwe', T.timestamp)] };
const LN = LS.fields.map((x) => x.name); const RN = RS.fields.map((x) => x.name);
const NL = LN.length;
const SIZE = 2000;
const KEYS = { k: [1], kg: [1, 2], g: [2] } as const;
type KeyChoice = keyof typeof KEYS;

type Kind = 'interval' | 'window' | 'regular_append' | 'regular_changelog' | 'temporal_event' | 'temporal_proc';
const TYPES: Record<Kind, readonly JoinType[]> = {
  interval: ['inner', 'left', 'right', 'full', 'semi', 'anti'],
  window: ['inner', 'left', 'right', 'full', 'semi', 'anti'],
  regular_append: ['inner', 'semi'],
  regular_changelog: ['inner', 'left', 'right', 'full', 'semi', 'anti'],
  temporal_event: ['inner', 'left'],
  temporal_proc: ['inner', 'left'],
};

interface Case { kind: Kind; type: JoinType; keys: KeyChoice; residual: boolean; lower: number; upper: number }

const column = (i: number, name: string, type: Expr['type']): Expr => ({ kind: 'column', index: i, name, type });

export function joinOp(c: Pick<Case, 'kind' | 'type' | 'keys' | 'residual' | 'lower' | 'upper'>, ttlMs: number | null = null): Extract<PhysicalOp, { kind: 'join' }> {
  const win = c.kind === 'window' ? [5, 6] : [];
  const leftKeys = [...win, ...KEYS[c.keys]]; const rightKeys = [...win, ...KEYS[c.keys]];
  const bound: JoinBound = c.kind === 'interval' ? { kind: 'interval', leftTime: 4, rightTime: 4, lowerMs: c.lower, upperMs: c.upper }
    : c.kind === 'window' ? { kind: 'window', leftEnd: 6, rightEnd: 6 }
      : c.kind === 'temporal_event' ? { kind: 'temporal', leftTime: 4, rightTime: 4 }
        : c.kind === 'temporal_proc' ? { kind: 'temporal', leftTime: null, rightTime: null }
          : { kind: 'regular', ttlMs };
  const residual: Expr | null = c.residual ? { kind: 'call', fn: 'lte', type: T.boolean, args: [column(3, 'v', T.bigint), column(NL + 3, 'w', T.bigint)] } : null;
  const leftOnly = c.type === 'semi' || c.type === 'anti';
  return {
    kind: 'join', joinType: c.type, leftKeys, rightKeys, residual, bound, leftSchema: LS, rightSchema: RS,
    schema: { fields: leftOnly ? LS.fields : [...LS.fields, ...RS.fields] },
  };
}

export function streams(c: Pick<Case, 'kind' | 'keys'>): [StreamKind, StreamKind] {
  if (c.kind === 'regular_changelog') return [{ kind: 'changelog', key: [0] }, { kind: 'changelog', key: [0] }];
  if (c.kind === 'temporal_event' || c.kind === 'temporal_proc') return [{ kind: 'append' }, { kind: 'changelog', key: [...KEYS[c.keys]] }];
  return [{ kind: 'append' }, { kind: 'append' }];
}

export function buildGraph(op: Extract<PhysicalOp, { kind: 'join' }>, s: [StreamKind, StreamKind]): PhysicalGraph {
  const g = new GraphBuilder();
  const l = g.source(null, LS, s[0]);
  const r = g.source(null, RS, s[1]);
  const j = g.op(op, [l, r]);
  g.sink({ kind: 'collect' }, j);
  return g.build();
}

type Step =
  | { kind: 'batch'; input: number; rows: Row[]; ops: number[] | null }
  | { kind: 'wm'; input: number; time: number }
  | { kind: 'barrier'; epoch: number };

const T0 = Date.parse('2024-01-01T00:00:00.000Z');

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => { a = (a + 0x6d2b79f5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}

const evArb = fc.record({
  input: fc.integer({ min: 0, max: 1 }),
  id: fc.integer({ min: 0, max: 5 }),
  k: fc.constantFrom<string | null>('a', 'b', 'c', null),
  g: fc.constantFrom<number | null>(1, 2, null),
  v: fc.option(fc.integer({ min: 0, max: 4 }), { freq: 6 }),
  advance: fc.integer({ min: 0, max: 3 }).map((x) => x * 100),
  jitter: fc.integer({ min: 0, max: 12 }).map((x) => x * 100),
  nullTs: fc.integer({ min: 0, max: 25 }).map((x) => x === 0),
  del: fc.integer({ min: 0, max: 3 }).map((x) => x === 0),
});

const scenarioArb = (kind: Kind) => fc.record({
  type: fc.constantFrom(...TYPES[kind]),
  keys: fc.constantFrom<KeyChoice>('k', 'kg', 'g'),
  residual: fc.boolean(),
  /** How many distinct k values: 1 makes every row of a side meet every row of the other. */
  keyDomain: fc.integer({ min: 1, max: 3 }),
  lower: fc.integer({ min: -4, max: 2 }).map((x) => x * 500),
  width: fc.integer({ min: 0, max: 4 }).map((x) => x * 500),
  events: fc.array(evArb, { minLength: 6, maxLength: 48, size: 'max' }),
  delay: fc.integer({ min: 0, max: 4 }).map((x) => x * 300),
  seed: fc.integer(),
  barrierRate: fc.double({ min: 0.05, max: 0.4, noNaN: true }),
  wmRate: fc.double({ min: 0.2, max: 1, noNaN: true }),
  crashAfter: fc.integer({ min: 0, max: 3 }),
}).map((s) => ({ ...s, kind, upper: s.lower + s.width }));

type Scenario = ReturnType<typeof scenarioArb> extends fc.Arbitrary<infer S> ? S : never;

function stepsOf(sc: Scenario): { steps: Step[]; barriers: number } {
  const rnd = prng(sc.seed);
  let clock = T0 + 60_000;
  const per: { row: Row; op: number }[][] = [[], []];
  const changelogRight = sc.kind !== 'interval' && sc.kind !== 'window' && sc.kind !== 'regular_append';
  const changelogLeft = sc.kind === 'regular_changelog';
  sc.events.forEach((e, i) => {
    clock += e.advance;
    // Temporal versions always carry a time (a NULL one would be dropped anyway).
    const nullTs = e.nullTs && !(e.input === 1 && changelogRight);
    // Coarse times: ties between versions and rows exactly on a bound or a window end happen.
    const ts = nullTs ? null : clock - e.jitter;
    const ws = ts === null ? null : Math.floor(ts / SIZE) * SIZE;
    const op = (e.input === 0 ? changelogLeft : changelogRight) && e.del ? -1 : 1;
    const k = e.k === null ? null : String.fromCharCode(97 + ((e.k.charCodeAt(0) - 97) % sc.keyDomain));
    per[e.input]!.push({ row: [e.id, k, e.g, e.v, ts, ws, ws === null ? null : ws + SIZE], op });
  });
  const chunks = per.map((rows, input) => {
    const out: Step[] = [];
    const changelog = input === 0 ? changelogLeft : changelogRight;
    for (let i = 0; i < rows.length;) {
      const n = 1 + Math.floor(rnd() * 4);
      const part = rows.slice(i, i + n);
      out.push({ kind: 'batch', input, rows: part.map((p) => p.row), ops: changelog ? part.map((p) => p.op) : null });
      i += n;
    }
    return out;
  });
  const steps: Step[] = [];
  const maxTs = [-Infinity, -Infinity];
  let epoch = 0;
  for (;;) {
    const open = chunks.filter((c) => c.length > 0);
    if (open.length === 0) break;
    const s = open[Math.floor(rnd() * open.length)]!.shift()!;
    steps.push(s);
    if (s.kind === 'batch') {
      for (const r of s.rows) if (r[4] !== null && (r[4] as number) > maxTs[s.input]!) maxTs[s.input] = r[4] as number;
      if (Number.isFinite(maxTs[s.input]!) && rnd() < sc.wmRate) steps.push({ kind: 'wm', input: s.input, time: maxTs[s.input]! - sc.delay });
    }
    if (rnd() < sc.barrierRate) steps.push({ kind: 'barrier', epoch: ++epoch });
  }
  return { steps, barriers: epoch };
}

const rowObj = (names: readonly string[], r: Row): JRow => Object.fromEntries(names.map((n, i) => [n, r[i] ?? null]));

/** The batch join the streaming run must equal. */
/** The rows the join must emit, and how many input rows it must drop as late. */
function reference(sc: Scenario, steps: readonly Step[]): { rows: JRow[]; late: number } {
  let late = 0;
  const wms = [-Infinity, -Infinity];
  const keyIx = KEYS[sc.keys];
  const keyEq = (l: JRow, r: JRow) => keyIx.every((i) => sqlEq(l[LN[i]!], r[RN[i]!]));
  const res = (l: JRow, r: JRow) => !sc.residual || (l.v !== null && r.w !== null && (l.v as number) <= (r.w as number));
  const left: JRow[] = []; const right: JRow[] = [];
  const lChanges: { row: JRow; op: number }[] = []; const rChanges: { row: JRow; op: number; time: number }[] = [];
  const out: JRow[] = [];
  const current = new Map<string, JRow>();
  const rkey = (r: JRow) => (keyIx.some((i) => r[RN[i]!] === null) ? null : JSON.stringify(keyIx.map((i) => r[RN[i]!])));
  const lkey = (l: JRow) => (keyIx.some((i) => l[LN[i]!] === null) ? null : JSON.stringify(keyIx.map((i) => l[LN[i]!])));
  for (const s of steps) {
    if (s.kind === 'wm') { wms[s.input] = Math.max(wms[s.input]!, s.time); continue; }
    if (s.kind !== 'batch') continue;
    const wm = Math.min(wms[0]!, wms[1]!);
    s.rows.forEach((r0, i) => {
      const op = s.ops ? s.ops[i]! : 1;
      const row = rowObj(s.input === 0 ? LN : RN, r0);
      const t = r0[4] as number | null; const end = r0[6] as number | null;
      switch (sc.kind) {
        case 'interval': if (t !== null && t > wm) (s.input === 0 ? left : right).push(row); else late++; break;
        case 'window': if (end !== null && end > wm) (s.input === 0 ? left : right).push(row); else late++; break;
        case 'regular_append': (s.input === 0 ? left : right).push(row); break;
        case 'regular_changelog': if (s.input === 0) lChanges.push({ row, op }); else rChanges.push({ row, op, time: 0 }); break;
        case 'temporal_event':
          // A version with a NULL key can never match: ignored, not counted.
          if (s.input === 1 && rkey(row) === null) break;
          if (t !== null && t > wm) { if (s.input === 0) left.push(row); else rChanges.push({ row, op, time: t }); } else late++;
          break;
        case 'temporal_proc': {
          if (s.input === 1) { const k = rkey(row); if (k !== null) { if (op > 0) current.set(k, row); else current.delete(k); } break; }
          const k = lkey(row);
          const v = k === null ? undefined : current.get(k);
          if (v && res(row, v)) out.push({ ...row, ...v });
          else if (sc.type === 'left') out.push({ ...row, ...Object.fromEntries(RN.map((n) => [n, null])) });
          break;
        }
      }
    });
  }
  switch (sc.kind) {
    case 'interval':
      return { late, rows: refJoin(left, right, sc.type, (l, r) => {
        if (!keyEq(l, r) || !res(l, r)) return false;
        const d = (l.ts as number) - (r.rts as number);
        return d >= sc.lower && d <= sc.upper;
      }, LN, RN) };
    case 'window':
      return { late, rows: refJoin(left, right, sc.type, (l, r) => l.ws === r.rws && l.we === r.rwe && keyEq(l, r) && res(l, r), LN, RN) };
    case 'regular_append':
      return { late, rows: refJoin(left, right, sc.type, (l, r) => keyEq(l, r) && res(l, r), LN, RN) };
    case 'regular_changelog':
      return { late, rows: refJoin(currentRows(lChanges, (r) => String(r.id)), currentRows(rChanges, (r) => String(r.rid)), sc.type, (l, r) => keyEq(l, r) && res(l, r), LN, RN) };
    case 'temporal_event':
      for (const l of left) {
        const k = lkey(l);
        const v = k === null ? null : versionAt(rChanges.filter((c) => rkey(c.row) === k), l.ts as number);
        if (v && res(l, v)) out.push({ ...l, ...v });
        else if (sc.type === 'left') out.push({ ...l, ...Object.fromEntries(RN.map((n) => [n, null])) });
      }
      return { late, rows: out };
    case 'temporal_proc':
      return { late, rows: out };
  }
}

interface RunOut { rows: JRow[]; late: number; lateSeen: number; maxState: number }

/** Runs the steps through a graph; `crashAt` = j: snapshot at barrier j, go on `crashAfter` steps, lose the uncommitted output, resume from the snapshot's bytes. */
function run(plan: PhysicalGraph, steps: readonly Step[], crashAt: number | null, crashAfter: number): RunOut {
  const sinkNode = plan.nodes.at(-1)!;
  const schema = sinkNode.schema; const stream = sinkNode.stream;
  const names = schema.fields.map((x) => x.name);
  const table = new Map<string, JRow>(); const appended: JRow[] = [];
  let pending: { op: number; row: Row }[] = [];
  const commit = () => {
    for (const p of pending) {
      if (stream.kind === 'append') { expect(p.op).toBe(1); appended.push(rowObj(names, p.row)); continue; }
      const key = JSON.stringify(stream.key.map((c) => p.row[c] ?? null));
      if (p.op > 0) table.set(key, rowObj(names, p.row)); else table.delete(key);
    }
    pending = [];
  };
  const sink = { batch: (b: RecordBatch, ops: Int8Array | null) => batchRows(b, schema).forEach((r, i) => pending.push({ op: ops ? ops[i]! : 1, row: r })), barrier: commit, end: commit };
  let lateSeen = 0;
  const ctx = { onLate: (l: LateRows) => { lateSeen += l.rows.length; } };
  let graph = createGraph(plan, sink, ctx);
  let maxState = 0;
  const push = (s: Step) => {
    if (s.kind === 'batch') graph.push(s.input, { kind: 'batch', batch: rowsBatch(s.input === 0 ? LS : RS, s.rows), ops: s.ops ? Int8Array.from(s.ops) : null });
    else if (s.kind === 'wm') graph.push(s.input, { kind: 'watermark', time: s.time });
    else graph.barrier(s.epoch);
    for (const m of Object.values(graph.metrics())) maxState = Math.max(maxState, m.stateRows);
  };
  let files: Record<string, Uint8Array> | null = null; let at = -1;
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i]!;
    push(s);
    if (crashAt !== null && s.kind === 'barrier' && s.epoch === crashAt) {
      files = toIpcFiles(graph.snapshot(crashAt)); at = i;
      for (let j = i + 1; j < Math.min(steps.length, i + 1 + crashAfter) && steps[j]!.kind !== 'barrier'; j++) push(steps[j]!);
      break;
    }
  }
  if (files !== null) {
    pending = [];
    graph = createGraph(plan, sink, ctx);
    graph.restore(fromIpcFiles(files));
    for (let i = at + 1; i < steps.length; i++) push(steps[i]!);
  }
  graph.end();
  const late = Object.values(graph.metrics()).reduce((a, m) => a + m.lateRowsDropped, 0);
  return { rows: stream.kind === 'append' ? appended : [...table.values()], late, lateSeen, maxState };
}

function check(sc: Scenario): void {
  const plan = buildGraph(joinOp(sc), streams(sc));
  const { steps, barriers } = stepsOf(sc);
  const ref = reference(sc, steps);
  const expected = canon(ref.rows);
  const straight = run(plan, steps, null, 0);
  expect(canon(straight.rows)).toEqual(expected);
  expect(straight.late, 'late rows counted').toBe(ref.late);
  expect(straight.lateSeen, 'late rows handed to onLate').toBe(ref.late);
  for (let j = 1; j <= Math.min(barriers, 5); j++) {
    const resumed = run(plan, steps, j, sc.crashAfter);
    expect(canon(resumed.rows), `crash after barrier ${j}`).toEqual(expected);
    expect(resumed.late, `late rows, crash after barrier ${j}`).toBe(straight.late);
  }
}

const RUNS = Number(process.env.PROPERTY_RUNS ?? 120);
const KINDS: readonly Kind[] = ['interval', 'window', 'regular_append', 'regular_changelog', 'temporal_event', 'temporal_proc'];

describe('joins = batch join of the rows that took part, whatever the arrival, split, watermarks and crash point', () => {
  for (const kind of KINDS) {
    it(kind, () => {
      fc.assert(fc.property(scenarioArb(kind), check), { numRuns: Math.ceil(RUNS / 2), endOnFailure: true });
    });
  }
});

// A counterexample from a failure, replayed alone: JOIN_SCENARIO='<its JSON>' npx vitest run test/executor/join-properties.test.ts
if (process.env.JOIN_SCENARIO) it('given scenario', () => check(JSON.parse(process.env.JOIN_SCENARIO!) as Scenario));

describe('join reference', () => {
  it('pads, semi- and anti-joins by hand', () => {
    const L = [{ a: 1 }, { a: 2 }, { a: null }]; const R = [{ b: 1 }, { b: 1 }, { b: 3 }];
    const m = (l: JRow, r: JRow) => sqlEq(l.a, r.b);
    expect(refJoin(L, R, 'inner', m, ['a'], ['b'])).toEqual([{ a: 1, b: 1 }, { a: 1, b: 1 }]);
    expect(refJoin(L, R, 'full', m, ['a'], ['b'])).toEqual([{ a: 1, b: 1 }, { a: 1, b: 1 }, { a: 2, b: null }, { a: null, b: null }, { a: null, b: 3 }]);
    expect(refJoin(L, R, 'semi', m, ['a'], ['b'])).toEqual([{ a: 1 }]);
    expect(refJoin(L, R, 'anti', m, ['a'], ['b'])).toEqual([{ a: 2 }, { a: null }]);
    expect(versionAt([{ row: { x: 1 }, op: 1, time: 5 }, { row: { x: 2 }, op: 1, time: 5 }, { row: {}, op: -1, time: 9 }], 6)).toEqual({ x: 2 });
    expect(versionAt([{ row: { x: 1 }, op: 1, time: 5 }, { row: {}, op: -1, time: 9 }], 9)).toBeNull();
  });
});
