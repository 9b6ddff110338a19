/**
 * Our SQL types and values as PostgreSQL sees them: type OIDs for RowDescription, the text and
 * binary encodings of result values, and bound parameters decoded back into SQL literals.
 */
import { ProtocolError } from './wire.ts';

export const OID = {
  bool: 16, bytea: 17, name: 19, int8: 20, int2: 21, int4: 23, text: 25, oid: 26, json: 114,
  float4: 700, float8: 701, unknown: 705, varchar: 1043, timestamp: 1114, timestamptz: 1184, interval: 1186, numeric: 1700,
} as const;

const LEN: Record<number, number> = { 16: 1, 20: 8, 21: 2, 23: 4, 26: 4, 700: 4, 701: 8, 1114: 8, 1184: 8, 1186: 16 };
export const typeLen = (oid: number): number => LEN[oid] ?? -1;

/** PG type names for format_type / information_schema, by OID. */
export const PG_TYPE_NAME: Record<number, string> = {
  16: 'boolean', 20: 'bigint', 21: 'smallint', 23: 'integer', 25: 'text', 114: 'json', 700: 'real', 701: 'double precision',
  1043: 'character varying', 1114: 'timestamp without time zone', 1184: 'timestamp with time zone', 1186: 'interval', 1700: 'numeric',
};

/** Our type names (planner typeToString) → OID. */
export function oidOfOurType(t: string): number {
  const u = t.toUpperCase();
  if (u === 'INT' || u === 'INTEGER') return OID.int4;
  if (u === 'BIGINT') return OID.int8;
  if (u === 'DOUBLE' || u === 'FLOAT' || u === 'REAL') return OID.float8;
  if (u.startsWith('DECIMAL') || u.startsWith('NUMERIC')) return OID.numeric;
  if (u === 'BOOLEAN') return OID.bool;
  if (u.startsWith('TIMESTAMP')) return OID.timestamptz;
  if (u === 'INTERVAL') return OID.interval;
  if (u.startsWith('ROW') || u.startsWith('STRUCT') || u === 'JSON') return OID.json;
  return OID.text;
}

/** DuckDB result type names (catalog answers) → OID. */
export function oidOfDuckType(t: string): number {
  const u = t.toUpperCase();
  if (u === 'INTEGER' || u === 'UINTEGER' || u === 'USMALLINT') return OID.int4;
  if (u === 'SMALLINT' || u === 'TINYINT' || u === 'UTINYINT') return OID.int2;
  if (u === 'BIGINT' || u === 'UBIGINT' || u === 'HUGEINT') return OID.int8;
  if (u === 'DOUBLE' || u === 'FLOAT') return OID.float8;
  if (u.startsWith('DECIMAL')) return OID.numeric;
  if (u === 'BOOLEAN') return OID.bool;
  if (u === 'TIMESTAMP WITH TIME ZONE') return OID.timestamptz;
  if (u.startsWith('TIMESTAMP')) return OID.timestamp;
  if (u === 'INTERVAL') return OID.interval;
  if (u === 'JSON' || u.startsWith('STRUCT') || u.startsWith('MAP')) return OID.json;
  return OID.text;
}

const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

function pad(n: number, w = 2): string { return String(n).padStart(w, '0'); }

/** Epoch ms → '2024-05-01 12:00:00.123+00' (the server's TimeZone is UTC). */
export function timestampText(ms: number, withZone = true): string {
  const d = new Date(ms);
  const frac = d.getUTCMilliseconds();
  const base = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return `${base}${frac ? `.${pad(frac, 3).replace(/0+$/, '')}` : ''}${withZone ? '+00' : ''}`;
}

function toMs(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v instanceof Date) return v.getTime();
  const s = String(v);
  const ms = Date.parse(/[zZ]|[+-]\d\d(:?\d\d)?$/.test(s) ? s : `${s.replace(' ', 'T')}Z`);
  if (Number.isNaN(ms)) throw new Error(`not a timestamp: ${s}`);
  return ms;
}

function floatText(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  return String(n);
}

