/**
 * SQL generators (fast-check arbitraries) for the fuzzer: statements built from a grammar of what the
 * planner accepts (sources, views in every window syntax, pull queries, EXPLAIN/SHOW/DESCRIBE/DROP,
 * expressions with nesting, functions including regexp_like with random patterns, intervals huge,
 * zero and negative, long and quoted identifiers) and statements made by mutating valid ones
 * (queries/examples/*.sql and test/sql/*.slt: tokens deleted, duplicated, swapped, parentheses
 * inserted, truncation, literals replaced).
 *
 * Everything reads the fixture source `bids` (FIXTURE_SQL), the name the corpus uses, so mutated
 * statements bind as far as they can.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * FUZZ_SQL_LITE=1 leaves out the inputs that stall the planner before the planner's budgets land
 * (huge and deeply nested expressions, runs of unclosed parentheses): for local iteration only; the
 * committed tests and `npm run fuzz` use the full generators.
 */
const LITE = process.env.FUZZ_SQL_LITE === '1';

/** The fixture the SQL fuzz runs against: a source over a topic with a few rows. */
export const fixtureSql = (topic: string) => `CREATE SOURCE bids (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, dateTime TIMESTAMP(3), ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest')`;

const COLS = ['auction', 'bidder', 'price', 'channel', 'url', 'ts', 'dateTime', 'window_start', 'window_end', 'nope', '*'];
const NUM_COLS = ['auction', 'bidder', 'price'];
const STR_COLS = ['channel', 'url'];

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** Identifiers: plain, quoted (any characters), long (around the 128 limit and beyond), keywords. */
export const identArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.stringMatching(/^g_[a-z0-9_]{1,12}$/) },
  fc.integer({ min: 120, max: 300 }).map((n) => `g_${'i'.repeat(n - 2)}`),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).map((s) => `"${s.replace(/"/g, '""')}"`),
  fc.constantFrom('select', '"select"', 'window', '"d$x"', '"x("', '"a.b"', '"  "', 'g_Mixed', '"\\"', '"g_é"'),
);

const intervalUnit = fc.constantFrom('SECOND', 'SECONDS', 'MINUTE', 'HOUR', 'DAY', 'MILLISECOND', 'FORTNIGHT', 'WEEK', 'MONTH', 'YEAR', 'MICROSECOND', 'X');
const amount = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 120 }).map(String) },
  fc.constantFrom('0', '-1', '-10', '99999999999', '1e308', '1.5', '0.0001', '', 'abc', '9007199254740993', '2147483648', ' 5 '),
);
/** `INTERVAL '10' SECOND`, `INTERVAL '10 seconds'`, with huge, zero and negative amounts. */
export const intervalArb = fc.oneof(
  fc.tuple(amount, intervalUnit).map(([n, u]) => `INTERVAL '${n}' ${u}`),
  fc.tuple(amount, intervalUnit).map(([n, u]) => `INTERVAL '${n} ${u.toLowerCase()}'`),
);
/** Spark's duration strings: `'10 seconds'`. */
const durationArb = fc.tuple(amount, fc.constantFrom('seconds', 'second', 'minutes', 'hour', 'days', 'ms', 'milliseconds', 'weeks', 'x')).map(([n, u]) => `'${n} ${u}'`);

const regexPattern = fc.oneof(
  fc.string({ unit: fc.constantFrom('(', ')', '[', ']', '{', '}', '*', '+', '?', '.', '|', '^', '$', '\\', 'a', 'z', '-', '0', '9', ',', '<', '=', '!', ' '), maxLength: 20 }),
  fc.constantFrom('(', '[', '[z-a]', '(a+)+$', '(?<n>a)\\k<n>', 'a{99999}', '\\', '*', '(?=a)', '^[a-z]+$', '.*'),
);

