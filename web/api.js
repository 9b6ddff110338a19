/**
 * The dashboard's calls to the HTTP API v1. Every call goes through `request`, so the error shape
 * `{error: {message, line?, column?}}` and the optional bearer token are handled in one place.
 */

const TOKEN_KEY = 'streamsql.token';

/** An API error: the HTTP status plus the body's `error` (message and, for SQL, line and column). */
export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.line = error?.line;
    this.column = error?.column;
  }
}

export function getToken() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(token) {
  try { token ? localStorage.setItem(TOKEN_KEY, token) : localStorage.removeItem(TOKEN_KEY); } catch { /* private mode */ }
}

async function request(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let json = null;
  const text = await res.text();
  if (text) {
    try { json = JSON.parse(text); } catch { json = { error: { message: text.slice(0, 500) } }; }
  }
  if (!res.ok) throw new ApiError(res.status, json?.error ?? { message: `HTTP ${res.status}` });
  return json;
}

export const api = {
  info: () => request('GET', '/v1/info'),
  sql: (sql) => request('POST', '/v1/sql', { sql }),
  catalog: () => request('GET', '/v1/catalog'),
  queries: () => request('GET', '/v1/queries'),
  query: (id) => request('GET', `/v1/queries/${encodeURIComponent(id)}`),
  stopQuery: (id) => request('DELETE', `/v1/queries/${encodeURIComponent(id)}`),
  view: (name, limit = 1000) => request('GET', `/v1/views/${encodeURIComponent(name)}?limit=${limit}`),
  /** URL of a view's change stream (SSE). EventSource cannot send headers, so a token travels as `access_token` (the server accepts either). */
  changesUrl(name) {
    const token = getToken();
    return `/v1/views/${encodeURIComponent(name)}/changes${token ? `?access_token=${encodeURIComponent(token)}` : ''}`;
  },
};

/**
 * The catalog in the shape of GET /v1/catalog. Until that route exists (404) it is assembled from
 * SHOW SOURCES / SHOW VIEWS / SHOW SINKS, which lack columns, watermarks and key columns.
 */
let catalogRoute = true;
export async function loadCatalog() {
  if (catalogRoute) {
    try {
      return await api.catalog();
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
      catalogRoute = false;
    }
  }
  const { results } = await api.sql('SHOW SOURCES; SHOW VIEWS; SHOW SINKS');
  const [sources, views, sinks] = results.map((r) => r.rows ?? []);
  return {
    sources: sources.map((s) => ({ name: s.name, columns: [], topics: typeof s.topics === 'string' ? s.topics.split(',').filter(Boolean) : (s.topics ?? []), watermark: null })),
    views: views.map((v) => ({ name: v.name, kind: v.kind, columns: [], queryId: v.queryId })),
    sinks: sinks.map((s) => ({ name: s.name, topic: s.topic ?? '', queryId: s.queryId })),
  };
}
