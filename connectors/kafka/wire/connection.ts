/**
 * One TCP (or TLS) connection to a Kafka broker for the native reader: request framing (size,
 * api key, version, correlation id, client id), responses matched in order, each received into one
 * buffer of its own (not a slice of Node's socket pool, so it can later be transferred to a worker).
 * With SASL, the connection authenticates (sasl.ts) before it is handed out.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tlsOptions, type KafkaSecurity } from '../security.ts';
import { authenticate } from './sasl.ts';

export interface BrokerConnection {
  /** Sends a request body; resolves with the whole response (correlation id at byte 0, body from byte 4). */
  request(apiKey: number, version: number, body: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  readonly closed: boolean;
  close(): void;
}

interface Pending {
  readonly id: number;
  resolve(b: Uint8Array): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class ConnectionError extends Error {}

/**
 * Opens a connection (TLS for SSL / SASL_SSL, then SASL authentication when configured); rejects when
 * the broker cannot be reached within `timeoutMs`, the TLS handshake fails, or authentication fails
 * (with the broker's reason).
 */
export async function openConnection(host: string, port: number, clientId: string, timeoutMs = 3000, security?: KafkaSecurity): Promise<BrokerConnection> {
  const conn = await new Promise<BrokerConnection>((resolve, reject) => {
    const useTls = !!security?.tls;
    const sock: Socket = useTls ? tlsConnect({ ...tlsOptions(security!, host), port }) : connect({ host, port, noDelay: true });
    const onError = (e: Error) => { clearTimeout(t); sock.destroy(); reject(new ConnectionError(`cannot connect to ${host}:${port}${useTls ? ' (TLS)' : ''}: ${e.message}`)); };
    const t = setTimeout(() => onError(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    sock.once('error', onError);
    sock.once(useTls ? 'secureConnect' : 'connect', () => {
      clearTimeout(t);
      sock.off('error', onError);
      if (useTls) sock.setNoDelay(true);
      resolve(wrap(sock, `${host}:${port}`, clientId));
    });
  });
  if (security?.sasl) {
    try { await authenticate(conn, security.sasl, timeoutMs + 5000); } catch (e) {
      conn.close();
      throw e instanceof ConnectionError ? e : new ConnectionError(`${host}:${port}: ${(e as Error).message}`);
    }
  }
  return conn;
}

function wrap(sock: Socket, addr: string, clientId: string): BrokerConnection {
  const client = Buffer.from(clientId, 'utf8');
  const pending: Pending[] = [];
  let nextId = 1;
  let closed = false;
  let failure: Error | null = null;
  // Receive state: the 4-byte size, then the body straight into its own buffer.
  const sizeBuf = Buffer.alloc(4);
  let sizeFill = 0;
  let cur: Uint8Array | null = null;
  let fill = 0;

  const fail = (e: Error) => {
    if (closed) return;
    closed = true;
    failure = e;
    sock.destroy();
    for (const p of pending.splice(0)) { clearTimeout(p.timer); p.reject(e); }
  };

  sock.on('data', (chunk: Buffer) => {
    let off = 0;
    while (off < chunk.length) {
      if (cur === null) {
        const n = Math.min(4 - sizeFill, chunk.length - off);
        chunk.copy(sizeBuf, sizeFill, off, off + n);
        sizeFill += n; off += n;
        if (sizeFill === 4) {
          const size = sizeBuf.readInt32BE(0);
          if (size < 4) { fail(new ConnectionError(`${addr}: bad response size ${size}`)); return; }
          cur = new Uint8Array(size);
          fill = 0;
        }
      } else {
        const n = Math.min(cur.length - fill, chunk.length - off);
        cur.set(chunk.subarray(off, off + n), fill);
        fill += n; off += n;
        if (fill === cur.length) {
          const body = cur;
          cur = null; sizeFill = 0;
          const id = (body[0]! << 24) | (body[1]! << 16) | (body[2]! << 8) | body[3]!;
          const p = pending.shift();
          if (!p || p.id !== id) { fail(new ConnectionError(`${addr}: response ${id} does not match request ${p?.id ?? 'none'}`)); return; }
          clearTimeout(p.timer);
          p.resolve(body);
        }
      }
    }
  });
  sock.on('error', (e) => fail(new ConnectionError(`${addr}: ${e.message}`)));
  sock.on('close', () => fail(new ConnectionError(`${addr}: connection closed by the broker`)));

  return {
    request(apiKey, version, body, timeoutMs) {
      if (closed) return Promise.reject(failure ?? new ConnectionError(`${addr}: connection closed`));
      const id = nextId++ & 0x7fffffff;
      const head = Buffer.alloc(4 + 2 + 2 + 4 + 2 + client.length);
      head.writeInt32BE(head.length - 4 + body.length, 0);
      head.writeInt16BE(apiKey, 4);
      head.writeInt16BE(version, 6);
      head.writeInt32BE(id, 8);
      head.writeInt16BE(client.length, 12);
      client.copy(head, 14);
      return new Promise<Uint8Array>((resolve, reject) => {
        const timer = setTimeout(() => fail(new ConnectionError(`${addr}: no response to request ${id} within ${timeoutMs} ms`)), timeoutMs);
        pending.push({ id, resolve, reject, timer });
        sock.cork();
        sock.write(head);
        sock.write(body);
        sock.uncork();
      });
    },
    get closed() { return closed; },
    close() { fail(new ConnectionError(`${addr}: connection closed`)); },
  };
}
