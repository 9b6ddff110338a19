/**
 * Decoders for keyed and changelog topics (Flink's Kafka connector semantics):
 * - `'key.format'` + `'key.fields'`: the key columns are read from the record key (a JSON object
 *   whose fields are the key columns, or with `'raw'` the key bytes as the one key column); with
 *   `'value.fields-include' = 'EXCEPT_KEY'` the value holds only the other columns.
 * - `upsert-kafka`: a record upserts its key; a null value (tombstone) deletes it.
 * - `debezium-json`: change events `{before, after, op}` (`c`, `r` → insert `after`; `u` → delete
 *   `before`, insert `after`; `d` → delete `before`), with or without the `{schema, payload}`
 *   envelope, told apart per message. Tombstones that follow deletes carry nothing and are skipped.
 * Rows carry ops (+1 upsert, -1 delete; executor/message.ts). Pure code, worker-safe like decode.ts.
 */
import { makeBatch } from '../../executor/arrow.ts';
import type { SourceDef } from '../../planner/catalog.ts';
import { createBuilder, DecodeError, type ColumnBuilder } from './builders.ts';
import type { Decoded, Decoder, Malformed, RawMessages } from './decode.ts';
import { createAvroValueReader } from './avro.ts';

/** Whether a source needs this decoder rather than the plain ones. */
export function isKeyedOrChangelog(def: SourceDef): boolean {
  return !!def.options.changelog || (def.options.keyFields?.length ?? 0) > 0 || def.options.valueFormat === 'avro' || def.options.valueFormat === 'avro-confluent';
}

const utf8 = new TextDecoder();
const text = (b: Uint8Array | null | undefined): string | null => (b == null ? null : Buffer.isBuffer(b) ? b.toString('utf8') : utf8.decode(b));

function parseObject(s: string, what: string): Record<string, unknown> {
  let o: unknown;
  try { o = JSON.parse(s); } catch (e) { throw new DecodeError(`invalid JSON in the ${what}: ${(e as Error).message}`); }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new DecodeError(`expected a JSON object in the ${what}`);
  return o as Record<string, unknown>;
}

