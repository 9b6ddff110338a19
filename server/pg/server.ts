/**
 * The PostgreSQL wire-protocol listener beside the HTTP API (PG_PORT): accepts connections, caps
 * their number, routes CancelRequests to the session they name, and shares one virtual catalog.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { Engine } from '../../queries/engine.ts';
import { createVirtualCatalog, type VirtualCatalog } from './catalog.ts';
import { scramKeys } from './scram.ts';
import { PgSession, type PgLimits } from './session.ts';
import { errorResponse } from './wire.ts';

export interface PgServerOptions {
  readonly engine: Engine;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** When set, clients authenticate with this password (SCRAM-SHA-256; cleartext over TLS). */
  readonly token?: string;
  /** PEM certificate and key: SSLRequest is then answered with TLS. */
  readonly tlsCert?: string | Buffer;
  readonly tlsKey?: string | Buffer;
  readonly maxConnections?: number;
  readonly limits?: Partial<PgLimits>;
  readonly pushIntervalMs?: number;
  readonly log?: (level: 'info' | 'warn' | 'error', m: string) => void;
}

export interface PgServer {
  readonly host: string;
  readonly port: number;
  readonly connections: number;
  /** Portals suspended at an Execute row limit, cursor FETCHes served (since start). */
  readonly stats: { readonly portalsSuspended: number; readonly cursorFetches: number };
  close(): Promise<void>;
}

export const DEFAULT_PG_PORT = 4566;

export async function startPgServer(opts: PgServerOptions): Promise<PgServer> {
  const log = opts.log ?? (() => undefined);
  const catalog: VirtualCatalog = await createVirtualCatalog(() => opts.engine.catalogInfo());
  const sessions = new Map<number, { secret: number; s: PgSession }>();
  const sockets = new Set<Socket>();
  const limits: PgLimits = {
    maxMessage: 1024 * 1024, maxBufferedBytes: 8 * 1024 * 1024, writeTimeoutMs: 30_000, startupTimeoutMs: 10_000, ...opts.limits,
  };
  const maxConnections = opts.maxConnections ?? 1000;
  const stats = { portalsSuspended: 0, cursorFetches: 0 };
  const ctx = {
    engine: opts.engine, catalog, limits, stats, token: opts.token, pushIntervalMs: opts.pushIntervalMs,
    scram: opts.token ? scramKeys(opts.token) : undefined,
    tls: opts.tlsCert && opts.tlsKey ? createSecureContext({ cert: opts.tlsCert, key: opts.tlsKey }) : undefined,
    register: (pid: number, secret: number, s: PgSession) => { sessions.set(pid, { secret, s }); },
    unregister: (pid: number) => { sessions.delete(pid); },
    cancel: (pid: number, secret: number) => { const e = sessions.get(pid); if (e && e.secret === secret) e.s.cancel(); },
    log,
  };
  const refused = new Set<Socket>();
  const server: Server = createServer((socket) => {
    socket.on('error', () => undefined);
    if (sockets.size >= maxConnections) {
      refused.add(socket);
      socket.on('close', () => refused.delete(socket));
      socket.end(errorResponse({ severity: 'FATAL', code: '53300', message: `sorry, too many clients already (${maxConnections})` }));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    new PgSession(socket, ctx);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address() as { address: string; port: number };
  log('info', `PostgreSQL wire protocol on ${addr.address}:${addr.port}${ctx.tls ? ' (TLS available)' : ''}${opts.token ? ' (password = API token)' : ''}`);
  return {
    host: addr.address,
    port: addr.port,
    get connections() { return sockets.size; },
    stats,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of [...sockets, ...refused]) s.destroy();
      await closed;
      catalog.close();
    },
  };
}
