/**
 * A small SQL lexer with exact source positions. The front end works on its tokens for the statements
 * node-sql-parser cannot read (DDL, WATERMARK, EMIT, window table functions) and to point errors at
 * the offending token.
 */
import { SqlError, type PosMap } from './errors.ts';
import { MAX_IDENTIFIER_LENGTH } from './limits.ts';

export type TokenKind = 'ident' | 'qident' | 'string' | 'number' | 'op' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** Identifier as written (qident without quotes, string without quotes and with '' unescaped). */
  readonly value: string;
  /** Upper-cased value for keyword tests (ident only). */
  readonly upper: string;
  readonly start: number;
  readonly end: number;
}

const OPS = ['<>', '!=', '<=', '>=', '||', '::', '(', ')', ',', ';', '.', '=', '<', '>', '+', '-', '*', '/', '%', '[', ']', ':'];

export function tokenize(text: string, pm: PosMap): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = text.length;
  const err = (msg: string, at: number): never => {
    const p = pm.pos(at);
    throw new SqlError(msg, p.line, p.column);
  };
  const tooLong = (at: number): never => {
    const p = pm.pos(at);
    throw new SqlError(`a name may be at most ${MAX_IDENTIFIER_LENGTH} characters long (limit MAX_IDENTIFIER_LENGTH)`, p.line, p.column, 'limit');
  };
  while (i < n) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
    if (c === '-' && text[i + 1] === '-') { while (i < n && text[i] !== '\n') i++; continue; }
    if (c === '/' && text[i + 1] === '*') {
      const e = text.indexOf('*/', i + 2);
      if (e < 0) err('unterminated comment', i);
      i = e + 2; continue;
    }
    const start = i;
    if (/[A-Za-z_]/.test(c)) {
      while (i < n && /[A-Za-z0-9_$]/.test(text[i]!)) i++;
      const v = text.slice(start, i);
      if (v.length > MAX_IDENTIFIER_LENGTH) tooLong(start);
      out.push({ kind: 'ident', value: v, upper: v.toUpperCase(), start, end: i });
      continue;
    }
    if (c === '"' || c === '`') {
      i++;
      let v = '';
      for (;;) {
        if (i >= n) err('unterminated quoted identifier', start);
        if (text[i] === c) { if (text[i + 1] === c) { v += c; i += 2; continue; } i++; break; }
        v += text[i++];
      }
      if (v.length > MAX_IDENTIFIER_LENGTH) tooLong(start);
      out.push({ kind: 'qident', value: v, upper: v.toUpperCase(), start, end: i });
      continue;
    }
    if (c === "'") {
      i++;
      let v = '';
      for (;;) {
        if (i >= n) err('unterminated string literal', start);
        if (text[i] === "'") { if (text[i + 1] === "'") { v += "'"; i += 2; continue; } i++; break; }
        v += text[i++];
      }
      out.push({ kind: 'string', value: v, upper: v.toUpperCase(), start, end: i });
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      while (i < n && /[0-9]/.test(text[i]!)) i++;
      if (text[i] === '.' && /[0-9]/.test(text[i + 1] ?? '')) { i++; while (i < n && /[0-9]/.test(text[i]!)) i++; }
      if ((text[i] === 'e' || text[i] === 'E') && /[-+0-9]/.test(text[i + 1] ?? '')) {
        i += 2; while (i < n && /[0-9]/.test(text[i]!)) i++;
      }
      const v = text.slice(start, i);
      out.push({ kind: 'number', value: v, upper: v, start, end: i });
      continue;
    }
    const op = OPS.find((o) => text.startsWith(o, i));
    if (!op) err(`unexpected character '${c}'`, i);
    i += op!.length;
    out.push({ kind: 'op', value: op!, upper: op!, start, end: i });
  }
  out.push({ kind: 'eof', value: '', upper: '', start: n, end: n });
  return out;
}

/** One statement of a request: its tokens (ending with an eof token at its end) and its text span. */
export interface StatementTokens {
  readonly tokens: Token[];
  readonly start: number;
  readonly end: number;
}

/** Splits a request into statements at top-level semicolons; empty statements are dropped. */
export function splitStatements(tokens: readonly Token[]): StatementTokens[] {
  const out: StatementTokens[] = [];
  let cur: Token[] = [];
  let depth = 0;
  const flush = (endAt: number) => {
    if (cur.length > 0) {
      out.push({ tokens: [...cur, { kind: 'eof', value: '', upper: '', start: endAt, end: endAt }], start: cur[0]!.start, end: endAt });
    }
    cur = [];
  };
  for (const t of tokens) {
    if (t.kind === 'eof') { flush(cur.length ? cur[cur.length - 1]!.end : t.start); break; }
    if (t.kind === 'op' && t.value === '(') depth++;
    if (t.kind === 'op' && t.value === ')') depth--;
    if (t.kind === 'op' && t.value === ';' && depth <= 0) { flush(cur.length ? cur[cur.length - 1]!.end : t.start); depth = 0; continue; }
    cur.push(t);
  }
  return out;
}
