import { describe, expect, it } from 'vitest';
import { createDecoder } from '../../connectors/formats/decode.ts';
import { batchRows } from '../../executor/rows.ts';
import { createCatalog, planRequest, type SourceDef } from '../../planner/index.ts';

function source(extra = ''): SourceDef {
  const [p] = planRequest(`CREATE SOURCE s (a BIGINT, b VARCHAR) WITH (connector = 'kafka', topic = 't', format = 'json'${extra})`, createCatalog());
  if (p!.planned.kind !== 'create_source') throw new Error('expected a source');
  return p!.planned.def;
}

const msgs = (values: string[]) => ({
  topic: 't', partition: 0, values: values.map((v) => Buffer.from(v)), keys: values.map(() => null),
  offsets: values.map((_, i) => i), timestamps: values.map(() => 0),
});

describe('JSON missing fields', () => {
  it('are NULL by default (as in Flink and Spark)', () => {
    const s = source();
    const d = createDecoder(s)(msgs(['{"a": 1, "b": "x"}', '{"a": 2}']));
    expect(d.malformed).toEqual([]);
    expect(batchRows(d.batch!, s.schema)).toEqual([[1, 'x'], [2, null]]);
  });

  it("make the message malformed with 'json.fail-on-missing-field' = 'true'", () => {
    const s = source(", 'json.fail-on-missing-field' = 'true'");
    const d = createDecoder(s)(msgs(['{"a": 1, "b": "x"}', '{"a": 2}', '{"a": 3, "b": null}']));
    expect(d.malformed.map((m) => [m.offset, m.error])).toEqual([[1, "missing field 'b'"]]);
    expect(batchRows(d.batch!, s.schema)).toEqual([[1, 'x'], [3, null]]);
    expect(Array.from(d.kept!)).toEqual([0, 2]);
  });
});
