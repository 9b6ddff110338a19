/**
 * One client connection: startup (SSLRequest, CancelRequest, StartupMessage), authentication
 * (trust, cleartext password over TLS, SCRAM-SHA-256), then the simple and extended query protocols
 * and COPY-out streams for live results. Messages are handled strictly one after another; output is
 * written with backpressure (a client that stops reading is disconnected after `writeTimeoutMs`, and
 * a live stream whose client falls more than `maxBufferedBytes` behind is ended).
 */
import { randomInt, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Engine, StatementResult } from '../../queries/engine.ts';
import type { FeedEvent, RowChange } from '../../queries/push.ts';
import type { GatheredFeedEvent } from '../../queries/cluster/view-gather.ts';
import { SqlError } from '../../planner/errors.ts';
import { isCatalogQuery, settingValue, SETTINGS, type VirtualCatalog } from './catalog.ts';
import { ScramExchange, type ScramKeys } from './scram.ts';
import { groupByPositions, inferParamTypes, paramCount, route, splitStatements, stripComments, substituteParams, type Route } from './statements.ts';
import { encodeValue, OID, oidOfOurType, paramLiteral, textValue, typeLen } from './types.ts';
import { BodyReader, dataRow, errorResponse, MessageReader, msg, noticeResponse, ProtocolError, rowDescription, type ErrorFields, type FrontendMessage } from './wire.ts';

export interface PgLimits {
  /** Largest frontend message accepted (bytes). */
  readonly maxMessage: number;
  /** A live stream ends when this many bytes wait unsent. */
  readonly maxBufferedBytes: number;
  /** A client that does not read for this long is disconnected. */
  readonly writeTimeoutMs: number;
  /** Startup and authentication must finish within this. */
  readonly startupTimeoutMs: number;
}

export interface SessionContext {
  readonly engine: Engine;
  readonly catalog: VirtualCatalog;
  readonly token?: string;
  readonly scram?: ScramKeys;
  readonly tls?: SecureContext;
  readonly limits: PgLimits;
  readonly pushIntervalMs?: number;
  /** Counters for tests and logs: portals suspended at an Execute row limit, cursor FETCHes served. */
  readonly stats: { portalsSuspended: number; cursorFetches: number };
  register(pid: number, secret: number, s: PgSession): void;
  unregister(pid: number): void;
  cancel(pid: number, secret: number): void;
  log(level: 'info' | 'warn' | 'error', m: string): void;
}

interface Column { readonly name: string; readonly oid: number }
interface Result { readonly columns: Column[] | null; readonly rows: unknown[][]; readonly tag: string; readonly notice?: string }
interface Prepared { readonly sql: string; readonly paramOids: number[] }
/** A portal of the extended protocol, or a cursor (DECLARE): PostgreSQL's cursors are portals, in one namespace. */
interface Portal { readonly sql: string; readonly formats: number[]; result: Result | null; cursor: number; readonly describeOnly: boolean; readonly declared?: { readonly hold: boolean } }

class QueryError extends Error {
  constructor(readonly fields: ErrorFields) { super(fields.message); }
}

const SSL_REQUEST = 80877103; const GSS_REQUEST = 80877104; const CANCEL_REQUEST = 80877102; const PROTOCOL_3 = 196608;

export class PgSession {
  private sock: Socket;
  private readonly reader: MessageReader;
  private phase: 'startup' | 'password' | 'sasl-initial' | 'sasl-final' | 'ready' | 'closed' = 'startup';
  private scram: ScramExchange | null = null;
  private readonly settings: Record<string, string> = { ...SETTINGS };
  private readonly prepared = new Map<string, Prepared>();
  private readonly portals = new Map<string, Portal>();
  private skipToSync = false;
  private inTx = false;
  private pumping = false;
  private out: Buffer[] = [];
  private outBytes = 0;
  private stream: { stop(reason: ErrorFields | null): void } | null = null;
  private readonly pid = randomInt(1, 2 ** 31 - 1);
  private readonly secret = randomInt(0, 2 ** 31 - 1);
  private startupTimer: NodeJS.Timeout | null;
  private isTls = false;

