/**
 * The virtual pg_catalog and information_schema that clients query on their own (psql's \d, Grafana's
 * version probe and query builder, JDBC DatabaseMetaData). Rather than matching each client's query
 * text, the statements run in an embedded DuckDB holding small tables shaped like PostgreSQL's
 * catalogs, filled from the engine's catalog (materialized views as relations of schema `public`).
 * The text is lightly rewritten first (`pg_catalog.` qualifiers dropped so our tables shadow DuckDB's
 * own, `information_schema.x` → `information_schema_x`, casts to reg* types), and PostgreSQL functions
 * DuckDB lacks are macros. DuckDB is chosen over a hand-made evaluator because these queries use
 * joins, subqueries, CASE, regexes and arrays: a real SQL engine answers new client queries too.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { CatalogInfo } from '../../queries/engine.ts';
import { OID, oidOfDuckType, oidOfOurType, PG_TYPE_NAME, quote } from './types.ts';

export const SERVER_VERSION = '15.0 (streamsql)';
export const SERVER_VERSION_NUM = '150000';
const NS_PUBLIC = 2200; const NS_CATALOG = 11; const NS_INFO = 13000;
const REL_BASE = 16384;

export interface CatalogResult {
  readonly columns: { name: string; oid: number }[];
  readonly rows: unknown[][];
  readonly tag: string;
}

/** Settings the server reports (SHOW x, current_setting('x'), ParameterStatus). */
export const SETTINGS: Record<string, string> = {
  server_version: SERVER_VERSION, server_version_num: SERVER_VERSION_NUM, server_encoding: 'UTF8', client_encoding: 'UTF8',
  DateStyle: 'ISO, MDY', TimeZone: 'UTC', integer_datetimes: 'on', standard_conforming_strings: 'on', IntervalStyle: 'postgres',
  is_superuser: 'off', search_path: '"$user", public', transaction_isolation: 'read committed', default_transaction_isolation: 'read committed',
  transaction_read_only: 'on', default_transaction_read_only: 'off', max_identifier_length: '63', lc_collate: 'C', lc_ctype: 'C',
  max_index_keys: '32', extra_float_digits: '1', application_name: '', statement_timeout: '0', lock_timeout: '0', block_size: '8192',
};

const TYPES: [number, string, number, string][] = [
  // oid, typname, typlen, typcategory
  [16, 'bool', 1, 'B'], [17, 'bytea', -1, 'U'], [18, 'char', 1, 'S'], [19, 'name', 64, 'S'], [20, 'int8', 8, 'N'], [21, 'int2', 2, 'N'],
  [23, 'int4', 4, 'N'], [25, 'text', -1, 'S'], [26, 'oid', 4, 'N'], [114, 'json', -1, 'U'], [700, 'float4', 4, 'N'], [701, 'float8', 8, 'N'],
  [705, 'unknown', -2, 'X'], [1043, 'varchar', -1, 'S'], [1114, 'timestamp', 8, 'D'], [1184, 'timestamptz', 8, 'D'], [1186, 'interval', 16, 'T'],
  [1700, 'numeric', -1, 'N'], [2205, 'regclass', 4, 'N'], [2206, 'regtype', 4, 'N'],
];

