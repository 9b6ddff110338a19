/**
 * The front end: parses the statements node-sql-parser cannot read (CREATE SOURCE/TABLE with
 * WATERMARK and METADATA columns, CREATE MATERIALIZED VIEW … EMIT, CREATE SINK, INSERT INTO, DROP,
 * SHOW, DESCRIBE, EXPLAIN) and rewrites streaming pieces out of SELECT bodies (window table functions,
 * EMIT clauses, Spark's `window`) so that node-sql-parser gets standard SQL with unchanged positions.
 */
import type {
  AsOfClause, ColumnDecl, EmitMode, Ident, IntervalArg, MetadataKey, ObjectKind, OptionDecl, QueryText, Statement,
  WatermarkDecl, WindowTvf,
} from './ast.ts';
import { SqlError, posMap, type PosMap, type SqlErrorKind } from './errors.ts';
import { intervalRangeError, parseIntervalText } from './interval.ts';
import { MAX_PAREN_DEPTH, MAX_SELECT_ITEMS, MAX_SQL_LENGTH, MAX_STATEMENTS } from './limits.ts';
import { splitStatements, tokenize, type StatementTokens, type Token } from './lexer.ts';
import { T, type Field, type SqlType } from './types.ts';

/** Spark's `window` is a reserved word for node-sql-parser; it is renamed to this same-length name. */
export const SPARK_WINDOW_ALIAS = '_win__';

/**
 * node-sql-parser takes DISTINCT inside COUNT only: in `SUM|AVG|MIN|MAX(DISTINCT x)` the keyword is
 * blanked, and the binder reads it back from the original text at the call's offset (`hasDistinct`).
 */
