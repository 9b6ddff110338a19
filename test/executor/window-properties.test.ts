/**
 * Property tests: whatever the arrival order (bounded out-of-orderness), batch split, partition
 * assignment, barrier placement and crash/restore point, the streaming result after end of input equals
 * a plain batch computation (test/executor/reference.ts) of the same windows over the rows that were
 * not late — for tumble (with offset), hop (size not a multiple of slide too), cumulate and session,
 * under EMIT CHANGES (final upsert table) and EMIT ON WINDOW CLOSE (each window appended once).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Row } from '../../executor/rows.ts';
import { planQuery, runSteps, type Step } from './harness.ts';
import {
  assignSessions, assignWindows, canon, groupAndAggregate, watermarks, type Ev, type RefBatch, type Win,
} from './reference.ts';

const T0 = Date.parse('2024-01-01T12:00:00.000Z');

const AGGS = `COUNT(*) AS n, COUNT(v) AS nv, SUM(v) AS sv, MIN(ik) AS mi, MAX(v) AS mx, AVG(d) AS ad,
  COUNT(DISTINCT v) AS dv, COUNT(*) FILTER (WHERE v > 50) AS big, SUM(d) FILTER (WHERE ik > 0) AS sdp`;

function ddl(delayMs: number): string {
  return `CREATE SOURCE ev (k VARCHAR, ik INT, v BIGINT, d DOUBLE, ts TIMESTAMP(3),
    WATERMARK FOR ts AS ts - INTERVAL '${delayMs / 1000}' SECOND)
  WITH (connector = 'kafka', topic = 'ev', format = 'json')`;
}

function windowSql(w: Win): string {
  const s = (ms: number) => `INTERVAL '${ms / 1000}' SECOND`;
  switch (w.kind) {
    case 'tumble': return `TUMBLE(ev, ts, ${s(w.size)}${w.offset ? `, ${s(w.offset)}` : ''})`;
    case 'hop': return `HOP(ev, ts, ${s(w.slide)}, ${s(w.size)}${w.offset ? `, ${s(w.offset)}` : ''})`;
    case 'cumulate': return `CUMULATE(ev, ts, ${s(w.step)}, ${s(w.size)}${w.offset ? `, ${s(w.offset)}` : ''})`;
    case 'session': return `SESSION(ev, ts, ${s(w.gap)})`;
  }
}

/** A tiny seeded PRNG for the choices fast-check hands over as one seed (batch sizes, interleaving). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => { a = (a + 0x6d2b79f5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}

const evArb = fc.record({
  k: fc.constantFrom<string | null>('a', 'b', '', 'ü', null),
  ik: fc.constantFrom<number | null>(null, -1, 0, 1, 2, 7),
  v: fc.option(fc.integer({ min: 0, max: 100 }), { freq: 5 }),
  d: fc.option(fc.integer({ min: -100, max: 100 }), { freq: 5 }),
  // Arrival: the source clock moves on by `advance`; the event happened up to `jitter` before it.
  advance: fc.integer({ min: 0, max: 4 }).map((x) => x * 500),
  jitter: fc.integer({ min: 0, max: 12 }).map((x) => x * 500),
  nullTs: fc.integer({ min: 0, max: 40 }).map((x) => x === 0),
  partition: fc.integer({ min: 0, max: 2 }),
});

const scenarioArb = fc.record({
  events: fc.array(evArb, { maxLength: 60 }),
  delay: fc.integer({ min: 0, max: 8 }).map((x) => x * 1000),
  seed: fc.integer(),
  barrierRate: fc.double({ min: 0, max: 1, noNaN: true }),
  restoreAt: fc.option(fc.integer({ min: 0, max: 20 }), { freq: 2 }),
  crashAfter: fc.integer({ min: 0, max: 3 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer S> ? S : never;

interface Built {
  steps: Step[];
  refBatches: { partition: number; rows: Ev[] }[];
}

/** Arrival order → per-partition streams → random chunks interleaved, with barriers between them. */
function build(sc: Scenario): Built {
  const rnd = prng(sc.seed);
  let clock = T0 + 60_000;
  const perPartition: Ev[][] = [[], [], []];
  for (const e of sc.events) {
    clock += e.advance;
    perPartition[e.partition]!.push({ k: e.k, ik: e.ik, v: e.v, d: e.d, ts: e.nullTs ? null : clock - e.jitter });
  }
  const chunks: { partition: number; rows: Ev[] }[][] = perPartition.map((evs, p) => {
    const out: { partition: number; rows: Ev[] }[] = [];
    for (let i = 0; i < evs.length;) { const n = 1 + Math.floor(rnd() * 6); out.push({ partition: p, rows: evs.slice(i, i + n) }); i += n; }
    return out;
  });
  const refBatches: { partition: number; rows: Ev[] }[] = [];
  const steps: Step[] = [];
  for (;;) {
    const open = chunks.filter((c) => c.length > 0);
    if (open.length === 0) break;
    const b = open[Math.floor(rnd() * open.length)]!.shift()!;
    refBatches.push(b);
    steps.push({ kind: 'batch', partition: b.partition, rows: b.rows.map((e): Row => [e.k, e.ik, e.v, e.d, e.ts]) });
    if (rnd() < sc.barrierRate) steps.push({ kind: 'barrier' });
  }
  return { steps, refBatches };
}