type Depth = { expr: string };
/** Pieces that are huge or thousands of levels deep in one go (rare: each costs the planner most). */
const hugeExprArb: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 10_000, max: 700_000 }).map((n) => quote('s'.repeat(n))),
  fc.tuple(fc.constantFrom(...NUM_COLS), fc.integer({ min: 1, max: 6000 })).map(([c, n]) => `${'NOT '.repeat(n)}${c} > 1`),
  fc.tuple(fc.constantFrom(...NUM_COLS), fc.integer({ min: 1, max: 6000 })).map(([c, n]) => Array.from({ length: n }, (_, i) => `${c} = ${i}`).join(' OR ')),
  fc.integer({ min: 1, max: 3000 }).map((n) => `${'('.repeat(n)}price${')'.repeat(n)}`),
  fc.integer({ min: 1, max: 40 }).map((n) => `price ${'('.repeat(n)}`),
);
/** Expressions with nesting. */
export const exprArb: fc.Arbitrary<string> = fc.letrec<Depth>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 6, arbitrary: fc.constantFrom(...COLS.filter((c) => c !== '*')) },
    { weight: 2, arbitrary: fc.oneof(fc.integer().map(String), fc.double({ noNaN: true }).map((d) => (Number.isFinite(d) ? String(d) : '1e309')), fc.constantFrom('99999999999999999999999', '-0', '1e-400', '0x10')) },
    { weight: 2, arbitrary: fc.string({ maxLength: 30 }).map(quote) },
    { weight: 1, arbitrary: fc.constantFrom('NULL', 'TRUE', 'FALSE', "TIMESTAMP '2024-01-01 00:00:00'", "TIMESTAMP '99999-01-01'", 'window_start + INTERVAL \'99999999999\' DAY') },
    { weight: 1, arbitrary: intervalArb },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('NOT ', '-', '+'), tie('expr')).map(([o, e]) => `${o}${e}`) },
    { weight: 4, arbitrary: fc.tuple(tie('expr'), fc.constantFrom('+', '-', '*', '/', '%', '=', '<>', '<', '>', '<=', '>=', 'AND', 'OR', '||', 'LIKE', 'IS', 'IS NOT'), tie('expr')).map(([a, o, b]) => `${a} ${o} ${b}`) },
    { weight: 2, arbitrary: tie('expr').map((e) => `(${e})`) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('lower', 'upper', 'length', 'char_length', 'trim', 'abs', 'floor', 'ceil', 'round', 'sentiment', 'to_timestamp', 'epoch_ms', 'coalesce', 'concat', 'nope_fn', 'COUNT', 'SUM', 'MAX'), fc.array(tie('expr'), { maxLength: 3 }))
      .map(([f, args]) => `${f}(${args.join(', ')})`) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...STR_COLS), regexPattern, fc.option(fc.constantFrom("'i'", "'g'", "'imsu'", "''"), { nil: undefined }))
      .map(([c, p, fl]) => `regexp_like(${c}, ${quote(p)}${fl ? `, ${fl}` : ''})`) },
    { weight: 1, arbitrary: fc.tuple(tie('expr'), tie('expr'), tie('expr')).map(([a, b, c]) => `CASE WHEN ${a} THEN ${b} ELSE ${c} END`) },
    { weight: 1, arbitrary: fc.tuple(tie('expr'), fc.constantFrom('BIGINT', 'INT', 'DOUBLE', 'VARCHAR', 'TIMESTAMP(3)', 'BOOLEAN', 'DECIMAL(10,2)', 'blob')).map(([e, t]) => `CAST(${e} AS ${t})`) },
    { weight: LITE ? 0 : 1, arbitrary: hugeExprArb },
  ),
})).expr;

