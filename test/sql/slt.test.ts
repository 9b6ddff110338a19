/**
 * File-driven SQL tests, in the spirit of DataFusion's sqllogictest (.slt) files.
 *
 * Every `test/sql/*.slt` file is a sequence of records separated by blank lines. Each record becomes
 * one vitest test, run in file order against ONE catalog per file: a record that plans successfully
 * takes effect (CREATE adds to the catalog, DROP removes), so setup DDL at the top of a file is seen by
 * every record after it. A record that fails leaves the catalog unchanged (the planner checks every
 * statement of a request before any takes effect).
 *
 * Records:
 *
 *     # a comment line (anywhere outside SQL)
 *
 *     statement ok
 *     <SQL, one or more statements separated by ';'>
 *
 *     statement error <line>:<column> <message substring>
 *     <SQL>
 *
 *     query explain            (or: query logical | query physical | query graph | query schema | query source)
 *     <SQL>
 *     ----
 *     <expected text, no blank lines>
 *
 * - `statement error`: planning must throw a SqlError whose message contains the substring and whose
 *   position is <line>:<column>, counted from the first line of the record's SQL (line 1, column 1
 *   is its first character), exactly as the HTTP API reports it for that SQL.
 * - `query explain`: the last statement is EXPLAIN <stmt> (or a statement with a plan: CREATE
 *   MATERIALIZED VIEW, CREATE SINK, INSERT INTO, SELECT). Expected text is `logical:` followed by the
 *   logical plan, then `physical:` followed by the physical plan, as EXPLAIN prints them.
 *   `query logical` / `query physical` expect only that one plan, without the header line; `query graph` the
 *   dataflow graph EXPLAIN prints (one line per node: id, operator, inputs, append-only or changelog with its key).
 * - `query schema`: the visible output columns of the last statement, one `name TYPE` a line (for a
 *   DESCRIBE, the described object's columns).
 * - `query source`: the last statement creates a source; one line per column
 *   (`name TYPE [METADATA 'key']`), then `watermark: <col> - <delay ms>ms` if any, then `option: key=value`
 *   for every option that differs from the defaults of a minimal json source.
 *
 * Expected text is compared line by line with trailing blanks removed. Set SLT_COMPLETE=1 to rewrite
 * the files with the actual output of every `query` record and of every `statement error` record
 * whose header has no position yet (review the diff before committing it).
 */
import { printGraph } from '../../planner/physical-graph.ts';
import { isChain } from '../../planner/physical.ts';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createCatalog, planRequest, printLogical, printPhysical, SqlError, typeToString,
  type CatalogObject, type KafkaSourceOptions, type PlannedStatement, type Schema,
} from '../../planner/index.ts';

type Kind = 'ok' | 'error' | 'explain' | 'logical' | 'physical' | 'graph' | 'schema' | 'source';

interface SltRecord {
  readonly kind: Kind;
  /** 1-based line of the record header in the file. */
  readonly line: number;
  readonly sql: string;
  /** For `error`: the expected position and message substring; null when left for SLT_COMPLETE. */
  readonly error: { line: number; column: number; message: string } | null;
  readonly expected: string | null;
  /** Line span of the record in the file (header to last line), for SLT_COMPLETE rewrites. */
  readonly span: [number, number];
}

const DIR = path.dirname(new URL(import.meta.url).pathname);
const COMPLETE = process.env.SLT_COMPLETE === '1';

