/**
 * node-postgres (`pg`) against the real service: parameters, prepared statements, result types,
 * errors, cursors (DECLARE/FETCH/MOVE/CLOSE), 100 concurrent connections, SCRAM-SHA-256 with the API token; and bad input on raw
 * sockets (garbage, unknown message types, oversized messages, a client that stops reading, a
 * connection storm) → an error to that client, the service answering everyone else.
 */
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../server/app.ts';
import { startPgServer, type PgServer } from '../../server/pg/server.ts';
import { startPgFixture, T0, type PgFixture } from './helpers.ts';

const connect = async (port: number, extra: Partial<pg.ClientConfig> = {}) => {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'app', database: 'streamsql', ...extra });
  await c.connect();
  return c;
};

/** Startup packet for a raw socket. */
function startup(user = 'raw'): Buffer {
  const body = Buffer.concat([Buffer.from([0, 3, 0, 0]), Buffer.from(`user\0${user}\0\0`)]);
  const len = Buffer.alloc(4); len.writeInt32BE(body.length + 4);
  return Buffer.concat([len, body]);
}

/** Connects a raw socket, sends `bytes`, and collects what the server sends until it closes (or `ms`). */
function raw(port: number, bytes: Buffer[], ms = 3000): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let closed = false;
    s.on('data', (d) => got.push(d));
    s.on('error', () => undefined);
    s.on('close', () => { closed = true; clearTimeout(t); resolve({ data: Buffer.concat(got), closed }); });
    s.on('connect', () => { for (const b of bytes) s.write(b); });
    const t = setTimeout(() => { s.destroy(); resolve({ data: Buffer.concat(got), closed }); }, ms);
  });
}

const typed = (type: string, body: Buffer) => { const h = Buffer.alloc(5); h.write(type, 0, 'latin1'); h.writeInt32BE(body.length + 4, 1); return Buffer.concat([h, body]); };
const errorCode = (data: Buffer) => /C([0-9A-Z]{5})\0/.exec(data.toString('latin1'))?.[1];