/** The FROM and GROUP BY of a windowed aggregate, in the RisingWave, Flink and Spark syntaxes. */
const windowArb: fc.Arbitrary<{ from: string; groupBy: string; cols: string }> = fc.oneof(
  fc.tuple(intervalArb, fc.option(intervalArb, { nil: undefined })).map(([s, o]) => ({ from: `TUMBLE(bids, ts, ${s}${o ? `, ${o}` : ''})`, groupBy: 'window_start, window_end', cols: 'window_start, window_end' })),
  fc.tuple(intervalArb, intervalArb).map(([a, b]) => ({ from: `HOP(bids, ts, ${a}, ${b})`, groupBy: 'window_start, window_end', cols: 'window_start, window_end' })),
  fc.tuple(intervalArb, intervalArb).map(([a, b]) => ({ from: `CUMULATE(bids, ts, ${a}, ${b})`, groupBy: 'window_start, window_end', cols: 'window_start, window_end' })),
  intervalArb.map((g) => ({ from: `SESSION(bids, ts, ${g})`, groupBy: 'window_start, window_end', cols: 'window_start, window_end' })),
  intervalArb.map((s) => ({ from: `TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), ${s}))`, groupBy: 'window_start, window_end', cols: 'window_start, window_end' })),
  fc.tuple(intervalArb, intervalArb).map(([a, b]) => ({ from: `TABLE(HOP(TABLE bids, DESCRIPTOR(ts), ${a}, ${b}))`, groupBy: 'window_start, window_end', cols: 'window_start, window_end' })),
  fc.tuple(intervalArb, intervalArb).map(([a, b]) => ({ from: `TABLE(CUMULATE(TABLE bids, DESCRIPTOR(ts), ${a}, ${b}))`, groupBy: 'window_start, window_end', cols: 'window_start, window_end' })),
  intervalArb.map((g) => ({ from: `TABLE(SESSION(TABLE bids PARTITION BY bidder, DESCRIPTOR(ts), ${g}))`, groupBy: 'window_start, window_end', cols: 'window_start, window_end' })),
  fc.tuple(durationArb, fc.option(durationArb, { nil: undefined }), fc.option(durationArb, { nil: undefined })).map(([a, b, c]) => ({
    from: 'bids', groupBy: `window(ts, ${[a, b, c].filter((x) => x !== undefined).join(', ')})`, cols: 'window.start AS window_start, window.end AS window_end',
  })),
  fc.constant({ from: 'bids', groupBy: "window(ts, '10 seconds', '0 seconds')", cols: 'window.start AS window_start' }),
  durationArb.map((g) => ({ from: 'bids', groupBy: `session_window(ts, ${g})`, cols: 'session_window.start AS s' })),
  fc.constant({ from: 'bids', groupBy: 'auction', cols: 'auction' }),
);

const aggArb = fc.oneof(
  fc.constantFrom('COUNT(*)', 'SUM(price)', 'MAX(price)', 'MIN(price)', 'AVG(price)', 'COUNT(DISTINCT bidder)', 'COUNT(channel)'),
  exprArb.map((e) => `SUM(${e})`),
);

const emitArb = fc.constantFrom('', '', ' EMIT CHANGES', ' EMIT ON WINDOW CLOSE', ' EMIT AFTER WATERMARK', ' EMIT');

const withArb = fc.option(fc.array(fc.oneof(
  durationArb.map((d) => `'checkpoint.interval' = ${d}`),
  fc.constantFrom("'checkpoint.interval' = '30 days'", "'checkpoint.interval' = '0 ms'", "'checkpoint.interval' = '-1 s'", "'retention.rows' = '0'", "'retention.rows' = '-5'", "'retention.rows' = '99999999999999'", "'nope' = 'x'", "'checkpoint.interval' = '200 ms'"),
), { minLength: 1, maxLength: 2 }).map((xs) => ` WITH (${xs.join(', ')})`), { nil: '' });

/** A windowed aggregate query over the fixture. */
export const windowedSelectArb = fc.tuple(windowArb, fc.array(aggArb, { minLength: 1, maxLength: 3 }), fc.option(exprArb, { nil: undefined }), fc.option(exprArb, { nil: undefined }), emitArb)
  .map(([w, aggs, where, having]) => `SELECT ${w.cols}, ${aggs.map((a, i) => `${a} AS a${i}`).join(', ')} FROM ${w.from}${where ? ` WHERE ${where}` : ''} GROUP BY ${w.groupBy}${having ? ` HAVING ${having}` : ''}`);