export function hasDistinct(original: string, offset: number): boolean {
  return /^[A-Za-z_]+\s*\(\s*DISTINCT\b/i.test(original.slice(offset, offset + 200));
}

/** `GROUPING SETS (…)` is not in node-sql-parser's grammar: it becomes a call of this name; `()` inside becomes `''`. */
export const GROUPING_SETS_NAME = '__gsets_';

export interface ParsedRequest {
  readonly text: string;
  readonly pm: PosMap;
  readonly statements: readonly Statement[];
}

export function parseRequest(text: string): ParsedRequest {
  if (text.length > MAX_SQL_LENGTH) throw new SqlError(`the SQL is ${text.length} characters long; at most ${MAX_SQL_LENGTH} are taken in one request (limit MAX_SQL_LENGTH)`, 1, 1, 'limit');
  const pm = posMap(text);
  const tokens = tokenize(text, pm);
  checkNesting(tokens, pm);
  const stmts = splitStatements(tokens);
  if (stmts.length === 0) throw new SqlError('no SQL statement given', 1, 1);
  if (stmts.length > MAX_STATEMENTS) {
    const p = pm.pos(stmts[MAX_STATEMENTS]!.start);
    throw new SqlError(`too many statements in one request: ${stmts.length}, at most ${MAX_STATEMENTS} (limit MAX_STATEMENTS)`, p.line, p.column, 'limit');
  }
  return { text, pm, statements: stmts.map((s) => new StatementParser(text, pm, s).parse()) };
}

/** Refuses parentheses nested deeper than MAX_PAREN_DEPTH, at the one that goes too deep. */
function checkNesting(tokens: readonly Token[], pm: PosMap): void {
  let depth = 0;
  for (const t of tokens) {
    if (t.kind !== 'op') continue;
    if (t.value === '(' && ++depth > MAX_PAREN_DEPTH) {
      const p = pm.pos(t.start);
      throw new SqlError(`parentheses nested more than ${MAX_PAREN_DEPTH} deep (limit MAX_PAREN_DEPTH)`, p.line, p.column, 'limit');
    }
    if (t.value === ')' && depth > 0) depth--;
  }
}

const METADATA_KEYS: readonly MetadataKey[] = ['timestamp', 'partition', 'offset', 'key', 'headers', 'topic'];

class StatementParser {
  private i = 0;
  private readonly toks: Token[];

  constructor(private readonly text: string, private readonly pm: PosMap, private readonly stmt: StatementTokens) {
    this.toks = stmt.tokens;
  }

  private err(msg: string, at: Token | number = this.peek(), kind: SqlErrorKind = 'plan'): never {
    const off = typeof at === 'number' ? at : at.start;
    const p = this.pm.pos(off);
    throw new SqlError(msg, p.line, p.column, kind);
  }
  private peek(k = 0): Token { return this.toks[Math.min(this.i + k, this.toks.length - 1)]!; }
  private next(): Token { const t = this.peek(); if (t.kind !== 'eof') this.i++; return t; }
  private isKw(kw: string, k = 0): boolean { const t = this.peek(k); return t.kind === 'ident' && t.upper === kw; }
  private isOp(op: string, k = 0): boolean { const t = this.peek(k); return t.kind === 'op' && t.value === op; }
  private acceptKw(...kws: string[]): boolean {
    for (let k = 0; k < kws.length; k++) if (!this.isKw(kws[k]!, k)) return false;
    this.i += kws.length;
    return true;
  }
  private expectKw(kw: string): Token {
    if (!this.isKw(kw)) this.err(`expected ${kw} but found ${describe(this.peek())}`);
    return this.next();
  }
  private acceptOp(op: string): boolean { if (this.isOp(op)) { this.i++; return true; } return false; }
  private expectOp(op: string): Token {
    if (!this.isOp(op)) this.err(`expected '${op}' but found ${describe(this.peek())}`);
    return this.next();
  }
  private ident(what = 'a name'): Ident {
    const t = this.peek();
    if (t.kind === 'ident') { this.i++; return { value: t.value, quoted: false, start: t.start }; }
    if (t.kind === 'qident') { this.i++; return { value: t.value, quoted: true, start: t.start }; }
    return this.err(`expected ${what} but found ${describe(t)}`);
  }
  private expectEnd(): void {
    if (this.peek().kind !== 'eof') this.err(`unexpected ${describe(this.peek())} after the end of the statement`);
  }

  parse(): Statement {
    const first = this.peek();
    const start = this.stmt.start; const end = this.stmt.end;
    if (this.acceptKw('EXPLAIN')) {
      // EXPLAIN [PLAN FOR | ANALYZE]? <statement>: everything after is parsed as its own statement.
      this.acceptKw('PLAN', 'FOR');
      const rest = new StatementParser(this.text, this.pm, { tokens: this.toks.slice(this.i), start: this.peek().start, end });
      return { kind: 'explain', statement: rest.parse(), start, end };
    }
    if (this.isKw('SELECT') || this.isKw('WITH') || this.isOp('(')) {
      return { kind: 'select', query: this.queryRest(), start, end };
    }
    if (this.acceptKw('CREATE')) {
      const orReplace = this.acceptKw('OR', 'REPLACE');
      if (this.acceptKw('SOURCE')) return this.createSource('SOURCE', orReplace, start, end);
      if (this.acceptKw('TABLE')) return this.createSource('TABLE', orReplace, start, end);
      if (this.acceptKw('MATERIALIZED', 'VIEW')) return this.createMaterializedView(start, end);
      if (this.acceptKw('VIEW')) {
        const ifNotExists = this.acceptKw('IF', 'NOT', 'EXISTS');
        const name = this.ident('a view name');
        this.expectKw('AS');
        return { kind: 'create_view', name, ifNotExists, query: this.queryRest(), start, end };
      }
      if (this.acceptKw('SINK')) return this.createSink(start, end);
      this.err(`expected SOURCE, TABLE, MATERIALIZED VIEW, VIEW or SINK after CREATE but found ${describe(this.peek())}`);
    }
    if (this.acceptKw('INSERT')) {
      this.expectKw('INTO');
      const target = this.ident('a table name');
      return { kind: 'insert_into', target, query: this.queryRest(), options: [], start, end };
    }
    if (this.acceptKw('DROP')) {
      let object: ObjectKind;
      if (this.acceptKw('SOURCE') || this.acceptKw('TABLE')) object = 'source';
      else if (this.acceptKw('MATERIALIZED', 'VIEW')) object = 'materialized_view';
      else if (this.acceptKw('VIEW')) object = 'view';
      else if (this.acceptKw('SINK')) object = 'sink';
      else return this.err(`expected SOURCE, TABLE, VIEW, MATERIALIZED VIEW or SINK after DROP but found ${describe(this.peek())}`);
      const ifExists = this.acceptKw('IF', 'EXISTS');
      const name = this.ident();
      this.expectEnd();
      return { kind: 'drop', object, name, ifExists, start, end };
    }
    if (this.acceptKw('SHOW')) {
      let what: 'sources' | 'views' | 'materialized_views' | 'sinks' | 'queries';
      if (this.acceptKw('SOURCES') || this.acceptKw('TABLES') || this.acceptKw('STREAMS')) what = 'sources';
      else if (this.acceptKw('MATERIALIZED', 'VIEWS')) what = 'materialized_views';
      else if (this.acceptKw('VIEWS')) what = 'views';
      else if (this.acceptKw('SINKS')) what = 'sinks';
      else if (this.acceptKw('QUERIES') || this.acceptKw('JOBS')) what = 'queries';
      else return this.err(`expected SOURCES, VIEWS, MATERIALIZED VIEWS, SINKS or QUERIES after SHOW but found ${describe(this.peek())}`);
      this.expectEnd();
      return { kind: 'show', what, start, end };
    }
    if (this.acceptKw('DESCRIBE') || this.acceptKw('DESC')) {
      const name = this.ident();
      this.expectEnd();
      return { kind: 'describe', name, start, end };
    }
    return this.err(`expected a statement (SELECT, CREATE, INSERT, DROP, SHOW, DESCRIBE, EXPLAIN) but found ${describe(first)}`, first);
  }

  // ---- CREATE SOURCE / TABLE ------------------------------------------------------------------

  private createSource(keyword: 'SOURCE' | 'TABLE', orReplace: boolean, start: number, end: number): Statement {
    const ifNotExists = this.acceptKw('IF', 'NOT', 'EXISTS');
    const name = this.ident('a source name');
    const columns: ColumnDecl[] = [];
    let watermark: WatermarkDecl | null = null;
    const primaryKey: Ident[] = [];
    if (this.acceptOp('(')) {
      for (;;) {
        if (this.isKw('WATERMARK')) {
          const wt = this.next();
          if (watermark) this.err('a source can declare only one WATERMARK', wt);
          this.expectKw('FOR');
          const column = this.ident('the event-time column');
          this.expectKw('AS');
          watermark = { column, delayMs: this.watermarkDelay(column), start: wt.start };
        } else if (this.isKw('PRIMARY') && this.isKw('KEY', 1)) {
          // Flink's PRIMARY KEY (…) NOT ENFORCED: the key of an upsert-kafka table (other sources ignore it).
          this.i += 2; this.expectOp('(');
          for (;;) { primaryKey.push(this.ident('a key column')); if (!this.acceptOp(',')) break; }
          this.expectOp(')'); this.acceptKw('NOT', 'ENFORCED');
        } else {
          columns.push(this.columnDecl());
        }
        if (this.acceptOp(',')) continue;
        this.expectOp(')');
        break;
      }
    }
    // RisingWave: INCLUDE timestamp [AS ts], INCLUDE partition, …
    while (this.isKw('INCLUDE')) {
      this.next();
      const kt = this.next();
      const key = kt.value.toLowerCase() as MetadataKey;
      if (!METADATA_KEYS.includes(key)) this.err(`unknown metadata '${kt.value}': expected one of ${METADATA_KEYS.join(', ')}`, kt);
      let colName: Ident = { value: `_rw_kafka_${key}`, quoted: false, start: kt.start };
      if (this.acceptKw('AS')) colName = this.ident('a column name');
      columns.push({ name: colName, type: metadataType(key), notNull: false, metadata: key, typeStart: kt.start });
    }
    const options = this.withOptions(true);
    this.expectEnd();
    return { kind: 'create_source', name, ifNotExists, orReplace, columns, watermark, options, keyword, start, end, ...(primaryKey.length ? { primaryKey } : {}) };
  }

  private watermarkDelay(column: Ident): number {
    const t = this.peek();
    const col = this.ident('the event-time column');
    if (col.value.toLowerCase() !== column.value.toLowerCase()) {
      this.err(`the watermark must be an expression of '${column.value}' (for example ${column.value} - INTERVAL '5' SECOND)`, t);
    }
    if (this.acceptOp('-')) return this.interval().ms;
    return 0;
  }

  private skipParens(): void {
    this.expectOp('(');
    let depth = 1;
    while (depth > 0) {
      const t = this.next();
      if (t.kind === 'eof') this.err("missing ')'", t);
      if (t.kind === 'op' && t.value === '(') depth++;
      if (t.kind === 'op' && t.value === ')') depth--;
    }
  }

  private columnDecl(): ColumnDecl {
    const name = this.ident('a column name');
    const typeStart = this.peek().start;
    const type = this.sqlType();
    let notNull = false;
    let metadata: MetadataKey | null = null;
    for (;;) {
      if (this.acceptKw('NOT', 'NULL')) { notNull = true; continue; }
      if (this.acceptKw('NULL')) continue;
      if (this.isKw('METADATA')) {
        const mt = this.next();
        let key = name.value.toLowerCase();
        let keyTok: Token = mt;
        if (this.acceptKw('FROM')) { keyTok = this.peek(); if (keyTok.kind !== 'string') this.err(`expected a quoted metadata key such as 'timestamp'`); key = this.next().value.toLowerCase(); }
        if (!METADATA_KEYS.includes(key as MetadataKey)) this.err(`unknown Kafka metadata key '${key}': expected one of ${METADATA_KEYS.join(', ')}`, keyTok);
        metadata = key as MetadataKey;
        this.acceptKw('VIRTUAL');
        continue;
      }
      break;
    }
    return { name, type, notNull, metadata, typeStart };
  }

  private sqlType(): SqlType {
    const t = this.peek();
    if (t.kind !== 'ident') this.err(`expected a column type but found ${describe(t)}`);
    this.i++;
    switch (t.upper) {
      case 'BOOLEAN': case 'BOOL': return T.boolean;
      case 'INT': case 'INTEGER': case 'SMALLINT': case 'TINYINT': case 'INT4': return T.int;
      case 'BIGINT': case 'INT8': case 'LONG': return T.bigint;
      case 'REAL': case 'FLOAT': case 'FLOAT4': case 'FLOAT8': return T.double;
      case 'DOUBLE': this.acceptKw('PRECISION'); return T.double;
      case 'DECIMAL': case 'NUMERIC': case 'DEC':
        // DECIMAL(p, s) is carried as DOUBLE: exact to 15-16 significant digits, documented in the README.
        if (this.isOp('(')) this.skipParens();
        return T.double;
      case 'VARCHAR': case 'CHAR': case 'TEXT': case 'STRING': case 'CHARACTER':
        this.acceptKw('VARYING');
        if (this.isOp('(')) this.skipParens();
        return T.varchar;
      case 'TIMESTAMP': case 'TIMESTAMP_LTZ':
        if (this.isOp('(')) this.skipParens();
        if (this.acceptKw('WITH', 'LOCAL', 'TIME', 'ZONE') || this.acceptKw('WITH', 'TIME', 'ZONE') || this.acceptKw('WITHOUT', 'TIME', 'ZONE')) { /* all carried as UTC epoch ms */ }
        return T.timestamp;
      case 'TIMESTAMPTZ': return T.timestamp;
      case 'ROW': case 'STRUCT': return this.structType(t);
      default:
        return this.err(`unknown type '${t.value}': expected BOOLEAN, INT, BIGINT, DOUBLE, DECIMAL, VARCHAR, TIMESTAMP(3) or ROW<…>`, t);
    }
  }

  private structType(kw: Token): SqlType {
    // ROW<a INT, b VARCHAR>, ROW(a INT, b VARCHAR), STRUCT<a: INT, b: STRING>
    const close = this.isOp('<') ? '>' : this.isOp('(') ? ')' : this.err(`expected '<' or '(' after ${kw.value}`);
    this.next();
    const fields: Field[] = [];
    for (;;) {
      const name = this.ident('a field name');
      this.acceptOp(':');
      const type = this.sqlType();
      fields.push({ name: name.value, type, nullable: true });
      if (this.acceptOp(',')) continue;
      this.expectOp(close);
      return { kind: 'struct', fields };
    }
  }

  private inRange(a: IntervalArg): IntervalArg {
    const range = intervalRangeError(a.ms);
    if (range) { const p = this.pm.pos(a.start); throw new SqlError(range, p.line, p.column, 'limit'); }
    return a;
  }

  private interval(): IntervalArg {
    const t = this.peek();
    if (this.acceptKw('INTERVAL')) {
      const lit = this.next();
      if (lit.kind !== 'string' && lit.kind !== 'number') this.err(`expected an interval such as INTERVAL '5' SECOND`, lit);
      let unit: string | null = null;
      if (this.peek().kind === 'ident' && parseIntervalText('1', this.peek().value) !== null) unit = this.next().value;
      else if (this.peek().kind === 'ident' && !['AS', 'WITH', 'FROM', 'TO'].includes(this.peek().upper)) {
        this.err(`unknown interval unit '${this.peek().value}': use MILLISECOND, SECOND, MINUTE, HOUR or DAY`, this.peek());
      }
      const ms = parseIntervalText(lit.value, unit);
      if (ms === null) this.err(`cannot read interval '${lit.value}${unit ? ' ' + unit : ''}': use for example INTERVAL '5' SECOND or INTERVAL '1 minute'`, lit);
      return this.inRange({ ms: ms!, start: t.start });
    }
    if (t.kind === 'string') {
      this.i++;
      const ms = parseIntervalText(t.value);
      if (ms === null) this.err(`cannot read interval '${t.value}': use for example '10 minutes'`, t);
      return this.inRange({ ms: ms!, start: t.start });
    }
    return this.err(`expected an interval such as INTERVAL '5' SECOND but found ${describe(t)}`, t);
  }

  private withOptions(required: boolean): OptionDecl[] {
    if (!this.isKw('WITH')) {
      if (required) this.err(`expected WITH (connector = 'kafka', topic = '…', format = 'json') but found ${describe(this.peek())}`);
      return [];
    }
    this.next();
    this.expectOp('(');
    const out: OptionDecl[] = [];
    if (this.acceptOp(')')) return out;
    for (;;) {
      const kt = this.peek();
      let key: string;
      if (kt.kind === 'string') { key = this.next().value; }
      else {
        key = this.ident('an option name').value;
        while (this.acceptOp('.')) key += '.' + this.ident('an option name').value;
      }
      this.expectOp('=');
      const vt = this.next();
      if (vt.kind !== 'string' && vt.kind !== 'number' && vt.kind !== 'ident') this.err(`expected a value for option '${key}'`, vt);
      out.push({ key: key.toLowerCase(), value: vt.value, start: kt.start, valueStart: vt.start });
      if (this.acceptOp(',')) continue;
      this.expectOp(')');
      return out;
    }
  }

  // ---- views, sinks -----------------------------------------------------------------------------

  private createMaterializedView(start: number, end: number): Statement {
    const ifNotExists = this.acceptKw('IF', 'NOT', 'EXISTS');
    const name = this.ident('a view name');
    const options = this.withOptions(false);
    this.expectKw('AS');
    return { kind: 'create_materialized_view', name, ifNotExists, query: this.queryRest(), options, start, end };
  }

  private createSink(start: number, end: number): Statement {
    const ifNotExists = this.acceptKw('IF', 'NOT', 'EXISTS');
    const name = this.ident('a sink name');
    if (this.acceptKw('FROM')) {
      const from = this.ident('a view or source name');
      const options = this.withOptions(true);
      this.expectEnd();
      return { kind: 'create_sink', name, ifNotExists, from, query: null, options, start, end };
    }
    let options = this.withOptions(false);
    this.expectKw('AS');
    // RisingWave puts WITH (…) after the query: split it off the end.
    const withAt = this.trailingWith();
    const query = this.queryRest(withAt);
    if (withAt >= 0) { this.i = withAt; options = [...options, ...this.withOptions(true)]; this.expectEnd(); }
    return { kind: 'create_sink', name, ifNotExists, from: null, query, options, start, end };
  }

  /** Index of a top-level `WITH (` that ends the statement, or -1. */
  private trailingWith(): number {
    let depth = 0;
    for (let k = this.i; k < this.toks.length; k++) {
      const t = this.toks[k]!;
      if (t.kind === 'op' && t.value === '(') depth++;
      if (t.kind === 'op' && t.value === ')') depth--;
      if (depth === 0 && t.kind === 'ident' && t.upper === 'WITH' && k > this.i) {
        const nt = this.toks[k + 1];
        if (nt && nt.kind === 'op' && nt.value === '(') return k;
      }
    }
    return -1;
  }

  // ---- SELECT bodies ----------------------------------------------------------------------------

  /** Takes the rest of the statement (up to token index `stopAt`) as a query and rewrites it. */
  private queryRest(stopAt = -1): QueryText {
    const from = this.i;
    const to = stopAt >= 0 ? stopAt : this.toks.length - 1; // exclusive; the last token is eof
    if (from >= to) this.err('expected a SELECT query');
    const first = this.toks[from]!;
    if (!(first.kind === 'ident' && (first.upper === 'SELECT' || first.upper === 'WITH')) && !(first.kind === 'op' && first.value === '(')) {
      this.err(`expected SELECT but found ${describe(first)}`, first);
    }
    this.checkSelectItems(from, to);
    const start = first.start;
    const endOff = this.toks[to - 1]!.end;
    const chars = this.text.slice(start, endOff).split('');
    const blank = (s: number, e: number) => { for (let k = s; k < e; k++) if (chars[k - start] !== '\n') chars[k - start] = ' '; };
    let last = to;
    // Trailing EMIT clause.
    let emit: EmitMode | null = null; let emitStart = -1;
    const toks = this.toks;
    const kwAt = (k: number, kw: string) => toks[k]?.kind === 'ident' && toks[k]!.upper === kw;
    for (let k = from; k < last; k++) {
      if (!kwAt(k, 'EMIT')) continue;
      if (kwAt(k + 1, 'CHANGES') && k + 2 === last) emit = 'changes';
      else if (kwAt(k + 1, 'ON') && kwAt(k + 2, 'WINDOW') && kwAt(k + 3, 'CLOSE') && k + 4 === last) emit = 'window_close';
      else if (kwAt(k + 1, 'FINAL') && k + 2 === last) emit = 'window_close';
      else this.err(`expected EMIT CHANGES or EMIT ON WINDOW CLOSE at the end of the query`, toks[k]!);
      emitStart = toks[k]!.start;
      blank(toks[k]!.start, toks[last - 1]!.end);
      last = k;
      break;
    }
    // Temporal joins: `t FOR SYSTEM_TIME AS OF o.ts` / `… AS OF PROCTIME()` (node-sql-parser has no such clause).
    const asOf: AsOfClause[] = [];
    for (let k = from + 1; k < last; k++) {
      if (!(kwAt(k, 'FOR') && kwAt(k + 1, 'SYSTEM_TIME') && kwAt(k + 2, 'AS') && kwAt(k + 3, 'OF'))) continue;
      const table = toks[k - 1]!;
      if (table.kind !== 'ident' && table.kind !== 'qident') this.err('FOR SYSTEM_TIME AS OF must follow a table name', toks[k]!);
      let e = k + 4;
      let column: AsOfClause['column'] = null;
      if (kwAt(e, 'PROCTIME') && toks[e + 1]?.value === '(' && toks[e + 2]?.value === ')') e += 3;
      else if ((toks[e]?.kind === 'ident' || toks[e]?.kind === 'qident') && toks[e + 1]?.value === '.' && (toks[e + 2]?.kind === 'ident' || toks[e + 2]?.kind === 'qident')) {
        column = { qualifier: toks[e]!.value, name: toks[e + 2]!.value }; e += 3;
      } else if (toks[e]?.kind === 'ident' || toks[e]?.kind === 'qident') { column = { qualifier: null, name: toks[e]!.value }; e += 1; }
      else this.err('expected a time column or PROCTIME() after FOR SYSTEM_TIME AS OF', toks[e] ?? toks[k]!);
      asOf.push({ table: table.value, column, start: toks[k]!.start });
      blank(toks[k]!.start, toks[e - 1]!.end);
      k = e - 1;
    }
    // Window table functions in FROM, and Spark's `window`.
    const windows: WindowTvf[] = [];
    for (let k = from; k < last; k++) {
      const t = toks[k]!;
      if (t.kind !== 'ident') continue;
      const prev = toks[k - 1];
      const afterFrom = prev !== undefined && prev.kind === 'ident' && (prev.upper === 'FROM' || prev.upper === 'JOIN');
      const isWinFn = (u: string) => u === 'TUMBLE' || u === 'HOP' || u === 'CUMULATE' || u === 'SESSION';
      if (afterFrom && t.upper === 'TABLE' && toks[k + 1]?.value === '(' && toks[k + 2]?.kind === 'ident' && isWinFn(toks[k + 2]!.upper) && toks[k + 3]?.value === '(') {
        const w = this.windowTvf(k + 2, 'flink', windows.length);
        const closeIdx = this.matchParen(k + 1);
        windows.push({ ...w.tvf, start: t.start, end: toks[closeIdx]!.end });
        this.placeholder(chars, start, t.start, toks[closeIdx]!.end, w.tvf.placeholder);
        k = closeIdx;
        continue;
      }
      if (afterFrom && isWinFn(t.upper) && toks[k + 1]?.value === '(') {
        const w = this.windowTvf(k, 'risingwave', windows.length);
        windows.push(w.tvf);
        this.placeholder(chars, start, t.start, w.tvf.end, w.tvf.placeholder);
        k = w.close;
        continue;
      }
      if (['SUM', 'AVG', 'MIN', 'MAX'].includes(t.upper) && toks[k + 1]?.value === '(' && toks[k + 2]?.kind === 'ident' && toks[k + 2]!.upper === 'DISTINCT' && k + 3 < last) {
        const d = toks[k + 2]!;
        // Only blanks between SUM, ( and DISTINCT, so that hasDistinct reads the original text.
        if (this.text.slice(t.end, toks[k + 1]!.start).trim() || this.text.slice(toks[k + 1]!.end, d.start).trim()) this.err(`a comment inside ${t.upper}(DISTINCT … is not supported`, d, 'unsupported');
        blank(d.start, d.end);
        k += 2;
        continue;
      }
      if (t.upper === 'GROUPING' && toks[k + 1]?.kind === 'ident' && toks[k + 1]!.upper === 'SETS' && toks[k + 2]?.value === '(') {
        const close = this.matchParen(k + 2);
        if (close >= last) this.err("missing ')'", toks[k + 2]!);
        blank(t.start, toks[k + 1]!.end);
        for (let c = 0; c < GROUPING_SETS_NAME.length; c++) chars[t.start - start + c] = GROUPING_SETS_NAME[c]!;
        for (let j = k + 3; j < close; j++) {
          const x = toks[j]!;
          if (x.kind === 'string' && x.value.trim() === '') this.err("a grouping set is a list of columns in parentheses; the empty set is ()", x);
          if (x.kind === 'op' && x.value === '(' && toks[j + 1]?.kind === 'op' && toks[j + 1]!.value === ')') {
            chars[x.start - start] = "'"; chars[toks[j + 1]!.start - start] = "'";
          }
        }
        k += 1;
        continue;
      }
      if (t.upper === 'WINDOW' && t.value.length === SPARK_WINDOW_ALIAS.length) {
        for (let c = 0; c < SPARK_WINDOW_ALIAS.length; c++) chars[t.start - start + c] = SPARK_WINDOW_ALIAS[c]!;
      }
    }
    this.i = stopAt >= 0 ? stopAt : this.toks.length - 1;
    return { text: chars.join(''), start, original: this.text.slice(start, endOff), windows, emit, emitStart, ...(asOf.length ? { asOf } : {}) };
  }

  /**
   * Counts the items of every SELECT list (commas at the list's own nesting level) before the SQL
   * parser sees them: parsing costs about a millisecond an item, so a huge list is refused up front.
   */
  private checkSelectItems(from: number, to: number): void {
    const open: { items: number; depth: number; at: Token }[] = [];
    let depth = 0;
    for (let k = from; k < to; k++) {
      const t = this.toks[k]!;
      if (t.kind === 'op' && t.value === '(') { depth++; continue; }
      if (t.kind === 'op' && t.value === ')') { depth--; while (open.length && open[open.length - 1]!.depth > depth) open.pop(); continue; }
      const top = open[open.length - 1];
      if (t.kind === 'ident' && t.upper === 'SELECT') { open.push({ items: 1, depth, at: t }); continue; }
      if (!top || top.depth !== depth) continue;
      if (t.kind === 'ident' && t.upper === 'FROM') { open.pop(); continue; }
      if (t.kind === 'op' && t.value === ',' && ++top.items > MAX_SELECT_ITEMS) {
        this.err(`a SELECT list may have at most ${MAX_SELECT_ITEMS} items (limit MAX_SELECT_ITEMS)`, top.at, 'limit');
      }
    }
  }

  private placeholder(chars: string[], base: number, s: number, e: number, name: string): void {
    for (let k = s; k < e; k++) if (chars[k - base] !== '\n') chars[k - base] = ' ';
    for (let c = 0; c < name.length; c++) chars[s - base + c] = name[c]!;
  }

  private matchParen(openIdx: number): number {
    let depth = 0;
    for (let k = openIdx; k < this.toks.length; k++) {
      const t = this.toks[k]!;
      if (t.kind === 'op' && t.value === '(') depth++;
      if (t.kind === 'op' && t.value === ')') { depth--; if (depth === 0) return k; }
    }
    return this.err("missing ')'", this.toks[openIdx]!);
  }

  /** Parses `TUMBLE(src, ts, size[, offset])` (RisingWave) or `TUMBLE(TABLE src, DESCRIPTOR(ts), size)` (Flink). */
  private windowTvf(fnIdx: number, form: 'risingwave' | 'flink', n: number): { tvf: WindowTvf; close: number } {
    const save = this.i;
    this.i = fnIdx;
    const fnTok = this.next();
    const kind = fnTok.upper.toLowerCase() as WindowTvf['kind'];
    this.expectOp('(');
    if (form === 'flink') {
      this.expectKw('TABLE');
    } else this.acceptKw('TABLE');
    const source = this.ident('a source name');
    const partitionBy: Ident[] = [];
    if (this.acceptKw('PARTITION', 'BY')) {
      do partitionBy.push(this.ident('a column')); while (this.isOp(',') && !this.isKw('DESCRIPTOR', 1) && this.acceptOp(','));
    }
    this.expectOp(',');
    let timeCol: Ident;
    if (this.acceptKw('DESCRIPTOR')) { this.expectOp('('); timeCol = this.ident('the event-time column'); this.expectOp(')'); }
    else timeCol = this.ident('the event-time column');
    const args: IntervalArg[] = [];
    while (this.acceptOp(',')) args.push(this.interval());
    const closeTok = this.expectOp(')');
    const want = { tumble: [1, 2], hop: [2, 3], cumulate: [2, 3], session: [1, 1] }[kind];
    if (args.length < want[0]! || args.length > want[1]!) {
      const usage = {
        tumble: 'TUMBLE(source, time_col, size [, offset])',
        hop: 'HOP(source, time_col, slide, size [, offset])',
        cumulate: 'CUMULATE(source, time_col, step, size [, offset])',
        session: 'SESSION(source, time_col, gap)',
      }[kind];
      this.err(`${fnTok.upper} takes ${want[0] === want[1] ? want[0] : `${want[0]} or ${want[1]}`} interval argument(s): ${usage}`, fnTok);
    }
    for (const a of args) if (a.ms <= 0 && !(kind === 'tumble' && a === args[1])) this.err('a window interval must be positive', a.start);
    const close = this.i - 1;
    this.i = save;
    return {
      tvf: { placeholder: `__w${n}`, kind, form, source, timeCol, args, partitionBy, start: fnTok.start, end: closeTok.end },
      close,
    };
  }
}

function metadataType(key: MetadataKey): SqlType {
  switch (key) {
    case 'timestamp': return T.timestamp;
    case 'partition': return T.int;
    case 'offset': return T.bigint;
    case 'key': case 'topic': case 'headers': return T.varchar;
  }
}

export function describe(t: Token): string {
  switch (t.kind) {
    case 'eof': return 'the end of the statement';
    case 'string': return `'${t.value}'`;
    case 'qident': return `"${t.value}"`;
    default: return `'${t.value}'`;
  }
}
