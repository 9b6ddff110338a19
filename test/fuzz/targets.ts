/**
 * Fuzz targets: what is sent and the properties every answer must have. A target is a generator and
 * a `run` that sends one input and returns what went wrong (nothing, mostly); test/fuzz/run.ts
 * drives a list of them. A new target (malformed Kafka records produced to a topic that a source
 * reads, say) is one more object of this shape.
 *
 * Properties, for every input:
 * - an answer within `limitMs` (a complete response, not a timeout, not a closed socket);
 * - never a 5xx;
 * - every 4xx body is the API's error shape; SQL errors (400) carry line and column;
 * - without the token, no 2xx from a protected route (only /healthz, /docs and the dashboard's
 *   files may answer 2xx);
 * (and, checked by the runner around them, /healthz answers throughout and the process lives).
 */
import fc from 'fast-check';
import { createTopic, produce } from '../../connectors/kafka/admin.ts';
import { garbageArb, httpCaseArb, type HttpCase, type HttpFixture } from './http-gen.ts';
import { httpRequest, isErrorShape, rawRequest, type RawResponse } from './raw-http.ts';
import { fixtureSql, sqlRequestArb } from './sql-gen.ts';

export interface Finding {
  /** What kind of failure: findings of one class are one bug, shrunk to one reproducer. */
  readonly cls: string;
  readonly detail: string;
}

export interface Target<I> {
  readonly name: string;
  /** Relative share of the inputs. */
  readonly weight: number;
  readonly arbitrary: fc.Arbitrary<I>;
  /** The input, printable (a reproducer). */
  show(input: I): string;
  /** Sends one input; the status it got (0: none) and the properties it broke. */
  run(input: I): Promise<{ status: number; findings: Finding[] }>;
}

