/**
 * PostgreSQL protocol v3 framing: reading frontend messages out of a byte stream (with a hard cap on
 * message size, so a hostile length field cannot make us buffer gigabytes) and building backend
 * messages. Hand-written on purpose (see DEVELOPERS-NOTES: pg-gateway buffers without a cap and loops
 * on a zero length before startup; pg-protocol only parses the backend side).
 */

export class ProtocolError extends Error {
  constructor(message: string, readonly code = '08P01') { super(message); }
}

export interface FrontendMessage {
  /** The type byte as a character; '' for the untyped startup-phase packets. */
  readonly type: string;
  readonly body: Buffer;
}

/**
 * Splits incoming chunks into messages. Before startup completes packets have no type byte.
 * Throws ProtocolError on a length below 4 or above `maxMessage`.
 */
export class MessageReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly maxMessage: number) {}
  /** Set once the startup packet has been read: from then on messages carry a type byte. */
  typed = false;

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  get buffered(): number { return this.buf.length; }

  /** The next complete message, or null when more bytes are needed. */
  next(): FrontendMessage | null {
    const head = this.typed ? 5 : 4;
    if (this.buf.length < head) return null;
    const len = this.buf.readInt32BE(this.typed ? 1 : 0);
    if (len < 4) throw new ProtocolError(`invalid message length ${len}`);
    if (len > this.maxMessage) throw new ProtocolError(`message of ${len} bytes exceeds the limit of ${this.maxMessage}`, '54000');
    const total = len + (this.typed ? 1 : 0);
    if (this.buf.length < total) return null;
    const type = this.typed ? String.fromCharCode(this.buf[0]!) : '';
    const body = Buffer.from(this.buf.subarray(head, total));
    this.buf = this.buf.subarray(total);
    return { type, body };
  }
}

/** Reads fields out of one message body. Out-of-range reads throw ProtocolError. */
export class BodyReader {
  private off = 0;
  constructor(private readonly b: Buffer) {}
  private need(n: number): void { if (this.off + n > this.b.length) throw new ProtocolError('message is shorter than its fields'); }
  int16(): number { this.need(2); const v = this.b.readInt16BE(this.off); this.off += 2; return v; }
  int32(): number { this.need(4); const v = this.b.readInt32BE(this.off); this.off += 4; return v; }
  byte(): number { this.need(1); return this.b[this.off++]!; }
  bytes(n: number): Buffer { if (n < 0) throw new ProtocolError('negative length'); this.need(n); const v = this.b.subarray(this.off, this.off + n); this.off += n; return v; }
  cstring(): string {
    const end = this.b.indexOf(0, this.off);
    if (end < 0) throw new ProtocolError('unterminated string');
    const s = this.b.toString('utf8', this.off, end);
    this.off = end + 1;
    return s;
  }
  get remaining(): number { return this.b.length - this.off; }
}

/** Builds one backend message: type byte, int32 length, fields. */
export class MessageWriter {
  private parts: Buffer[] = [];
  private size = 0;
  constructor(private readonly type: string) {}
  private add(b: Buffer): this { this.parts.push(b); this.size += b.length; return this; }
  int8(v: number): this { const b = Buffer.allocUnsafe(1); b.writeUInt8(v & 0xff); return this.add(b); }
  int16(v: number): this { const b = Buffer.allocUnsafe(2); b.writeInt16BE(v); return this.add(b); }
  int32(v: number): this { const b = Buffer.allocUnsafe(4); b.writeInt32BE(v | 0); return this.add(b); }
  uint32(v: number): this { const b = Buffer.allocUnsafe(4); b.writeUInt32BE(v >>> 0); return this.add(b); }
  cstring(s: string): this { return this.add(Buffer.from(`${s}\0`, 'utf8')); }
  bytes(b: Buffer): this { return this.add(b); }
  end(): Buffer {
    const out = Buffer.allocUnsafe(5 + this.size);
    out.write(this.type, 0, 'latin1');
    out.writeInt32BE(4 + this.size, 1);
    let o = 5;
    for (const p of this.parts) { p.copy(out, o); o += p.length; }
    return out;
  }
}

