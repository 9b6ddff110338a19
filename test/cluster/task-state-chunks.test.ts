/**
 * A task's state larger than a chunk goes to the state topic as chunks and a manifest
 * (queries/cluster/task-state.ts), in the epoch's transaction, and comes back whole: through the real
 * broker, read_committed (an aborted epoch's chunks are never seen), across epochs with more, fewer
 * and no chunks (the older epochs' leftover chunks are not taken).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import { exchangeProducer } from '../../connectors/kafka/exchange.ts';
import { ensureStateTopic, readLatestStates, statePartition } from '../../connectors/kafka/state-topic.ts';
import { assembleTaskState, stateRecords, TaskStateError } from '../../queries/cluster/task-state.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';

const producers: Producer[] = [];
afterAll(async () => { await Promise.all(producers.map((p) => p.disconnect().catch(() => undefined))); });

describe('task state in chunks', () => {
  it('splits a large value into chunks and a manifest, and assembles it; refuses a chunk of another epoch', () => {
    const v = randomBytes(10_500);
    const recs = stateRecords('q#1', 7, v, 1000);
    expect(recs.map((r) => r.key)).toEqual([...Array.from({ length: 11 }, (_, i) => `q#1/${i}`), 'q#1']);
    expect(assembleTaskState('q#1', new Map(recs.map((r) => [r.key, r.value])))!.equals(v)).toBe(true);
    // Small: one record under the task's key, as before chunks existed.
    expect(stateRecords('q#1', 8, v.subarray(0, 900), 1000)).toEqual([{ key: 'q#1', value: v.subarray(0, 900) }]);
    // A chunk of epoch 6 where the manifest says 7.
    const stale = new Map(recs.map((r) => [r.key, r.value]));
    stale.set('q#1/3', stateRecords('q#1', 6, v, 1000)[3]!.value);
    expect(() => assembleTaskState('q#1', stale)).toThrow(TaskStateError);
    stale.delete('q#1/3');
    expect(() => assembleTaskState('q#1', stale)).toThrow(/chunk 3 of 11/);
  });

  it('through the state topic: each committed epoch reads back whole, an aborted one is never seen', async () => {
    const brokers = brokerList();
    const topic = uniqueTopic('state-chunks');
    const partitions = await ensureStateTopic(brokers, topic, 3);
    const task = 'q-1234abcd#2';
    const producer = await exchangeProducer(brokers, `${topic}-${task}`);
    producers.push(producer);
    const write = async (epoch: number, value: Buffer, commit = true) => {
      const txn = await producer.transaction();
      // As task-runner sends them: each record its own batch, all in the task's partition.
      for (const r of stateRecords(task, epoch, value, 64 * 1024)) {
        await txn.send({ topic, messages: [{ key: r.key, value: r.value, partition: statePartition(task, partitions) }] });
      }
      if (commit) await txn.commit(); else await txn.abort();
    };
    const read = async () => assembleTaskState(task, (await readLatestStates(brokers, topic, task)).values);
    const e1 = randomBytes(1_000_000); // 16 chunks
    await write(1, e1);
    expect((await read())!.equals(e1)).toBe(true);
    const e2 = randomBytes(200_000); // 4 chunks: chunks 4..15 of epoch 1 remain, not named by the manifest
    await write(2, e2);
    expect((await read())!.equals(e2)).toBe(true);
    await write(3, randomBytes(700_000), false); // aborted
    expect((await read())!.equals(e2)).toBe(true);
    const e4 = randomBytes(1000); // one record
    await write(4, e4);
    expect((await read())!.equals(e4)).toBe(true);
    // Another task's records in the same partition are not taken (a task id that extends this one's).
    const other = `${task}0`;
    const txn = await producer.transaction();
    await txn.send({ topic, messages: [{ key: other, value: Buffer.from('other'), partition: statePartition(task, partitions) }, { key: `${other}/0`, value: Buffer.from('x'), partition: statePartition(task, partitions) }] });
    await txn.commit();
    expect((await read())!.equals(e4)).toBe(true);
  }, 60_000);
});
