/**
 * `npm run fuzz -- --minutes N [--seed S] [--targets http,sql] [--shrink-seconds 30]`: the long fuzz
 * run. Starts the service (`server/main.ts`, with API_TOKEN, against KAFKA_BROKERS or the embedded
 * broker), sets up the fixture, fires the targets of test/fuzz/targets.ts for N minutes while probing
 * /healthz, shrinks every failure class to a minimal reproducer, prints the report, stops every
 * process it started, and exits 1 if anything failed.
 */
import { randomBytes } from 'node:crypto';
import { formatReport, runFuzz, shrinkClass } from '../test/fuzz/run.ts';
import { startFuzzService, type FuzzService } from '../test/fuzz/service.ts';
import { httpTarget, setupFixture, sqlTarget, type FuzzEnv, type Target } from '../test/fuzz/targets.ts';
import { httpRequest, rawRequest } from '../test/fuzz/raw-http.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const minutes = Number(arg('minutes') ?? '2');
  const seed = arg('seed') !== undefined ? Number(arg('seed')) : randomBytes(4).readUInt32BE(0) >>> 1;
  const wanted = (arg('targets') ?? 'http,sql').split(',');
  const shrinkMs = Number(arg('shrink-seconds') ?? '30') * 1000;
  if (!(minutes > 0) || !Number.isInteger(seed)) { process.stderr.write('usage: npm run fuzz -- --minutes N [--seed S] [--targets http,sql] [--shrink-seconds 30]\n'); return 2; }

  const token = randomBytes(16).toString('hex');
  const brokersEnv = process.env.KAFKA_BROKERS || undefined;
  process.stderr.write(`fuzz: seed ${seed}, ${minutes} min, targets ${wanted.join(',')}; starting the service (${brokersEnv ? `KAFKA_BROKERS=${brokersEnv}` : 'embedded broker'})…\n`);
  let svc: FuzzService | null = null;
  const stop = async () => { const s = svc; svc = null; await s?.stop(); };
  process.on('SIGINT', () => { void stop().then(() => process.exit(130)); });
  try {
    svc = await startFuzzService({ token, brokers: brokersEnv, readyTimeoutMs: 180_000 });
    const info = JSON.parse((await rawRequest(svc.port, httpRequest('GET', '/v1/info', { headers: { authorization: `Bearer ${token}` } }), 10_000)).body);
    const env: FuzzEnv = { port: svc.port, token, brokers: String(info.kafka.bootstrap).split(',') };
    const fx = await setupFixture(env);
    const all: Record<string, Target<any>> = { http: httpTarget(env, fx), sql: sqlTarget(env, fx) };
    const targets = wanted.map((w) => { const t = all[w]; if (!t) throw new Error(`unknown target '${w}' (known: ${Object.keys(all).join(', ')})`); return t; });
    const s = svc;
    const report = await runFuzz(targets, {
      port: svc.port, seed, maxMs: minutes * 60_000, exited: () => s.exit(),
      onProgress: (r) => process.stderr.write(`  ${(r.ms / 1000).toFixed(0)} s: ${Object.entries(r.sent).map(([k, v]) => `${k} ${v}`).join(', ')}; ${r.classes.length} failure classes\n`),
    });
    if (!report.aborted) {
      for (const c of report.classes) {
        process.stderr.write(`shrinking [${c.cls}]…\n`);
        c.minimal = await shrinkClass(targets, seed, c, shrinkMs).catch(() => undefined);
        if (svc.exit()) break;
      }
    }
    process.stdout.write(`${formatReport(report)}\n`);
    if (report.aborted) process.stdout.write(`service log (tail):\n${svc.log().slice(-3000)}\n`);
    return report.classes.length === 0 && !report.aborted ? 0 : 1;
  } finally {
    await stop();
  }
}

main().then((code) => process.exit(code), (e) => { process.stderr.write(`fuzz: ${(e as Error).stack ?? e}\n`); process.exit(2); });
