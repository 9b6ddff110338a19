/**
 * Server-Sent Events over a hijacked fastify reply: `event:`/`id:`/`data:` frames, a heartbeat
 * comment every `heartbeatMs` (proxies and browsers drop silent connections), and one place that
 * knows every open stream so the server can end them when it closes.
 */
import type { FastifyReply } from 'fastify';

export interface SseStream {
  /** Sends one event; false once the stream is closed. */
  send(event: string, data: unknown, id?: number | string): boolean;
  /** Sends several events in one write (the changes of one epoch travel together). */
  sendMany(events: readonly { event: string; data: unknown; id?: number | string }[]): boolean;
  /** Ends the stream (idempotent); `onClose` handlers run once. */
  close(): void;
  onClose(f: () => void): void;
  readonly closed: boolean;
}

export interface SseHub {
  open(reply: FastifyReply): SseStream;
  readonly size: number;
  closeAll(): void;
}

export interface SseOptions {
  readonly heartbeatMs?: number;
  /** A client that does not read is cut off (it can resume with Last-Event-ID) past this many buffered bytes. */
  readonly maxBufferedBytes?: number;
}

function frame(event: string, data: unknown, id?: number | string): string {
  const payload = typeof data === 'string' ? data : JSON.stringify(data);
  return `event: ${event}\n${id !== undefined ? `id: ${id}\n` : ''}data: ${payload.replace(/\n/g, '\ndata: ')}\n\n`;
}

export function createSseHub(opts: SseOptions = {}): SseHub {
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const maxBuffered = opts.maxBufferedBytes ?? 8 * 1024 * 1024;
  const open = new Set<SseStream>();

  return {
    get size() { return open.size; },
    closeAll() { for (const s of [...open]) s.close(); },
    open(reply) {
      reply.hijack();
      const res = reply.raw;
      const head = reply.request.method === 'HEAD';
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        ...(head ? {} : { connection: 'keep-alive' }),
        // nginx and similar proxies otherwise buffer the stream.
        'x-accel-buffering': 'no',
      });
      // A HEAD has no body: the headers, then done (a stream would hold the connection forever).
      if (head) res.end();
      else res.write(': streamsql\n\n');
      let closed = head;
      const handlers: (() => void)[] = [];
      const heartbeat = head ? undefined : setInterval(() => { if (!closed) res.write(`: heartbeat ${new Date().toISOString()}\n\n`); }, heartbeatMs);
      const stream: SseStream = {
        get closed() { return closed; },
        send(event, data, id) { return stream.sendMany([{ event, data, id }]); },
        sendMany(events) {
          if (closed) return false;
          if (events.length === 0) return true;
          res.write(events.map((e) => frame(e.event, e.data, e.id)).join(''));
          if (res.writableLength > maxBuffered) { stream.close(); return false; }
          return true;
        },
        close() {
          if (closed) return;
          closed = true;
          clearInterval(heartbeat);
          open.delete(stream);
          for (const h of handlers.splice(0)) { try { h(); } catch { /* a cleanup failure must not stop the others */ } }
          res.end();
        },
        onClose(f) { if (closed) f(); else handlers.push(f); },
      };
      if (head) return stream;
      open.add(stream);
      // The client went away: stop whatever feeds this stream. (Not req 'close': for a POST it fires
      // as soon as the body has been read.)
      res.on('close', () => stream.close());
      res.on('error', () => stream.close());
      return stream;
    },
  };
}
