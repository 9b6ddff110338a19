/**
 * Golden tests: each folder under golden/ holds
 *   query.sql      — CREATE SOURCE + CREATE MATERIALIZED VIEW; a `-- expect late rows: N` line;
 *   input.jsonl    — events by column name (optional "_partition", default 0; "_comment" ignored),
 *                    batches separated by {"_": "batch"}; the watermark follows each batch, a barrier too;
 *   expected.jsonl — the final view: the upsert table (EMIT CHANGES) or the appended rows (EMIT ON WINDOW CLOSE);
 *   deletes.jsonl  — optional: the key columns of every row retracted along the way.
 * Each case runs straight through, then killed at EVERY barrier (the doomed pipeline goes on for 0 or 2
 * more steps whose output is lost), restored from snapshots serialized through Arrow IPC into a fresh
 * pipeline and fed the input again from that barrier; every run must give the expected output.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Row } from '../../executor/rows.ts';
import { planQuery, runSteps, type PlannedQuery, type RunResult, type Step } from './harness.ts';
import { canon } from './reference.ts';

const DIR = join(import.meta.dirname, 'golden');

function jsonl(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

function steps(q: PlannedQuery, lines: Record<string, unknown>[]): Step[] {
  const out: Step[] = [];
  let rows: Row[] = []; let partition = 0;
  const close = () => {
    if (rows.length) { out.push({ kind: 'batch', partition, rows }, { kind: 'barrier' }); }
    rows = [];
  };
  for (const l of lines) {
    if (l._ === 'batch') { close(); continue; }
    const p = Number(l._partition ?? 0);
    if (rows.length && p !== partition) close();
    partition = p;
    rows.push(q.source.schema.fields.map((f) => l[f.name] ?? null));
  }
  close();
  return out;
}

const cases = readdirSync(DIR).filter((d) => existsSync(join(DIR, d, 'query.sql'))).sort();

describe('golden queries', () => {
  it('has a case for every window type × emit mode', () => {
    for (const w of ['tumble', 'hop', 'cumulate', 'session']) {
      for (const emit of ['changes', 'window_close']) {
        expect(cases.some((c) => {
          const q = planQuery(readFileSync(join(DIR, c, 'query.sql'), 'utf8'));
          const op = q.plan.ops.find((o) => o.kind === 'window_aggregate');
          return op?.kind === 'window_aggregate' && op.spec.kind === w && op.emit === emit;
        }), `${w} × ${emit}`).toBe(true);
      }
    }
  });

  for (const name of cases) {
    describe(name, () => {
      const sql = readFileSync(join(DIR, name, 'query.sql'), 'utf8');
      const q = planQuery(sql);
      const input = steps(q, jsonl(join(DIR, name, 'input.jsonl')));
      const expected = canon(jsonl(join(DIR, name, 'expected.jsonl')));
      const deletesPath = join(DIR, name, 'deletes.jsonl');
      const deletes = existsSync(deletesPath) ? canon(jsonl(deletesPath)) : null;
      const lateLine = /--\s*expect late rows:\s*(\d+)/.exec(sql);
      const check = (r: RunResult, label: string) => {
        // An append-only view (EMIT ON WINDOW CLOSE, a window Top-N, first rows) is a list; a keyed one a table.
        expect(canon(q.emitOnClose || q.keyColumns === null ? r.appended : r.table), label).toEqual(expected);
        if (q.emitOnClose) expect(r.changes.every((c) => c.op === 1), label).toBe(true);
        if (deletes) {
          const keys = Object.keys(deletes[0] ?? {});
          const got = r.changes.filter((c) => c.op < 0).map((c) => Object.fromEntries(keys.map((k) => [k, c.row[k]])));
          expect(canon(got), label).toEqual(deletes);
        }
        if (lateLine) expect(r.lateRows, label).toBe(Number(lateLine[1]));
      };

      it('straight through', () => {
        const r = runSteps(q, input);
        check(r, 'straight');
        // Windowed state is freed once every window closed at end of input.
        if (q.plan.ops.some((o) => o.kind === 'window_aggregate')) expect(r.metrics.reduce((s, m) => s + m.stateRows, 0)).toBe(0);
      });

      it('killed at each barrier and restored from Arrow IPC snapshots', () => {
        const barriers = input.filter((s) => s.kind === 'barrier').length;
        for (let b = 0; b < barriers; b++) {
          for (const crashAfter of [0, 2]) {
            const r = runSteps(q, input, { restoreAtBarrier: b, crashAfter });
            expect(r.restored).toBe(true);
            check(r, `killed after barrier ${b}, ${crashAfter} steps lost`);
          }
        }
      });
    });
  }
});
