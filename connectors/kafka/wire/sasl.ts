/**
 * SASL authentication of a native-reader connection: SaslHandshake (v1) then SaslAuthenticate (v1)
 * frames, as Kafka clients do since KIP-152. Mechanisms PLAIN, SCRAM-SHA-256/512 (RFC 5802, over
 * node:crypto) and OAUTHBEARER (RFC 7628, with a token from the OIDC provider: ../oauth.ts). The
 * broker's own error message is kept in what is thrown, the password or token never is.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { oauthToken } from '../oauth.ts';
import type { KafkaSecurity, SaslMechanism } from '../security.ts';
import type { BrokerConnection } from './connection.ts';

const SASL_HANDSHAKE = 17;
const SASL_AUTHENTICATE = 36;

export class SaslError extends Error { override name = 'SaslError'; }

/** Kafka error codes that a failed authentication answers with. */
const ERRORS: Record<number, string> = {
  33: 'UNSUPPORTED_SASL_MECHANISM',
  34: 'ILLEGAL_SASL_STATE',
  58: 'SASL_AUTHENTICATION_FAILED',
};

// ---- minimal encoders/decoders for the two non-flexible requests ----------------------------------

function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const out = Buffer.alloc(2 + b.length);
  out.writeInt16BE(b.length, 0); b.copy(out, 2);
  return out;
}

function bytes(b: Buffer): Buffer {
  const out = Buffer.alloc(4 + b.length);
  out.writeInt32BE(b.length, 0); b.copy(out, 4);
  return out;
}

class Reader {
  constructor(private readonly b: Buffer, public o: number) {}
  int16(): number { const v = this.b.readInt16BE(this.o); this.o += 2; return v; }
  int32(): number { const v = this.b.readInt32BE(this.o); this.o += 4; return v; }
  nullableString(): string | null { const n = this.int16(); if (n < 0) return null; const v = this.b.toString('utf8', this.o, this.o + n); this.o += n; return v; }
  bytes(): Buffer { const n = this.int32(); if (n < 0) return Buffer.alloc(0); const v = this.b.subarray(this.o, this.o + n); this.o += n; return Buffer.from(v); }
}

async function handshake(conn: BrokerConnection, mechanism: SaslMechanism, timeoutMs: number): Promise<void> {
  const resp = Buffer.from(await conn.request(SASL_HANDSHAKE, 1, str(mechanism), timeoutMs));
  const r = new Reader(resp, 4);
  const code = r.int16();
  if (code === 0) return;
  const n = r.int32();
  const enabled: string[] = [];
  for (let i = 0; i < n; i++) enabled.push(r.nullableString() ?? '');
  throw new SaslError(`the broker does not accept SASL mechanism ${mechanism} (${ERRORS[code] ?? `error ${code}`}); it accepts ${enabled.join(', ') || 'none'}`);
}

async function exchange(conn: BrokerConnection, payload: Buffer, timeoutMs: number): Promise<Buffer> {
  const resp = Buffer.from(await conn.request(SASL_AUTHENTICATE, 1, bytes(payload), timeoutMs));
  const r = new Reader(resp, 4);
  const code = r.int16();
  const msg = r.nullableString();
  const auth = r.bytes();
  if (code !== 0) throw new SaslError(`SASL authentication failed: ${msg ?? ERRORS[code] ?? `error ${code}`}`);
  return auth;
}

/** RFC 7628 client initial response: GS2 header, then `auth=Bearer <token>` between ^A separators. */
export const oauthBearerInitialResponse = (token: string): Buffer => Buffer.from(`n,,\x01auth=Bearer ${token}\x01\x01`, 'utf8');