  constructor(socket: Socket, private readonly ctx: SessionContext) {
    this.sock = socket;
    this.reader = new MessageReader(Math.max(ctx.limits.maxMessage, 10_000));
    this.attach(socket);
    this.startupTimer = setTimeout(() => this.fatal({ code: '08006', message: 'startup or authentication took too long' }), ctx.limits.startupTimeoutMs);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.reader.push(chunk);
    if (this.reader.buffered > 2 * this.ctx.limits.maxMessage) this.sock.pause();
    void this.pump();
  };
  private readonly onClose = (): void => this.closed();
  private readonly onError = (): void => undefined;

  private attach(s: Socket): void {
    s.setNoDelay(true);
    s.on('data', this.onData);
    s.on('error', this.onError);
    s.on('close', this.onClose);
  }

  private detach(s: Socket): void {
    s.off('data', this.onData);
    s.off('close', this.onClose);
  }

  private closed(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    if (this.startupTimer) clearTimeout(this.startupTimer);
    this.stream?.stop(null);
    this.ctx.unregister(this.pid);
  }

  private isClosed(): boolean { return this.phase === 'closed'; }

  /** CancelRequest from another connection: ends a live stream. */
  cancel(): void {
    this.stream?.stop({ code: '57014', message: 'canceling statement due to user request' });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        if (this.phase === 'closed') return;
        let m: FrontendMessage | null;
        try { m = this.reader.next(); } catch (e) { this.fatal(protocolFields(e)); return; }
        if (!m) break;
        try { await this.handle(m); } catch (e) {
          if (e instanceof ProtocolError) { this.fatal(protocolFields(e)); return; }
          this.ctx.log('error', `pg session: ${(e as Error).stack ?? e}`);
          this.fatal({ code: 'XX000', message: `internal error: ${(e as Error).message}` });
          return;
        }
        await this.flush();
      }
      if (this.sock.isPaused() && !this.isClosed()) this.sock.resume();
    } finally {
      this.pumping = false;
    }
  }

  // ---- output ----

  private send(b: Buffer): void { this.out.push(b); this.outBytes += b.length; }

  private async flush(): Promise<void> {
    if (!this.out.length || this.phase === 'closed') { this.out = []; this.outBytes = 0; return; }
    const data = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out = []; this.outBytes = 0;
    if (this.sock.write(data)) return;
    await this.drain();
  }

  private drain(): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.ctx.log('warn', 'pg client stopped reading: disconnected'); this.sock.destroy(); resolve(); }, this.ctx.limits.writeTimeoutMs);
      const done = () => { clearTimeout(t); this.sock.off('drain', done); this.sock.off('close', done); resolve(); };
      this.sock.once('drain', done);
      this.sock.once('close', done);
    });
  }

  private fatal(f: Omit<ErrorFields, 'severity'>): void {
    if (this.phase === 'closed') return;
    this.out = [];
    this.sock.end(errorResponse({ ...f, severity: 'FATAL' }));
    setTimeout(() => this.sock.destroy(), 1000).unref();
    this.closed();
  }

  // ---- messages ----

  private async handle(m: FrontendMessage): Promise<void> {
    if (this.phase === 'startup') return this.startup(m.body);
    if (this.phase === 'password' || this.phase === 'sasl-initial' || this.phase === 'sasl-final') {
      if (m.type !== 'p') throw new ProtocolError(`expected a password message, got '${printable(m.type)}'`);
      return this.authMessage(m.body);
    }
    if (this.skipToSync && m.type !== 'S' && m.type !== 'X') return;
    const r = new BodyReader(m.body);
    try {
      switch (m.type) {
        case 'Q': return await this.simpleQuery(r.cstring());
        case 'P': return this.parse(r);
        case 'B': return this.bind(r);
        case 'D': return await this.describe(r);
        case 'E': return await this.execute(r);
        case 'S': this.skipToSync = false; this.send(msg.readyForQuery(this.inTx ? 'T' : 'I')); return;
        case 'H': return;
        case 'C': {
          const kind = String.fromCharCode(r.byte()); const name = r.cstring();
          if (kind === 'S') this.prepared.delete(name); else this.portals.delete(name);
          this.send(msg.closeComplete());
          return;
        }
        case 'X': this.sock.end(); this.closed(); return;
        case 'd': case 'c': case 'f': return; // COPY FROM data: we never ask for it
        default: throw new ProtocolError(`invalid frontend message type '${printable(m.type)}' (${m.type.charCodeAt(0)})`);
      }
    } catch (e) {
      if (e instanceof ProtocolError && e.code === '08P01') throw e;
      this.send(errorResponse(errorFields(e)));
      if (m.type !== 'Q') this.skipToSync = true;
      else this.send(msg.readyForQuery(this.inTx ? 'T' : 'I'));
    }
  }

  private startup(body: Buffer): void {
    const r = new BodyReader(body);
    const code = r.int32();
    if (code === SSL_REQUEST) {
      if (this.ctx.tls && !this.isTls) {
        this.detach(this.sock);
        this.sock.write('S');
        const t = new TLSSocket(this.sock, { isServer: true, secureContext: this.ctx.tls });
        this.sock = t;
        this.isTls = true;
        this.attach(t);
      } else this.sock.write('N');
      return;
    }
    if (code === GSS_REQUEST) { this.sock.write('N'); return; }
    if (code === CANCEL_REQUEST) {
      const pid = r.int32(); const secret = r.int32();
      this.ctx.cancel(pid, secret);
      this.sock.end(); this.closed();
      return;
    }
    if (code !== PROTOCOL_3) throw new ProtocolError(`unsupported frontend protocol ${code >> 16}.${code & 0xffff}: server supports 3.0`, '0A000');
    const params: Record<string, string> = {};
    while (r.remaining > 1) { const k = r.cstring(); if (!k) break; params[k] = r.cstring(); }
    if (!params.user) throw new ProtocolError('no PostgreSQL user name specified in startup packet', '28000');
    for (const k of ['application_name', 'client_encoding', 'DateStyle', 'extra_float_digits', 'search_path']) if (params[k] !== undefined) this.settings[k] = params[k]!;
    this.settings.client_encoding = 'UTF8';
    this.reader.typed = true;
    if (!this.ctx.token) return this.authenticated();
    if (this.isTls || !this.ctx.scram) { this.phase = 'password'; this.send(msg.authCleartext()); return; }
    this.phase = 'sasl-initial';
    this.scram = new ScramExchange(this.ctx.scram);
    this.send(msg.authSasl(['SCRAM-SHA-256']));
  }

  private authMessage(body: Buffer): void {
    const r = new BodyReader(body);
    const fail = () => this.fatal({ code: '28P01', message: 'password authentication failed (the password is the API token)' });
    if (this.phase === 'password') {
      const given = Buffer.from(r.cstring()); const want = Buffer.from(this.ctx.token!);
      if (given.length !== want.length || !timingSafeEqual(given, want)) return fail();
      return this.authenticated();
    }
    if (this.phase === 'sasl-initial') {
      const mech = r.cstring();
      if (mech !== 'SCRAM-SHA-256') return this.fatal({ code: '28000', message: `SASL mechanism ${mech} is not supported` });
      const len = r.int32();
      let first: string;
      try { first = this.scram!.first(r.bytes(len).toString('utf8')); } catch (e) { return this.fatal({ code: '08P01', message: (e as Error).message }); }
      this.phase = 'sasl-final';
      this.send(msg.authSaslContinue(first));
      return;
    }
    const final = this.scram!.final(body.toString('utf8'));
    if (!final) return fail();
    this.send(msg.authSaslFinal(final));
    this.authenticated();
  }

  private authenticated(): void {
    if (this.startupTimer) { clearTimeout(this.startupTimer); this.startupTimer = null; }
    this.phase = 'ready';
    this.ctx.register(this.pid, this.secret, this);
    this.send(msg.authOk());
    for (const k of ['server_version', 'server_encoding', 'client_encoding', 'DateStyle', 'TimeZone', 'integer_datetimes', 'standard_conforming_strings', 'IntervalStyle', 'is_superuser', 'application_name']) {
      this.send(msg.parameterStatus(k, this.settings[k] ?? ''));
    }
    this.send(msg.parameterStatus('session_authorization', 'streamsql'));
    this.send(msg.backendKeyData(this.pid, this.secret));
    this.send(msg.readyForQuery('I'));
  }

  // ---- simple query ----

  private async simpleQuery(sql: string): Promise<void> {
    const stmts = splitStatements(sql);
    if (!stmts.length) { this.send(msg.emptyQuery()); this.send(msg.readyForQuery(this.inTx ? 'T' : 'I')); return; }
    const routes = stmts.map((s) => route(s.text, isCatalogQuery));
    try {
      if (routes.every((r) => r.kind === 'engine') && stmts.length > 1) {
        // One request: the engine checks every statement before any takes effect.
        for (const res of await this.runEngine(sql, 0)) await this.sendResult(res, [], Infinity, true);
      } else {
        for (let i = 0; i < stmts.length; i++) {
          const rt = routes[i]!;
          if (rt.kind === 'subscribe' || rt.kind === 'copy_push') { await this.copyOut(rt, stmts[i]!.offset); continue; }
          for (const res of await this.run(rt, stmts[i]!.text, stmts[i]!.offset)) await this.sendResult(res, [], Infinity, true);
        }
      }
    } catch (e) {
      this.send(errorResponse(errorFields(e)));
    }
    this.send(msg.readyForQuery(this.inTx ? 'T' : 'I'));
  }

  /** Runs one statement (or, for the engine, a request) and returns its results. */
  private async run(rt: Route, sql: string, offset: number): Promise<Result[]> {
    switch (rt.kind) {
      case 'empty': return [{ columns: null, rows: [], tag: '' }];
      case 'tx':
        if (rt.state === 'begin') this.inTx = true;
        else if (rt.state === 'end') {
          this.inTx = false;
          // A transaction's end closes its cursors (not those declared WITH HOLD).
          for (const [name, p] of this.portals) if (p.declared && !p.declared.hold) this.portals.delete(name);
        }
        return [{ columns: null, rows: [], tag: rt.tag }];
      case 'declare': return [await this.declare(rt, sql, offset)];
      case 'fetch': {
        const p = this.cursorNamed(rt.name);
        const res = p.result!;
        const rows = res.rows.slice(p.cursor, p.cursor + rt.count);
        p.cursor += rows.length;
        this.ctx.stats.cursorFetches++;
        if (rt.move) return [{ columns: null, rows: [], tag: `MOVE ${rows.length}` }];
        return [{ columns: res.columns, rows, tag: `FETCH ${rows.length}` }];
      }
      case 'close_cursor':
        if (rt.name === null) { for (const [name, p] of this.portals) if (p.declared) this.portals.delete(name); }
        else { this.cursorNamed(rt.name); this.portals.delete(rt.name); }
        return [{ columns: null, rows: [], tag: 'CLOSE CURSOR' }];
      case 'set':
        if (rt.name && rt.value !== null) {
          const k = Object.keys(this.settings).find((x) => x.toLowerCase() === rt.name!.toLowerCase()) ?? rt.name;
          this.settings[k] = rt.value;
        }
        return [{ columns: null, rows: [], tag: rt.tag }];
      case 'noop': return [{ columns: null, rows: [], tag: rt.tag }];
      case 'show_setting': {
        if (rt.name.toLowerCase() === 'all') {
          return [{ columns: [{ name: 'name', oid: OID.text }, { name: 'setting', oid: OID.text }, { name: 'description', oid: OID.text }], rows: Object.entries(this.settings).map(([k, v]) => [k, v, '']), tag: 'SHOW' }];
        }
        const v = settingValue(this.settings, rt.name);
        if (v === undefined) throw new QueryError({ code: '42704', message: `unrecognized configuration parameter "${rt.name}"` });
        return [{ columns: [{ name: rt.name.toLowerCase(), oid: OID.text }], rows: [[v]], tag: 'SHOW' }];
      }
      case 'catalog': {
        try {
          const r = await this.ctx.catalog.query(sql, this.settings);
          return [{ columns: r.columns, rows: r.rows, tag: r.tag }];
        } catch (e) { throw catalogError(e); }
      }
      case 'engine': return (await this.runEngine(sql, offset));
      case 'subscribe': case 'copy_push':
        throw new QueryError({ code: '0A000', message: 'SUBSCRIBE and COPY … TO STDOUT run through the simple query protocol' });
    }
  }

  /**
   * DECLARE: runs the query now and keeps its rows for FETCH (a pull query answers from the view as
   * it is at this moment, as a cursor over PostgreSQL's snapshot would).
   */
  private async declare(rt: Extract<Route, { kind: 'declare' }>, sql: string, offset: number): Promise<Result> {
    if (!this.inTx && !rt.hold) throw new QueryError({ code: '25P01', message: 'DECLARE CURSOR can only be used in transaction blocks' });
    if (this.portals.has(rt.name)) throw new QueryError({ code: '42P03', message: `cursor "${rt.name}" already exists` });
    const inner = route(rt.query, isCatalogQuery);
    if (!isReadOnly(inner, rt.query) || inner.kind === 'show_setting') throw new QueryError({ code: '42P11', message: 'DECLARE CURSOR takes a SELECT (or another statement that returns rows)' });
    const at = sql.lastIndexOf(rt.query);
    const result = await this.runOne(inner, rt.query, at >= 0 ? offset + at : offset);
    if (!result.columns) throw new QueryError({ code: '42P11', message: 'DECLARE CURSOR takes a statement that returns rows' });
    this.portals.set(rt.name, { sql: rt.query, formats: [], result, cursor: 0, describeOnly: false, declared: { hold: rt.hold } });
    return { columns: null, rows: [], tag: 'DECLARE CURSOR' };
  }

  private cursorNamed(name: string): Portal {
    const p = this.portals.get(name);
    if (!p?.declared || !p.result) throw new QueryError({ code: '34000', message: `cursor "${name}" does not exist` });
    return p;
  }

  private async runEngine(sql: string, offset: number): Promise<Result[]> {
    let results: StatementResult[];
    // Positional GROUP BY is rewritten only for a single statement (error positions may then shift).
    const text = splitStatements(sql).length === 1 ? groupByPositions(sql) : sql;
    try { results = await this.ctx.engine.execute(text); } catch (e) {
      if (e instanceof SqlError) throw new QueryError({ code: sqlState(e), message: e.message, position: offset + charOffset(text, e.line, e.column) + 1 });
      throw e;
    }
    return results.map(engineResult);
  }

  private async sendResult(res: Result, formats: number[], maxRows: number, describe: boolean, from = 0): Promise<number> {
    if (res.notice) this.send(noticeResponse({ code: '00000', message: res.notice }));
    if (!res.tag) { this.send(msg.emptyQuery()); return 0; }
    if (res.columns && describe) this.send(rowDescription(res.columns.map((c) => ({ ...c, len: typeLen(c.oid) })), res.columns.map((_, i) => fmt(formats, i))));
    let i = from;
    if (res.columns) {
      const cols = res.columns;
      const fs = cols.map((_, c) => fmt(formats, c));
      const end = Math.min(res.rows.length, from + maxRows);
      for (; i < end; i++) {
        const row = res.rows[i]!;
        this.send(dataRow(cols.map((c, k) => encodeValue(c.oid, row[k], fs[k]!))));
        if (this.outBytes > 256 * 1024) await this.flush();
        if (this.phase === 'closed') return i;
      }
      if (i < res.rows.length) { this.send(msg.portalSuspended()); this.ctx.stats.portalsSuspended++; return i; }
    }
    this.send(msg.commandComplete(res.tag));
    return i;
  }

  // ---- extended protocol ----

  private parse(r: BodyReader): void {
    const name = r.cstring(); const sql = r.cstring();
    const n = r.int16();
    const oids: number[] = [];
    for (let i = 0; i < n; i++) oids.push(r.int32() >>> 0);
    if (splitStatements(sql).length > 1) throw new QueryError({ code: '42601', message: 'cannot insert multiple commands into a prepared statement' });
    const count = Math.max(paramCount(sql), oids.length);
    while (oids.length < count) oids.push(0);
    if (oids.includes(0)) {
      const inferred = inferParamTypes(sql, count, (name) => this.columnOid(name));
      oids.forEach((o, i) => { if (!o) oids[i] = inferred[i]!; });
    }
    this.prepared.set(name, { sql, paramOids: oids });
    this.send(msg.parseComplete());
  }

  private bind(r: BodyReader): void {
    const portal = r.cstring(); const stmtName = r.cstring();
    const stmt = this.prepared.get(stmtName);
    if (!stmt) throw new QueryError({ code: '26000', message: `prepared statement "${stmtName}" does not exist` });
    const nf = r.int16(); const pf: number[] = [];
    for (let i = 0; i < nf; i++) pf.push(r.int16());
    const np = r.int16();
    if (np !== stmt.paramOids.length) throw new QueryError({ code: '08P01', message: `bind message supplies ${np} parameters, but prepared statement "${stmtName}" requires ${stmt.paramOids.length}` });
    const lits: string[] = [];
    for (let i = 0; i < np; i++) {
      const len = r.int32();
      const v = len < 0 ? null : r.bytes(len);
      lits.push(paramLiteral(stmt.paramOids[i]!, v, nf === 1 ? pf[0]! : (pf[i] ?? 0)));
    }
    const nr = r.int16(); const rf: number[] = [];
    for (let i = 0; i < nr; i++) rf.push(r.int16());
    this.portals.set(portal, { sql: np ? substituteParams(stmt.sql, lits) : stmt.sql, formats: rf, result: null, cursor: 0, describeOnly: false });
    this.send(msg.bindComplete());
  }

  private async describe(r: BodyReader): Promise<void> {
    const kind = String.fromCharCode(r.byte()); const name = r.cstring();
    if (kind === 'S') {
      const stmt = this.prepared.get(name);
      if (!stmt) throw new QueryError({ code: '26000', message: `prepared statement "${name}" does not exist` });
      this.send(msg.parameterDescription(stmt.paramOids.map((o) => o || OID.text)));
      const cols = await this.columnsOf(substituteParams(stmt.sql, stmt.paramOids.map(() => 'NULL')));
      this.send(cols ? rowDescription(cols.map((c) => ({ ...c, len: typeLen(c.oid) })), cols.map(() => 0)) : msg.noData());
      return;
    }
    const p = this.portals.get(name);
    if (!p) throw new QueryError({ code: '34000', message: `portal "${name}" does not exist` });
    const rt = route(p.sql, isCatalogQuery);
    if (!isReadOnly(rt, p.sql)) { this.send(msg.noData()); return; }
    p.result ??= await this.runOne(rt, p.sql);
    const cols = p.result.columns;
    this.send(cols ? rowDescription(cols.map((c) => ({ ...c, len: typeLen(c.oid) })), cols.map((_, i) => fmt(p.formats, i))) : msg.noData());
  }

  /** The columns a statement would return, without side effects (null: none, or not a query). */
  private async columnsOf(sql: string): Promise<Column[] | null> {
    const rt = route(sql, isCatalogQuery);
    if (rt.kind === 'fetch') return rt.move ? null : this.cursorNamed(rt.name).result!.columns;
    if (!isReadOnly(rt, sql)) return null;
    return (await this.runOne(rt, sql)).columns;
  }

  /** The OID of a view column of this name, when every view that has it agrees on its type. */
  private columnOid(name: string): number | undefined {
    const oids = new Set<number>();
    for (const v of this.ctx.engine.catalogInfo().views) for (const c of v.columns) if (c.name.toLowerCase() === name.toLowerCase()) oids.add(oidOfOurType(c.type));
    return oids.size === 1 ? [...oids][0] : undefined;
  }

  private async runOne(rt: Route, sql: string, offset = 0): Promise<Result> {
    const rs = await this.run(rt, sql, offset);
    return rs[rs.length - 1]!;
  }

  private async execute(r: BodyReader): Promise<void> {
    const name = r.cstring(); const maxRows = r.int32();
    const p = this.portals.get(name);
    if (!p) throw new QueryError({ code: '34000', message: `portal "${name}" does not exist` });
    const rt = route(p.sql, isCatalogQuery);
    if (rt.kind === 'subscribe' || rt.kind === 'copy_push') { await this.copyOut(rt, 0); return; }
    p.result ??= await this.runOne(rt, p.sql);
    p.cursor = await this.sendResult(p.result, p.formats, maxRows > 0 ? maxRows : Infinity, false, p.cursor);
  }

  // ---- live results (COPY out) ----

  private async copyOut(rt: Extract<Route, { kind: 'subscribe' | 'copy_push' }>, _offset: number): Promise<void> {
    let columns: Column[];
    let count = 0;
    let stopFeed: () => void = () => undefined;
    let ended!: (reason: ErrorFields | null) => void;
    const done = new Promise<ErrorFields | null>((resolve) => { ended = resolve; });
    const line = (epoch: number, op: string, row: Record<string, unknown>) => {
      const cells = [String(epoch), op, ...columns.slice(2).map((c) => { const v = row[c.name]; return v === null || v === undefined ? '\\N' : copyEscape(textValue(c.oid, v)); })];
      this.sock.write(msg.copyData(Buffer.from(`${cells.join('\t')}\n`)));
      count++;
    };
    const emit = (epoch: number, changes: readonly RowChange[]) => {
      if (this.phase === 'closed') return;
      for (const c of changes) line(epoch, c.op, c.row);
      if (this.sock.writableLength > this.ctx.limits.maxBufferedBytes) {
        this.ctx.log('warn', 'pg live stream: client too far behind, disconnected');
        ended(null); this.sock.destroy();
      }
    };
    const g = rt.kind === 'subscribe' ? this.ctx.engine.viewGather?.() : undefined;
    if (rt.kind === 'subscribe' && g?.isTaskView(rt.view)) {
      // A view run as tasks (CLUSTER_ID): the whole view's feed, gathered from every instance. When one
      // of its tasks moves, a `resync` line (no row) comes before a fresh snapshot: drop what you hold.
      columns = [{ name: 'epoch', oid: OID.int8 }, { name: 'op', oid: OID.text }, ...(g.columns(rt.view) ?? []).map((c) => ({ name: c.name, oid: oidOfOurType(c.type) }))];
      const early: GatheredFeedEvent[] = [];
      let ready = false;
      const on = (e: GatheredFeedEvent) => {
        if (!ready) { early.push(e); return; }
        if (e.kind === 'snapshot') emit(e.epoch, e.rows.map((row): RowChange => ({ op: 'insert', row })));
        else if (e.kind === 'changes') emit(e.epoch, e.changes);
        else if (e.kind === 'resync') { if (this.phase !== 'closed') line(0, 'resync', {}); }
        else ended(null);
      };
      const off = g.feed(rt.view, on, { token: this.ctx.token });
      if (!off) throw new QueryError({ code: '42P01', message: `no materialized view '${rt.view}' to subscribe to` });
      stopFeed = off;
      this.send(msg.copyOutResponse(columns.length));
      await this.flush();
      ready = true;
      for (const e of early.splice(0)) on(e);
    } else if (rt.kind === 'subscribe') {
      const f = this.ctx.engine.viewFeed(rt.view);
      if (!f) throw new QueryError({ code: '42P01', message: `no materialized view '${rt.view}' to subscribe to` });
      columns = [{ name: 'epoch', oid: OID.int8 }, { name: 'op', oid: OID.text }, ...f.columns.map((c) => ({ name: c.name, oid: oidOfOurType(c.type) }))];
      this.send(msg.copyOutResponse(columns.length));
      await this.flush();
      stopFeed = f.feed.subscribe(null, (ev: FeedEvent) => {
        if (ev.kind === 'snapshot') emit(ev.epoch, ev.rows.map((row) => ({ op: 'insert', row })));
        else if (ev.kind === 'changes') emit(ev.epoch, ev.changes);
        else ended(null);
      });
    } else {
      if (!/\bemit\s+changes\b/i.test(rt.select)) throw new QueryError({ code: '0A000', message: 'COPY (…) TO STDOUT streams push queries: SELECT … EMIT CHANGES (or use SUBSCRIBE TO view)' });
      const early: [number, readonly RowChange[]][] = [];
      let ready = false;
      let handle;
      try {
        handle = await this.ctx.engine.startPush(rt.select, {
          intervalMs: this.ctx.pushIntervalMs,
          onChanges: (epoch, changes) => { if (ready) emit(epoch, changes); else early.push([epoch, changes]); },
          onError: (e) => ended({ code: 'XX000', message: e.message }),
        });
      } catch (e) {
        if (e instanceof SqlError) throw new QueryError({ code: sqlState(e), message: e.message });
        throw e;
      }
      columns = [{ name: 'epoch', oid: OID.int8 }, { name: 'op', oid: OID.text }, ...handle.columns.map((c) => ({ name: c.name, oid: oidOfOurType(c.type) }))];
      this.send(msg.copyOutResponse(columns.length));
      await this.flush();
      ready = true;
      for (const [e, c] of early.splice(0)) emit(e, c);
      const h = handle;
      stopFeed = () => { void h.stop(); };
    }
    this.stream = { stop: (reason) => ended(reason) };
    const onClose = () => ended(null);
    this.sock.once('close', onClose);
    const reason = await done;
    this.sock.off('close', onClose);
    this.stream = null;
    stopFeed();
    if (this.phase === 'closed') return;
    if (reason) { this.send(errorResponse(reason)); return; }
    this.send(msg.copyDone());
    this.send(msg.commandComplete(`COPY ${count}`));
  }
}

function copyEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

function fmt(formats: readonly number[], i: number): number {
  return formats.length === 1 ? formats[0]! : (formats[i] ?? 0);
}

function isReadOnly(rt: Route, sql: string): boolean {
  if (rt.kind === 'catalog' || rt.kind === 'show_setting') return true;
  if (rt.kind === 'fetch') return !rt.move;
  if (rt.kind !== 'engine') return false;
  return /^\s*(select|with|show|describe|desc|explain|values|table)\b/i.test(stripComments(sql));
}

function engineResult(r: StatementResult): Result {
  const notice = r.message && !r.columns ? r.message : undefined;
  if (!r.columns) return { columns: null, rows: [], tag: r.statement, notice };
  const columns = r.columns.map((c) => ({ name: c.name, oid: oidOfOurType(c.type) }));
  const rows = (r.rows ?? []).map((o) => r.columns!.map((c) => o[c.name] ?? null));
  const tag = r.statement === 'SELECT' ? `SELECT ${rows.length}` : r.statement;
  return { columns, rows, tag };
}

/** 1-based line:column → 0-based offset in the text. */
export function charOffset(sql: string, line: number, column: number): number {
  let off = 0;
  for (let l = 1; l < line; l++) { const nl = sql.indexOf('\n', off); if (nl < 0) break; off = nl + 1; }
  return Math.min(sql.length, off + Math.max(0, column - 1));
}

