/**
 * Issue 12, defect 4: dead letters larger than the broker takes in one request. Two malformed values
 * that together exceed the dead-letter topic's `max.message.bytes` used to go out in one produce
 * request, refused as too large and retried forever: the query stayed `starting`, DELETE never
 * answered, every later statement waited behind it and shutdown hung. Here the topic's limit is set
 * small (100 kB) so the case is fast. A dead-letter topic that can never be created (its name collides
 * with an existing one's: UNKNOWN_TOPIC_OR_PARTITION, retriable, on every produce) stands in for a
 * query stuck in a send; one refusing old timestamps stands in for a permanent failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, createTopicWithConfig, produce, readTopic } from '../../connectors/kafka/admin.ts';
import { createSideProducer, fitRecord, recordBytes, requestBudget, SideOutputAborted, SideOutputError, splitBySize, TRUNCATED_HEADER } from '../../connectors/kafka/sink.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';

const LIMIT = 100_000;
const bad = (n: number, c: string) => `{"k": "${c.repeat(n)}`; // unterminated: malformed JSON of about n bytes
const good = (i: number) => JSON.stringify({ k: i % 3, v: i });
const timed = async <T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> => { const t = Date.now(); const value = await f(); return { ms: Date.now() - t, value }; };

describe('side-output sizing (pure)', () => {
  it('splits records by the budget and cuts only a record too large alone, marked with its size', () => {
    const budget = requestBudget(LIMIT);
    const msgs = [bad(60_000, 'a'), bad(60_000, 'b'), bad(150_000, 'c'), bad(10, 'd')].map((v) => ({ key: null, value: Buffer.from(v) }));
    const { chunks, truncated } = splitBySize(msgs, budget);
    expect(truncated).toBe(1);
    expect(chunks.map((c) => c.length)).toEqual([1, 1, 1, 1]);
    for (const c of chunks) expect(c.reduce((a, m) => a + recordBytes(m), 0)).toBeLessThanOrEqual(budget);
    const cut = chunks[2]![0]!;
    expect(cut.headers?.[TRUNCATED_HEADER]).toBe(String(msgs[2]!.value.length));
    expect((cut.value as Buffer).equals(msgs[2]!.value.subarray(0, (cut.value as Buffer).length))).toBe(true);
    // Deterministic: the same record is cut the same way.
    expect((fitRecord(msgs[2]!, budget).value as Buffer).equals(cut.value as Buffer)).toBe(true);
    expect(fitRecord(msgs[0]!, budget)).toBe(msgs[0]);
  });
});

describe('dead letters larger than a produce request', () => {
  let ts: TestService | undefined;
  const src = uniqueTopic('dlq-size-in');
  const dlt = uniqueTopic('dlq-size-out');
  const stuckSrc = uniqueTopic('dlq-stuck-in');
  // Kafka refuses a topic whose name equals an existing one's with '.' and '_' exchanged.
  const colliding = uniqueTopic('dlq-stuck-out').replace(/-/g, '_');
  const stuckDlt = colliding.replace(/_/g, '.');
  const permSrc = uniqueTopic('dlq-perm-in');
  const permDlt = uniqueTopic('dlq-perm-out');
  beforeAll(async () => {
    await Promise.all([
      createTopic(brokerList(), src, 1),
      createTopic(brokerList(), stuckSrc, 1),
      createTopic(brokerList(), permSrc, 1),
      createTopic(brokerList(), colliding, 1),
      createTopicWithConfig(brokerList(), dlt, { 'max.message.bytes': String(LIMIT) }),
      // Every record older than the broker's clock is refused: INVALID_TIMESTAMP, not retriable.
      createTopicWithConfig(brokerList(), permDlt, { 'message.timestamp.before.max.ms': '0' }),
    ]);
    ts = await startTestService();
  });
  afterAll(async () => { await ts?.close(); });

  const source = (name: string, topic: string, dead: string) => `CREATE SOURCE ${name} (k BIGINT, v BIGINT)
    WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest',
          'format.on-error' = 'dead-letter', 'format.dead-letter.topic' = '${dead}');
    CREATE MATERIALIZED VIEW c_${name} WITH ('checkpoint.interval' = '200 ms') AS SELECT k, COUNT(*) AS n FROM ${name} GROUP BY k;`;

  it('splits two large dead letters by the topic limit and cuts one that cannot fit, marked', async () => {
    const values = [bad(60_000, 'a'), bad(60_000, 'b'), ...Array.from({ length: 30 }, (_, i) => good(i)), bad(150_000, 'c')];
    await produce(brokerList(), src, values.map((value) => ({ value })));
    const r = await ts!.sql(source('s_size', src, dlt));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const id = r.body.results[1].queryId as string;
    const q = await waitFor(async () => { const x = (await ts!.get(`/v1/queries/${id}`)).body; return x.progress.inputRows === 30 && x.progress.deadLetteredRows === 3 ? x : null; }, 30_000, 'all read');
    expect(q.progress.malformedRows).toBe(3);
    expect(q.progress.sideOutputTruncated).toBe(1);
    expect((await ts!.get(`/v1/queries/${id}`)).body.status).toBe('running');
    const dead = (await waitFor(async () => { const x = await readTopic(brokerList(), dlt, { idleMs: 500 }); return x.length >= 3 ? x : null; }, 30_000, 'dead letters'))!;
    expect(dead).toHaveLength(3);
    // The two that fit arrive unchanged, with their origin; the third is cut to fit and says how large it was.
    expect(dead[0]!.value).toBe(values[0]);
    expect(dead[1]!.value).toBe(values[1]);
    expect(dead[0]!.headers['streamsql-source-offset']).toBe('0');
    expect(dead[2]!.headers['streamsql-source-offset']).toBe(String(values.length - 1));
    expect(dead[2]!.headers[TRUNCATED_HEADER]).toBe(String(values[values.length - 1]!.length));
    expect(dead[2]!.value!.length).toBeLessThan(LIMIT);
    expect(values[values.length - 1]!.startsWith(dead[2]!.value!)).toBe(true);
    expect(dead.every((d) => d.headers[TRUNCATED_HEADER] === undefined || d === dead[2])).toBe(true);
  });

  it('late rows are split and cut the same way (late.topic)', async () => {
    const lateIn = uniqueTopic('late-size-in'); const lateOut = uniqueTopic('late-size-out');
    await createTopic(brokerList(), lateIn, 1);
    await createTopicWithConfig(brokerList(), lateOut, { 'max.message.bytes': '20000' });
    const T0 = Date.parse('2024-01-01T12:00:00.000Z');
    const ev = (sec: number, n: number) => ({ value: JSON.stringify({ s: 'y'.repeat(n), ts: new Date(T0 + sec * 1000).toISOString() }) });
    await produce(brokerList(), lateIn, [ev(5, 1), ev(30, 1), ev(75, 1)]);
    const r = await ts!.sql(`CREATE SOURCE lev (s VARCHAR, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
        WITH (connector = 'kafka', topic = '${lateIn}', format = 'json', 'scan.startup.mode' = 'earliest');
      CREATE MATERIALIZED VIEW late_sized WITH ('late.topic' = '${lateOut}', 'checkpoint.interval' = '200 ms') AS
        SELECT window_start, COUNT(*) AS n, COUNT(DISTINCT s) AS l FROM TUMBLE(lev, ts, INTERVAL '1' MINUTE) GROUP BY window_start`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const id = r.body.results[1].queryId as string;
    await waitFor(async () => (await ts!.get(`/v1/queries/${id}`)).body.progress.inputRows === 3, 30_000, 'on time rows');
    // Window [0, 60) closed at watermark 70 s: three late rows of 9 kB (27 kB in all, the topic takes 20 kB) and one of 30 kB.
    await produce(brokerList(), lateIn, [ev(20, 9000), ev(21, 9000), ev(22, 9000), ev(23, 30_000)]);
    const q = await waitFor(async () => { const x = (await ts!.get(`/v1/queries/${id}`)).body; return x.progress.lateRowsDropped === 4 ? x : null; }, 30_000, 'late rows');
    expect(q.status).toBe('running');
    const recs = (await waitFor(async () => { const x = await readTopic(brokerList(), lateOut, { idleMs: 500 }); return x.length >= 4 ? x : null; }, 30_000, 'late records'))!;
    expect(recs).toHaveLength(4);
    // Each whole (the row holds the string, whatever its column is called after projection).
    for (const x of recs.slice(0, 3)) { expect(x.value!.length).toBeGreaterThan(9000); expect(JSON.parse(x.value!).reason).toMatch(/window closed/); }
    expect(Number(recs[3]!.headers[TRUNCATED_HEADER])).toBeGreaterThan(30_000);
    expect(recs[3]!.value!.length).toBeLessThan(20_000);
    expect((await ts!.get(`/v1/queries/${id}`)).body.progress.sideOutputTruncated).toBe(1);
  });

  it('a dead-letter topic that refuses the records for good fails the query, with the reason in its status', async () => {
    await produce(brokerList(), permSrc, [{ value: good(1) }, { value: bad(100, 'x') }]);
    const r = await ts!.sql(source('s_perm', permSrc, permDlt));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const id = r.body.results[1].queryId as string;
    const q = await waitFor(async () => { const x = (await ts!.get(`/v1/queries/${id}`)).body; return x.status === 'failed' ? x : null; }, 30_000, 'failed');
    expect(q.error).toMatch(new RegExp(`^cannot send dead letters to topic ${permDlt}: .*timestamp`, 'i'));
    expect(q.progress.deadLetteredRows).toBe(0);
  });

  it('a query stuck sending dead letters blocks neither other statements, nor its DELETE, nor shutdown', async () => {
    await produce(brokerList(), stuckSrc, [{ value: good(1) }, { value: bad(100, 'x') }, { value: good(2) }]);
    const r = await ts!.sql(`${source('s_stuck', stuckSrc, stuckDlt)}\n${source('s_stuck2', stuckSrc, stuckDlt)}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const [id, id2] = [r.body.results[1].queryId as string, r.body.results[3].queryId as string];
    // In retries, visible in the status: not `starting` with no word.
    const retrying = (qid: string) => waitFor(async () => { const x = (await ts!.get(`/v1/queries/${qid}`)).body; return x.status === 'recovering' && x.error ? x : null; }, 30_000, 'retrying');
    const [q] = await Promise.all([retrying(id), retrying(id2)]);
    expect(q.error).toMatch(/^cannot send dead letters to topic .* \(attempt \d+ of \d+, next in \d+ ms\)/);
    const other = await timed(() => ts!.sql(`CREATE SOURCE unrelated (a BIGINT) WITH (connector = 'kafka', topic = '${src}', format = 'json'); SHOW QUERIES`));
    expect(other.value.status).toBe(200);
    expect(other.ms).toBeLessThan(5000);
    const del = await timed(async () => { const x = await ts!.app.inject({ method: 'DELETE', url: `/v1/queries/${id}` }); return x.statusCode; });
    expect(del.value).toBeLessThan(300);
    expect(del.ms).toBeLessThan(8000);
    expect((await ts!.get(`/v1/queries/${id}`)).status).toBe(404);
    const after = await timed(() => ts!.sql('SHOW QUERIES'));
    expect(after.value.status).toBe(200);
    expect(after.ms).toBeLessThan(5000);
    expect((await ts!.get(`/v1/queries/${id2}`)).body.status).toBe('recovering'); // still stuck: shut down with it so
    // Shutdown (SIGINT's path) with the second query still stuck: bounded, not forever.
    const close = await timed(() => ts!.close());
    ts = undefined;
    expect(close.ms).toBeLessThan(20_000);
  });
});

describe('side producer delivery', () => {
  const colliding = uniqueTopic('side-stuck').replace(/-/g, '_');
  const stuck = colliding.replace(/_/g, '.');
  beforeAll(async () => { await createTopic(brokerList(), colliding, 1); });

  it('gives up after its bounded attempts with a retriable error, and ends at once when aborted', async () => {
    const side = createSideProducer(brokerList(), 'side-delivery-test');
    try {
      const gaveUp = await side.deliver(stuck, [{ key: null, value: 'x' }], { attempts: 1 }).then(() => null, (e: unknown) => e);
      expect(gaveUp).toBeInstanceOf(SideOutputError);
      expect((gaveUp as SideOutputError).permanent).toBe(false);
      expect((gaveUp as Error).message).toMatch(/gave up after 1 attempts/);
      const ctl = new AbortController();
      setTimeout(() => ctl.abort(), 300);
      const t0 = Date.now();
      const aborted = await side.deliver(stuck, [{ key: null, value: 'x' }], { signal: ctl.signal }).then(() => null, (e: unknown) => e);
      expect(aborted).toBeInstanceOf(SideOutputAborted);
      expect(Date.now() - t0).toBeLessThan(1500);
    } finally { await side.close(); }
  });
});
