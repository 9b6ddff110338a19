/**
 * SCRAM-SHA-256 (RFC 5802/7677) on the server side, as PostgreSQL does it: the API token is the
 * password; keys are derived once per server, and each exchange gets its own server nonce.
 * Channel binding is not offered (no SCRAM-SHA-256-PLUS), so a client's gs2 header must be n or y.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export interface ScramKeys { readonly salt: Buffer; readonly iterations: number; readonly storedKey: Buffer; readonly serverKey: Buffer }

const hmac = (key: Buffer, data: string) => createHmac('sha256', key).update(data).digest();

export function scramKeys(password: string, iterations = 4096): ScramKeys {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  return { salt, iterations, storedKey: createHash('sha256').update(hmac(salted, 'Client Key')).digest(), serverKey: hmac(salted, 'Server Key') };
}

/** One exchange: first(clientFirst) → server-first message; final(clientFinal) → server-final or null (bad proof). */
export class ScramExchange {
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';
  constructor(private readonly keys: ScramKeys) {}

  first(clientFirst: string): string {
    const m = /^([ny]),(a=[^,]*)?,(.*)$/.exec(clientFirst);
    if (!m) throw new Error('malformed SCRAM client-first-message (channel binding is not supported)');
    this.clientFirstBare = m[3]!;
    const r = /(?:^|,)r=([^,]+)/.exec(this.clientFirstBare);
    if (!r) throw new Error('SCRAM client-first-message has no nonce');
    this.nonce = r[1]! + randomBytes(18).toString('base64');
    this.serverFirst = `r=${this.nonce},s=${this.keys.salt.toString('base64')},i=${this.keys.iterations}`;
    return this.serverFirst;
  }

  final(clientFinal: string): string | null {
    const p = /,p=([^,]+)$/.exec(clientFinal);
    const r = /(?:^|,)r=([^,]+)/.exec(clientFinal);
    if (!p || !r || r[1] !== this.nonce) return null;
    const withoutProof = clientFinal.slice(0, p.index);
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const proof = Buffer.from(p[1]!, 'base64');
    const signature = hmac(this.keys.storedKey, authMessage);
    if (proof.length !== signature.length) return null;
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i]! ^ signature[i]!;
    const stored = createHash('sha256').update(clientKey).digest();
    if (!timingSafeEqual(stored, this.keys.storedKey)) return null;
    return `v=${hmac(this.keys.serverKey, authMessage).toString('base64')}`;
  }
}
