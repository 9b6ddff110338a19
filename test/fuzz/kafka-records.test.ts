/**
 * Fuzz: malformed and valid Kafka records (kafka-gen.ts) against the decoders and the running
 * service. Seeded (FUZZ_SEED overrides), short enough for the suite; scripts/fuzz.ts runs the same
 * generators for longer.
 *
 * - Decoders: the reference decoder refuses exactly the records labelled malformed, and the fast
 *   JSON scanner gives the same rows and errors.
 * - Service: one topic per format read by a source per `format.on-error` policy. The service never
 *   crashes; each view counts every valid record once; malformed ones are counted, dead-lettered
 *   (every one, with its origin) or fail the query at one of them; status, view, pull and health
 *   routes answer 2xx throughout, whatever timestamps the rows carry.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createDecoder, type RawMessages } from '../../connectors/formats/decode.ts';
import { createFastJsonDecoder } from '../../connectors/formats/fast-json.ts';
import { createTopic, produce, readTopic } from '../../connectors/kafka/admin.ts';
import { batchVectors } from '../../executor/arrow.ts';
import { valueAt } from '../../executor/vector.ts';
import { sourceDef } from '../../bench/lib/sources.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';
import { fuzzColumns, kafkaRecord, sampleRecords, type FuzzRecord, type KafkaFormat } from './kafka-gen.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261130);

const def = (format: KafkaFormat) => sourceDef(`CREATE SOURCE f (${fuzzColumns(format)}) WITH (connector = 'kafka', topic = 't', format = '${format}')`);

const rawOf = (recs: readonly FuzzRecord[]): RawMessages => ({
  topic: 't', partition: 0,
  values: recs.map((r) => r.value), keys: recs.map((r) => r.key),
  offsets: recs.map((_, i) => i), timestamps: recs.map((_, i) => 1_700_000_000_000 + i),
});

const cells = (b: import('apache-arrow').RecordBatch | null, d: ReturnType<typeof def>) =>
  (b ? batchVectors(b, d.schema).map((v) => Array.from({ length: v.length }, (_, i) => valueAt(v, i))) : []);

describe('decoders on generated records', () => {
  for (const format of ['json', 'csv', 'raw'] as const) {
    it(`${format}: the malformed ones are exactly those labelled so; the fast scanner agrees (seed ${SEED})`, () => {
      const d = def(format);
      const reference = createDecoder(d);
      const fast = createFastJsonDecoder(d);
      fc.assert(fc.property(fc.array(kafkaRecord(format, { hugeBytes: 50_000 }), { maxLength: 25 }), (recs) => {
        const want = reference(rawOf(recs));
        const bad = new Set(want.malformed.map((m) => m.index));
        recs.forEach((r, i) => expect(bad.has(i), `${r.kind}: ${want.malformed.find((m) => m.index === i)?.error ?? 'accepted'}`).toBe(!r.valid));
        if (fast) {
          const got = fast.decode(rawOf(recs));
          expect(got.malformed).toEqual(want.malformed);
          expect(cells(got.batch, d)).toEqual(cells(want.batch, d));
        }
      }), { seed: SEED, numRuns: 40 });
    });
  }

  it('a TIMESTAMP beyond years 0000–9999 is malformed in both decoders, at the same message', () => {
    const d = def('json');
    const recs = ['{"ts": 9e15}', '{"ts": -8.64e15}', '{"ts": 253402300799999}', '{"ts": 253402300800000}', '{"ts": "9999-12-31T23:59:59.999Z"}', '{"v": 1e999}']
      .map((v) => ({ key: null, value: Buffer.from(v), valid: true, kind: v }));
    const want = createDecoder(d)(rawOf(recs));
    expect(want.malformed.map((m) => m.index)).toEqual([0, 1, 3, 5]);
    expect(want.malformed[0]!.error).toMatch(/outside the TIMESTAMP range/);
    expect(createFastJsonDecoder(d)!.decode(rawOf(recs)).malformed).toEqual(want.malformed);
  });
});

describe('the service on generated records', () => {
  let ts: TestService | undefined;
  afterAll(async () => { await ts?.close(); });

  it(`counts, skips, dead-letters or fails as asked, and every route keeps answering (seed ${SEED})`, async () => {
    const plan: { format: KafkaFormat; n: number; policies: ('skip' | 'dead-letter' | 'fail')[] }[] = [
      { format: 'json', n: 160, policies: ['skip', 'dead-letter', 'fail'] },
      { format: 'csv', n: 80, policies: ['skip', 'dead-letter', 'fail'] },
      { format: 'raw', n: 40, policies: ['skip'] },
    ];
    const topics = new Map<KafkaFormat, { topic: string; recs: (FuzzRecord & { partition: number; offset: number })[] }>();
    await Promise.all(plan.map(async ({ format, n }, j) => {
      const topic = uniqueTopic(`fuzz-${format}`);
      const count = [0, 0];
      const recs = sampleRecords(format, SEED + j, n, { hugeBytes: 100_000 }).map((r, i) => ({ ...r, partition: i % 2, offset: count[i % 2]!++ }));
      await createTopic(brokerList(), topic, 2);
      // One produce request per ~500 kB: the broker takes at most 1 MB in a partition's batch.
      for (let i = 0; i < recs.length;) {
        let size = 0; const part: typeof recs = [];
        while (i < recs.length && (part.length === 0 || size + (recs[i]!.value?.length ?? 0) + (recs[i]!.key?.length ?? 0) < 500_000)) { size += (recs[i]!.value?.length ?? 0) + (recs[i]!.key?.length ?? 0); part.push(recs[i++]!); }
        await produce(brokerList(), topic, part.map((r) => ({ key: r.key === null ? null : r.key.toString('latin1'), value: r.value, partition: r.partition, headers: r.headers })));
      }
      topics.set(format, { topic, recs });
    }));

    ts = await startTestService();
    const queries: { name: string; format: KafkaFormat; policy: string; id: string; dlt: string | null }[] = [];
    const stmts: string[] = [];
    for (const { format, policies } of plan) {
      for (const policy of policies) {
        const name = `fz_${format}_${policy.replace('-', '_')}`;
        const dlt = policy === 'dead-letter' ? uniqueTopic(`fuzz-dlq-${format}`) : null;
        const opts = `'format.on-error' = '${policy}'${dlt ? `, 'format.dead-letter.topic' = '${dlt}'` : ''}`;
        const agg = format === 'raw' ? 'COUNT(*) AS n, COUNT(line) AS lines, COUNT(kk) AS keys' : 'COUNT(*) AS n, COUNT(kk) AS keys, MIN(ts) AS lt, MAX(ts) AS mt, SUM(v) AS sv, COUNT(s) AS ns';
        stmts.push(`CREATE SOURCE s_${name} (${fuzzColumns(format)}) WITH (connector = 'kafka', topic = '${topics.get(format)!.topic}', format = '${format}', 'scan.startup.mode' = 'earliest', ${opts});`,
          `CREATE MATERIALIZED VIEW ${name} WITH ('checkpoint.interval' = '200 ms') AS SELECT ${agg} FROM s_${name};`);
        queries.push({ name, format, policy, id: '', dlt });
      }
    }
    const r = await ts.sql(stmts.join('\n'));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    queries.forEach((q, i) => { q.id = r.body.results[2 * i + 1].queryId; });

    for (const q of queries) {
      const { recs, topic } = topics.get(q.format)!;
      const valid = recs.filter((x) => x.valid).length;
      const bad = recs.filter((x) => !x.valid);
      const why = `${q.name} (seed ${SEED}): ${bad.length} malformed of ${recs.length}`;
      if (q.policy === 'fail' && bad.length) {
        const f = await waitFor(async () => { const x = (await ts!.get(`/v1/queries/${q.id}`)).body; return x.status === 'failed' ? x : null; }, 30_000, `${why}: failed`);
        const m = /^malformed message at (.+)\[(\d)\] offset (\d+): /.exec(f.error);
        expect(m, f.error).not.toBeNull();
        expect(m![1]).toBe(topic);
        expect(bad.some((b) => b.partition === Number(m![2]) && b.offset === Number(m![3])), `${why}: ${f.error}`).toBe(true);
      } else {
        const done = await waitFor(async () => {
          const x = (await ts!.get(`/v1/queries/${q.id}`)).body;
          return x.progress?.inputRows === valid && x.progress.malformedRows === bad.length ? x : null;
        }, 45_000, `${why}: all read`);
        expect(done.progress.inputRows, why).toBe(valid);
        expect((await ts.get(`/v1/queries/${q.id}`)).body.status, why).toBe('running');
        // The view counts every valid record once (a pull sees the last completed epoch: wait for it).
        await waitFor(async () => { const p = await ts!.sql(`SELECT n FROM ${q.name}`); return p.status === 200 && p.body.results[0].rows[0]?.n === valid; }, 30_000, `${why}: view count`);
        if (q.dlt) {
          expect(done.progress.deadLetteredRows, why).toBe(bad.length);
          const dead = await waitFor(async () => { const x = await readTopic(brokerList(), q.dlt!, { idleMs: 500 }); return x.length >= bad.length ? x : null; }, 30_000, `${why}: dead letters`);
          expect(dead!.length, why).toBe(bad.length);
          const origin = (p: number, o: number) => `${p}:${o}`;
          expect(new Set(dead!.map((d) => origin(Number(d.headers['streamsql-source-partition']), Number(d.headers['streamsql-source-offset'])))), why)
            .toEqual(new Set(bad.map((b) => origin(b.partition, b.offset))));
          const byOrigin = new Map(bad.map((b) => [origin(b.partition, b.offset), b]));
          for (const d of dead!) {
            const b = byOrigin.get(origin(Number(d.headers['streamsql-source-partition']), Number(d.headers['streamsql-source-offset'])))!;
            expect(d.value, `${why}: ${b.kind}`).toBe((b.value ?? Buffer.alloc(0)).toString('utf8'));
            expect(d.headers['streamsql-source-topic']).toBe(topic);
          }
        }
      }
      // Every route answers 2xx, whatever the rows hold.
      for (const url of [`/v1/queries/${q.id}`, `/v1/views/${q.name}`, '/v1/queries', '/healthz']) {
        const x = await ts.get(url);
        expect(x.status, `${why}: GET ${url} → ${JSON.stringify(x.body).slice(0, 300)}`).toBeLessThan(300);
      }
      const pull = await ts.sql(`SELECT * FROM ${q.name}`);
      expect(pull.status, `${why}: ${JSON.stringify(pull.body).slice(0, 300)}`).toBe(200);
    }
  });
});
