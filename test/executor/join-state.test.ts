/**
 * State bounds of the join operators: with moving event time, interval and window joins (and the
 * temporal join's versions) keep state proportional to the time bound, not to the input — including
 * keys that are never seen again (the key table is compacted); a regular join keeps everything unless a
 * TTL evicts it (checked at barriers against ctx.now). Numbers are printed for the report.
 */
import { describe, expect, it } from 'vitest';
import type { RecordBatch } from 'apache-arrow';
import { createGraph, type Graph } from '../../executor/graph.ts';
import { batchRows, rowsBatch, type Row } from '../../executor/rows.ts';
import type { JoinBound, JoinType } from '../../planner/physical.ts';
import { GraphBuilder, type StreamKind } from '../../planner/physical-graph.ts';
import { T, type Schema } from '../../planner/types.ts';

const f = (name: string, type: Schema['fields'][number]['type']) => ({ name, type, nullable: true });
const S: Schema = { fields: [f('k', T.varchar), f('v', T.bigint), f('ts', T.timestamp), f('ws', T.timestamp), f('we', T.timestamp)] };
const R: Schema = { fields: [f('rk', T.varchar), f('w', T.bigint), f('rts', T.timestamp), f('rws', T.timestamp), f('rwe', T.timestamp)] };
const T0 = Date.parse('2024-01-01T00:00:00.000Z');
const WIN = 5000;

function graphOf(type: JoinType, bound: JoinBound, streams: [StreamKind, StreamKind], keys: number[], now?: () => number): { g: Graph; out: { rows: number; ops: number[] } } {
  const b = new GraphBuilder();
  const l = b.source(null, S, streams[0]); const r = b.source(null, R, streams[1]);
  const j = b.op({ kind: 'join', joinType: type, leftKeys: keys, rightKeys: keys, residual: null, bound, leftSchema: S, rightSchema: R, schema: { fields: [...S.fields, ...R.fields] } }, [l, r]);
  b.sink({ kind: 'collect' }, j);
  const out = { rows: 0, ops: [] as number[] };
  const g = createGraph(b.build(), { batch: (x: RecordBatch, ops: Int8Array | null) => { out.rows += x.numRows; if (ops) out.ops.push(...ops); } }, now ? { now } : {});
  return { g, out };
}

const rowAt = (k: string, v: number, ts: number): Row => { const ws = Math.floor(ts / WIN) * WIN; return [k, v, ts, ws, ws + WIN]; };
const bytes: number[] = [];
/** The rows drive() fed, per side (none are late: the watermark trails by 2 s). */
const fed: Row[][] = [[], []];

/**
 * How many rows a LEFT / FULL join of the fed rows emits when rows match on key and `match(lt, rt)`:
 * a hash join by key (the keys seen once never match), for checking the output across key compactions.
 */
function expectedRows(match: (l: Row, r: Row) => boolean, full: boolean): number {
  const byKey = new Map<string, Row[]>();
  for (const r of fed[1]!) { const k = r[0] as string; if (!byKey.has(k)) byKey.set(k, []); byKey.get(k)!.push(r); }
  const rightMatched = new Set<Row>();
  let n = 0;
  for (const l of fed[0]!) {
    let m = 0;
    for (const r of byKey.get(l[0] as string) ?? []) if (match(l, r)) { m++; rightMatched.add(r); }
    n += m === 0 ? 1 : m;
  }
  return full ? n + fed[1]!.length - rightMatched.size : n;
}
const stateRows = (g: Graph) => Object.values(g.metrics())[0]!.stateRows;

/** Feeds `batches` batches of `n` rows a side, event time moving 1 s a batch; half the keys are never seen again. */
function drive(g: Graph, batches: number, n: number): number[] {
  const samples: number[] = []; bytes.length = 0; fed[0] = []; fed[1] = [];
  for (let bi = 0; bi < batches; bi++) {
    const t = T0 + bi * 1000;
    for (let side = 0; side < 2; side++) {
      const rows: Row[] = [];
      for (let i = 0; i < n; i++) rows.push(rowAt(i % 2 === 0 ? `hot${i % 500}` : `once${bi}-${side}-${i}`, i, t + (i % 1000)));
      fed[side]!.push(...rows);
      g.push(side, { kind: 'batch', batch: rowsBatch(side === 0 ? S : R, rows), ops: null });
      g.push(side, { kind: 'watermark', time: t - 2000 });
    }
    if (bi % 5 === 4) g.barrier(bi);
    samples.push(stateRows(g)); bytes.push(Object.values(g.metrics())[0]!.stateBytes);
  }
  return samples;
}

