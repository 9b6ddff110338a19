/** Session windows: merges, their retractions under EMIT CHANGES, and rows joining a closed session. */
import { describe, expect, it } from 'vitest';
import { planQuery, runSteps, type Step } from './harness.ts';
import { canon } from './reference.ts';

const T0 = Date.parse('2024-01-01T12:00:00.000Z');
const at = (s: number) => T0 + s * 1000;
const iso = (s: number) => new Date(at(s)).toISOString();
const ddl = (delay: number) => `CREATE SOURCE clicks (usr VARCHAR, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '${delay}' SECOND)
  WITH (connector = 'kafka', topic = 'clicks', format = 'json')`;
const view = (emit = '', delay = 0) => `${ddl(delay)}; CREATE MATERIALIZED VIEW s AS SELECT window_start, window_end, usr, COUNT(*) AS n
  FROM SESSION(clicks, ts, INTERVAL '5' SECOND) GROUP BY window_start, window_end, usr ${emit}`;
const batch = (partition: number, ...rows: [string | null, number][]): Step =>
  ({ kind: 'batch', partition, rows: rows.map(([u, s]) => [u, at(s)]) });

describe('session aggregate', () => {
  it('an event bridging two sessions merges them; the merged-away rows are retracted', () => {
    const q = planQuery(view('', 10));
    const steps: Step[] = [
      batch(0, ['u', 10], ['u', 20], ['v', 12]), { kind: 'barrier' }, // watermark 10 s
      batch(0, ['u', 14]), { kind: 'barrier' }, // u: [10,19) and [20,25)
      batch(0, ['u', 17], ['w', 30]), { kind: 'barrier' }, // 17 bridges [10,19) and [20,25); watermark 20 s
    ];
    const r = runSteps(q, steps);
    expect(canon(r.table)).toEqual(canon([
      { window_start: iso(10), window_end: iso(25), usr: 'u', n: 4 },
      { window_start: iso(12), window_end: iso(17), usr: 'v', n: 1 },
      { window_start: iso(30), window_end: iso(35), usr: 'w', n: 1 },
    ]));
    const deletes = r.changes.filter((c) => c.op < 0).map((c) => [c.row.window_start, c.row.window_end, c.row.usr]);
    expect(deletes.sort()).toEqual([[iso(10), iso(15), 'u'], [iso(10), iso(19), 'u'], [iso(20), iso(25), 'u']].sort());
  });

  it('a row falling into a session that already closed is late, not a second overlapping session', () => {
    for (const emit of ['', 'EMIT ON WINDOW CLOSE']) {
      const q = planQuery(view(emit));
      // [10, 15) for u closes when the watermark reaches 15; u@12 then arrives: 12 + 5 > 15 but [10, 15) is final.
      const r = runSteps(q, [batch(0, ['u', 10], ['x', 15]), batch(0, ['u', 12]), batch(0, ['u', 40])]);
      const rows = emit ? r.appended : r.table;
      expect(canon(rows.filter((x) => x.usr === 'u'))).toEqual(canon([
        { window_start: iso(10), window_end: iso(15), usr: 'u', n: 1 },
        { window_start: iso(40), window_end: iso(45), usr: 'u', n: 1 },
      ]));
      expect(r.lateRows).toBe(1);
    }
  });

  it('state is freed as sessions close, and NULL keys form their own sessions', () => {
    const q = planQuery(view());
    const r = runSteps(q, [batch(0, [null, 1], ['', 2], [null, 3])]);
    expect(canon(r.table)).toEqual(canon([
      { window_start: iso(1), window_end: iso(8), usr: null, n: 2 },
      { window_start: iso(2), window_end: iso(7), usr: '', n: 1 },
    ]));
    expect(r.metrics[r.metrics.length - 1]!.stateRows).toBe(0);
  });
});