export function parseSlt(text: string, file: string): SltRecord[] {
  const lines = text.split('\n');
  const out: SltRecord[] = [];
  let i = 0;
  const fail = (msg: string): never => { throw new Error(`${file}:${i + 1}: ${msg}`); };
  while (i < lines.length) {
    const raw = lines[i]!;
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) { i++; continue; }
    const header = raw.trim();
    const start = i;
    let kind: Kind; let error: SltRecord['error'] = null;
    let m: RegExpExecArray | null;
    if (header === 'statement ok') kind = 'ok';
    else if ((m = /^statement error(?:\s+(\d+):(\d+)\s+(.+))?$/.exec(header))) {
      kind = 'error';
      if (m[1]) error = { line: Number(m[1]), column: Number(m[2]), message: m[3]!.trim() };
      else if (!COMPLETE) fail('statement error needs "<line>:<column> <message substring>"');
    } else if ((m = /^query (explain|logical|physical|graph|schema|source)$/.exec(header))) kind = m[1] as Kind;
    else return fail(`unknown record header '${header}'`);
    i++;
    const sql: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '' && lines[i]!.trim() !== '----') sql.push(lines[i++]!);
    if (sql.length === 0) fail('record without SQL');
    let expected: string | null = null;
    if (kind !== 'ok' && kind !== 'error') {
      if (lines[i]?.trim() === '----') {
        i++;
        const exp: string[] = [];
        while (i < lines.length && lines[i]!.trim() !== '') exp.push(lines[i++]!);
        expected = exp.join('\n');
      } else if (!COMPLETE) fail(`'query ${kind}' needs '----' and the expected text after its SQL`);
    }
    out.push({ kind, line: start + 1, sql: sql.join('\n'), error, expected, span: [start, i - 1] });
  }
  return out;
}

/** Applies the effect of planned statements to the file's catalog, as the engine would. */
function apply(catalog: ReturnType<typeof createCatalog>, planned: readonly PlannedStatement[]): void {
  for (const { planned: p } of planned) {
    switch (p.kind) {
      case 'create_source': case 'create_view': case 'create_materialized_view': case 'create_sink':
        if (!p.exists) catalog.put(p.def);
        break;
      case 'drop': if (p.exists) catalog.remove(p.name); break;
      default: break;
    }
  }
}

function schemaText(s: Schema, visible = s.fields.length): string {
  return s.fields.slice(0, visible).map((f) => `${f.name} ${typeToString(f.type)}`).join('\n');
}

function objectSchema(o: CatalogObject): string {
  switch (o.kind) {
    case 'materialized_view': return schemaText(o.schema, o.visibleCount);
    default: return schemaText(o.schema);
  }
}

let defaultOptions: KafkaSourceOptions | null = null;
function defaults(): KafkaSourceOptions {
  if (!defaultOptions) {
    const p = planRequest(`CREATE SOURCE d (a INT) WITH (connector = 'kafka', topic = 't', format = 'json')`, createCatalog())[0]!.planned;
    if (p.kind !== 'create_source') throw new Error('unreachable');
    defaultOptions = p.def.options;
  }
  return defaultOptions;
}

/** The actual text a `query` record compares with its expected text. */
function render(kind: Kind, planned: readonly PlannedStatement[]): string {
  const p = planned[planned.length - 1]!.planned;
  const plans = (): { logical: string; physical: string; graph: string } => {
    switch (p.kind) {
      case 'explain': return { logical: p.logical, physical: p.physical, graph: p.graph };
      case 'create_materialized_view': case 'create_sink': case 'pull': case 'push':
        return { logical: printLogical(p.logical), physical: isChain(p.physical) ? printPhysical(p.physical) : printGraph(p.physical.graph), graph: printGraph(p.physical.graph) };
      default: throw new Error(`'query ${kind}' needs a statement with a plan, got ${p.kind}`);
    }
  };
  switch (kind) {
    case 'explain': { const x = plans(); return `logical:\n${x.logical}\nphysical:\n${x.physical}`; }
    case 'logical': return plans().logical;
    case 'physical': return plans().physical;
    case 'graph': return plans().graph;
    case 'schema':
      switch (p.kind) {
        case 'pull': case 'push': return schemaText(p.physical.schema, p.visibleCount);
        case 'create_materialized_view': return schemaText(p.def.schema, p.def.visibleCount);
        case 'create_sink': case 'create_view': case 'create_source': return schemaText(p.def.schema);
        case 'describe': return objectSchema(p.object);
        default: throw new Error(`'query schema' cannot show a ${p.kind}`);
      }
    case 'source': {
      if (p.kind !== 'create_source') throw new Error(`'query source' needs CREATE SOURCE/TABLE, got ${p.kind}`);
      const d = p.def;
      const lines = d.columns.map((c) => `${c.name} ${typeToString(c.type)}${c.metadata ? ` METADATA '${c.metadata}'` : ''}`);
      if (d.watermark) lines.push(`watermark: ${d.watermark.column} - ${d.watermark.delayMs}ms`);
      const dflt = defaults() as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(d.options)) {
        if (JSON.stringify(v) !== JSON.stringify(dflt[k])) lines.push(`option: ${k}=${JSON.stringify(v)}`);
      }
      return lines.join('\n');
    }
    default: throw new Error(`not a query kind: ${kind}`);
  }
}