describe('join state stays bounded with moving event time', () => {
  it('interval join (LEFT, ±1 s): state follows the bound, not the input', () => {
    const { g, out } = graphOf('left', { kind: 'interval', leftTime: 2, rightTime: 2, lowerMs: -1000, upperMs: 1000 }, [{ kind: 'append' }, { kind: 'append' }], [0]);
    const started = performance.now();
    const s = drive(g, 60, 1000);
    const ms = performance.now() - started;
    const peakLate = Math.max(...s.slice(30)); const peakEarly = Math.max(...s.slice(5, 30));
    console.log(`interval join: 120000 rows in, state rows peak ${Math.max(...s)} (last 30 batches ${peakLate}), out ${out.rows} rows, ${Math.round(120000 / (ms / 1000))} rows/s`);
    // ~ (delay 2 s + bound 1 s + a batch's 1 s spread) of both sides ≈ 10000 rows; never the 120000 fed.
    expect(peakLate).toBeLessThan(12_000);
    expect(peakLate).toBeLessThanOrEqual(peakEarly * 1.1);
    g.end();
    // Every pair and every padded row, though the key table was compacted along the way.
    expect(out.rows).toBe(expectedRows((l, r) => Math.abs((l[2] as number) - (r[2] as number)) <= 1000, false));
    // 60000 keys went through; the key table keeps the live ones (compacted), so bytes do not follow the input.
    expect(Math.max(...bytes.slice(40))).toBeLessThan(2 * Math.max(...bytes.slice(10, 25)));
    expect(stateRows(g)).toBe(0);
  });

  it('window join (FULL, 5 s tumbling): a window is freed when it closes', () => {
    const { g, out } = graphOf('full', { kind: 'window', leftEnd: 4, rightEnd: 4 }, [{ kind: 'append' }, { kind: 'append' }], [3, 4, 0]);
    const started = performance.now();
    const s = drive(g, 60, 1000);
    const ms = performance.now() - started;
    const peakLate = Math.max(...s.slice(30));
    console.log(`window join: 120000 rows in, state rows peak ${Math.max(...s)} (last 30 batches ${peakLate}), out ${out.rows} rows, ${Math.round(120000 / (ms / 1000))} rows/s`);
    // At most the open windows' rows: ≤ (5 s window + 2 s delay + 1 s spread) × 2000 rows/s.
    expect(peakLate).toBeLessThanOrEqual(16_000);
    expect(Math.max(...bytes.slice(40))).toBeLessThan(2 * Math.max(...bytes.slice(10, 25)));
    g.end();
    expect(stateRows(g)).toBe(0);
    expect(out.rows).toBe(expectedRows((l, r) => l[3] === r[3], true));
  });

  it('temporal join: only the versions still needed are kept', () => {
    const { g, out } = graphOf('left', { kind: 'temporal', leftTime: 2, rightTime: 2 }, [{ kind: 'append' }, { kind: 'changelog', key: [0] }], [0]);
    const samples: number[] = [];
    const started = performance.now();
    for (let bi = 0; bi < 60; bi++) {
      const t = T0 + bi * 1000;
      // 100 keys, 10 new versions of each a second; 1000 left rows a second.
      g.push(1, { kind: 'batch', batch: rowsBatch(R, Array.from({ length: 1000 }, (_, i) => rowAt(`k${i % 100}`, i, t + i))), ops: new Int8Array(1000).fill(1) });
      g.push(0, { kind: 'batch', batch: rowsBatch(S, Array.from({ length: 1000 }, (_, i) => rowAt(`k${i % 100}`, i, t + i))), ops: null });
      g.push(0, { kind: 'watermark', time: t - 2000 }); g.push(1, { kind: 'watermark', time: t - 2000 });
      samples.push(stateRows(g));
    }
    const ms = performance.now() - started;
    const peakLate = Math.max(...samples.slice(30));
    console.log(`temporal join: 120000 rows in, state rows peak ${Math.max(...samples)} (last 30 batches ${peakLate}), out ${out.rows} rows, ${Math.round(120000 / (ms / 1000))} rows/s`);
    // Waiting left rows (≤ 3 s ≈ 3000) + versions newer than the watermark (≈ 3000) + one per key, with slack for the doubling sweep.
    expect(peakLate).toBeLessThan(12_000);
    expect(out.rows).toBeGreaterThan(50_000);
  });
});