const plainSelectArb = fc.tuple(fc.array(exprArb, { minLength: 1, maxLength: 4 }), fc.option(exprArb, { nil: undefined }), fc.option(fc.integer({ min: -5, max: 10_000_000 }), { nil: undefined }))
  .map(([items, where, limit]) => `SELECT ${items.map((e, i) => `${e} AS c${i}`).join(', ')} FROM bids${where ? ` WHERE ${where}` : ''}${limit !== undefined ? ` LIMIT ${limit}` : ''}`);

const sourceArb = fc.tuple(identArb, fc.array(fc.tuple(identArb, fc.constantFrom('BIGINT', 'INT', 'DOUBLE', 'VARCHAR', 'TIMESTAMP(3)', 'BOOLEAN', 'JSON')), { minLength: 1, maxLength: 4 }), fc.option(intervalArb, { nil: undefined }), fc.constantFrom('json', 'csv', 'raw', 'avro'),
  fc.array(fc.constantFrom("'scan.startup.mode' = 'earliest'", "'scan.topic-partition-discovery.interval' = '30 days'", "'scan.max-rate' = '-1'", "'source.workers' = '99'", "'format.on-error' = 'dead-letter'", "'json.fail-on-missing-field' = 'maybe'", "'source.idle-timeout' = '0 ms'"), { maxLength: 2 }))
  .map(([n, cols, wm, fmt, opts]) => `CREATE SOURCE ${n} (${cols.map(([c, t]) => `${c} ${t}`).join(', ')}${wm ? `, WATERMARK FOR ${cols[0]![0]} AS ${cols[0]![0]} - ${wm}` : ''}) WITH (connector = 'kafka', topic = 'fuzz-nowhere', format = '${fmt}'${opts.map((o) => `, ${o}`).join('')})`);

/** One statement from the grammar. */
export const grammarStatementArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(identArb, withArb, windowedSelectArb, emitArb).map(([n, w, q, e]) => `CREATE MATERIALIZED VIEW ${n}${w} AS ${q}${e}`) },
  { weight: 2, arbitrary: windowedSelectArb.map((q) => `EXPLAIN ${q}`) },
  { weight: 2, arbitrary: plainSelectArb.map((q) => `EXPLAIN ${q}`) },
  fc.tuple(identArb, plainSelectArb).map(([n, q]) => `CREATE VIEW ${n} AS ${q}`),
  plainSelectArb,
  sourceArb,
  fc.tuple(identArb, plainSelectArb).map(([n, q]) => `CREATE SINK ${n} AS ${q} WITH (connector = 'kafka', topic = 'fuzz-sink-out', format = 'json')`),
  fc.tuple(fc.constantFrom('SOURCE', 'VIEW', 'MATERIALIZED VIEW', 'SINK'), identArb).map(([k, n]) => `DROP ${k} IF EXISTS ${n}`),
  identArb.map((n) => `DESCRIBE ${n}`),
  fc.constantFrom('SHOW SOURCES', 'SHOW VIEWS', 'SHOW MATERIALIZED VIEWS', 'SHOW QUERIES', 'SHOW SINKS', 'SHOW TABLES', 'DESCRIBE bids'),
);

// ---- mutation of valid statements ----

let corpusCache: string[] | null = null;
/** Statements of queries/examples/*.sql and the SQL of every test/sql/*.slt record. */
export function corpus(): string[] {
  if (corpusCache) return corpusCache;
  const out: string[] = [];
  const stripComments = (s: string) => s.split('\n').filter((l) => !l.trim().startsWith('--')).join('\n');
  const exDir = path.join(ROOT, 'queries/examples');
  for (const f of readdirSync(exDir).filter((x) => x.endsWith('.sql'))) {
    for (const st of stripComments(readFileSync(path.join(exDir, f), 'utf8')).split(';')) if (st.trim()) out.push(st.trim());
  }
  const sltDir = path.join(ROOT, 'test/sql');
  for (const f of readdirSync(sltDir).filter((x) => x.endsWith('.slt'))) {
    for (const rec of readFileSync(path.join(sltDir, f), 'utf8').split(/\n\s*\n/)) {
      const lines = rec.split('\n').filter((l) => !l.startsWith('#'));
      if (!/^(statement|query)\b/.test(lines[0] ?? '')) continue;
      const end = lines.indexOf('----');
      const sql = lines.slice(1, end < 0 ? undefined : end).join('\n').trim();
      if (sql) out.push(sql);
    }
  }
  corpusCache = out;
  return out;
}

