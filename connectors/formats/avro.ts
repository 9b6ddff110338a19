/**
 * Avro values (Flink's avro and avro-confluent formats), with avsc (a maintained Avro library), never a
 * hand-written codec:
 * - 'avro': Avro binary values without a header, their schema derived from the declared columns as
 *   Flink derives it (a record named `record`; nullable columns as ["null", T] unions; BIGINT → long,
 *   INT → int, DOUBLE → double, BOOLEAN → boolean, VARCHAR → string, TIMESTAMP(3) → long
 *   timestamp-millis, ROW → a nested record).
 * - 'avro-confluent': Confluent's wire format (magic byte 0, the writer's schema id, the body). The
 *   writer's schema comes from the schema registry (registry.ts, loaded before the fetch is decoded)
 *   and is resolved against the reader schema derived from the columns (Avro schema resolution: fields
 *   matched by name, missing ones NULL, int → long promoted); record names need not match.
 * Bytes that do not fit make the message malformed. Sinks write the same formats (createAvroValueWriter).
 */
import avro from 'avsc';
import type { SourceColumn, SourceDef } from '../../planner/catalog.ts';
import type { SqlType } from '../../planner/types.ts';
import { DecodeError } from './builders.ts';
import { cachedSchema, CONFLUENT_HEADER, CONFLUENT_MAGIC } from './registry.ts';

type AvroSchema = string | Record<string, unknown> | AvroSchema[];

/** Nested record names follow the column path (`record_address`), so a derived schema is the same at every start. */
function avroType(t: SqlType, path: string): AvroSchema {
  switch (t.kind) {
    case 'boolean': return 'boolean';
    case 'int': return 'int';
    case 'bigint': return 'long';
    case 'double': return 'double';
    case 'varchar': return 'string';
    case 'timestamp': return { type: 'long', logicalType: 'timestamp-millis' };
    case 'struct': return { type: 'record', name: path, fields: t.fields.map((f) => ({ name: f.name, type: ['null', avroType(f.type, `${path}_${f.name}`)], default: null })) };
    default: return 'string';
  }
}

/** The Avro schema of a source's value columns (or a sink's output columns), as Flink derives it. */
export function avroSchemaOf(columns: readonly { readonly name: string; readonly type: SqlType }[]): Record<string, unknown> {
  return { type: 'record', name: 'record', namespace: 'org.apache.flink.avro.generated', fields: columns.map((c) => ({ name: c.name, type: ['null', avroType(c.type, `record_${c.name}`)], default: null })) };
}

const toBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Avro bytes → a plain object of column values (timestamps as epoch ms: logical types are not applied). */
export function createAvroValueReader(def: SourceDef, valueColumns: readonly SourceColumn[]): (b: Uint8Array) => Record<string, unknown> {
  if (def.options.valueFormat === 'avro-confluent') return createConfluentValueReader(def, valueColumns);
  const type = avro.Type.forSchema(avroSchemaOf(valueColumns) as avro.Schema, { wrapUnions: false });
  return (b) => {
    try {
      return type.fromBuffer(toBuffer(b)) as Record<string, unknown>;
    } catch (e) {
      throw new DecodeError(`not Avro of the source's schema: ${(e as Error).message}`);
    }
  };
}

// ---- avro-confluent ------------------------------------------------------------------------------

const branchRecord = (t: unknown): Record<string, unknown> | null => {
  const b = Array.isArray(t) ? t.find((x) => typeof x === 'object' && x !== null && (x as { type?: unknown }).type === 'record') : t;
  return typeof b === 'object' && b !== null && (b as { type?: unknown }).type === 'record' ? b as Record<string, unknown> : null;
};
const unqualified = (n: unknown) => String(n).split('.').pop()!;

/** The reader schema with each record aliased to the writer's record at the same place, so names need not match. */
function aliased(reader: Record<string, unknown>, writer: Record<string, unknown> | null): Record<string, unknown> {
  if (!writer) return reader;
  const wFields = (writer.fields as { name: string; type: unknown }[]) ?? [];
  return {
    ...reader,
    aliases: [unqualified(writer.name)],
    fields: (reader.fields as { name: string; type: AvroSchema[] }[]).map((f) => {
      const w = wFields.find((x) => x.name === f.name);
      const rRec = branchRecord(f.type);
      const wRec = w ? branchRecord(w.type) : null;
      return rRec && wRec ? { ...f, type: (f.type).map((b) => (b === rRec ? aliased(rRec, wRec) : b)) } : f;
    }),
  };
}