describe('regular join state', () => {
  it('grows without a TTL; a TTL evicts rows neither inserted nor matched for ttl, at barriers, silently', () => {
    let clock = 1_000_000;
    const cl: [StreamKind, StreamKind] = [{ kind: 'changelog', key: [0] }, { kind: 'changelog', key: [0] }];
    const feed = (g: Graph, from: number, n: number) => {
      g.push(0, { kind: 'batch', batch: rowsBatch(S, Array.from({ length: n }, (_, i) => rowAt(`a${from + i}`, i, T0))), ops: new Int8Array(n).fill(1) });
      g.push(1, { kind: 'batch', batch: rowsBatch(R, Array.from({ length: n }, (_, i) => rowAt(`a${from + i}`, i, T0))), ops: new Int8Array(n).fill(1) });
    };
    const plain = graphOf('left', { kind: 'regular', ttlMs: null }, cl, [0], () => clock);
    for (let e = 0; e < 5; e++) { feed(plain.g, e * 1000, 1000); clock += 60_000; plain.g.barrier(e); }
    console.log(`regular join without TTL: state rows ${stateRows(plain.g)} after 10000 rows`);
    expect(stateRows(plain.g)).toBe(10_000);

    clock = 1_000_000;
    const ttl = graphOf('left', { kind: 'regular', ttlMs: 30_000 }, cl, [0], () => clock);
    const seen: number[] = [];
    for (let e = 0; e < 5; e++) { feed(ttl.g, e * 1000, 1000); clock += 20_000; ttl.g.barrier(e); seen.push(stateRows(ttl.g)); }
    console.log(`regular join, TTL 30 s, 1000 rows a side every 20 s: state rows at barriers ${seen.join(', ')}`);
    // At each barrier the rows fed 20 s before stay, those fed 40 s before are gone.
    expect(seen).toEqual([2000, 2000, 2000, 2000, 2000]);
    const emitted = ttl.out.ops.length;
    // A left row matched by a new right row stays alive: update right a4000 (left a4000 is 20 s old).
    clock += 5_000;
    ttl.g.push(1, { kind: 'batch', batch: rowsBatch(R, [rowAt('a4000', 99, T0)]), ops: Int8Array.from([1]) });
    clock += 20_000;
    ttl.g.barrier(10);
    // 45 s since the last feed: only the pair touched 20 s ago survives (left a4000 and right a4000).
    expect(stateRows(ttl.g)).toBe(2);
    // Eviction emitted nothing; the update retracted the old pair and emitted the new one (the left row's padded row,
    // out and back within the batch, cancels).
    expect(ttl.out.ops.slice(emitted)).toEqual([-1, 1]);
    const snap = ttl.g.snapshot(10);
    expect(Object.values(snap.nodes)[0]!.tables.left!.numRows).toBe(1);
    expect(batchRows(Object.values(snap.nodes)[0]!.tables.right!, { fields: [...R.fields, f('_m', T.double), f('_a', T.double), f('_f', T.double)] })[0]!.slice(0, 2)).toEqual(['a4000', 99]);
  });

  it('keys deleted from both changelogs leave the key tables (compacted at barriers): bytes stay flat under churn', () => {
    const cl: [StreamKind, StreamKind] = [{ kind: 'changelog', key: [0] }, { kind: 'changelog', key: [0] }];
    const { g, out } = graphOf('inner', { kind: 'regular', ttlMs: null }, cl, [0]);
    const live = new Map<string, number>();
    const b: number[] = [];
    for (let e = 0; e < 40; e++) {
      for (let side = 0; side < 2; side++) {
        const rows = Array.from({ length: 500 }, (_, i) => rowAt(`e${e}-${i}`, i, T0));
        const gone = Array.from({ length: e > 0 ? 500 : 0 }, (_, i) => rowAt(`e${e - 1}-${i}`, i, T0));
        g.push(side, { kind: 'batch', batch: rowsBatch(side === 0 ? S : R, [...gone, ...rows]), ops: Int8Array.from([...gone.map(() => -1), ...rows.map(() => 1)]) });
      }
      g.barrier(e);
      b.push(Object.values(g.metrics())[0]!.stateBytes);
    }
    for (const op of out.ops) live.set('n', (live.get('n') ?? 0) + op);
    console.log(`regular join under churn: 40000 keys through, state rows ${stateRows(g)}, state bytes epoch 10 ${b[10]} → epoch 39 ${b[39]}`);
    expect(stateRows(g)).toBe(1000);
    expect(live.get('n')).toBe(500);
    expect(b[39]!).toBeLessThan(2 * b[10]!);
  });
});
