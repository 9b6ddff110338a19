/**
 * The in-suite HTTP fuzz run: a fixed seed, a few thousand hostile requests and non-HTTP bytes
 * (test/fuzz/http-gen.ts) against the real service (`server/main.ts` in a child process, API_TOKEN
 * set, on the test broker, with a view and a query to hit). Every request must get a complete 2xx/4xx
 * answer within 2 s in the API's error shape, no request without the token may read a protected
 * route, /healthz must answer within 2 s throughout, and the process must live.
 * `npm run fuzz` runs the same targets for minutes with a fresh seed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokers } from '../helpers/kafka.ts';
import { formatReport, runFuzz } from './run.ts';
import { startFuzzService, type FuzzService } from './service.ts';
import { httpTarget, setupFixture } from './targets.ts';

const SEED = 20261130;

describe('HTTP fuzz (seeded, in-suite)', () => {
  let svc: FuzzService;
  beforeAll(async () => { const t = Date.now(); svc = await startFuzzService({ token: 'fuzz-token-0123456789', brokers: brokers() }); if (process.env.FUZZ_VERBOSE) console.log(`service up in ${Date.now() - t} ms`); });
  afterAll(async () => { const t = Date.now(); await svc?.stop(10_000); if (process.env.FUZZ_VERBOSE) console.log(`service stopped in ${Date.now() - t} ms`); });

  it('answers every generated request with a 2xx/4xx in bounded time, in the error shape, never protected data without the token', async () => {
    const env = { port: svc.port, token: svc.token, brokers: brokers().split(',') };
    const fx = await setupFixture(env);
    const report = await runFuzz([httpTarget(env, fx)], { port: svc.port, seed: SEED, maxRuns: 2500, maxMs: 35_000, exited: () => svc.exit() });
    const text = formatReport(report);
    if (process.env.FUZZ_VERBOSE) console.log(text);
    expect(report.sent.http, text).toBeGreaterThan(300);
    expect(report.healthProbes, text).toBeGreaterThan(10);
    expect(report.classes, text).toEqual([]);
    expect(report.aborted, text).toBeNull();
    expect(svc.exit(), text).toBeNull();
  }, 90_000);
});