const SETUP = () => `
create table pg_namespace(oid bigint, nspname varchar, nspowner bigint, nspacl varchar);
create table pg_class(oid bigint, relname varchar, relnamespace bigint, reltype bigint, reloftype bigint, relowner bigint, relam bigint,
  relfilenode bigint, reltablespace bigint, relpages integer, reltuples float, relallvisible integer, reltoastrelid bigint, relhasindex boolean,
  relisshared boolean, relpersistence varchar, relkind varchar, relnatts smallint, relchecks smallint, relhasrules boolean, relhastriggers boolean,
  relhassubclass boolean, relrowsecurity boolean, relforcerowsecurity boolean, relispopulated boolean, relreplident varchar, relispartition boolean,
  relrewrite bigint, relfrozenxid bigint, relminmxid bigint, relacl varchar, reloptions varchar[], relpartbound varchar);
create table pg_attribute(attrelid bigint, attname varchar, atttypid bigint, attstattarget integer, attlen smallint, attnum smallint, attndims integer,
  attcacheoff integer, atttypmod integer, attbyval boolean, attalign varchar, attstorage varchar, attcompression varchar, attnotnull boolean,
  atthasdef boolean, atthasmissing boolean, attidentity varchar, attgenerated varchar, attisdropped boolean, attislocal boolean, attinhcount integer,
  attcollation bigint, attacl varchar, attoptions varchar[], attfdwoptions varchar[]);
create table pg_type(oid bigint, typname varchar, typnamespace bigint, typowner bigint, typlen smallint, typbyval boolean, typtype varchar,
  typcategory varchar, typispreferred boolean, typisdefined boolean, typdelim varchar, typrelid bigint, typelem bigint, typarray bigint,
  typinput varchar, typoutput varchar, typreceive varchar, typsend varchar, typalign varchar, typstorage varchar, typnotnull boolean,
  typbasetype bigint, typtypmod integer, typndims integer, typcollation bigint, typdefault varchar, typacl varchar);
create table __fmt(oid bigint, name varchar);
create table pg_attrdef(oid bigint, adrelid bigint, adnum smallint, adbin varchar);
create table pg_description(objoid bigint, classoid bigint, objsubid integer, description varchar);
create table pg_collation(oid bigint, collname varchar, collnamespace bigint);
create table pg_am(oid bigint, amname varchar, amhandler varchar, amtype varchar);
create table pg_index(indexrelid bigint, indrelid bigint, indnatts smallint, indisunique boolean, indisprimary boolean, indisclustered boolean, indisvalid boolean, indkey varchar);
create table pg_constraint(oid bigint, conname varchar, connamespace bigint, contype varchar, conrelid bigint, confrelid bigint, conkey smallint[], confkey smallint[]);
create table pg_inherits(inhrelid bigint, inhparent bigint, inhseqno integer);
create table pg_trigger(oid bigint, tgrelid bigint, tgname varchar, tgisinternal boolean);
create table pg_policy(oid bigint, polname varchar, polrelid bigint);
create table pg_rewrite(oid bigint, rulename varchar, ev_class bigint);
create table pg_proc(oid bigint, proname varchar, pronamespace bigint, prorettype bigint, prokind varchar);
create table pg_enum(oid bigint, enumtypid bigint, enumsortorder float, enumlabel varchar);
create table pg_range(rngtypid bigint, rngsubtype bigint);
create table pg_extension(oid bigint, extname varchar, extversion varchar);
create table pg_tablespace(oid bigint, spcname varchar);
create table pg_database(oid bigint, datname varchar, datdba bigint, encoding integer, datcollate varchar, datctype varchar, datistemplate boolean, datallowconn boolean);
create table pg_roles(oid bigint, rolname varchar, rolsuper boolean, rolcanlogin boolean);
create table pg_settings(name varchar, setting varchar, unit varchar, category varchar, short_desc varchar);
create table pg_matviews(schemaname varchar, matviewname varchar, definition varchar);
create view pg_user as select oid as usesysid, rolname as usename, rolsuper as usesuper from pg_roles;
create view pg_views as select n.nspname as schemaname, c.relname as viewname, 'streamsql' as viewowner, '' as definition from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'v';
create view pg_tables as select n.nspname as schemaname, c.relname as tablename, 'streamsql' as tableowner from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'r';
create table information_schema_tables(table_catalog varchar, table_schema varchar, table_name varchar, table_type varchar, is_insertable_into varchar, is_typed varchar);
create table information_schema_columns(table_catalog varchar, table_schema varchar, table_name varchar, column_name varchar, ordinal_position integer,
  column_default varchar, is_nullable varchar, data_type varchar, character_maximum_length integer, numeric_precision integer, numeric_scale integer,
  datetime_precision integer, udt_name varchar, is_updatable varchar);
create table information_schema_schemata(catalog_name varchar, schema_name varchar, schema_owner varchar);
create view information_schema_views as select table_catalog, table_schema, table_name, '' as view_definition from information_schema_tables where false;
create macro pg_get_userbyid(x) as 'streamsql';
create macro current_setting(n) as (select max(setting) from pg_settings where lower(name) = lower(n)), (n, m) as (select max(setting) from pg_settings where lower(name) = lower(n));
create macro version() as 'PostgreSQL ${SERVER_VERSION} on x86_64-pc-linux-gnu, compiled by streamsql';
create macro current_database() as 'streamsql';
create macro current_schema() as 'public';
create macro __cs(v) as v;
create macro parse_ident(s) as string_split(s, '.');
create macro pg_table_is_visible(x) as true;
create macro pg_type_is_visible(x) as true;
create macro pg_function_is_visible(x) as true;
create macro quote_ident(x) as case when regexp_full_match(x, '[a-z_][a-z0-9_$]*') then x else '"' || replace(x, '"', '""') || '"' end;
create macro format_type(t, m) as (select coalesce(max(name), '???') from __fmt where oid = t);
create macro pg_get_expr(e, r) as e, (e, r, p) as e;
create macro obj_description(o) as null::varchar, (o, c) as null::varchar;
create macro col_description(o, n) as null::varchar;
create macro shobj_description(o, c) as null::varchar;
create macro pg_get_viewdef(o) as '', (o, p) as '';
create macro has_table_privilege(a, b) as true, (a, b, c) as true;
create macro has_schema_privilege(a, b) as true, (a, b, c) as true;
create macro has_database_privilege(a, b) as true, (a, b, c) as true;
create macro pg_encoding_to_char(e) as 'UTF8';
create macro pg_backend_pid() as 0;
create macro pg_is_in_recovery() as false;
create macro pg_postmaster_start_time() as now();
create macro array_lower(a, d) as case when len(a) > 0 then 1 else null end;
create macro array_upper(a, d) as case when len(a) > 0 then len(a) else null end;
create macro inet_server_addr() as null::varchar;
create macro txid_current() as 1;
create macro pg_get_indexdef(i) as '';
create macro pg_get_constraintdef(c) as '', (c, p) as '';
create macro pg_relation_size(r) as 0;
create macro pg_total_relation_size(r) as 0;
create macro pg_size_pretty(s) as '0 bytes';
`;