export function createChangelogDecoder(def: SourceDef): Decoder {
  const o = def.options;
  const cols = def.columns;
  const prefix = o.keyFieldsPrefix ?? '';
  const keyNames = new Set((o.keyFields ?? []).map((k) => k.toLowerCase()));
  const data = cols.map((c, i) => ({ c, i, isKey: keyNames.has(c.name.toLowerCase()) })).filter((x) => x.c.metadata === null);
  const keyCols = data.filter((x) => x.isKey);
  const valueCols = o.valueFieldsInclude === 'except-key' ? data.filter((x) => !x.isKey) : data;
  const failOnMissing = o.failOnMissingField === true;
  const keyField = (name: string) => (prefix && name.startsWith(prefix) ? name.slice(prefix.length) : name);
  // Values: JSON objects, or Avro records read as the schema derived from the value columns (avro.ts).
  const avro = o.valueFormat === 'avro' || o.valueFormat === 'avro-confluent' ? createAvroValueReader(def, valueCols.map((x) => x.c)) : null;
  const valueOf = (m: number): Record<string, unknown> | null => {
    const b = msgs_.values[m];
    if (b === null || b === undefined) return null;
    return avro ? avro(b) : parseObject(text(b)!, 'value');
  };
  let msgs_: RawMessages;

  return (msgs: RawMessages): Decoded => {
    msgs_ = msgs;
    const n = msgs.values.length;
    // A Debezium update yields two rows: room for 2 per message.
    const cap = o.changelog === 'debezium' ? 2 * n : n;
    const builders: ColumnBuilder[] = cols.map((c) => createBuilder(c.type, cap, c.name));
    const ops = new Int8Array(cap);
    const kept = new Int32Array(cap);
    const malformed: Malformed[] = [];
    let row = 0;

    const setMeta = (r: number, m: number) => {
      for (let i = 0; i < cols.length; i++) {
        switch (cols[i]!.metadata) {
          case null: break;
          case 'timestamp': builders[i]!.set(r, msgs.timestamps[m]); break;
          case 'partition': builders[i]!.set(r, msgs.partition); break;
          case 'offset': builders[i]!.set(r, msgs.offsets[m]); break;
          case 'key': builders[i]!.set(r, text(msgs.keys[m])); break;
          case 'topic': builders[i]!.set(r, msgs.topic); break;
          case 'headers': {
            const h = msgs.headers?.[m];
            const out: Record<string, string> = {};
            if (h) for (const [k, v] of Object.entries(h)) out[k] = v instanceof Uint8Array ? text(v)! : String(v);
            builders[i]!.set(r, JSON.stringify(out));
            break;
          }
        }
      }
    };
    const keyValues = (m: number): Record<string, unknown> | null => {
      if (!o.keyFormat || keyCols.length === 0) return null;
      const k = text(msgs.keys[m]);
      if (k === null) throw new DecodeError('the record has no key, but the source reads key fields from it');
      if (o.keyFormat === 'raw') return { [keyField(keyCols[0]!.c.name)]: k };
      return parseObject(k, 'record key');
    };
    /** One row: key columns from the key (when read from it), the rest from `value` (null: all NULL). */
    const emit = (m: number, value: Record<string, unknown> | null, key: Record<string, unknown> | null, op: 1 | -1) => {
      const r = row;
      if (value && failOnMissing) for (const { c } of valueCols) if (!(c.name in value)) throw new DecodeError(`missing field '${c.name}'`);
      for (const { c, i } of data) builders[i]!.set(r, value ? value[c.name] : null);
      if (key) for (const { c, i } of keyCols) builders[i]!.set(r, key[keyField(c.name)]);
      setMeta(r, m);
      ops[r] = op; kept[r] = m;
      row++;
    };

    for (let m = 0; m < n; m++) {
      const start = row;
      try {
        const key = keyValues(m);
        if (o.changelog === 'upsert') {
          const v = valueOf(m);
          if (v === null) emit(m, null, key, -1);
          else emit(m, v, key, 1);
        } else if (o.changelog === 'debezium') {
          const v = text(msgs.values[m]);
          if (v === null) continue; // the tombstone Debezium writes after a delete, for compaction
          let ev = parseObject(v, 'value');
          // With the schema envelope (JsonConverter schemas.enable=true): {schema, payload}.
          if ('payload' in ev && 'schema' in ev) {
            if (ev.payload === null) continue;
            if (typeof ev.payload !== 'object' || Array.isArray(ev.payload)) throw new DecodeError(`expected a JSON object in 'payload'`);
            ev = ev.payload as Record<string, unknown>;
          }
          const obj = (x: unknown, what: string): Record<string, unknown> => {
            if (x === null || typeof x !== 'object' || Array.isArray(x)) throw new DecodeError(`Debezium event '${ev.op}' without '${what}'`);
            return x as Record<string, unknown>;
          };
          switch (ev.op) {
            case 'c': case 'r': emit(m, obj(ev.after, 'after'), null, 1); break;
            case 'u':
              if (ev.before !== null && ev.before !== undefined) emit(m, obj(ev.before, 'before'), null, -1);
              emit(m, obj(ev.after, 'after'), null, 1);
              break;
            case 'd': emit(m, obj(ev.before, 'before'), null, -1); break;
            case 't': case 'm': break; // truncate, message: no row change here
            default: throw new DecodeError(`not a Debezium change event (op ${JSON.stringify(ev.op ?? null)})`);
          }
        } else {
          const v = valueOf(m);
          if (v === null) throw new DecodeError('empty message (tombstone)');
          emit(m, v, key, 1);
        }
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        row = start; // a half-written row is overwritten
        malformed.push({ index: m, offset: msgs.offsets[m]!, error: e.message });
      }
    }
    const batch = row === 0 ? null : makeBatch(def.schema, builders.map((b) => b.finish(row)), row);
    // `kept` maps rows to messages; a plain keyed source with nothing skipped needs none.
    const identity = row === n && o.changelog !== 'debezium' && malformed.length === 0;
    return { batch, kept: identity ? null : kept.slice(0, row), malformed, ops: o.changelog ? ops.slice(0, row) : null };
  };
}