function check(w: Win, keys: ('k' | 'ik')[], emit: 'changes' | 'close', sc: Scenario): void {
  const sql = `${ddl(sc.delay)};
    CREATE MATERIALIZED VIEW out AS SELECT window_start, window_end, ${keys.join(', ')}, ${AGGS}
    FROM ${windowSql(w)} GROUP BY window_start, window_end, ${keys.join(', ')}${emit === 'close' ? ' EMIT ON WINDOW CLOSE' : ''}`;
  const q = planQuery(sql);
  const { steps, refBatches } = build(sc);
  const res = runSteps(q, steps, { restoreAtBarrier: sc.restoreAt ?? undefined, crashAfter: sc.crashAfter });

  // The reference derives the watermark itself; it must agree with the one the harness pushed.
  const wms = watermarks(refBatches, sc.delay);
  const pushed = [...res.watermarkAt.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  expect(pushed).toEqual(wms);
  const batches: RefBatch[] = refBatches.map((b, i) => ({ rows: b.rows, wm: wms[i]! }));
  const ref = w.kind === 'session' ? assignSessions(w.gap, batches, (e) => JSON.stringify(keys.map((k) => e[k]))) : assignWindows(w, batches);
  const expected = canon(groupAndAggregate(ref.pairs, keys));

  if (emit === 'changes') expect(canon(res.table)).toEqual(expected);
  else {
    expect(canon(res.appended)).toEqual(expected); // also proves each window is appended exactly once
    expect(res.changes.every((c) => c.op === 1)).toBe(true);
  }
  expect(res.lateRows).toBe(ref.lateRows);
  // Everything closed at end of input: no state may be left behind.
  expect(res.metrics.reduce((s, m) => s + m.stateRows, 0)).toBe(0);
}

const RUNS = Number(process.env.PROPERTY_RUNS ?? 120);

const CASES: { name: string; w: Win; keys: ('k' | 'ik')[] }[] = [
  { name: 'tumble 10 s, offset 3 s, by (k, ik)', w: { kind: 'tumble', size: 10_000, offset: 3_000 }, keys: ['k', 'ik'] },
  { name: 'hop 7 s every 3 s (size not a multiple of slide)', w: { kind: 'hop', slide: 3_000, size: 7_000, offset: 0 }, keys: ['k'] },
  { name: 'hop 10 s every 5 s, offset 1 s, by ik', w: { kind: 'hop', slide: 5_000, size: 10_000, offset: 1_000 }, keys: ['ik'] },
  { name: 'cumulate 2 s steps up to 8 s', w: { kind: 'cumulate', step: 2_000, size: 8_000, offset: 0 }, keys: ['k'] },
  { name: 'session gap 5 s, by k', w: { kind: 'session', gap: 5_000 }, keys: ['k'] },
  { name: 'session gap 2 s, by ik', w: { kind: 'session', gap: 2_000 }, keys: ['ik'] },
];

describe('streaming = batch reference, whatever the arrival', () => {
  for (const c of CASES) {
    for (const emit of ['changes', 'close'] as const) {
      it(`${c.name}, EMIT ${emit === 'changes' ? 'CHANGES' : 'ON WINDOW CLOSE'}`, () => {
        fc.assert(fc.property(scenarioArb, (sc) => check(c.w, c.keys, emit, sc)), { numRuns: RUNS });
      });
    }
  }
});
