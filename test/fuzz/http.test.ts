/**
 * The in-suite HTTP fuzz run: a fixed seed, a thousand and more hostile requests and non-HTTP bytes
 * (test/fuzz/http-gen.ts) on a real socket of the real app (buildApp with API_TOKEN set, its engine
 * on the test broker, with a view and a query to hit; in this process, as its startup is what costs). Every request must get a complete 2xx/4xx
 * answer within 2 s in the API's error shape, no request without the token may read a protected
 * route, /healthz must answer within 2 s throughout, and no connection may outlive its client.
 * `npm run fuzz` runs the same targets for minutes with a fresh seed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokers } from '../helpers/kafka.ts';
import { waitFor } from '../helpers/service.ts';
import { formatReport, runFuzz } from './run.ts';
import { startServer, type Server } from '../server/helpers.ts';
import { httpTarget, setupFixture } from './targets.ts';

const SEED = 20261130;

describe('HTTP fuzz (seeded, in-suite)', () => {
  const token = 'fuzz-token-0123456789';
  let srv: Server;
  beforeAll(async () => { srv = await startServer({ apiToken: token }); });
  afterAll(async () => { await srv?.close(); });

  it('answers every generated request with a 2xx/4xx in bounded time, in the error shape, never protected data without the token', async () => {
    const port = Number(new URL(srv.url).port);
    const env = { port, token, brokers: brokers().split(',') };
    const fx = await setupFixture(env);
    // /healthz every 100 ms: on a quiet machine the 1500 inputs take ~2.5 s, and the probes must cover them.
    const report = await runFuzz([httpTarget(env, fx)], { port, seed: SEED, maxRuns: 1500, maxMs: 25_000, probeEveryMs: 100 });
    const text = formatReport(report);
    if (process.env.FUZZ_VERBOSE) console.log(text);
    expect(report.sent.http, text).toBeGreaterThan(300);
    expect(report.healthProbes, text).toBeGreaterThan(10);
    expect(report.classes, text).toEqual([]);
    expect(report.aborted, text).toBeNull();
    // Every client has gone: the server holds no connection (one left open would hold app.close()).
    await waitFor(async () => (await new Promise<number>((res) => srv.app.server.getConnections((_e, n) => res(n)))) === 0, 5000, 'no open connections');
  }, 90_000);
});