const TOKEN_RE = /'(?:[^']|'')*'|"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*|\d+(?:\.\d+)?|\s+|[<>!=]=|<>|\|\||./g;
export const tokenize = (s: string): string[] => s.match(TOKEN_RE) ?? [];

type Mutation = (toks: string[]) => string[];
const at = (k: number, n: number) => (n === 0 ? 0 : k % n);
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.nat().map((k): Mutation => (t) => t.filter((_, i) => i !== at(k, t.length))),
  fc.nat().map((k): Mutation => (t) => { const i = at(k, t.length); return [...t.slice(0, i + 1), ...t.slice(i)]; }),
  fc.tuple(fc.nat(), fc.nat()).map(([a, b]): Mutation => (t) => { const c = [...t]; const i = at(a, c.length); const j = at(b, c.length); [c[i], c[j]] = [c[j]!, c[i]!]; return c; }),
  fc.tuple(fc.nat(), fc.constantFrom('(', ')', '((', '))', ',', ';', "'", '"', 'NOT', 'NULL', '*', 'SELECT', 'FROM', 'GROUP BY', 'WINDOW', 'EMIT', '--', '/*')).map(([k, s]): Mutation => (t) => { const i = at(k, t.length); return [...t.slice(0, i), ` ${s} `, ...t.slice(i)]; }),
  fc.nat().map((k): Mutation => (t) => t.slice(0, at(k, t.length + 1))),
  fc.tuple(fc.nat(), fc.integer({ min: 2, max: LITE ? 6 : 60 })).map(([k, n]): Mutation => (t) => { const i = at(k, t.length); return [...t.slice(0, i), '('.repeat(n), ...t.slice(i)]; }),
  fc.tuple(fc.nat(), fc.integer({ min: 2, max: LITE ? 6 : 300 })).map(([k, n]): Mutation => (t) => { const i = at(k, t.length); return [...t.slice(0, i), ...Array<string>(n).fill(t[i] ?? 'x'), ...t.slice(i)]; }),
  fc.tuple(fc.nat(), fc.constantFrom('0', '-1', '99999999999', '1e308', "'0 seconds'", "'-5 seconds'", "'('", "'99999999999 days'", "''")).map(([k, lit]): Mutation => (t) => {
    const idx = t.map((x, i) => (/^\d|^'/.test(x) ? i : -1)).filter((i) => i >= 0);
    if (idx.length === 0) return t;
    const c = [...t]; c[idx[at(k, idx.length)]!] = lit; return c;
  }),
  fc.tuple(fc.nat(), fc.integer({ min: 100, max: 400 })).map(([k, n]): Mutation => (t) => {
    const idx = t.map((x, i) => (/^[A-Za-z_]/.test(x) ? i : -1)).filter((i) => i >= 0);
    if (idx.length === 0) return t;
    const c = [...t]; const i = idx[at(k, idx.length)]!; c[i] = `${c[i]}${'z'.repeat(n)}`; return c;
  }),
);

/** A corpus statement with 1 to 4 mutations. */
export const mutatedStatementArb: fc.Arbitrary<string> = fc.tuple(fc.nat(), fc.array(mutationArb, { minLength: 1, maxLength: 4 }))
  .map(([k, ms]) => { const c = corpus(); return ms.reduce((t, m) => m(t), tokenize(c[k % c.length]!)).join(''); });

/** What the SQL fuzz target sends: one to three statements from the grammar or mutations. */
export const sqlRequestArb: fc.Arbitrary<string> = fc.array(fc.oneof({ weight: 3, arbitrary: grammarStatementArb }, { weight: 2, arbitrary: mutatedStatementArb }), { minLength: 1, maxLength: 3 })
  .map((xs) => xs.join(';\n'));
