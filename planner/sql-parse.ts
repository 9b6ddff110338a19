/**
 * Parsing requests' SELECTs off the main thread, with a deadline. `preparse` runs node-sql-parser for
 * every query of a request on the parse thread (planner/parse-worker.ts); a parse that overruns
 * PARSE_DEADLINE_MS terminates the thread (a new one starts for the next request) and the request is
 * refused with a 400 naming the limit. The planner itself stays synchronous: `planRequest` takes the
 * outcomes and `parseSelect` looks a text up there first, parsing directly only text the service wrote
 * or stored itself (views it has already accepted once).
 */
import { Worker } from 'node:worker_threads';
import type { QueryText, Statement } from './ast.ts';
import { PARSE_DEADLINE_MS } from './limits.ts';
import { parseRequest } from './parse.ts';
import type { ParseJob, ParseReply } from './parse-worker.ts';
import type { ParseOutcome } from './sql-parse-core.ts';

/** Outcomes by rewritten query text (QueryText.text). */
export type Preparsed = ReadonlyMap<string, ParseOutcome>;

let worker: Worker | null = null;
/** A second thread, booted ahead, that takes over at once when a parse overruns (a boot takes a second or more). */
let spare: Worker | null = null;
let nextId = 1;
let queue: Promise<unknown> = Promise.resolve();

function spawn(): Worker {
  const w = new Worker(new URL('./parse-worker-boot.mjs', import.meta.url));
  w.unref(); // never what keeps a process alive
  const gone = () => { if (worker === w) worker = null; if (spare === w) spare = null; };
  w.on('error', gone);
  w.on('exit', gone);
  void ready(w).catch(() => undefined);
  return w;
}

/** Starts the parse thread and its spare ahead of the first request. */
export function warmParser(): void { worker ??= spawn(); spare ??= spawn(); }

/** Stops the parse threads (tests and shutdown; the next request starts others). */
export async function stopParser(): Promise<void> {
  const ws = [worker, spare]; worker = null; spare = null;
  await Promise.all(ws.map((w) => w?.terminate()));
}

/** Every QueryText of the statements, EXPLAIN's inner statement included. */
export function queryTexts(statements: readonly Statement[]): QueryText[] {
  const out: QueryText[] = [];
  for (const st of statements) {
    switch (st.kind) {
      case 'explain': out.push(...queryTexts([st.statement])); break;
      case 'create_view': case 'create_materialized_view': case 'insert_into': case 'select': out.push(st.query); break;
      case 'create_sink': if (st.query) out.push(st.query); break;
      default: break;
    }
  }
  return out;
}

/**
 * Parses `texts` on the parse thread. The deadline covers the parse itself; the first request after a
 * (re)start also waits for the thread to boot, which is not counted against the query.
 */
export function preparse(texts: readonly string[]): Promise<Preparsed> {
  const unclosed = new Map<string, ParseOutcome>();
  for (const t of texts) {
    const at = unclosedParen(t);
    if (at !== null) unclosed.set(t, { ok: false, offset: at, found: null, limit: null, message: "this '(' is never closed" });
  }
  const unique = [...new Set(texts)].filter((t) => !unclosed.has(t));
  if (unique.length === 0) return Promise.resolve(unclosed);
  const run = queue.then(async () => new Map([...unclosed, ...await parseOnThread(unique)]));
  queue = run.catch(() => undefined);
  return run;
}

/**
 * Parentheses that never close are the classic input that makes the parser backtrack exponentially;
 * they are a syntax error found in one pass, so they never reach it.
 */
function unclosedParen(text: string): number | null {
  const open: number[] = [];
  const toks = text; // the rewritten text keeps strings, quoted names and comments: skip them
  for (let i = 0; i < toks.length; i++) {
    const c = toks[i];
    if (c === "'" || c === '"') { const q = c; i++; while (i < toks.length && toks[i] !== q) i++; continue; }
    if (c === '-' && toks[i + 1] === '-') { while (i < toks.length && toks[i] !== '\n') i++; continue; }
    if (c === '/' && toks[i + 1] === '*') { const e = toks.indexOf('*/', i + 2); i = e < 0 ? toks.length : e + 1; continue; }
    if (c === '(') open.push(i);
    else if (c === ')') open.pop();
  }
  return open.length ? open[open.length - 1]! : null;
}

const TIMED_OUT: ParseOutcome = { ok: false, offset: 0, found: null, limit: `the query took more than ${PARSE_DEADLINE_MS} ms to parse (limit PARSE_DEADLINE_MS): simplify it (broken nesting and very long expressions are what parse slowly)` };

async function parseOnThread(texts: string[]): Promise<Preparsed> {
  const w = worker ??= spawn();
  await ready(w);
  const id = nextId++;
  return new Promise<Preparsed>((resolve, reject) => {
    const done = (f: () => void) => { clearTimeout(timer); w.off('message', onMessage); w.off('exit', onExit); f(); };
    const onMessage = (m: ParseReply) => {
      if (m.id !== id) return;
      done(() => resolve(new Map(texts.map((t, i) => [t, m.results[i]!]))));
    };
    const onExit = () => done(() => reject(new Error('the SQL parser thread stopped')));
    const timer = setTimeout(() => {
      // The parse may never end: the thread goes, and the whole request is refused.
      // The spare (booted) takes over; a new spare boots behind it.
      if (worker === w) { worker = spare ?? spawn(); spare = spawn(); }
      done(() => resolve(new Map(texts.map((t) => [t, TIMED_OUT]))));
      void w.terminate();
    }, PARSE_DEADLINE_MS);
    w.on('message', onMessage);
    w.once('exit', onExit);
    w.postMessage({ id, texts } satisfies ParseJob);
  });
}

/** Waits until the thread has booted (a no-op round trip: an empty job). */
const booted = new WeakMap<Worker, Promise<void>>();
function ready(w: Worker): Promise<void> {
  let p = booted.get(w);
  if (!p) {
    const id = nextId++;
    p = new Promise<void>((resolve, reject) => {
      const onMessage = (m: ParseReply) => { if (m.id === id) { w.off('message', onMessage); resolve(); } };
      w.on('message', onMessage);
      w.once('error', reject);
      w.once('exit', () => reject(new Error('the SQL parser thread stopped')));
      w.postMessage({ id, texts: [] } satisfies ParseJob);
    });
    booted.set(w, p);
  }
  return p;
}

/**
 * The front end's statements of `sql` (its errors thrown as they are) and the parse outcomes of their
 * queries, for `planRequest(sql, catalog, preparsed)`.
 */
export async function preparseRequest(sql: string): Promise<Preparsed> {
  const texts = queryTexts(parseRequest(sql).statements).map((q) => q.text);
  try { return await preparse(texts); } catch {
    // The thread died under the request (not by our deadline): one more try on a fresh thread.
    return preparse(texts);
  }
}
