/**
 * Generators of hostile HTTP requests (fast-check arbitraries), as raw bytes: the paths of every
 * route spelled in odd ways (percent-escapes of any character, dot segments, doubled slashes, case,
 * `;` parameters, unicode, NUL, over-long segments), odd methods, headers (huge, duplicated, bad
 * auth, wrong content types and lengths) and bodies (bad JSON, deep JSON, wrong types, strings up to
 * and over the body limit). The properties they are checked against are in test/fuzz/targets.ts.
 */
import fc from 'fast-check';
import { httpRequest } from './raw-http.ts';

/** What the fuzzer knows about the service it attacks. */
export interface HttpFixture {
  readonly token: string;
  /** A materialized view and a query id that exist, so some requests reach real handlers. */
  readonly viewName: string;
  readonly queryId: string;
  /** Body limit of the service in bytes. */
  readonly bodyLimit: number;
}

export interface HttpCase {
  readonly label: string;
  readonly method: string;
  readonly path: string;
  /** The request carries the right token (header or query). */
  readonly authed: boolean;
  /** The bytes sent. */
  readonly bytes: Buffer;
}

const ROUTES = ['/healthz', '/v1/info', '/v1/sql', '/v1/queries', '/v1/queries/{id}', '/v1/catalog', '/v1/views/{name}', '/v1/views/{name}/changes', '/v1/query-stream', '/metrics', '/docs', '/docs/json', '/', '/index.html', '/app.js', '/v1', '/v2/info', '/nothing'];

const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'DELETE', 'HEAD', 'PUT', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'get', 'CONNECT', 'SEARCH', 'QUERY', 'BREW'];

const hex = (c: number, lower: boolean) => { const h = c.toString(16).padStart(2, '0'); return `%${lower ? h : h.toUpperCase()}`; };
/** Percent-encodes the character at each chosen position (its UTF-8 bytes). */
function encodeSome(s: string, picks: readonly boolean[], lower: boolean): string {
  let out = '';
  [...s].forEach((ch, i) => {
    if (picks[i % Math.max(1, picks.length)]) for (const b of Buffer.from(ch, 'utf8')) out += hex(b, lower);
    else out += ch;
  });
  return out;
}

const oddSegment = fc.oneof(
  fc.constantFrom('.', '..', '', '%2e', '%2E%2E', '%2f', '%5c', ';', ';x=1', '%00', '%', '%zz', '%E0%A4%A', '~', '*', '%20', '+', '..;', 'v1', 'V1', 'metrics'),
  fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => encodeURIComponent(s)),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.integer({ min: 90, max: 5000 }).map((n) => 'L'.repeat(n)),
);

const name = (f: HttpFixture) => fc.oneof(
  fc.constant(f.viewName),
  fc.constant(f.viewName.toUpperCase()),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 140 }).map(encodeURIComponent),
  fc.integer({ min: 1, max: 3000 }).map((n) => 'n'.repeat(n)),
  fc.constantFrom('%00', '..', '%2e%2e', '%2F', 'a%2Fb', '*', "'", '%22', 'x;y'),
);
const id = (f: HttpFixture) => fc.oneof(fc.constant(f.queryId), fc.uuid(), fc.string({ maxLength: 300 }).map(encodeURIComponent), fc.integer({ min: 100, max: 3000 }).map((n) => 'q'.repeat(n)));