/** Top-level fields the writer keeps in microseconds (timestamp-micros), to be read as milliseconds. */
function microsFields(writer: Record<string, unknown>): string[] {
  const isMicros = (t: unknown): boolean => (Array.isArray(t) ? t.some(isMicros) : typeof t === 'object' && t !== null && (t as { logicalType?: unknown }).logicalType === 'timestamp-micros');
  return ((writer.fields as { name: string; type: unknown }[]) ?? []).filter((f) => isMicros(f.type)).map((f) => f.name);
}

interface Resolution { readonly reader: avro.Type; readonly resolver: ReturnType<avro.Type["createResolver"]>; readonly micros: readonly string[] }

/**
 * Confluent-framed Avro → a plain object of the value columns. The writer's schema must be in the
 * registry cache (createSchemaPreparer loads it before decoding); an id the registry does not know,
 * a schema that cannot be read as the columns, or bytes that do not fit are malformed messages.
 */
export function createConfluentValueReader(def: SourceDef, valueColumns: readonly SourceColumn[]): (b: Uint8Array) => Record<string, unknown> {
  const reg = def.options.registry;
  if (!reg) throw new Error(`source ${def.name}: 'avro-confluent' without a registry`);
  const readerSchema = avroSchemaOf(valueColumns);
  const byId = new Map<number, Resolution | string>();
  const timestampCols = new Set(valueColumns.filter((c) => c.type.kind === 'timestamp').map((c) => c.name));
  return (b) => {
    if (b.length < CONFLUENT_HEADER || b[0] !== CONFLUENT_MAGIC) {
      throw new DecodeError(`not Confluent Avro (expected magic byte 0 and a 4-byte schema id, got ${b.length === 0 ? 'an empty value' : `${b.length} bytes starting with ${b[0]}`})`);
    }
    const id = ((b[1]! << 24) | (b[2]! << 16) | (b[3]! << 8) | b[4]!) >>> 0;
    let r = byId.get(id);
    if (r === undefined) {
      const w = cachedSchema(reg, id);
      // Not a malformed message: the fetch was not prepared (a bug), so the query must not skip it.
      if (w === undefined) throw new Error(`schema id ${id} was not loaded from the registry before decoding`);
      if (w === null) r = `schema id ${id} is not in the schema registry (or is not an Avro schema)`;
      else {
        try {
          const writer = avro.Type.forSchema(w as avro.Schema, { wrapUnions: 'auto' });
          const reader = avro.Type.forSchema(aliased(readerSchema, branchRecord(w)) as avro.Schema, { wrapUnions: false });
          r = { reader, resolver: reader.createResolver(writer, { ignoreNamespaces: true } as never), micros: microsFields(w as Record<string, unknown>).filter((n) => timestampCols.has(n)) };
        } catch (e) {
          r = `the writer's schema (id ${id}) cannot be read as the source's columns: ${(e as Error).message}`;
        }
      }
      byId.set(id, r);
    }
    if (typeof r === 'string') throw new DecodeError(r);
    let o: Record<string, unknown>;
    try {
      o = r.reader.fromBuffer(toBuffer(b).subarray(CONFLUENT_HEADER), r.resolver) as Record<string, unknown>;
    } catch (e) {
      throw new DecodeError(`not Avro of schema id ${id}: ${(e as Error).message}`);
    }
    for (const n of r.micros) if (typeof o[n] === 'number') o[n] = Math.floor((o[n] as number) / 1000);
    return o;
  };
}

// ---- sinks ---------------------------------------------------------------------------------------

/** A row value as Avro takes it for the column's type (timestamps as epoch ms, BIGINT as a number). */
function toAvro(t: SqlType, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (t.kind) {
    case 'boolean': return Boolean(v);
    case 'int': return Number(v) | 0;
    case 'bigint': case 'timestamp': return typeof v === 'string' ? Date.parse(v) : Math.trunc(Number(v));
    case 'double': return Number(v);
    case 'varchar': return String(v);
    case 'struct': {
      const o = v as Record<string, unknown>;
      const r: Record<string, unknown> = {};
      for (const f of t.fields) r[f.name] = toAvro(f.type, o[f.name]);
      return r;
    }
    default: return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
}

/** Output columns → Avro binary of the schema derived from them (`schema`, what a sink registers). */
export function createAvroValueWriter(columns: readonly { readonly name: string; readonly type: SqlType }[]): { schema: Record<string, unknown>; write(values: readonly unknown[]): Buffer } {
  const schema = avroSchemaOf(columns);
  const type = avro.Type.forSchema(schema as avro.Schema, { wrapUnions: false });
  return {
    schema,
    write(values) {
      const o: Record<string, unknown> = {};
      columns.forEach((c, i) => { o[c.name] = toAvro(c.type, values[i]); });
      return type.toBuffer(o);
    },
  };
}
