/**
 * `streamsql`: the command line client of the HTTP API.
 *
 *   streamsql submit <file.sql>          run the statements of a file, print each result
 *   streamsql query "<SQL>"              run SQL, print pull results as aligned tables;
 *                                        a SELECT … EMIT CHANGES streams its changes until Ctrl-C
 *   streamsql watch <view>               print a view's rows, then its changes as they happen
 *   streamsql status                     continuous queries with rates, watermark delay and lag
 *
 * Options: --url (default $STREAMSQL_URL or http://127.0.0.1:8080), --token (default $STREAMSQL_TOKEN
 * or $API_TOKEN), --json (raw JSON output). Exit code 1 on any error, with its line:column for SQL.
 */
import { readFileSync } from 'node:fs';

interface Options { url: string; token: string | null; json: boolean; from: 'latest' | 'earliest' | null }

const USAGE = `usage: streamsql [--url URL] [--token TOKEN] [--json] <command>

commands:
  submit <file.sql>      run the statements of a file
  query "<SQL>"          run SQL; SELECT … EMIT CHANGES streams until Ctrl-C (--from earliest|latest)
  watch <view>           a view's rows, then its changes as they happen
  status                 continuous queries: status, rates, watermark delay, lag
`;

class CliError extends Error {}

function parseArgs(argv: string[]): { opts: Options; rest: string[] } {
  const opts: Options = {
    url: process.env.STREAMSQL_URL || 'http://127.0.0.1:8080',
    token: process.env.STREAMSQL_TOKEN || process.env.API_TOKEN || null,
    json: false,
    from: null,
  };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (name: string) => {
      const eq = a.indexOf('=');
      if (eq >= 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new CliError(`${name} needs a value`);
      return v;
    };
    if (a === '--url' || a.startsWith('--url=')) opts.url = value('--url').replace(/\/+$/, '');
    else if (a === '--token' || a.startsWith('--token=')) opts.token = value('--token');
    else if (a === '--from' || a.startsWith('--from=')) {
      const v = value('--from');
      if (v !== 'latest' && v !== 'earliest') throw new CliError('--from is latest or earliest');
      opts.from = v;
    } else if (a === '--json') opts.json = true;
    else if (a === '-h' || a === '--help') rest.unshift('help');
    else rest.push(a);
  }
  return { opts, rest };
}

// ---- HTTP ---------------------------------------------------------------------------------------

function headers(o: Options, extra: Record<string, string> = {}): Record<string, string> {
  return { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...extra };
}

function errorText(status: number, body: unknown): string {
  const e = (body as { error?: { message?: string; line?: number; column?: number } } | null)?.error;
  if (!e?.message) return `HTTP ${status}`;
  return e.line !== undefined ? `${e.message} (line ${e.line}, column ${e.column})` : e.message;
}

