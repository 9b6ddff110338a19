/**
 * A small OIDC provider for tests, on node:http: a JWKS (`/jwks`) and a client-credentials token
 * endpoint (`/token`) issuing RS256 JWTs signed with node:crypto, which the broker's
 * OAuthBearerValidatorCallbackHandler verifies against the JWKS. Clients and their secrets can be
 * changed while it runs (a secret rotated at the provider). `/token-forged` signs with a key that is
 * not in the JWKS (a token the broker must refuse).
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestOidc {
  readonly url: string;
  readonly jwksUrl: string;
  readonly tokenUrl: string;
  readonly forgedTokenUrl: string;
  readonly issuer: string;
  readonly audience: string;
  /** Client id → accepted secret and token lifetime (seconds). */
  readonly clients: Map<string, { secret: string; lifetimeS: number }>;
  /** Tokens issued, refused requests, per client id. */
  readonly issued: Map<string, number>;
  readonly refused: Map<string, number>;
  close(): Promise<void>;
}

const b64url = (x: Buffer | string) => Buffer.from(x).toString('base64url');

function jwt(key: KeyObject, kid: string, claims: Record<string, unknown>): string {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
  const body = b64url(JSON.stringify(claims));
  return `${head}.${body}.${b64url(sign('sha256', Buffer.from(`${head}.${body}`), key))}`;
}

export async function startTestOidc(): Promise<TestOidc> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const forged = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const kid = 'streamsql-test-key';
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const clients = new Map<string, { secret: string; lifetimeS: number }>();
  const issued = new Map<string, number>();
  const refused = new Map<string, number>();
  let base = '';
  const issuer = 'streamsql-test-idp';
  const audience = 'kafka';
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
    if (req.method === 'GET' && req.url === '/jwks') { send(200, { keys: [jwk] }); return; }
    if (req.method === 'POST' && (req.url === '/token' || req.url === '/token-forged')) {
      let data = '';
      req.on('data', (c: Buffer) => { data += c.toString('utf8'); });
      req.on('end', () => {
        const form = new URLSearchParams(data);
        const auth = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const [id, secret] = auth ? Buffer.from(auth, 'base64').toString('utf8').split(':').map(decodeURIComponent) : [];
        const c = id !== undefined ? clients.get(id) : undefined;
        if (form.get('grant_type') !== 'client_credentials' || !c || c.secret !== secret) {
          refused.set(id ?? '', (refused.get(id ?? '') ?? 0) + 1);
          send(401, { error: 'invalid_client', error_description: 'client authentication failed' });
          return;
        }
        issued.set(id!, (issued.get(id!) ?? 0) + 1);
        const now = Math.floor(Date.now() / 1000);
        const token = jwt(req.url === '/token' ? privateKey : forged, kid, {
          iss: issuer, aud: audience, sub: id, iat: now, exp: now + c.lifetimeS, scope: form.get('scope') ?? 'kafka', jti: `${id}-${issued.get(id!)}`,
        });
        send(200, { access_token: token, token_type: 'Bearer', expires_in: c.lifetimeS });
      });
      return;
    }
    send(404, { error: 'not_found' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base, jwksUrl: `${base}/jwks`, tokenUrl: `${base}/token`, forgedTokenUrl: `${base}/token-forged`, issuer, audience, clients, issued, refused,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