describe('node-postgres over the PostgreSQL wire protocol', () => {
  let fx: PgFixture;
  let client: pg.Client;
  beforeAll(async () => { fx = await startPgFixture({ limits: { writeTimeoutMs: 700, maxMessage: 64 * 1024 } }); client = await connect(fx.pg.port); });
  afterAll(async () => { await client?.end().catch(() => undefined); await fx?.close(); });

  it('GET /v1/info names the listener as postgres: {host, port}', async () => {
    const app = await buildApp(fx.svc.service, { postgres: { host: fx.pg.host, port: fx.pg.port } });
    try {
      const info = (await app.inject({ method: 'GET', url: '/v1/info' })).json();
      expect(info.postgres).toEqual({ host: '127.0.0.1', port: fx.pg.port });
    } finally { await app.close(); }
  });

  it('binds $1 parameters (text and numbers) in the extended protocol', async () => {
    const r = await client.query('SELECT window_start, sym, n, volume FROM trades_per_min WHERE sym = $1 AND n >= $2 ORDER BY window_start', ['ACME', 1]);
    expect(r.rows.map((x) => [x.sym, x.n, x.volume])).toEqual([['ACME', '2', '4'], ['ACME', '1', '2']]);
    // Types come from the columns the parameters are compared with: a Date binds as a timestamp.
    const since = await client.query('SELECT sym, n FROM trades_per_min WHERE window_start >= $1 AND sym <> $2 ORDER BY sym', [new Date(T0 + 60_000), 'ZZZ']);
    expect(since.rows).toEqual([{ sym: 'ACME', n: '1' }, { sym: 'BOLT', n: '2' }]);
    // A quote inside a string parameter stays a value, never SQL.
    const none = await client.query('SELECT sym FROM trades_per_min WHERE sym = $1', ["ACME' OR 'a' = 'a"]);
    expect(none.rows).toEqual([]);
  });

  it('runs a named prepared statement many times with different parameters', async () => {
    const q = { name: 'by_sym', text: 'SELECT SUM(n) AS trades FROM trades_per_min WHERE sym = $1' };
    expect((await client.query({ ...q, values: ['ACME'] })).rows[0].trades).toBe('3');
    expect((await client.query({ ...q, values: ['BOLT'] })).rows[0].trades).toBe('3');
  });

  it('describes columns with PostgreSQL type OIDs and decodes values (timestamptz, int8, float8, text, NULL)', async () => {
    const r = await client.query("SELECT window_start, sym, n, avg_price, CAST(NULL AS VARCHAR) AS nothing FROM trades_per_min WHERE sym = 'BOLT' ORDER BY window_start");
    expect(r.fields.map((f) => [f.name, f.dataTypeID])).toEqual([['window_start', 1184], ['sym', 25], ['n', 20], ['avg_price', 701], ['nothing', 25]]);
    expect(r.rows[0].window_start).toEqual(new Date(T0));
    expect(r.rows[1]).toMatchObject({ sym: 'BOLT', n: '2', avg_price: 100.125, nothing: null });
  });

  it('answers errors with SQLSTATE and position, and the connection stays usable', async () => {
    const e = await client.query('SELECT * FROM no_such_view').catch((x: unknown) => x) as pg.DatabaseError;
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('42P01');
    expect(Number(e.position)).toBe(15);
    const syntax = await client.query('SELEC 1 FROM trades_per_min').catch((x: unknown) => x) as pg.DatabaseError;
    expect(syntax.code).toMatch(/^42/);
    // A BIGINT past int8's range (our BIGINT is a double) is PostgreSQL's bigint overflow error, in text and binary.
    const overflow = 'SELECT SUM(n) * 3000000000 * 3000000000 AS big FROM trades_per_min';
    const big = await client.query(overflow).catch((x: unknown) => x) as pg.DatabaseError;
    expect([big.code, big.message]).toEqual(['22003', 'bigint out of range: 63000000000000000000']);
    const bigBinary = await client.query({ text: overflow, values: [], binary: true } as pg.QueryConfig).catch((x: unknown) => x) as pg.DatabaseError;
    expect(bigBinary.code).toBe('22003');
    expect((await client.query('SELECT count(*) AS c FROM trades_per_min')).rows[0].c).toBe('5');
  });

  it('serves cursors: DECLARE in a transaction, FETCH and MOVE forward, CLOSE; COMMIT closes the rest', async () => {
    const c = await connect(fx.pg.port);
    try {
      const outside = await c.query('DECLARE c CURSOR FOR SELECT sym FROM trades_per_min').catch((x: unknown) => x) as pg.DatabaseError;
      expect(outside.code).toBe('25P01');
      await c.query('BEGIN');
      expect((await c.query('DECLARE c NO SCROLL CURSOR FOR SELECT sym, n FROM trades_per_min ORDER BY window_start, sym')).command).toBe('DECLARE');
      const first = await c.query('FETCH 2 FROM c');
      expect(first.fields.map((f) => [f.name, f.dataTypeID])).toEqual([['sym', 25], ['n', 20]]);
      expect(first.rows).toEqual([{ sym: 'ACME', n: '2' }, { sym: 'BOLT', n: '1' }]);
      expect((await c.query('MOVE 1 IN c')).rowCount).toBe(1);
      // The extended protocol runs FETCH too (a parameterless prepared statement), with its columns described.
      expect((await c.query({ text: 'FETCH NEXT FROM c', values: [] })).rows).toEqual([{ sym: 'BOLT', n: '2' }]);
      const rest = await c.query('FETCH ALL FROM c');
      expect([rest.command, rest.rowCount, rest.rows]).toEqual(['FETCH', 1, [{ sym: 'ZZZ', n: '1' }]]);
      expect((await c.query('FETCH 10 FROM c')).rows).toEqual([]);
      expect(((await c.query('DECLARE c CURSOR FOR SELECT 1').catch((x: unknown) => x)) as pg.DatabaseError).code).toBe('42P03');
      await c.query('CLOSE c');
      expect(((await c.query('FETCH 1 FROM c').catch((x: unknown) => x)) as pg.DatabaseError).code).toBe('34000');
      await c.query("DECLARE d CURSOR FOR SELECT sym FROM trades_per_min WHERE sym = 'ZZZ'");
      await c.query('COMMIT');
      expect(((await c.query('FETCH 1 FROM d').catch((x: unknown) => x)) as pg.DatabaseError).code).toBe('34000');
      // A bad query in DECLARE reports its position in the whole statement.
      await c.query('BEGIN');
      const bad = await c.query('DECLARE e CURSOR FOR SELECT nope FROM trades_per_min').catch((x: unknown) => x) as pg.DatabaseError;
      expect([bad.code, Number(bad.position)]).toEqual(['42703', 29]);
      await c.query('ROLLBACK');
    } finally { await c.end(); }
  });

  it('answers the settings and catalog probes clients send on connect', async () => {
    expect((await client.query("SELECT current_setting('server_version_num')::int / 100 AS version")).rows).toEqual([{ version: 1500 }]);
    expect((await client.query('SHOW server_version')).rows[0].server_version).toMatch(/^15/);
    await client.query('SET application_name = $$dash$$');
    await client.query('BEGIN');
    await client.query('COMMIT');
    const t = await client.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
    expect(t.rows).toEqual([{ table_name: 'trades_per_min' }]);
    // The catalog's SQL engine reads our catalog tables only: no files, no settings, no writes.
    await client.query('SET enable_external_access = true'); // a session setting of ours: it never reaches the catalog
    for (const sql of ["SELECT * FROM pg_class, read_text('/etc/hostname')", "COPY (SELECT * FROM pg_class) TO '/tmp/pg_class.csv'", "SELECT 1 FROM pg_class; ATTACH '/tmp/x.db' AS x"]) {
      const e = await client.query(sql).catch((x: unknown) => x) as pg.DatabaseError;
      expect(e.code, sql).toMatch(/^(42501|0A000|42601)$/);
    }
  });

  it('runs the pull SELECT shapes dashboards write', async () => {
    const q = async (sql: string) => (await client.query({ text: sql, rowMode: 'array' })).rows;
    expect(await q("SELECT t.sym AS s, t.n AS trades FROM trades_per_min AS t WHERE t.sym = 'ACME' AND t.n > 1 ORDER BY 1")).toEqual([['ACME', '2']]);
    expect(await q("SELECT CAST(n AS DOUBLE) AS d, volume::DOUBLE AS v FROM trades_per_min WHERE sym = 'BOLT' ORDER BY v")).toEqual([[2, 6], [1, 7]]);
    expect(await q("SELECT sym FROM trades_per_min WHERE window_start BETWEEN TIMESTAMP '2024-03-01 10:00:30' AND '2024-03-01T10:05:00Z' ORDER BY sym")).toEqual([['ACME'], ['BOLT']]);
    expect(await q("SELECT date_trunc('hour', window_start) AS h, SUM(n) AS trades FROM trades_per_min WHERE sym <> 'ZZZ' GROUP BY 1 ORDER BY 1")).toEqual([[new Date(T0), '6']]);
    expect(await q("SELECT to_timestamp(extract(epoch from window_start)) AS t FROM trades_per_min WHERE sym = 'ZZZ'")).toEqual([[new Date(T0 + 600_000)]]);
    expect((await q('SELECT sym FROM trades_per_min WHERE window_end < now()')).length).toBe(5);
    expect(await q('SELECT sym, SUM(n) AS trades FROM trades_per_min GROUP BY sym ORDER BY trades DESC, sym LIMIT 2')).toEqual([['ACME', '3'], ['BOLT', '3']]);
    expect(await q("SELECT now() - INTERVAL '1' HOUR < now() AS ok")).toEqual([[true]]);
  });

  it('runs every statement of POST /v1/sql: DDL, SHOW, DESCRIBE, EXPLAIN, DROP', async () => {
    const notices: string[] = [];
    client.on('notice', (n) => notices.push(n.message ?? ''));
    const created = await client.query(`CREATE MATERIALIZED VIEW big_trades WITH ('checkpoint.interval' = '200 ms') AS
      SELECT window_start, window_end, sym, COUNT(*) AS n FROM TUMBLE(trades, ts, INTERVAL '1' MINUTE) WHERE qty >= 5 GROUP BY window_start, window_end, sym`);
    expect(created.command).toBe('CREATE');
    expect(notices.join('\n')).toMatch(/big_trades created; query .* started/);
    expect((await client.query('SHOW MATERIALIZED VIEWS')).rows.map((r) => r.name).sort()).toEqual(['big_trades', 'trades_per_min']);
    expect((await client.query('DESCRIBE big_trades')).rows).toEqual([
      { column: 'window_start', type: 'TIMESTAMP(3)' }, { column: 'window_end', type: 'TIMESTAMP(3)' }, { column: 'sym', type: 'VARCHAR' }, { column: 'n', type: 'BIGINT' },
    ]);
    expect((await client.query('EXPLAIN SELECT sym FROM big_trades')).rows[0].plan).toMatch(/Physical plan/);
    expect((await client.query("SELECT relname FROM pg_catalog.pg_class WHERE relkind = 'v' ORDER BY 1")).rows.map((r) => r.relname)).toEqual(['big_trades', 'trades_per_min']);
    // A request is checked whole before any statement takes effect: the bad second statement leaves no view behind.
    const bad = await client.query('DROP MATERIALIZED VIEW big_trades; SELECT nope FROM trades_per_min').catch((x: unknown) => x) as pg.DatabaseError;
    expect(bad.code).toBe('42703');
    expect((await client.query('SHOW MATERIALIZED VIEWS')).rows.map((r) => r.name)).toContain('big_trades');
    await client.query('DROP MATERIALIZED VIEW big_trades');
    expect((await client.query("SELECT relname FROM pg_class WHERE relkind = 'v'")).rows).toEqual([{ relname: 'trades_per_min' }]);
  });

  it('serves 100 concurrent connections', async () => {
    const started = Date.now();
    const counts = await Promise.all(Array.from({ length: 100 }, async (_, i) => {
      const c = await connect(fx.pg.port, { application_name: `c${i}` });
      try { return Number((await c.query('SELECT SUM(n) AS s FROM trades_per_min WHERE sym = $1', [i % 2 ? 'ACME' : 'BOLT'])).rows[0].s); } finally { await c.end(); }
    }));
    expect(counts.every((n) => n === 3)).toBe(true);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('authenticates with SCRAM-SHA-256 when a token is set, and refuses a wrong password', async () => {
    const secured = await startPgServer({ engine: fx.svc.service.engine, port: 0, token: 's3cret-token' });
    try {
      const ok = await connect(secured.port, { password: 's3cret-token' });
      expect((await ok.query('SELECT count(*) AS c FROM trades_per_min')).rows[0].c).toBe('5');
      await ok.end();
      const bad = await connect(secured.port, { password: 'wrong' }).catch((x: unknown) => x) as pg.DatabaseError;
      expect(bad.code).toBe('28P01');
    } finally { await secured.close(); }
  });

  it('answers garbage, unknown message types and oversized messages with an error, then closes', async () => {
    const garbage = await raw(fx.pg.port, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
    expect(garbage.closed).toBe(true);
    expect(errorCode(garbage.data)).toMatch(/^(08P01|0A000|54000)$/);
    const zero = await raw(fx.pg.port, [Buffer.alloc(16)]);
    expect(zero.closed).toBe(true);
    const unknown = await raw(fx.pg.port, [startup(), typed('!', Buffer.from('hello'))]);
    expect(unknown.closed).toBe(true);
    expect(errorCode(unknown.data)).toBe('08P01');
    // A length of 1 GiB is refused at once: nothing is buffered waiting for it.
    const huge = Buffer.alloc(5); huge.write('Q', 0); huge.writeInt32BE(2 ** 30, 1);
    const over = await raw(fx.pg.port, [startup(), huge, Buffer.alloc(1000, 0x41)]);
    expect(over.closed).toBe(true);
    expect(errorCode(over.data)).toBe('54000');
    // Fields that run past their message.
    const short = await raw(fx.pg.port, [startup(), typed('B', Buffer.from([0, 0, 0, 5]))]);
    expect(errorCode(short.data)).toBeDefined();
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('disconnects a client that stops reading, with bounded buffering', async () => {
    const q = typed('Q', Buffer.from('SHOW ALL\0'));
    const s = net.connect(fx.pg.port, '127.0.0.1');
    s.on('error', () => undefined);
    await new Promise((r) => s.on('connect', r));
    s.pause(); // never reads
    s.write(startup());
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    const before = process.memoryUsage().rss;
    // Keep asking for results it will never read until the server gives up on it.
    let stop = false;
    void (async () => { while (!stop && !s.destroyed) { if (!s.write(Buffer.concat(Array.from({ length: 2000 }, () => q)))) await new Promise((r) => setTimeout(r, 20)); } })();
    await Promise.race([closed, new Promise((_, rej) => setTimeout(() => rej(new Error('not disconnected')), 20_000))]);
    stop = true;
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
    expect(fx.logs.some((l) => l.includes('stopped reading'))).toBe(true);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('survives a connection storm: connections beyond the cap get 53300, the rest are served', async () => {
    const capped: PgServer = await startPgServer({ engine: fx.svc.service.engine, port: 0, maxConnections: 20 });
    try {
      const results = await Promise.all(Array.from({ length: 150 }, async () => {
        const c = new pg.Client({ host: '127.0.0.1', port: capped.port, user: 'storm' });
        c.on('error', () => undefined);
        try { await c.connect(); await c.query('SELECT 1'); return 'ok'; } catch (e) { return (e as pg.DatabaseError).code ?? 'closed'; } finally {
          await Promise.race([c.end().catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
        }
      }));
      expect(results.filter((r) => r === 'ok').length).toBeGreaterThanOrEqual(20);
      expect(results.every((r) => r === 'ok' || r === '53300' || r === 'closed')).toBe(true);
      const after = new pg.Client({ host: '127.0.0.1', port: capped.port, user: 'after' });
      await after.connect();
      expect((await after.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
      await after.end();
    } finally { await capped.close(); }
  });
});