// ---- backend messages ----

export const msg = {
  authOk: () => new MessageWriter('R').int32(0).end(),
  authCleartext: () => new MessageWriter('R').int32(3).end(),
  authSasl: (mechanisms: string[]) => { const w = new MessageWriter('R').int32(10); for (const m of mechanisms) w.cstring(m); return w.int8(0).end(); },
  authSaslContinue: (data: string) => new MessageWriter('R').int32(11).bytes(Buffer.from(data)).end(),
  authSaslFinal: (data: string) => new MessageWriter('R').int32(12).bytes(Buffer.from(data)).end(),
  parameterStatus: (name: string, value: string) => new MessageWriter('S').cstring(name).cstring(value).end(),
  backendKeyData: (pid: number, secret: number) => new MessageWriter('K').int32(pid).int32(secret).end(),
  readyForQuery: (status: 'I' | 'T' | 'E') => new MessageWriter('Z').int8(status.charCodeAt(0)).end(),
  commandComplete: (tag: string) => new MessageWriter('C').cstring(tag).end(),
  emptyQuery: () => new MessageWriter('I').end(),
  parseComplete: () => new MessageWriter('1').end(),
  bindComplete: () => new MessageWriter('2').end(),
  closeComplete: () => new MessageWriter('3').end(),
  noData: () => new MessageWriter('n').end(),
  portalSuspended: () => new MessageWriter('s').end(),
  parameterDescription: (oids: readonly number[]) => { const w = new MessageWriter('t').int16(oids.length); for (const o of oids) w.uint32(o); return w.end(); },
  copyOutResponse: (columns: number) => { const w = new MessageWriter('H').int8(0).int16(columns); for (let i = 0; i < columns; i++) w.int16(0); return w.end(); },
  copyData: (data: Buffer) => new MessageWriter('d').bytes(data).end(),
  copyDone: () => new MessageWriter('c').end(),
};

export interface ErrorFields {
  readonly severity?: 'ERROR' | 'FATAL' | 'NOTICE' | 'WARNING';
  readonly code: string;
  readonly message: string;
  readonly detail?: string;
  readonly hint?: string;
  /** 1-based character position in the query text. */
  readonly position?: number;
}

function fields(type: 'E' | 'N', f: ErrorFields): Buffer {
  const sev = f.severity ?? (type === 'E' ? 'ERROR' : 'NOTICE');
  const w = new MessageWriter(type).int8(83).cstring(sev).int8(86).cstring(sev).int8(67).cstring(f.code).int8(77).cstring(f.message);
  if (f.detail) w.int8(68).cstring(f.detail);
  if (f.hint) w.int8(72).cstring(f.hint);
  if (f.position) w.int8(80).cstring(String(f.position));
  return w.int8(0).end();
}

export const errorResponse = (f: ErrorFields): Buffer => fields('E', f);
export const noticeResponse = (f: ErrorFields): Buffer => fields('N', f);

/** RowDescription: name, table oid 0, attnum 0, type oid, typlen, typmod -1, format. */
export function rowDescription(cols: readonly { name: string; oid: number; len: number }[], formats: readonly number[]): Buffer {
  const w = new MessageWriter('T').int16(cols.length);
  cols.forEach((c, i) => w.cstring(c.name).int32(0).int16(0).uint32(c.oid).int16(c.len).int32(-1).int16(formats[i] ?? 0));
  return w.end();
}

/** DataRow from already-encoded values (null = SQL NULL). */
export function dataRow(values: readonly (Buffer | null)[]): Buffer {
  let size = 2;
  for (const v of values) size += 4 + (v ? v.length : 0);
  const out = Buffer.allocUnsafe(5 + size);
  out.write('D', 0, 'latin1');
  out.writeInt32BE(4 + size, 1);
  out.writeInt16BE(values.length, 5);
  let o = 7;
  for (const v of values) {
    if (v === null) { out.writeInt32BE(-1, o); o += 4; continue; }
    out.writeInt32BE(v.length, o); o += 4;
    v.copy(out, o); o += v.length;
  }
  return out;
}