async function call(o: Options, method: string, path: string, body?: unknown): Promise<any> {
  let r: Response;
  try {
    r = await fetch(o.url + path, {
      method,
      headers: headers(o, body !== undefined ? { 'content-type': 'application/json' } : {}),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new CliError(`cannot reach ${o.url}: ${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message}`);
  }
  const text = await r.text();
  let parsed: unknown = text;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  if (!r.ok) throw new CliError(errorText(r.status, parsed));
  return parsed;
}

/** Reads a Server-Sent Events response, calling `on` per event, until the server ends it or `signal` aborts. */
async function readSse(o: Options, method: string, path: string, body: unknown, on: (event: string, data: any, id: string | null) => void, signal: AbortSignal): Promise<void> {
  let r: Response;
  try {
    r = await fetch(o.url + path, {
      method,
      headers: headers(o, { accept: 'text/event-stream', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if (signal.aborted) return;
    throw new CliError(`cannot reach ${o.url}: ${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message}`);
  }
  if (!r.ok) {
    const text = await r.text();
    let parsed: unknown = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    throw new CliError(errorText(r.status, parsed));
  }
  const dec = new TextDecoder();
  let buf = '';
  try {
    for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i); buf = buf.slice(i + 2);
        let event = 'message'; let id: string | null = null; const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const c = line.indexOf(':');
          const k = c < 0 ? line : line.slice(0, c); const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
          if (k === 'event') event = v; else if (k === 'id') id = v; else if (k === 'data') data.push(v);
        }
        if (data.length) {
          let d: unknown = data.join('\n');
          try { d = JSON.parse(d as string); } catch { /* text */ }
          on(event, d, id);
        }
      }
    }
  } catch (e) {
    if (!signal.aborted) throw e;
  }
}

// ---- output -------------------------------------------------------------------------------------

const out = (s: string) => process.stdout.write(`${s}\n`);

function cell(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** An aligned table in psql's style: numbers right-aligned, a row count below. */
export function formatTable(columns: readonly string[], rows: readonly Record<string, unknown>[]): string {
  const cells = rows.map((r) => columns.map((c) => cell(r[c])));
  const numeric = columns.map((c) => rows.length > 0 && rows.every((r) => r[c] === null || r[c] === undefined || typeof r[c] === 'number'));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const pad = (s: string, i: number) => (numeric[i] ? s.padStart(widths[i]!) : s.padEnd(widths[i]!));
  const lines = [
    columns.map((c, i) => c.padEnd(widths[i]!)).join(' | ').trimEnd(),
    widths.map((w) => '-'.repeat(w)).join('-+-'),
    ...cells.map((r) => r.map(pad).join(' | ').trimEnd()),
    `(${rows.length} row${rows.length === 1 ? '' : 's'})`,
  ];
  return lines.join('\n');
}

function printResult(r: any): void {
  if (r.rows && r.columns) {
    if (r.statement === 'EXPLAIN' && r.rows[0]?.plan) out(r.rows[0].plan);
    else out(formatTable(r.columns.map((c: any) => c.name), r.rows));
  }
  if (r.message) out(r.message);
  else if (!r.rows) out(r.statement);
}

// ---- commands -----------------------------------------------------------------------------------

async function runSql(o: Options, sql: string): Promise<void> {
  const res = await call(o, 'POST', '/v1/sql', { sql });
  if (o.json) { out(JSON.stringify(res, null, 2)); return; }
  res.results.forEach((r: any, i: number) => { if (i > 0) out(''); printResult(r); });
}

function untilInterrupted(): AbortController {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return ac;
}

async function pushQuery(o: Options, sql: string): Promise<void> {
  const ac = untilInterrupted();
  let columns: string[] = [];
  await readSse(o, 'POST', '/v1/query-stream', { sql, ...(o.from ? { startFrom: o.from } : {}) }, (event, data, id) => {
    if (o.json) { out(JSON.stringify({ event, id, data })); return; }
    if (event === 'schema') { columns = data.columns.map((c: any) => c.name); out(`-- streaming ${columns.join(', ')} (Ctrl-C to stop)`); }
    else if (event === 'change') out(`${opMark(data.op)} ${columns.map((c) => cell(data.row[c])).join(' | ')}`);
    else if (event === 'error') throw new CliError(errorText(0, data));
  }, ac.signal);
}

function opMark(op: string): string {
  return op === 'delete' ? '-' : op === 'upsert' ? '~' : '+';
}

async function watch(o: Options, view: string): Promise<void> {
  const ac = untilInterrupted();
  let columns: string[] = [];
  await readSse(o, 'GET', `/v1/views/${encodeURIComponent(view)}/changes`, undefined, (event, data, id) => {
    if (o.json) { out(JSON.stringify({ event, id, data })); return; }
    switch (event) {
      case 'snapshot':
        columns = data.columns.map((c: any) => c.name);
        out(`-- ${view} at epoch ${data.epoch}`);
        out(formatTable(columns, data.rows));
        out('-- changes (+ insert, ~ upsert, - delete); Ctrl-C to stop');
        break;
      case 'change': out(`[${id}] ${opMark(data.op)} ${columns.map((c) => `${c}=${cell(data.row[c])}`).join(' ')}`); break;
      case 'end': out(`-- ${data.reason}`); ac.abort(); break;
      default: break;
    }
  }, ac.signal);
}

async function status(o: Options): Promise<void> {
  const { queries } = await call(o, 'GET', '/v1/queries');
  const full = await Promise.all(queries.map((q: any) => call(o, 'GET', `/v1/queries/${q.id}`).catch(() => q)));
  if (o.json) { out(JSON.stringify(full, null, 2)); return; }
  const rows = full.map((q: any) => {
    const p = q.progress ?? {};
    const lag = (p.partitions ?? []).reduce((a: number, x: any) => a + (x.lag ?? 0), 0);
    return {
      name: q.name, kind: q.kind, status: q.status,
      input_rows: p.inputRows ?? null, 'in/s': p.inputRowsPerSecond ?? null, 'processed/s': p.processedRowsPerSecond ?? null,
      'watermark_delay_s': p.watermarkDelayMs === null || p.watermarkDelayMs === undefined ? null : Math.round(p.watermarkDelayMs / 100) / 10,
      late: p.lateRowsDropped ?? null, lag, partitions: (p.partitions ?? []).length, id: q.id,
    };
  });
  out(formatTable(['name', 'kind', 'status', 'input_rows', 'in/s', 'processed/s', 'watermark_delay_s', 'late', 'lag', 'partitions', 'id'], rows));
  for (const q of full) if (q.error) out(`${q.name}: ${q.error}`);
}

async function main(argv: string[]): Promise<number> {
  const { opts, rest } = parseArgs(argv);
  const [cmd, ...args] = rest;
  switch (cmd) {
    case 'submit': {
      if (args.length !== 1) throw new CliError('usage: streamsql submit <file.sql>');
      let sql: string;
      try { sql = readFileSync(args[0]!, 'utf8'); } catch (e) { throw new CliError(`cannot read ${args[0]}: ${(e as Error).message}`); }
      await runSql(opts, sql);
      return 0;
    }
    case 'query': {
      const sql = args.join(' ').trim();
      if (!sql) throw new CliError('usage: streamsql query "SELECT …"');
      if (/\bEMIT\s+CHANGES\s*;?\s*$/i.test(sql) && /^\s*SELECT\b/i.test(sql)) await pushQuery(opts, sql);
      else await runSql(opts, sql);
      return 0;
    }
    case 'watch':
      if (args.length !== 1) throw new CliError('usage: streamsql watch <view>');
      await watch(opts, args[0]!);
      return 0;
    case 'status':
      await status(opts);
      return 0;
    case undefined: case 'help':
      process.stdout.write(USAGE);
      return cmd === 'help' ? 0 : 2;
    default:
      throw new CliError(`unknown command '${cmd}'\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
  process.stderr.write(`error: ${e instanceof CliError ? e.message : (e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