/** A path: a route with its parameters, then zero or more distortions. */
export function pathArb(f: HttpFixture): fc.Arbitrary<string> {
  const base = fc.tuple(fc.constantFrom(...ROUTES), name(f), id(f)).map(([r, n, i]) => r.replace('{name}', n).replace('{id}', i));
  const distortion = fc.oneof(
    fc.tuple(fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), fc.boolean()).map(([picks, lower]) => (p: string) => `/${encodeSome(p.slice(1), picks, lower)}`),
    fc.constant((p: string) => p.replace(/\//g, '//')),
    fc.nat().map((k) => (p: string) => { const segs = p.split('/'); segs.splice(1 + (k % Math.max(1, segs.length - 1)), 0, '.'); return segs.join('/'); }),
    fc.nat().map((k) => (p: string) => { const segs = p.split('/'); segs.splice(1 + (k % Math.max(1, segs.length - 1)), 0, 'x', '..'); return segs.join('/'); }),
    fc.constant((p: string) => `${p}/`),
    fc.constant((p: string) => p.toUpperCase()),
    fc.nat().map((k) => (p: string) => { const i = 1 + (k % Math.max(1, p.length - 1)); return p.slice(0, i) + p[i]!.toUpperCase() + p.slice(i + 1); }),
    oddSegment.map((s) => (p: string) => `${p}/${s}`),
    oddSegment.map((s) => (p: string) => `${p}${s}`),
    oddSegment.map((s) => (p: string) => `/${s}${p}`),
    fc.constant((p: string) => p.replace(/^\//, '/./')),
    fc.constant((p: string) => `${p}#x`),
  );
  return fc.tuple(base, fc.array(distortion, { maxLength: 3 })).map(([p, ds]) => ds.reduce((acc, d) => (acc.length > 1 ? d(acc) : acc), p));
}

const query = (f: HttpFixture) => fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  fc.constantFrom('?limit=1', '?limit=-1', '?limit=1e9', '?limit=abc', '?limit=1&limit=2', '?lastEventId=5', '?lastEventId=-1', '?lastEventId=99999999999999999999', '?x', '?=', '?&&', '?access_token=', '?access_token=wrong', '?%61ccess_token=x', '?limit=%00', '?__proto__[x]=1', '?constructor[prototype][x]=1'),
  fc.string({ maxLength: 40 }).map((s) => `?q=${encodeURIComponent(s)}`),
  fc.constant(`?access_token=${f.token}&access_token=${f.token}`),
);

type Auth = 'none' | 'header' | 'query' | 'wrong' | 'malformed' | 'basic' | 'double' | 'lowercase';
const authArb: fc.Arbitrary<Auth> = fc.constantFrom('none', 'none', 'none', 'header', 'header', 'query', 'wrong', 'malformed', 'basic', 'double', 'lowercase');

const sqlText = fc.oneof(
  fc.constantFrom('SHOW SOURCES', 'SHOW VIEWS', 'SHOW QUERIES', 'SELECT 1', 'DESCRIBE nope', 'EXPLAIN SELECT 1', ';', ' ', '', 'SELECT', '\u0000', 'DROP SOURCE IF EXISTS no_such_source_zz'),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
);

/** A body and its content type; `big` sizes are built, not generated, so a 1 MiB body costs nothing. */
const bodyArb = (f: HttpFixture) => fc.oneof(
  { weight: 3, arbitrary: sqlText.map((sql) => ({ type: 'application/json', body: JSON.stringify({ sql }) })) },
  fc.constantFrom('{', '{"sql":', '[]', 'null', '1', '"sql"', '{"sql":null}', '{"sql":1}', '{"sql":["SHOW SOURCES"]}', '{"sql":{"a":1}}', '{"sql":"SHOW SOURCES","startFrom":"middle"}', '{"__proto__":{"sql":"x"}}', '{"constructor":{"prototype":{}}}', '\uFEFF{"sql":"SHOW SOURCES"}', '{"sql":"SHOW SOURCES"}garbage', '{"sql":"\\ud800"}').map((body) => ({ type: 'application/json', body })),
  fc.integer({ min: 1, max: 200_000 }).map((depth) => ({ type: 'application/json', body: `${'['.repeat(depth)}${']'.repeat(depth)}` })),
  fc.integer({ min: 1, max: 100_000 }).map((depth) => ({ type: 'application/json', body: `{"sql":"SHOW SOURCES","x":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}` })),
  fc.integer({ min: f.bodyLimit - 64, max: f.bodyLimit + 64 }).map((n) => ({ type: 'application/json', body: `{"sql":"${'x'.repeat(Math.max(0, n - 10))}"}` })),
  fc.integer({ min: 0, max: 2_000_000 }).map((n) => ({ type: 'application/json', body: `{"sql":"SELECT '${'y'.repeat(n)}'"}` })),
  fc.tuple(fc.constantFrom('text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'APPLICATION/JSON', 'application/json, text/plain', '', 'application/jsonx', 'text/event-stream'), sqlText)
    .map(([type, sql]) => ({ type, body: JSON.stringify({ sql }) })),
  fc.uint8Array({ maxLength: 300 }).map((b) => ({ type: 'application/json', body: Buffer.from(b).toString('latin1') })),
);

const extraHeaders = fc.array(fc.oneof(
  fc.constantFrom<[string, string]>(['accept', 'text/event-stream'], ['last-event-id', '-1'], ['last-event-id', 'abc'], ['x-forwarded-for', '1.2.3.4'], ['expect', '100-continue'], ['accept-version', '1'], ['content-encoding', 'gzip'], ['transfer-encoding', 'gzip'], ['connection', 'keep-alive'], ['host', ''], ['x-http-method-override', 'DELETE']),
  fc.integer({ min: 1_000, max: 40_000 }).map((n): [string, string] => ['x-big', 'h'.repeat(n)]),
  fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), fc.string({ maxLength: 50 }).map((s) => s.replace(/[\r\n]/g, ' '))),
), { maxLength: 3 });

/** One well-framed request (method, path, headers, body) with hostile content. */
export function httpCaseArb(f: HttpFixture): fc.Arbitrary<HttpCase> {
  return fc.record({ method: fc.constantFrom(...METHODS), path: pathArb(f), q: query(f), auth: authArb, body: fc.option(bodyArb(f), { freq: 2 }), extra: extraHeaders })
    .map(({ method, path, q, auth, body, extra }) => {
      const headers: Record<string, string> = {};
      let url = path + q;
      const authed = auth === 'header' || auth === 'query' || auth === 'lowercase';
      switch (auth) {
        case 'header': headers.authorization = `Bearer ${f.token}`; break;
        case 'lowercase': headers.authorization = `bearer ${f.token}`; break;
        case 'query': url += `${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(f.token)}`; break;
        case 'wrong': headers.authorization = `Bearer ${f.token}x`; break;
        case 'malformed': headers.authorization = 'Bearer'; break;
        case 'basic': headers.authorization = `Basic ${Buffer.from(`u:${f.token}`).toString('base64')}`; break;
        case 'double': break;
        case 'none': break;
      }
      for (const [k, v] of extra) headers[k] = v;
      let bytes: Buffer;
      if (body) {
        if (body.type) headers['content-type'] = body.type;
        bytes = httpRequest(method, url, { headers, body: Buffer.from(body.body, 'latin1').length === body.body.length ? Buffer.from(body.body, 'latin1') : Buffer.from(body.body, 'utf8') });
      } else bytes = httpRequest(method, url, { headers });
      if (auth === 'double') {
        // Two Authorization headers: one right, one wrong; must not count as authenticated.
        const s = bytes.toString('latin1').replace('\r\n', `\r\nAuthorization: Bearer ${f.token}\r\nAuthorization: Bearer nope\r\n`);
        bytes = Buffer.from(s, 'latin1');
      }
      return { label: 'request', method, path: url, authed, bytes };
    });
}

/** Bytes that are not a well-formed HTTP request at all (the socket parser's side). */
export function garbageArb(): fc.Arbitrary<HttpCase> {
  const c = (label: string, s: string | Buffer): HttpCase => ({ label, method: '?', path: '?', authed: false, bytes: Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1') });
  return fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 500 }).map((b) => c('random bytes', Buffer.concat([Buffer.from(b), Buffer.from('\r\n\r\n')]))),
    fc.string({ maxLength: 200 }).map((s) => c('text line', `${s.trim() === '' ? `x${s}` : s}\r\n\r\n`)),
    fc.constantFrom(
      'GET / HTTP/9.9\r\n\r\n', 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n', 'GET\r\n\r\n', ' / HTTP/1.1\r\n\r\n',
      'GET /v1/info HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 'POST /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
      'POST /v1/sql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n', 'GET /v1/info HTTP/1.1\r\nHost: x\r\n X: folded\r\n\r\n',
      'GET /v1/info HTTP/1.1\nHost: x\n\n', 'GET /v1/\x00info HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /v1/info HTTP/1.1\r\nHo\x00st: x\r\n\r\n',
      'POST /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    ).map((s) => c('malformed request', s)),
    fc.integer({ min: 100, max: 300 }).map((n) => c('many headers', `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: n }, (_, i) => `x-h${i}: ${'v'.repeat(200)}\r\n`).join('')}\r\n`)),
  );
}