export interface FuzzEnv {
  readonly port: number;
  readonly token: string;
  /** Kafka bootstrap servers, to produce the fixture's rows. */
  readonly brokers: string[];
  /** Bound on every answer (default 2 s). */
  readonly limitMs?: number;
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

async function call(env: FuzzEnv, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<{ status: number; json: any; raw: RawResponse }> {
  const r = await rawRequest(env.port, httpRequest(method, path, { headers: auth(env.token), body: body === undefined ? undefined : JSON.stringify(body) }), timeoutMs);
  let json: unknown = null;
  try { json = JSON.parse(r.body); } catch { /* not JSON */ }
  return { status: r.status, json, raw: r };
}

/** The objects the fuzz starts from: a source `bids` over a topic with rows, and a view over it. */
export interface Fixture extends HttpFixture {
  readonly topic: string;
  /** Recreates what is missing and drops everything else the fuzz created. */
  restore(): Promise<void>;
}

export async function setupFixture(env: FuzzEnv): Promise<Fixture> {
  const topic = `fuzz-${process.pid}-${Date.now().toString(36)}`;
  await createTopic(env.brokers, topic, 2);
  const T0 = Date.parse('2024-06-01T00:00:00Z');
  await produce(env.brokers, topic, Array.from({ length: 40 }, (_, i) => ({
    partition: i % 2,
    value: JSON.stringify({ auction: i % 5, bidder: i % 7, price: 10 * i, channel: ['web', 'app', 'Web'][i % 3], url: `https://x/${i}`, dateTime: T0 + i * 1500, ts: T0 + i * 1500 }),
  })));
  const viewName = 'fz_counts';
  const setup = `${fixtureSql(topic)};
    CREATE MATERIALIZED VIEW ${viewName} WITH ('checkpoint.interval' = '500 ms') AS
      SELECT window_start, window_end, auction, COUNT(*) AS n FROM TUMBLE(bids, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, auction`;
  const r = await call(env, 'POST', '/v1/sql', { sql: setup });
  if (r.status !== 200) throw new Error(`fixture: ${r.status} ${r.raw.body}`);
  const queryId = (await call(env, 'GET', '/v1/queries')).json.queries.find((q: any) => q.name === viewName).id as string;
  const fx: Fixture = {
    token: env.token, viewName, queryId, bodyLimit: 1024 * 1024, topic,
    async restore() {
      const cat = (await call(env, 'GET', '/v1/catalog')).json;
      if (!cat) return;
      const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
      for (const o of [...cat.sinks, ...cat.views]) {
        if (o.name === viewName) continue;
        if (o.queryId) await call(env, 'DELETE', `/v1/queries/${encodeURIComponent(o.queryId)}`);
        else await call(env, 'POST', '/v1/sql', { sql: `DROP VIEW ${q(o.name)}` });
      }
      for (const s of cat.sources) if (s.name !== 'bids') await call(env, 'POST', '/v1/sql', { sql: `DROP SOURCE ${q(s.name)}` });
      if (!cat.sources.some((s: any) => s.name === 'bids') || !cat.views.some((v: any) => v.name === viewName)) {
        const again = await call(env, 'POST', '/v1/sql', { sql: setup.replace('CREATE SOURCE bids', 'CREATE SOURCE IF NOT EXISTS bids').replace(`VIEW ${viewName}`, `VIEW IF NOT EXISTS ${viewName}`) });
        if (again.status !== 200) throw new Error(`fixture lost and not restored: ${again.raw.body}`);
      }
    },
  };
  return fx;
}

/** A 2xx body an anonymous caller may see: health, the OpenAPI document and static files. */
function openContent(r: RawResponse): boolean {
  const ct = r.headers['content-type'] ?? '';
  if (/^text\/event-stream/.test(ct)) return false;
  if (/^(text\/html|text\/css|text\/javascript|application\/javascript|image\/|font\/|application\/x-yaml|text\/yaml|application\/yaml)/.test(ct)) return true;
  if (/^application\/json/.test(ct)) return r.body === '{"status":"ok"}' || r.body.startsWith('{"openapi"');
  return false;
}

function commonChecks(r: RawResponse, limitMs: number, isHead: boolean): Finding[] {
  const f: Finding[] = [];
  if (r.timedOut) f.push({ cls: 'no answer in time', detail: `no complete response within ${limitMs} ms` });
  else if (r.status === 0) f.push({ cls: 'connection closed without an answer', detail: `the socket closed before a status line (${r.ending})` });
  else if (r.ms > limitMs) f.push({ cls: 'slow answer', detail: `${r.ms} ms` });
  if (r.status >= 500) f.push({ cls: `5xx ${r.status}`, detail: r.body.slice(0, 300) });
  if (r.status >= 400 && !isHead && r.body !== '' && !isErrorShape(r.body)) f.push({ cls: `error shape ${r.status}`, detail: r.body.slice(0, 300) });
  return f;
}

/** Hostile HTTP requests, and bytes that are not HTTP at all. */
export function httpTarget(env: FuzzEnv, fx: HttpFixture): Target<HttpCase> {
  const limitMs = env.limitMs ?? 2000;
  return {
    name: 'http',
    weight: 3,
    arbitrary: fc.oneof({ weight: 9, arbitrary: httpCaseArb(fx) }, { weight: 1, arbitrary: garbageArb() }),
    show: (c) => JSON.stringify(c.bytes.length > 600 ? `${c.bytes.subarray(0, 600).toString('latin1')}… (${c.bytes.length} bytes)` : c.bytes.toString('latin1')),
    async run(c) {
      const r = await rawRequest(env.port, c.bytes, limitMs);
      const findings = commonChecks(r, limitMs, c.method.toUpperCase() === 'HEAD');
      const cls = (x: Finding) => ({ cls: `${c.label === 'request' ? '' : `${c.label}: `}${x.cls}`, detail: x.detail });
      if (!c.authed && r.status >= 200 && r.status < 300) {
        // A HEAD has no body to judge: ask the same with GET.
        const judged = c.method.toUpperCase() === 'HEAD' ? await rawRequest(env.port, Buffer.from(c.bytes.toString('latin1').replace(/^HEAD /, 'GET '), 'latin1'), limitMs) : r;
        if (judged.status >= 200 && judged.status < 300 && !openContent(judged)) {
          findings.push({ cls: 'protected content without the token', detail: `${judged.status} ${judged.headers['content-type'] ?? ''} ${judged.body.slice(0, 200)}` });
        }
      }
      return { status: r.status, findings: findings.map(cls) };
    },
  };
}

/** SQL from the grammar and mutated corpus statements, on POST /v1/sql; what it creates is dropped. */
export function sqlTarget(env: FuzzEnv, fx: Fixture): Target<string> {
  const limitMs = env.limitMs ?? 2000;
  return {
    name: 'sql',
    weight: 2,
    arbitrary: sqlRequestArb,
    show: (sql) => JSON.stringify(sql.length > 2000 ? `${sql.slice(0, 2000)}… (${sql.length} chars)` : sql),
    async run(sql) {
      const body = JSON.stringify({ sql });
      const r = await rawRequest(env.port, httpRequest('POST', '/v1/sql', { headers: auth(env.token), body }), limitMs);
      const findings = commonChecks(r, limitMs, false);
      if (r.status === 400 && sql.trim() !== '' && Buffer.byteLength(body) <= fx.bodyLimit && isErrorShape(r.body)) {
        const e = JSON.parse(r.body).error;
        if (e.line === undefined || e.column === undefined) findings.push({ cls: 'SQL error without line:column', detail: e.message.slice(0, 200) });
      }
      // 5xx classes by message, so two different internal errors are two findings.
      const out = findings.map((x) => (x.cls.startsWith('5xx') ? { ...x, cls: `${x.cls}: ${messageClass(r.body)}` } : x));
      if (r.status === 200 || r.timedOut || r.status >= 500) await fx.restore().catch((e) => out.push({ cls: 'cleanup failed', detail: String(e) }));
      return { status: r.status, findings: out };
    },
  };
}

/** A message with names, numbers and quoted parts blurred, so one bug is one class. */
function messageClass(body: string): string {
  let m = body;
  try { m = JSON.parse(body).error.message; } catch { /* raw */ }
  return m.replace(/'[^']*'|"[^"]*"/g, "'…'").replace(/\d+/g, 'N').slice(0, 60);
}