export async function authenticate(conn: BrokerConnection, sasl: NonNullable<KafkaSecurity['sasl']>, timeoutMs: number): Promise<void> {
  // The token first: a provider that refuses us is reported as such, before the broker is asked.
  const token = sasl.mechanism === 'OAUTHBEARER' ? await oauthToken(sasl) : null;
  await handshake(conn, sasl.mechanism, timeoutMs);
  if (sasl.mechanism === 'OAUTHBEARER') {
    const challenge = await exchange(conn, oauthBearerInitialResponse(token!), timeoutMs);
    if (challenge.length === 0) return;
    // RFC 7628 3.2.2: a refused token comes back as a JSON error challenge; the client answers ^A and
    // the broker then fails the exchange with its reason.
    const detail = challenge.toString('utf8');
    try { await exchange(conn, Buffer.from([1]), timeoutMs); } catch (e) { throw new SaslError(`${(e as Error).message} (the broker refused the OAUTHBEARER token: ${detail})`); }
    throw new SaslError(`SASL authentication failed: the broker refused the OAUTHBEARER token: ${detail}`);
  }
  if (sasl.mechanism === 'PLAIN') {
    await exchange(conn, Buffer.from(`\0${sasl.username}\0${sasl.password}`, 'utf8'), timeoutMs);
    return;
  }
  const scram = scramClient(sasl.mechanism === 'SCRAM-SHA-256' ? 'sha256' : 'sha512', sasl.username, sasl.password);
  const serverFirst = await exchange(conn, Buffer.from(scram.first(), 'utf8'), timeoutMs);
  const serverFinal = await exchange(conn, Buffer.from(scram.final(serverFirst.toString('utf8')), 'utf8'), timeoutMs);
  scram.verify(serverFinal.toString('utf8'));
}

// ---- SCRAM (RFC 5802) ---------------------------------------------------------------------------

/** The client side of one SCRAM exchange; exported for tests against RFC 7677's example. */
export function scramClient(hash: 'sha256' | 'sha512', username: string, password: string, nonce = randomBytes(24).toString('base64')) {
  const keyLen = hash === 'sha256' ? 32 : 64;
  const hmac = (key: Buffer, data: string) => createHmac(hash, key).update(data, 'utf8').digest();
  const name = username.replace(/=/g, '=3D').replace(/,/g, '=2C');
  const firstBare = `n=${name},r=${nonce}`;
  let serverSignature: Buffer | null = null;
  return {
    first: () => `n,,${firstBare}`,
    final(serverFirst: string): string {
      const attrs = parseAttrs(serverFirst);
      if (attrs.e) throw new SaslError(`SASL authentication failed: ${attrs.e}`);
      const r = attrs.r; const s = attrs.s; const i = Number(attrs.i);
      if (!r || !s || !Number.isInteger(i) || i < 1) throw new SaslError('SASL authentication failed: malformed SCRAM server-first message');
      if (!r.startsWith(nonce)) throw new SaslError('SASL authentication failed: the server nonce does not extend ours');
      const salted = pbkdf2Sync(password.normalize('NFKC'), Buffer.from(s, 'base64'), i, keyLen, hash);
      const clientKey = hmac(salted, 'Client Key');
      const storedKey = createHash(hash).update(clientKey).digest();
      const finalNoProof = `c=biws,r=${r}`;
      const authMessage = `${firstBare},${serverFirst},${finalNoProof}`;
      const sig = hmac(storedKey, authMessage);
      const proof = Buffer.alloc(clientKey.length);
      for (let k = 0; k < proof.length; k++) proof[k] = clientKey[k]! ^ sig[k]!;
      serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
      return `${finalNoProof},p=${proof.toString('base64')}`;
    },
    verify(serverFinal: string): void {
      const attrs = parseAttrs(serverFinal);
      if (attrs.e) throw new SaslError(`SASL authentication failed: ${attrs.e}`);
      const v = attrs.v ? Buffer.from(attrs.v, 'base64') : null;
      if (!serverSignature || !v || v.length !== serverSignature.length || !timingSafeEqual(v, serverSignature)) {
        throw new SaslError('SASL authentication failed: the broker could not prove it knows the credentials (SCRAM server signature mismatch)');
      }
    },
  };
}

function parseAttrs(msg: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of msg.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}