/** The known catalog relation names, for `'pg_class'::regclass`. */
const CATALOG_RELS: Record<string, number> = { pg_class: 1259, pg_attribute: 1249, pg_type: 1247, pg_proc: 1255, pg_namespace: 2615, pg_constraint: 2606, pg_database: 1262 };

/** Rewrites PostgreSQL-only syntax into what DuckDB (with our tables and macros) understands. */
export function rewriteForCatalog(sql: string, settings: Record<string, string>): string {
  return sql
    .replace(/OPERATOR\s*\(\s*pg_catalog\s*\.\s*([~!<>=*]+)\s*\)/gi, '$1')
    .replace(/COLLATE\s+(pg_catalog\.)?("?default"?|"C"|C)\b/gi, '')
    .replace(/'([a-z_]+)'::(pg_catalog\.)?regclass/gi, (_m, n: string) => String(CATALOG_RELS[n.toLowerCase()] ?? 0))
    .replace(/::\s*(pg_catalog\.)?(regclass|regtype|regproc|regprocedure|regnamespace|oid)\b/gi, '::bigint')
    .replace(/::\s*(pg_catalog\.)?(name|"char")(?![\w"])/gi, '::varchar')
    .replace(/\bpg_catalog\s*\.\s*/gi, '')
    .replace(/\binformation_schema\s*\.\s*"?(\w+)"?/gi, 'information_schema_$1')
    // Session settings inline (a table function may not hold the macro's subquery); __cs names the column.
    .replace(/\bcurrent_setting\s*\(\s*'([^']*)'\s*(,\s*(true|false)\s*)?\)/gi, (_m, n: string) => { const v = settingValue(settings, n); return `__cs(${v === undefined ? 'NULL::varchar' : quote(v)})`; })
    .replace(/\bcurrent_schemas\s*\(\s*(true|false)\s*\)/gi, "['pg_catalog', 'public']")
    // Grafana's older schema constraint: set-returning functions in FROM.
    .replace(/(generate_series\s*\((?:[^()]|\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\))*\))\s+as\s+(\w+)(?!\s*\()/gi, '$1 as _g_$2($2)')
    .replace(/(as _g_\w+\(\w+\))\s*,\s*string_to_array\s*\(((?:[^()]|\([^()]*\))*)\)\s+(\w+)/gi, '$1, (select string_to_array($2) as $3) as _$3')
    .replace(/\bTHEN\s+user\s+ELSE\b/gi, "THEN 'streamsql' ELSE")
    .replace(/\b(current_user|session_user)\b/gi, "'streamsql'");
}

export function settingValue(settings: Record<string, string>, name: string): string | undefined {
  const k = Object.keys(settings).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : settings[k];
}

/** True when a statement reads PostgreSQL's catalogs or functions only the catalog answers. */
export function isCatalogQuery(sql: string): boolean {
  if (/\b(pg_catalog|information_schema)\s*\./i.test(sql)) return true;
  if (/\bpg_(class|namespace|attribute|type|proc|database|settings|roles|user|tables|views|matviews|description|index|am|extension|tablespace|constraint|enum|range)\b/i.test(sql)) return true;
  if (/\b(current_setting|version|current_schema|current_schemas|current_database|quote_ident|format_type|has_\w+_privilege|pg_backend_pid|obj_description|col_description|pg_is_in_recovery)\s*\(/i.test(sql)) return true;
  // A SELECT without FROM (`SELECT 1`, `SELECT now()`): no view is read.
  return /^\s*select\b/i.test(sql) && !/\bfrom\b/i.test(sql);
}

function sqlValue(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map(sqlValue).join(', ')}]::varchar[]`;
  return quote(String(v));
}

function insert(table: string, rows: unknown[][]): string {
  if (!rows.length) return '';
  return `insert into ${table} values ${rows.map((r) => `(${r.map(sqlValue).join(', ')})`).join(', ')};\n`;
}

export interface VirtualCatalog {
  query(sql: string, settings: Record<string, string>): Promise<CatalogResult>;
  close(): void;
}

export async function createVirtualCatalog(info: () => CatalogInfo): Promise<VirtualCatalog> {
  const db = await DuckDBInstance.create(':memory:', { threads: '1', memory_limit: '256MB' });
  const conn: DuckDBConnection = await db.connect();
  await conn.run("set integer_division = true; set TimeZone = 'UTC'");
  await conn.run(SETUP());
  await conn.run(staticRows());
  // Only our tables: no files, no extensions, no network, and no way to undo that from a client's query.
  await conn.run('set enable_external_access = false; set lock_configuration = true');
  let signature = '';
  let chain: Promise<unknown> = Promise.resolve();

  async function refresh(): Promise<void> {
    const views = info().views.filter((v) => v.kind === 'materialized_view');
    const sig = JSON.stringify(views.map((v) => [v.name, v.columns]));
    if (sig === signature) return;
    const cls: unknown[][] = []; const att: unknown[][] = []; const tabs: unknown[][] = []; const cols: unknown[][] = [];
    views.forEach((v, i) => {
      const oid = REL_BASE + i;
      cls.push([oid, v.name, NS_PUBLIC, 0, 0, 10, 0, 0, 0, 0, -1, 0, 0, false, false, 'p', 'v', v.columns.length, 0, true, false, false, false, false, true, 'n', false, 0, 0, 0, null, null, null]);
      tabs.push(['streamsql', 'public', v.name, 'BASE TABLE', 'NO', 'NO']);
      v.columns.forEach((c, j) => {
        const t = oidOfOurType(c.type);
        att.push([oid, c.name, t, -1, TYPES.find((x) => x[0] === t)?.[2] ?? -1, j + 1, 0, -1, -1, false, 'd', 'p', '', false, false, false, '', '', false, true, 0, t === OID.text ? 100 : 0, null, null, null]);
        cols.push(['streamsql', 'public', v.name, c.name, j + 1, null, 'YES', PG_TYPE_NAME[t] ?? 'text', null, null, null, t === OID.timestamptz ? 3 : null, TYPES.find((x) => x[0] === t)?.[1] ?? 'text', 'NO']);
      });
    });
    await conn.run(`delete from pg_class; delete from pg_attribute; delete from information_schema_tables; delete from information_schema_columns;
      ${insert('pg_class', cls)}${insert('pg_attribute', att)}${insert('information_schema_tables', tabs)}${insert('information_schema_columns', cols)}
      delete from pg_matviews; ${insert('pg_matviews', views.map((v) => ['public', v.name, '']))}`);
    signature = sig;
  }

  async function run(sql: string, settings: Record<string, string>): Promise<CatalogResult> {
    if (!/^\s*(\(\s*)*(select|with|values|table)\b/i.test(sql.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, ' '))) {
      throw new Error('Permission Error: only SELECT reads pg_catalog and information_schema');
    }
    await refresh();
    const reader = await conn.runAndReadAll(rewriteForCatalog(sql, settings));
    const names = reader.columnNames();
    const types = reader.columnTypes().map((t) => oidOfDuckType(t.toString()));
    const rows = reader.getRowsJS().map((r) => r.map((v, i) => jsValue(v, types[i]!)));
    const verb = (/^\s*(\w+)/.exec(sql)?.[1] ?? 'SELECT').toUpperCase();
    return { columns: names.map((n, i) => ({ name: pgColumnName(n), oid: types[i]! })), rows, tag: verb === 'SELECT' || verb === 'WITH' ? `SELECT ${rows.length}` : verb };
  }

  return {
    query(sql, settings) {
      const r = chain.then(() => run(sql, settings));
      chain = r.catch(() => undefined);
      return r;
    },
    close() { conn.closeSync(); db.closeSync(); },
  };
}

/** DuckDB names unaliased expressions by their text; PostgreSQL by the function name or ?column?. */
function pgColumnName(n: string): string {
  if (/^[A-Za-z_][\w$]*$/.test(n)) return n;
  const f = /^(?:\w+\.)?"?([A-Za-z_]\w*)"?\s*\(/.exec(n);
  if (f) return f[1] === '__cs' ? 'current_setting' : f[1]!.toLowerCase();
  const cast = /^CAST\((\w+)\s+AS/i.exec(n);
  if (cast) return cast[1]!;
  if (/^'.*'$/.test(n)) return '?column?';
  return /^\w+$/.test(n) ? n : '?column?';
}

function jsValue(v: unknown, oid: number): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return oid === OID.int8 ? v.toString() : Number(v);
  if (typeof v === 'object') {
    const o = v as { toString(): string; items?: unknown[]; micros?: bigint };
    if (Array.isArray(o.items)) return o.items.map((x) => (typeof x === 'bigint' ? x.toString() : x));
    if (typeof o.micros === 'bigint') return Number(o.micros / 1000n);
    if (oid === OID.json && !(v instanceof Date)) return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
    return o.toString();
  }
  return v;
}

function staticRows(): string {
  return [
    insert('pg_namespace', [[NS_CATALOG, 'pg_catalog', 10, null], [NS_PUBLIC, 'public', 10, null], [NS_INFO, 'information_schema', 10, null]]),
    insert('pg_type', TYPES.map(([oid, name, len, cat]) => [oid, name, NS_CATALOG, 10, len, len > 0 && len <= 8, 'b', cat, false, true, ',', 0, 0, 0, `${name}in`, `${name}out`, `${name}recv`, `${name}send`, 'i', 'p', false, 0, -1, 0, 0, null, null])),
    insert('__fmt', TYPES.map(([oid, name]) => [oid, PG_TYPE_NAME[oid] ?? name])),
    insert('pg_am', [[2, 'heap', 'heap_tableam_handler', 't']]),
    insert('pg_database', [[16384, 'streamsql', 10, 6, 'C', 'C', false, true]]),
    insert('pg_roles', [[10, 'streamsql', false, true]]),
    insert('pg_collation', [[100, 'default', NS_CATALOG], [950, 'C', NS_CATALOG]]),
    insert('pg_settings', Object.entries(SETTINGS).map(([k, v]) => [k, v, null, 'streamsql', ''])),
    insert('information_schema_schemata', [['streamsql', 'public', 'streamsql'], ['streamsql', 'pg_catalog', 'streamsql'], ['streamsql', 'information_schema', 'streamsql']]),
  ].join('');
}