const norm = (s: string) => s.split('\n').map((l) => l.trimEnd()).join('\n').trim();

/** The SQL line with a caret under the reported column, so a wrong position is obvious in a failure. */
function caret(sql: string, line: number, column: number): string {
  return `\n  ${sql.split('\n')[line - 1] ?? ''}\n  ${' '.repeat(Math.max(0, column - 1))}^`;
}

const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.slt')).sort();

for (const file of files) {
  const full = path.join(DIR, file);
  const records = parseSlt(fs.readFileSync(full, 'utf8'), file);
  // SLT_COMPLETE: replacement text per record, written back once the file's records have run.
  const rewrites = new Map<SltRecord, string[]>();
  describe(file, () => {
    const catalog = createCatalog();
    for (const r of records) {
      const title = `${file}:${r.line} ${r.kind === 'ok' || r.kind === 'error' ? `statement ${r.kind}` : `query ${r.kind}`}: ${r.sql.split('\n')[0]!.slice(0, 80)}`;
      it(title, () => {
        if (r.kind === 'error') {
          let err: unknown = null;
          try { planRequest(r.sql, catalog); } catch (e) { err = e; }
          if (!(err instanceof SqlError)) {
            throw err instanceof Error ? err : new Error(`expected an error${r.error ? ` '${r.error.message}' at ${r.error.line}:${r.error.column}` : ''}, but the SQL planned fine`);
          }
          if (COMPLETE && !r.error) {
            rewrites.set(r, [`statement error ${err.line}:${err.column} ${err.message}`, ...r.sql.split('\n')]);
            return;
          }
          const want = r.error!;
          expect(err.message, `message${caret(r.sql, err.line, err.column)}`).toContain(want.message);
          expect(`${err.line}:${err.column}`, `position of '${err.message}'${caret(r.sql, err.line, err.column)}`).toBe(`${want.line}:${want.column}`);
          return;
        }
        let planned: PlannedStatement[];
        try { planned = planRequest(r.sql, catalog); } catch (e) {
          if (e instanceof SqlError) throw new Error(`${e.message} at ${e.line}:${e.column}${caret(r.sql, e.line, e.column)}`);
          throw e;
        }
        apply(catalog, planned);
        if (r.kind === 'ok') return;
        const actual = render(r.kind, planned);
        if (COMPLETE) {
          const header = `query ${r.kind}`;
          rewrites.set(r, [header, ...r.sql.split('\n'), '----', ...actual.split('\n')]);
          return;
        }
        expect(norm(actual)).toBe(norm(r.expected!));
      });
    }
    if (COMPLETE) {
      it(`${file}: write completed records`, () => {
        const lines = fs.readFileSync(full, 'utf8').split('\n');
        for (const r of [...records].reverse()) {
          const rep = rewrites.get(r);
          if (rep) lines.splice(r.span[0], r.span[1] - r.span[0] + 1, ...rep);
        }
        fs.writeFileSync(full, lines.join('\n'));
      });
    }
  });
}

describe('slt format', () => {
  it('parses records, positions and expected text', () => {
    const recs = parseSlt([
      '# setup', 'statement ok', 'CREATE SOURCE s (a INT)', "WITH (connector = 'kafka')", '',
      'statement error 2:3 unknown column', 'SELECT', '  b FROM s', '',
      'query physical', 'SELECT 1', '----', 'Collect', '  Project: 1',
    ].join('\n'), 'x.slt');
    expect(recs.map((r) => r.kind)).toEqual(['ok', 'error', 'physical']);
    expect(recs[0]!.sql).toBe("CREATE SOURCE s (a INT)\nWITH (connector = 'kafka')");
    expect(recs[1]!.error).toEqual({ line: 2, column: 3, message: 'unknown column' });
    expect(recs[2]!.expected).toBe('Collect\n  Project: 1');
    expect(() => parseSlt('query explain\nSELECT 1\n', 'y.slt')).toThrow(/needs '----'/);
    expect(() => parseSlt('statement maybe\nSELECT 1\n', 'z.slt')).toThrow(/unknown record header/);
  });
});
