/**
 * OAUTHBEARER tokens by the OIDC client-credentials grant, as Kafka's OAuthBearerLoginCallbackHandler
 * gets them (KIP-768): a POST to the token endpoint with `grant_type=client_credentials` (and `scope`),
 * the client id and secret in a Basic Authorization header; the answer's `access_token` (a JWT) is
 * sent to the broker. Tokens are cached per endpoint, client and scope, and a fresh one is fetched
 * once `refreshWindowFactor` (0.8) of the lifetime has passed, so every new connection (kafkajs or
 * the native reader, in this thread) presents a token well before its expiry.
 *
 * Errors name the endpoint and the provider's answer (`invalid_client`), never the secret.
 */
import { createHash } from 'node:crypto';
import type { OAuthSasl } from './security.ts';

export class OAuthTokenError extends Error { override name = 'OAuthTokenError'; }

interface Cached { readonly token: string; readonly refreshAt: number; readonly expiresAt: number }

const cache = new Map<string, Cached>();
const inFlight = new Map<string, Promise<Cached>>();
const FETCH_TIMEOUT_MS = 10_000;

const cacheKey = (o: OAuthSasl) => createHash('sha256').update(JSON.stringify([o.tokenEndpoint, o.clientId, o.clientSecret, o.scope ?? ''])).digest('hex');

/** The JWT's `exp` (seconds), when the answer has no `expires_in`. */
function jwtExpiry(token: string): number | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const exp = (JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : null;
  } catch { return null; }
}

async function fetchToken(o: OAuthSasl): Promise<Cached> {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (o.scope) form.set('scope', o.scope);
  // RFC 6749 2.3.1: the id and secret form-urlencoded, then Basic.
  const basic = Buffer.from(`${encodeURIComponent(o.clientId)}:${encodeURIComponent(o.clientSecret)}`).toString('base64');
  const t0 = Date.now();
  let res: Response;
  try {
    res = await fetch(o.tokenEndpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
  } catch (e) {
    const c = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new OAuthTokenError(`OAUTHBEARER: cannot reach the token endpoint ${o.tokenEndpoint}: ${c?.code ?? c?.message ?? (e as Error).message}`);
  }
  const text = await res.text().catch(() => '');
  let body: Record<string, unknown> = {};
  try { body = JSON.parse(text) as Record<string, unknown>; } catch { /* reported below */ }
  if (!res.ok) {
    const why = typeof body.error === 'string' ? `${body.error}${typeof body.error_description === 'string' ? `: ${body.error_description}` : ''}` : text.slice(0, 200);
    throw new OAuthTokenError(`OAUTHBEARER: the token endpoint ${o.tokenEndpoint} refused client ${o.clientId} (HTTP ${res.status}${why ? ` ${why}` : ''})`);
  }
  const token = body.access_token;
  if (typeof token !== 'string' || token === '') throw new OAuthTokenError(`OAUTHBEARER: the token endpoint ${o.tokenEndpoint} answered without an access_token`);
  const expiresAt = typeof body.expires_in === 'number' ? t0 + body.expires_in * 1000 : jwtExpiry(token) ?? t0 + 3600_000;
  return { token, expiresAt, refreshAt: t0 + (expiresAt - t0) * o.refreshWindowFactor };
}

/** A valid token for `o`: the cached one until its refresh time, else a fresh one (one request at a time per client). */
export async function oauthToken(o: OAuthSasl, now = Date.now()): Promise<string> {
  const k = cacheKey(o);
  const c = cache.get(k);
  if (c && now < c.refreshAt) return c.token;
  let p = inFlight.get(k);
  if (!p) {
    p = fetchToken(o).finally(() => inFlight.delete(k));
    inFlight.set(k, p);
  }
  try {
    const fresh = await p;
    cache.set(k, fresh);
    return fresh.token;
  } catch (e) {
    // The previous token, while still valid, keeps connections going through a provider outage.
    if (c && now < c.expiresAt - 5000 && !/refused/.test((e as Error).message)) return c.token;
    throw e;
  }
}

/** Forgets cached tokens (tests). */
export function clearOAuthTokens(): void { cache.clear(); }
