/**
 * The wire handler's pure parts: statement splitting and routing, `$n` substitution, positional
 * GROUP BY, framing limits, value encodings (numeric binary as PostgreSQL lays it out), and the
 * catalog rewrite of PostgreSQL-only syntax.
 */
import { describe, expect, it } from 'vitest';
import { rewriteForCatalog, SETTINGS } from '../../server/pg/catalog.ts';
import { groupByPositions, inferParamTypes, paramCount, route, splitStatements, substituteParams } from '../../server/pg/statements.ts';
import { encodeValue, OID, paramLiteral, textValue } from '../../server/pg/types.ts';
import { MessageReader, ProtocolError } from '../../server/pg/wire.ts';

const never = () => false;

describe('statements', () => {
  it('splits on semicolons outside strings, identifiers, comments and dollar quotes', () => {
    const sql = "SELECT 'a;b' AS \"x;y\"; -- c;d\nSELECT $$e;f$$; /* g; */ ;  SELECT 3";
    expect(splitStatements(sql).map((s) => s.text.trim())).toEqual(["SELECT 'a;b' AS \"x;y\"", '-- c;d\nSELECT $$e;f$$', 'SELECT 3']);
    expect(splitStatements('  ;  -- nothing\n')).toEqual([]);
  });

  it('substitutes $n outside strings and counts parameters', () => {
    const sql = "SELECT '$1', $1, $2 FROM v WHERE a = $1 -- $3";
    expect(paramCount(sql)).toBe(2);
    expect(substituteParams(sql, ["'x''y'", '42'])).toBe("SELECT '$1', 'x''y', 42 FROM v WHERE a = 'x''y' -- $3");
    expect(() => substituteParams('SELECT $3', ['1'])).toThrow(/no parameter \$3/);
  });

  it('infers parameter types from the columns they are compared with', () => {
    const types: Record<string, number> = { sym: OID.text, n: OID.int8, window_start: OID.timestamptz };
    const t = (c: string) => types[c.toLowerCase()];
    expect(inferParamTypes("SELECT * FROM v WHERE sym = $1 AND $2 <= v.n AND window_start BETWEEN $3 AND $4 AND x = '$5' LIMIT $5", 6, t))
      .toEqual([OID.text, OID.int8, OID.timestamptz, OID.timestamptz, OID.int8, 0]);
  });

  it('turns bound values into literals that cannot become SQL', () => {
    expect(paramLiteral(OID.text, Buffer.from("a'); DROP VIEW v; --"), 0)).toBe("'a''); DROP VIEW v; --'");
    expect(paramLiteral(0, Buffer.from('42'), 0)).toBe('42');
    expect(paramLiteral(0, Buffer.from('4x2'), 0)).toBe("'4x2'");
    expect(() => paramLiteral(OID.int8, Buffer.from('1; DROP'), 0)).toThrow(ProtocolError);
    const b = Buffer.alloc(8); b.writeBigInt64BE(-7n);
    expect(paramLiteral(OID.int8, b, 1)).toBe('-7');
    expect(paramLiteral(OID.int4, null, 1)).toBe('NULL');
    expect(paramLiteral(OID.timestamptz, Buffer.from('2024-03-01 12:00:00+02'), 0)).toBe("TIMESTAMP '2024-03-01 10:00:00.000'");
    expect(() => paramLiteral(OID.timestamptz, Buffer.from("x' OR '1"), 0)).toThrow(/invalid input syntax/);
  });

  it('routes statements to the session, the catalog or the engine', () => {
    expect(route('BEGIN', never)).toMatchObject({ kind: 'tx', state: 'begin' });
    expect(route("SET TIME ZONE 'UTC'", never)).toMatchObject({ kind: 'set', name: 'TimeZone', value: 'UTC' });
    expect(route('set extra_float_digits = 3', never)).toMatchObject({ kind: 'set', name: 'extra_float_digits', value: '3' });
    expect(route('SHOW transaction isolation level', never)).toEqual({ kind: 'show_setting', name: 'transaction_isolation' });
    expect(route('SHOW MATERIALIZED VIEWS', never)).toEqual({ kind: 'engine' });
    expect(route('SUBSCRIBE TO "My View"', never)).toEqual({ kind: 'subscribe', view: 'My View' });
    expect(route('COPY (SUBSCRIBE v) TO STDOUT', never)).toEqual({ kind: 'subscribe', view: 'v' });
    expect(route('COPY (SELECT a FROM s EMIT CHANGES) TO STDOUT WITH (FORMAT text)', never)).toEqual({ kind: 'copy_push', select: 'SELECT a FROM s EMIT CHANGES' });
    expect(route('-- ping', never)).toEqual({ kind: 'empty' });
  });

  it('routes cursor statements: DECLARE … CURSOR FOR, FETCH/MOVE forward, CLOSE', () => {
    expect(route('DECLARE _psql_cursor NO SCROLL CURSOR FOR\nSELECT sym FROM v ORDER BY 1', never))
      .toEqual({ kind: 'declare', name: '_psql_cursor', hold: false, query: 'SELECT sym FROM v ORDER BY 1' });
    expect(route('declare "My C" binary insensitive cursor with hold for select 1', never)).toEqual({ kind: 'declare', name: 'My C', hold: true, query: 'select 1' });
    expect(route('FETCH FORWARD 100 FROM _psql_cursor', never)).toEqual({ kind: 'fetch', name: '_psql_cursor', count: 100, move: false });
    expect(route('fetch C', never)).toEqual({ kind: 'fetch', name: 'c', count: 1, move: false });
    expect(route('FETCH NEXT IN c', never)).toEqual({ kind: 'fetch', name: 'c', count: 1, move: false });
    expect(route('FETCH ALL FROM c;', never)).toEqual({ kind: 'fetch', name: 'c', count: Infinity, move: false });
    expect(route('FETCH FORWARD ALL c', never)).toEqual({ kind: 'fetch', name: 'c', count: Infinity, move: false });
    expect(route('MOVE 5 IN c', never)).toEqual({ kind: 'fetch', name: 'c', count: 5, move: true });
    expect(route('CLOSE c', never)).toEqual({ kind: 'close_cursor', name: 'c' });
    expect(route('CLOSE ALL', never)).toEqual({ kind: 'close_cursor', name: null });
    // Backward and absolute directions are not served: they reach the engine, which refuses them.
    expect(route('FETCH BACKWARD 1 FROM c', never)).toEqual({ kind: 'engine' });
    expect(route('FETCH ABSOLUTE 3 FROM c', never)).toEqual({ kind: 'engine' });
  });

  it('rewrites GROUP BY positions into the select expressions, leaving the rest alone', () => {
    expect(groupByPositions(`SELECT floor(extract(epoch from ts)/60)*60 AS "time", k AS metric, SUM(n) FROM v WHERE s = 'GROUP BY 1' GROUP BY 1, 2 ORDER BY 1`))
      .toBe(`SELECT floor(extract(epoch from ts)/60)*60 AS "time", k AS metric, SUM(n) FROM v WHERE s = 'GROUP BY 1' GROUP BY floor(extract(epoch from ts)/60)*60, k ORDER BY 1`);
    expect(groupByPositions('SELECT k, SUM(n) FROM v GROUP BY k')).toBe('SELECT k, SUM(n) FROM v GROUP BY k');
    expect(groupByPositions('SELECT k FROM (SELECT k FROM v) GROUP BY 1')).toBe('SELECT k FROM (SELECT k FROM v) GROUP BY 1');
  });
});