function intervalText(ms: number): string {
  const neg = ms < 0; let a = Math.abs(ms);
  const h = Math.floor(a / 3_600_000); a -= h * 3_600_000;
  const m = Math.floor(a / 60_000); a -= m * 60_000;
  const s = a / 1000;
  const sec = Number.isInteger(s) ? pad(s) : (s < 10 ? `0${s}` : String(s));
  return `${neg ? '-' : ''}${pad(h)}:${pad(m)}:${sec}`;
}

const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/**
 * An int8 value as a bigint. Our BIGINT (and SUM over it) is held as a double: exact to 2^53, and able
 * to pass 2^63, which int8 cannot carry; such a value is an error for the statement (22003, as
 * PostgreSQL's bigint overflow), never a wrong number or a dropped connection.
 */
function int8Of(v: unknown): bigint {
  if (typeof v === 'bigint') { if (v < INT8_MIN || v > INT8_MAX) throw new ProtocolError(`bigint out of range: ${v}`, '22003'); return v; }
  const n = typeof v === 'number' ? v : Number(String(v));
  if (typeof v !== 'number' && /^\s*[-+]?\d+\s*$/.test(String(v))) return int8Of(BigInt(String(v).trim()));
  if (!Number.isFinite(n)) throw new ProtocolError(`bigint out of range: ${String(v)}`, '22003');
  return int8Of(BigInt(Math.trunc(n)));
}

/** A value's PostgreSQL text form. */
export function textValue(oid: number, v: unknown): string {
  switch (oid) {
    case OID.bool: return v === true || v === 't' || v === 'true' ? 't' : 'f';
    case OID.int8: return int8Of(v).toString();
    case OID.float4: case OID.float8: return floatText(Number(v));
    case OID.timestamptz: return timestampText(toMs(v));
    case OID.timestamp: return timestampText(toMs(v), false);
    case OID.interval: return typeof v === 'number' ? intervalText(v) : String(v);
    case OID.json: return typeof v === 'string' ? v : JSON.stringify(v);
    default:
      if (typeof v === 'object' && v !== null) return Array.isArray(v) ? `{${v.map((x) => String(x)).join(',')}}` : JSON.stringify(v);
      return String(v);
  }
}

/** numeric in binary: base-10000 digits, weight, sign, display scale. */
function numericBinary(text: string): Buffer {
  let s = text.trim();
  if (s === 'NaN') { const b = Buffer.alloc(8); b.writeUInt16BE(0xc000, 4); return b; }
  const neg = s.startsWith('-'); if (neg || s.startsWith('+')) s = s.slice(1);
  if (/e/i.test(s)) s = Number(s).toFixed(20).replace(/0+$/, '').replace(/\.$/, '');
  const [ip = '0', fp = ''] = s.split('.');
  const intPart = ip.replace(/^0+/, '');
  const dscale = fp.length;
  const ipad = intPart.padStart(Math.ceil(intPart.length / 4) * 4, '0');
  const fpad = fp.padEnd(Math.ceil(fp.length / 4) * 4, '0');
  const digits: number[] = [];
  for (let i = 0; i < ipad.length; i += 4) digits.push(Number(ipad.slice(i, i + 4)));
  let weight = digits.length - 1;
  for (let i = 0; i < fpad.length; i += 4) digits.push(Number(fpad.slice(i, i + 4)));
  while (digits.length && digits[0] === 0) { digits.shift(); weight--; }
  while (digits.length && digits[digits.length - 1] === 0) digits.pop();
  if (!digits.length) weight = 0;
  const b = Buffer.alloc(8 + digits.length * 2);
  b.writeInt16BE(digits.length, 0); b.writeInt16BE(weight, 2); b.writeUInt16BE(neg && digits.length ? 0x4000 : 0, 4); b.writeInt16BE(dscale, 6);
  digits.forEach((d, i) => b.writeInt16BE(d, 8 + i * 2));
  return b;
}

