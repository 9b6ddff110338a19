/**
 * Bearer-token auth, decided on the route the router matched, not on the URL the client sent.
 *
 * The router decodes percent-escapes and (with the options app.ts sets) merges duplicate slashes and
 * ignores a trailing slash before it matches; an allow-list on the raw URL (the old hook) was bypassed
 * by `/%761/catalog`. Here every route is protected unless it was registered as open
 * (`config: { open: true }`, or anything registered inside `openScope`), and requests that match no
 * route are protected too: deny by default. The token is compared as SHA-256 digests in constant
 * time, so neither its content nor its length shows in timings.
 *
 * The token never reaches a log: `redactUrl` drops `access_token` from URLs and the request
 * serializer app.ts gives the logger prints no headers.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { apiError } from './errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without the API token (health, docs, dashboard files). */
    open?: boolean;
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The bearer token of a request: the Authorization header, else a single `?access_token=`. */
export function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (h !== undefined) { const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(h); return m ? m[1]! : null; }
  // A fragment is never sent by a client: what follows `#` is not a query string, whatever the parser made of it.
  if (req.raw.url?.includes('#')) return null;
  const q = (req.query as Record<string, unknown> | undefined)?.access_token;
  return typeof q === 'string' ? q : null;
}

export function sameToken(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** Marks every route registered in `scope` (and its children) as open. Call first in the scope. */
export function openScope(scope: FastifyInstance): void {
  scope.addHook('onRoute', (route) => { route.config = { ...(route.config ?? {}), open: true }; });
}

/** Adds the onRequest hook that refuses, with 401, any request for a route not marked open. */
export function requireToken(app: FastifyInstance, token: string): void {
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    // routeOptions describe the matched route (the 404 handler's when nothing matched): a decision
    // on what will run, whatever the spelling of the path.
    if (req.routeOptions.config?.open === true && req.is404 !== true) return;
    // Node keeps the first of repeated Authorization headers; a proxy may keep another. Refuse both.
    const repeated = req.raw.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'authorization').length > 1;
    const t = repeated ? null : bearer(req);
    if (t !== null && sameToken(t, token)) return;
    if (repeated) return reply.status(401).header('www-authenticate', 'Bearer realm="streamsql"').send(apiError('more than one Authorization header'));
    return reply.status(401).header('www-authenticate', 'Bearer realm="streamsql"')
      .send(apiError(t === null ? 'authentication required: send Authorization: Bearer <token>' : 'invalid token'));
  });
}

/** A URL for logs: the value of every `access_token` parameter (however its name is spelled) replaced. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = url.slice(q + 1).split('&').map((p) => {
    const eq = p.indexOf('=');
    const raw = eq < 0 ? p : p.slice(0, eq);
    let key = raw;
    try { key = decodeURIComponent(raw.replace(/\+/g, ' ')); } catch { /* undecodable: compared as sent */ }
    return key.trim().toLowerCase() === 'access_token' ? `${raw}=[redacted]` : p;
  });
  return `${url.slice(0, q)}?${params.join('&')}`;
}