describe('framing and values', () => {
  it('refuses message lengths below 4 or above the cap before buffering them', () => {
    const r = new MessageReader(1024);
    r.typed = true;
    const h = Buffer.alloc(5); h.write('Q'); h.writeInt32BE(1 << 30, 1);
    r.push(h);
    expect(() => r.next()).toThrow(/exceeds the limit/);
    const z = new MessageReader(1024);
    z.push(Buffer.alloc(8));
    expect(() => z.next()).toThrow(/invalid message length 0/);
    const ok = new MessageReader(1024);
    ok.typed = true;
    ok.push(Buffer.from([0x53, 0, 0]));
    expect(ok.next()).toBeNull();
    ok.push(Buffer.from([0, 4, 0x58]));
    expect(ok.next()).toMatchObject({ type: 'S' });
    expect(ok.next()).toBeNull();
  });

  it('encodes values as PostgreSQL does in text and binary', () => {
    expect(textValue(OID.timestamptz, '2024-03-01T10:00:00.120Z')).toBe('2024-03-01 10:00:00.12+00');
    expect(textValue(OID.float8, Infinity)).toBe('Infinity');
    expect(textValue(OID.bool, true)).toBe('t');
    expect(textValue(OID.json, { a: [1, null] })).toBe('{"a":[1,null]}');
    expect(encodeValue(OID.timestamptz, Date.UTC(2000, 0, 1, 0, 0, 1), 1)!.readBigInt64BE(0)).toBe(1_000_000n);
    expect(encodeValue(OID.int8, '9007199254740993', 1)!.readBigInt64BE(0)).toBe(9007199254740993n);
    // int8 beyond 2^53 in digits (never 1e+21), and beyond 2^63 an error for the statement (22003), in text and binary.
    expect(textValue(OID.int8, 2 ** 62)).toBe('4611686018427387904');
    expect(textValue(OID.int8, -(2 ** 63))).toBe('-9223372036854775808');
    for (const v of [2 ** 63, 1e21, Infinity, NaN]) {
      expect(() => textValue(OID.int8, v)).toThrow(expect.objectContaining({ code: '22003' }));
      expect(() => encodeValue(OID.int8, v, 1)).toThrow(expect.objectContaining({ code: '22003' }));
    }
    // numeric 12345.678: ndigits 3, weight 1, positive, dscale 3, digits 1 2345 6780.
    const n = encodeValue(OID.numeric, '12345.678', 1)!;
    expect([n.readInt16BE(0), n.readInt16BE(2), n.readUInt16BE(4), n.readInt16BE(6), n.readInt16BE(8), n.readInt16BE(10), n.readInt16BE(12)]).toEqual([3, 1, 0, 3, 1, 2345, 6780]);
    const neg = encodeValue(OID.numeric, '-0.05', 1)!;
    expect([neg.readInt16BE(0), neg.readInt16BE(2), neg.readUInt16BE(4), neg.readInt16BE(6), neg.readInt16BE(8)]).toEqual([1, -1, 0x4000, 2, 500]);
    expect(encodeValue(OID.text, null, 0)).toBeNull();
  });

  it('rewrites PostgreSQL-only catalog syntax for the embedded engine', () => {
    const psql = "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(v)$' COLLATE pg_catalog.default AND c.oid = 'pg_class'::regclass";
    expect(rewriteForCatalog(psql, SETTINGS)).toBe("SELECT c.oid FROM pg_class c WHERE c.relname ~ '^(v)$'  AND c.oid = 1259");
    expect(rewriteForCatalog("select current_setting('server_version_num')::int", SETTINGS)).toBe("select __cs('150000')::int");
    expect(rewriteForCatalog('select * from information_schema.columns', SETTINGS)).toBe('select * from information_schema_columns');
  });
});