function sqlState(e: SqlError): string {
  if (/unknown column|no column/i.test(e.message)) return '42703';
  if (e.kind === 'not_found' || /unknown (view|source|table|object|relation)|does not exist/i.test(e.message)) return '42P01';
  if (/unknown function|no function/i.test(e.message)) return '42883';
  if (e.kind === 'conflict') return '42710';
  if (e.kind === 'busy') return '53000';
  if (e.kind === 'limit') return '54000'; // program_limit_exceeded
  if (e.kind === 'unsupported') return '0A000'; // feature_not_supported
  if (/syntax|unexpected|expected/i.test(e.message)) return '42601';
  if (/type|cannot (compare|add|cast)/i.test(e.message)) return '42804';
  return '42000';
}

function catalogError(e: unknown): QueryError {
  const full = (e as Error).message ?? String(e);
  const first = full.split('\n')[0]!.replace(/^\w+ Error: /, '');
  let code = '0A000';
  if (/^Parser Error/.test(full)) code = '42601';
  else if (/^Permission Error/.test(full)) code = '42501';
  else if (/Table with name|Referenced table/.test(full)) code = '42P01';
  else if (/Referenced column|column .* not found/i.test(full)) code = '42703';
  else if (/Function with name|Macro/.test(full)) code = '42883';
  return new QueryError({ code, message: first });
}

function errorFields(e: unknown): ErrorFields {
  if (e instanceof QueryError) return e.fields;
  if (e instanceof ProtocolError) return { code: e.code, message: e.message };
  if (e instanceof SqlError) return { code: sqlState(e), message: e.message };
  return { code: 'XX000', message: (e as Error).message ?? String(e) };
}

function protocolFields(e: unknown): ErrorFields {
  return e instanceof ProtocolError ? { code: e.code, message: e.message } : { code: '08P01', message: String((e as Error).message ?? e) };
}

function printable(t: string): string { return /^[\x20-\x7e]$/.test(t) ? t : `\\x${t.charCodeAt(0).toString(16).padStart(2, '0')}`; }
