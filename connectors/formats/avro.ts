/**
 * 'format' = 'avro' (Flink's avro format): Avro binary values without a header, their schema derived
 * from the declared columns as Flink derives it (a record named `record`; nullable columns as
 * ["null", T] unions; BIGINT → long, INT → int, DOUBLE → double, BOOLEAN → boolean, VARCHAR → string,
 * TIMESTAMP(3) → long timestamp-millis, ROW → a nested record). Decoding uses avsc (a maintained Avro
 * library), never a hand-written codec; bytes that do not fit the schema make the message malformed.
 */
import avro from 'avsc';
import type { SourceColumn, SourceDef } from '../../planner/catalog.ts';
import type { SqlType } from '../../planner/types.ts';
import { DecodeError } from './builders.ts';

type AvroSchema = string | Record<string, unknown> | AvroSchema[];

let recordNames = 0;
function avroType(t: SqlType, name: string): AvroSchema {
  switch (t.kind) {
    case 'boolean': return 'boolean';
    case 'int': return 'int';
    case 'bigint': return 'long';
    case 'double': return 'double';
    case 'varchar': return 'string';
    case 'timestamp': return { type: 'long', logicalType: 'timestamp-millis' };
    case 'struct': return { type: 'record', name: `${name}_${++recordNames}`, fields: t.fields.map((f) => ({ name: f.name, type: ['null', avroType(f.type, f.name)], default: null })) };
    default: return 'string';
  }
}

/** The Avro schema of a source's value columns, as Flink derives it. */
export function avroSchemaOf(columns: readonly SourceColumn[]): Record<string, unknown> {
  return { type: 'record', name: 'record', namespace: 'org.apache.flink.avro.generated', fields: columns.map((c) => ({ name: c.name, type: ['null', avroType(c.type, c.name)], default: null })) };
}

/** Avro bytes → a plain object of column values (timestamps as epoch ms: logical types are not applied). */
export function createAvroValueReader(def: SourceDef, valueColumns: readonly SourceColumn[]): (b: Uint8Array) => Record<string, unknown> {
  void def;
  const type = avro.Type.forSchema(avroSchemaOf(valueColumns) as avro.Schema, { wrapUnions: false });
  return (b) => {
    const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    try {
      return type.fromBuffer(buf) as Record<string, unknown>;
    } catch (e) {
      throw new DecodeError(`not Avro of the source's schema: ${(e as Error).message}`);
    }
  };
}
