/**
 * A Kafka sink's records from result rows: the value as a JSON object of the output columns, the key
 * from 'key.fields' (Flink's names: JSON object of those columns, or with 'key.format' = 'raw' the one
 * column's text) or else from the query's key (GROUP BY columns, a changelog's primary key), and a
 * delete as a tombstone (null value) for that key, so a compacted topic holds the current result.
 * 'value.fields-include' = 'EXCEPT_KEY' leaves the key columns out of the value. 'format' = 'debezium-json'
 * writes each change as a Debezium event instead (a delete is then an event, not a tombstone).
 * 'value.format' = 'avro' writes the value as Avro binary of the schema derived from the columns (avro.ts);
 * 'avro-confluent' frames it in Confluent's wire format, the schema id filled in once the schema is
 * registered under the subject (`<topic>-value`) before the epoch is sent (registry.ts fillSchemaIds).
 */
import { jsonValue, rowObject, type Row } from '../../executor/rows.ts';
import type { SinkOptions } from '../../planner/catalog.ts';
import type { Schema } from '../../planner/types.ts';
import { createAvroValueWriter } from './avro.ts';
import { pendingConfluentValue } from './registry.ts';

export function createSinkEncoder(schema: Schema, sink: SinkOptions, queryKey: readonly number[] | null): (r: Row, del: boolean) => { key: string | null; value: string | Buffer | null } {
  const byName = (n: string) => schema.fields.findIndex((f) => f.name.toLowerCase() === n.toLowerCase());
  const keyCols = sink.keyFields?.length ? sink.keyFields.map(byName).filter((i) => i >= 0) : queryKey;
  const raw = sink.keyFormat === 'raw' && keyCols?.length === 1;
  const exceptKey = sink.valueFieldsInclude === 'except-key' && keyCols !== null;
  const valueCols = schema.fields.map((_, i) => i).filter((i) => !(exceptKey && keyCols!.includes(i)));
  const keySchema: Schema | null = keyCols ? { fields: keyCols.map((c) => schema.fields[c]!) } : null;
  const valueSchema: Schema = { fields: valueCols.map((c) => schema.fields[c]!) };
  return (r, del) => {
    let key: string | null = null;
    if (keyCols) {
      if (raw) { const v = jsonValue(schema.fields[keyCols[0]!]!.type, r[keyCols[0]!]); key = v === null || v === undefined ? null : typeof v === 'string' ? v : JSON.stringify(v); }
      else key = JSON.stringify(rowObject(keySchema!, keyCols.map((c) => r[c])));
    }
    const avroOut = sink.valueFormat ? createAvroValueWriter(valueCols.map((c) => schema.fields[c]!)) : null;
  const reg = sink.valueFormat === 'avro-confluent' ? sink.registry ?? null : null;
  if (sink.valueFormat === 'avro-confluent' && !reg) throw new Error(`sink ${sink.topic}: 'avro-confluent' needs 'avro-confluent.url'`);
  const subject = reg?.subject ?? `${sink.topic}-value`;
  const row = () => (exceptKey ? rowObject(valueSchema, valueCols.map((c) => r[c])) : rowObject(schema, r));
    // Debezium events as Flink writes them: inserts and updates as 'c' with `after`, deletes as 'd' with `before`.
    if (sink.format === 'debezium-json') return { key, value: JSON.stringify(del ? { before: row(), after: null, op: 'd' } : { before: null, after: row(), op: 'c' }) };
    if (avroOut) {
      if (del) return { key, value: null };
      const body = avroOut.write(valueCols.map((c) => r[c]));
      return { key, value: reg ? pendingConfluentValue(body, reg, subject, avroOut.schema) : body };
    }
    return { key, value: del ? null : JSON.stringify(row()) };
  };
}
