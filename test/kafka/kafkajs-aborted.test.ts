/**
 * kafkajs read_committed with transactions aborted in the opposite order of their first records
 * (connectors/kafka/kafkajs-patches.ts): producer A writes first, producer B second, B aborts, then A.
 * The broker lists aborted transactions by where they ended (B, A); kafkajs 2.2.4 alone hands A's record
 * to the application as committed. Through our patch, kafkajs readers (tools, 'source.client' = 'kafkajs')
 * see only committed records, as the native reader does.
 */
import { describe, expect, it } from 'vitest';
import { createTopic, readTopic } from '../../connectors/kafka/admin.ts';
import { createKafka } from '../../connectors/kafka/client.ts';
import { filterAborted } from '../../connectors/kafka/kafkajs-patches.ts';
import { readCommittedRecords } from '../../connectors/kafka/state-topic.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';

const msg = (offset: number, producerId: string, inTransaction = true, key: Buffer | null = null) => ({ key, offset: String(offset), batchContext: { producerId, inTransaction } });

describe('kafkajs read_committed: aborted transactions', () => {
  it('the filter drops every aborted transaction, whatever order the broker lists them in', () => {
    const marker = Buffer.from([0, 0, 0, 0]);
    const messages = [msg(0, 'A'), msg(1, 'B'), msg(2, 'A'), msg(3, 'B', true, marker), msg(4, 'A', true, marker), msg(5, 'C'), msg(6, 'A')];
    // Listed by end (B's marker first), as the broker's transaction index has them.
    const kept = filterAborted(messages, [{ producerId: 'B', firstOffset: '1' }, { producerId: 'A', firstOffset: '0' }]).map((m) => m.offset);
    expect(kept).toEqual(['3', '4', '5', '6']); // markers (dropped later as control records), C, and A's next transaction
  });

  it('a kafkajs consumer reads only the committed record on the real broker', async () => {
    const topic = uniqueTopic('aborted-order');
    await createTopic(brokerList(), topic, 1);
    const kafka = createKafka(brokerList(), 'aborted-order-test');
    const a = kafka.producer({ transactionalId: `${topic}-a`, idempotent: true, maxInFlightRequests: 1 });
    const b = kafka.producer({ transactionalId: `${topic}-b`, idempotent: true, maxInFlightRequests: 1 });
    const c = kafka.producer({ transactionalId: `${topic}-c`, idempotent: true, maxInFlightRequests: 1 });
    await Promise.all([a.connect(), b.connect(), c.connect()]);
    try {
      const ta = await a.transaction();
      await ta.send({ topic, messages: [{ value: 'a1', partition: 0 }] });
      const tb = await b.transaction();
      await tb.send({ topic, messages: [{ value: 'b1', partition: 0 }] });
      await ta.send({ topic, messages: [{ value: 'a2', partition: 0 }] });
      await tb.abort();
      await ta.abort();
      const tc = await c.transaction();
      await tc.send({ topic, messages: [{ value: 'ok', partition: 0 }] });
      await tc.commit();
    } finally {
      await Promise.all([a.disconnect(), b.disconnect(), c.disconnect()]);
    }
    const native = (await readCommittedRecords(brokerList(), topic, 0)).map((r) => r.value);
    const viaKafkajs = (await readTopic(brokerList(), topic, { idleMs: 4000 })).map((r) => r.value);
    expect({ native, viaKafkajs }).toEqual({ native: ['ok'], viaKafkajs: ['ok'] });
  });
});
