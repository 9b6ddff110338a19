/**
 * The in-suite SQL fuzz run: a fixed seed, statements from the grammar and mutations of the corpus
 * (test/fuzz/sql-gen.ts) on POST /v1/sql of the real service (`server/main.ts` in a child process, on
 * the test broker, over a source with rows). Every request must answer 2xx/4xx within 2 s (SQL errors
 * with line:column), /healthz must answer within 2 s throughout, and the process must live; what a
 * statement creates is dropped before the next one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokers } from '../helpers/kafka.ts';
import { formatReport, runFuzz } from './run.ts';
import { startFuzzService, type FuzzService } from './service.ts';
import { setupFixture, sqlTarget } from './targets.ts';

const SEED = 20261130;

describe('SQL fuzz (seeded, in-suite)', () => {
  let svc: FuzzService;
  beforeAll(async () => { const t = Date.now(); svc = await startFuzzService({ token: 'fuzz-token-0123456789', brokers: brokers() }); if (process.env.FUZZ_VERBOSE) console.log(`service up in ${Date.now() - t} ms`); });
  afterAll(async () => { const t = Date.now(); await svc?.stop(5_000); if (process.env.FUZZ_VERBOSE) console.log(`service stopped in ${Date.now() - t} ms`); });

  it('answers every generated statement with a 2xx/4xx in bounded time while /healthz keeps answering', async () => {
    const env = { port: svc.port, token: svc.token, brokers: brokers().split(',') };
    const fx = await setupFixture(env);
    const report = await runFuzz([sqlTarget(env, fx)], { port: svc.port, seed: SEED, maxRuns: 500, maxMs: 25_000, exited: () => svc.exit() });
    const text = formatReport(report);
    if (process.env.FUZZ_VERBOSE) console.log(text);
    expect(report.sent.sql, text).toBeGreaterThan(40);
    expect(report.classes, text).toEqual([]);
    expect(report.aborted, text).toBeNull();
    expect(svc.exit(), text).toBeNull();
  }, 90_000);
});