/** A value in the wire format the client asked for (0 text, 1 binary). */
export function encodeValue(oid: number, v: unknown, format: number): Buffer | null {
  if (v === null || v === undefined) return null;
  if (format !== 1) return Buffer.from(textValue(oid, v), 'utf8');
  switch (oid) {
    case OID.bool: return Buffer.from([textValue(oid, v) === 't' ? 1 : 0]);
    case OID.int2: { const b = Buffer.alloc(2); b.writeInt16BE(Number(v)); return b; }
    case OID.int4: case OID.oid: { const b = Buffer.alloc(4); if (oid === OID.oid) b.writeUInt32BE(Number(v) >>> 0); else b.writeInt32BE(Number(v)); return b; }
    case OID.int8: { const b = Buffer.alloc(8); b.writeBigInt64BE(int8Of(v)); return b; }
    case OID.float4: { const b = Buffer.alloc(4); b.writeFloatBE(Number(v)); return b; }
    case OID.float8: { const b = Buffer.alloc(8); b.writeDoubleBE(Number(v)); return b; }
    case OID.timestamptz: case OID.timestamp: {
      const b = Buffer.alloc(8); b.writeBigInt64BE(BigInt(Math.round((toMs(v) - PG_EPOCH_MS) * 1000))); return b;
    }
    case OID.interval: {
      const b = Buffer.alloc(16); b.writeBigInt64BE(BigInt(Math.round(Number(v) * 1000)), 0); return b;
    }
    case OID.numeric: return numericBinary(String(v));
    default: return Buffer.from(textValue(oid, v), 'utf8');
  }
}

/** A bound parameter as a SQL literal for the statement text (null → NULL). */
export function paramLiteral(oid: number, value: Buffer | null, format: number): string {
  if (value === null) return 'NULL';
  let text: string;
  if (format === 1) {
    switch (oid) {
      case OID.bool: return value[0] ? 'TRUE' : 'FALSE';
      case OID.int2: return String(value.readInt16BE(0));
      case OID.int4: return String(value.readInt32BE(0));
      case OID.int8: return value.readBigInt64BE(0).toString();
      case OID.float4: return floatLiteral(value.readFloatBE(0));
      case OID.float8: return floatLiteral(value.readDoubleBE(0));
      case OID.timestamptz: case OID.timestamp:
        return `TIMESTAMP '${new Date(Number(value.readBigInt64BE(0) / 1000n) + PG_EPOCH_MS).toISOString().replace('T', ' ').replace('Z', '')}'`;
      case OID.text: case OID.varchar: case OID.name: case OID.json: case OID.unknown: case 0:
        text = value.toString('utf8'); break;
      default: throw new ProtocolError(`binary parameters of type ${oid} are not supported; send them as text`, '22P03');
    }
  } else text = value.toString('utf8');
  switch (oid) {
    case OID.int2: case OID.int4: case OID.int8: case OID.float4: case OID.float8: case OID.numeric: case OID.oid:
      if (!/^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(text)) throw new ProtocolError(`invalid input syntax for type ${oid === OID.numeric ? 'numeric' : 'number'}: "${text}"`, '22P02');
      return text.trim();
    case OID.bool: return /^(t|true|y|yes|on|1)$/i.test(text.trim()) ? 'TRUE' : 'FALSE';
    case OID.timestamptz: case OID.timestamp: {
      let ms: number;
      try { if (!/^\s*\d{4}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d(\.\d+)?)?)?\s*(Z|[+-]\d\d(:?\d\d)?)?\s*$/i.test(text)) throw new Error(); ms = toMs(text.trim()); } catch { throw new ProtocolError(`invalid input syntax for type timestamp: "${text}"`, '22007'); }
      return `TIMESTAMP '${new Date(ms).toISOString().replace('T', ' ').replace('Z', '')}'`;
    }
    case 0: case OID.unknown:
      // Untyped (node-postgres sends everything so): a number stays a number, anything else is a string.
      if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return text;
      return quote(text);
    default: return quote(text);
  }
}

function floatLiteral(n: number): string {
  if (!Number.isFinite(n)) throw new ProtocolError(`${n} cannot be a parameter`, '22P02');
  return String(n);
}

export const quote = (s: string): string => `'${s.replace(/'/g, "''")}'`;
