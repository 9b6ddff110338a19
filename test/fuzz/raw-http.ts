/**
 * A raw HTTP/1.1 client over a TCP socket: sends the exact bytes it is given (fetch and app.inject
 * normalise paths, refuse odd methods and headers, and so cannot send what an attacker sends), and
 * reads one response. Used by the hardening tests and the fuzzer.
 */
import net from 'node:net';

export interface RawResponse {
  /** 0 when no status line came back. */
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** No complete response within the time limit. */
  readonly timedOut: boolean;
  readonly ms: number;
  /**
   * How the exchange ended, for findings: `complete` (a whole response), `close` (the peer closed),
   * `error:<code>` (a socket error, e.g. a reset), `timeout`; with the bytes received and whether the
   * whole request had been written (`sent`) or its write failed (`write-error:<code>`).
   */
  readonly ending: string;
}

/** One request per connection; resolves on a complete response, on close, or after `timeoutMs`. */
export function rawRequest(port: number, request: string | Buffer, timeoutMs = 2000, host = '127.0.0.1'): Promise<RawResponse> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    let written = 'sending';
    const sock = net.connect(port, host);
    const finish = (timedOut: boolean, how: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const all = Buffer.concat(chunks);
      resolve({ ...parse(skipInterim(all)), timedOut, ms: Date.now() - t0, ending: `${how}, ${all.length} bytes received, request ${written}` });
    };
    const timer = setTimeout(() => finish(true, 'timeout'), timeoutMs);
    const head = (typeof request === 'string' ? request.slice(0, 5) : request.subarray(0, 5).toString('latin1')).toUpperCase() === 'HEAD ';
    sock.on('data', (d: Buffer) => { chunks.push(d); if (complete(skipInterim(Buffer.concat(chunks)), head)) finish(false, 'complete'); });
    sock.on('close', () => finish(false, 'close'));
    sock.on('error', (e: NodeJS.ErrnoException) => finish(false, `error:${e.code ?? e.message}`));
    // A server may answer (and close) before it has read everything: a write error is not a failure.
    sock.write(request, (e) => { written = e ? `write-error:${(e as NodeJS.ErrnoException).code ?? e.message}` : 'sent'; });
  });
}

function headerEnd(b: Buffer): number { return b.indexOf('\r\n\r\n'); }

/** Drops interim 1xx responses (100 Continue) before the final one. */
function skipInterim(b: Buffer): Buffer {
  while (/^HTTP\/1\.[01] 1\d\d /.test(b.subarray(0, 13).toString('latin1'))) {
    const end = headerEnd(b);
    if (end < 0) return b;
    b = b.subarray(end + 4);
  }
  return b;
}

function parse(b: Buffer): Omit<RawResponse, 'timedOut' | 'ms' | 'ending'> {
  const end = headerEnd(b);
  const head = (end < 0 ? b : b.subarray(0, end)).toString('latin1');
  const [statusLine, ...lines] = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  const headers: Record<string, string> = {};
  for (const l of lines) { const i = l.indexOf(':'); if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim(); }
  let body = end < 0 ? '' : b.subarray(end + 4).toString('utf8');
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  return { status: m ? Number(m[1]) : 0, headers, body };
}

function dechunk(s: string): string {
  let out = ''; let i = 0;
  for (;;) {
    const nl = s.indexOf('\r\n', i);
    if (nl < 0) return out;
    const n = parseInt(s.slice(i, nl), 16);
    if (!(n > 0)) return out;
    out += s.slice(nl + 2, nl + 2 + n);
    i = nl + 2 + n + 2;
  }
}

/** Headers in and the body complete (by Content-Length or the last chunk); a stream counts at its headers. */
function complete(b: Buffer, isHead: boolean): boolean {
  const end = headerEnd(b);
  if (end < 0) return false;
  if (isHead) return true;
  const head = b.subarray(0, end).toString('latin1').toLowerCase();
  if (/\r\ncontent-type: text\/event-stream/.test(head)) return true;
  if (/^http\/1\.[01] (204|304)/.test(head)) return true;
  const cl = /\r\ncontent-length: *(\d+)/.exec(head);
  if (cl) return b.length - end - 4 >= Number(cl[1]);
  if (/\r\ntransfer-encoding: *chunked/.test(head)) return b.subarray(end + 4).includes('\r\n0\r\n\r\n') || b.subarray(end + 4).indexOf('0\r\n\r\n') === 0;
  return false;
}

/** A well-formed request (Connection: close), with a JSON body when given one. */
export function httpRequest(method: string, path: string, opts: { headers?: Record<string, string>; body?: string | Buffer } = {}): Buffer {
  const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
  const headers: Record<string, string> = { host: 'localhost', connection: 'close', ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}), ...opts.headers };
  const head = `${method} ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return body ? Buffer.concat([Buffer.from(head, 'utf8'), body]) : Buffer.from(head, 'utf8');
}

/** True when `body` is exactly the API's error shape `{"error": {"message", "line"?, "column"?}}`. */
export function isErrorShape(body: string): boolean {
  let v: unknown;
  try { v = JSON.parse(body); } catch { return false; }
  if (typeof v !== 'object' || v === null || Object.keys(v).join() !== 'error') return false;
  const e = (v as { error: unknown }).error as Record<string, unknown>;
  if (typeof e !== 'object' || e === null || typeof e.message !== 'string') return false;
  return Object.keys(e).every((k) => k === 'message' || ((k === 'line' || k === 'column') && Number.isInteger(e[k])));
}
