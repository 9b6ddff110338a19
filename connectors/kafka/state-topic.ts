/**
 * A query's task-state topic (issue 17): `_streamsql-<CLUSTER_ID>-<query>-state`, compacted, keyed by
 * task id. Each task's committed epochs write one record each (its graph snapshot, input offsets and
 * watermark trackers, encoded by queries/cluster/task-state.ts) inside the task's sink transaction, so
 * the newest committed record of a key is the task's state and output at once. A new owner reads that
 * record with read_committed after its InitProducerId has fenced the previous owner.
 *
 * Kafka only here (kafkajs for the admin side, the native reader's wire code for the read): the
 * record's bytes are opaque. The read goes through Fetch directly rather than a kafkajs consumer,
 * which would first have to join a consumer group (seconds on a broker with the default
 * `group.initial.rebalance.delay.ms`) just to read one partition once.
 */
import type { Admin } from 'kafkajs';
import { metadataOf } from './admin.ts';
import { createKafka, type Log } from './client.ts';
import { keyBytes, partitionForKey } from './partitioner.ts';
import { securityFor } from './security.ts';
import { openConnection } from './wire/connection.ts';
import { decodeFetchResponse, encodeFetchRequest, FETCH_API_KEY, FETCH_VERSION, KafkaError } from './wire/fetch-protocol.ts';
import { readRecordSet } from './wire/record-set.ts';

/** The state topic of one query of one cluster. */
export const stateTopicName = (clusterId: string, query: string): string => `_streamsql-${clusterId}-${query}-state`;

/**
 * Topic settings: compacted (only a task's newest snapshot matters), segments rolled every minute so
 * the cleaner can drop superseded snapshots (an active segment is never compacted), records up to
 * 64 MB (a snapshot larger than a few MB is written in chunks, queries/cluster/task-state.ts).
 */
export const STATE_TOPIC_CONFIG: Readonly<Record<string, string>> = {
  'cleanup.policy': 'compact',
  'segment.ms': '60000',
  'min.cleanable.dirty.ratio': '0.1',
  'max.message.bytes': String(64 * 1024 * 1024),
  'retention.ms': '-1',
};

/** The partition of the state topic a task's records go to (Kafka's Java placement of its key). */
export const statePartition = (taskId: string, partitions: number): number => partitionForKey(keyBytes(taskId), partitions);

/** Topics this process ensured, with their partition count (a partition count only grows, and a state topic's must not change). */
const ensured = new Map<string, number>();

/**
 * Creates the state topic when missing (idempotent; concurrent creators all succeed) and returns its
 * partition count. An existing topic that is not compacted is refused: a task's old snapshots would
 * pile up forever, and restore would read them all.
 */
export async function ensureStateTopic(brokers: readonly string[], topic: string, partitions: number, log?: Log, properties?: Readonly<Record<string, string>>): Promise<number> {
  const known = ensured.get(`${brokers.join()}/${topic}`);
  if (known !== undefined) return known;
  const admin = createKafka(brokers, 'streamsql-state-topic', log, {}, securityFor(properties)).admin();
  await admin.connect();
  try {
    {
      if (!(await admin.listTopics()).includes(topic)) {
        // As the command topic: up to 3 replicas (state lost with a broker would have to be recomputed from the inputs, if they still hold it).
        const replicas = Math.min(3, (await admin.describeCluster()).brokers.length);
        await admin.createTopics({
          topics: [{ topic, numPartitions: partitions, replicationFactor: replicas, configEntries: Object.entries({ ...STATE_TOPIC_CONFIG, ...(replicas >= 3 ? { 'min.insync.replicas': '2' } : {}) }).map(([name, value]) => ({ name, value })) }],
          waitForLeaders: true,
        }).catch((e: Error) => { if (!/already exists|does not host this topic-partition/i.test(e.message)) throw e; });
      }
      // Created a moment ago by another instance: the broker may not know it yet for a few 100 ms.
      const describe = async () => {
        for (let i = 0; ; i++) {
          try { return await admin.describeConfigs({ resources: [{ type: 2, name: topic, configNames: ['cleanup.policy'] }], includeSynonyms: false }); } catch (e) {
            if (i >= 30 || !/does not host this topic-partition|unknown topic/i.test((e as Error).message)) throw e;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      };
      const res = await describe();
      const policy = res.resources[0]?.configEntries.find((c) => c.configName === 'cleanup.policy')?.configValue;
      if (policy !== 'compact') throw new Error(`state topic ${topic} exists with cleanup.policy=${policy ?? '?'}; it must be compact (delete it or set cleanup.policy=compact)`);
    }
    const n = await partitionCount(admin, topic);
    ensured.set(`${brokers.join()}/${topic}`, n);
    return n;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function partitionCount(admin: Admin, topic: string): Promise<number> {
  for (let i = 0; ; i++) {
    const n = await admin.fetchTopicOffsets(topic).then((o) => o.length, () => 0);
    if (n > 0) return n;
    if (i >= 50) throw new Error(`state topic ${topic} has no partitions with leaders`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface StateRead {
  /** The newest committed value of the key, or null. */
  readonly value: Buffer | null;
  /** Bytes of the partition read to find it (every task's records there since the last compaction). */
  readonly bytesRead: number;
  readonly records: number;
}

/** `properties`: Kafka client properties (security) of another cluster than the service's (a task whose sink is there). */
export interface StateReadOptions { readonly log?: Log; readonly timeoutMs?: number; readonly properties?: Readonly<Record<string, string>> }

/**
 * Every committed record of one partition from its log start to its end as of the call (read_committed:
 * an open transaction below that end is waited out, so a record committed before the call is never
 * missed; aborted ones are skipped), handed to `each` in offset order. The wire code of the native
 * reader (Fetch v4, record-set.ts), not a kafkajs consumer: no group to join, and kafkajs' consumer
 * filters aborted transactions only when the broker lists them in offset order.
 */
async function scanCommitted(brokers: readonly string[], topic: string, partitionOf: (partitions: number) => number, each: (key: Buffer | null, value: Buffer | null, offset: number) => void, opts: StateReadOptions): Promise<{ bytesRead: number; records: number }> {
  const sec = securityFor(opts.properties);
  const admin = createKafka(brokers, 'streamsql-state-reader', opts.log, {}, sec).admin();
  await admin.connect();
  let partition: number; let host: { host: string; port: number };
  try {
    partition = partitionOf(await partitionCount(admin, topic));
    const meta = await metadataOf(admin, [topic]);
    const leader = meta.leaders.get(`${topic}:${partition}`);
    const addr = leader === undefined ? undefined : meta.brokers.get(leader);
    if (!addr) throw new Error(`no leader for ${topic}[${partition}]`);
    host = addr;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const conn = await openConnection(host.host, host.port, 'streamsql-state-reader', 3000, sec);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let offset = 0; let target = -1; let maxBytes = 8 * 1024 * 1024;
  let bytesRead = 0; let records = 0;
  const slice = (bytes: Uint8Array, starts: Int32Array, ends: Int32Array | null | undefined, nulls: Uint8Array | null, i: number): Buffer | null => {
    if (nulls && nulls[i] === 1) return null;
    const st = starts[i]!; const en = ends ? ends[i]! : starts[i + 1]!;
    return Buffer.from(bytes.subarray(st, en)); // a copy: the response buffer can go
  };
  try {
    for (;;) {
      if (Date.now() > deadline) throw new Error(`reading ${topic}[${partition}]: not at the end after ${timeoutMs} ms (offset ${offset} of ${target})`);
      const body = encodeFetchRequest({ maxWaitMs: 50, minBytes: 1, maxBytes, readCommitted: true, partitions: [{ topic, partition, offset, maxBytes }] });
      const resp = await conn.request(FETCH_API_KEY, FETCH_VERSION, body, 30_000);
      const r = decodeFetchResponse(resp, 4).partitions[0];
      if (!r) throw new Error(`no answer for ${topic}[${partition}]`);
      if (r.errorCode === KafkaError.OFFSET_OUT_OF_RANGE && offset === 0) {
        // The log start moved past 0 (deleted records): start there.
        offset = await logStart(brokers, topic, partition, opts.log);
        continue;
      }
      if (r.errorCode !== 0) throw new Error(`fetching ${topic}[${partition}]: Kafka error ${r.errorCode}`);
      // The end as of the first answer: everything written before we asked, committed or aborted by the
      // time the read reaches it (a task's InitProducerId completed its own; another's ends with its commit).
      if (target < 0) target = r.highWatermark;
      if (offset >= target) break;
      const set = readRecordSet(resp, r.recordsStart, r.recordsEnd, { topic, partition, fetchOffset: offset, aborted: r.aborted, headers: false });
      bytesRead += r.recordsEnd - r.recordsStart;
      if (set.batches === 0 && r.recordsEnd > r.recordsStart) { maxBytes *= 4; continue; } // a batch larger than we asked for
      const m = set.messages;
      if (m) {
        records += m.count;
        const k = m.keys;
        for (let i = 0; i < m.count; i++) {
          each(k ? slice(k.bytes, k.starts, k.ends, k.nulls, i) : null, slice(m.bytes, m.starts, m.ends, m.nulls, i), m.offsets[i]!);
        }
      }
      if (set.nextOffset > offset) offset = set.nextOffset;
      else await new Promise((res) => setTimeout(res, 20)); // waiting for an open transaction to end
    }
  } finally {
    conn.close();
  }
  return { bytesRead, records };
}

/**
 * The newest committed record of `key` in the state topic (read_committed, up to the partition's end
 * as of the call: an open transaction of another task on the same partition is waited out, so a
 * record committed before the call is never missed). Throws after `timeoutMs`.
 */
export async function readLatestState(brokers: readonly string[], topic: string, key: string, opts: { log?: Log; timeoutMs?: number } = {}): Promise<StateRead> {
  const want = Buffer.from(key, 'utf8');
  let value: Buffer | null = null;
  const { bytesRead, records } = await scanCommitted(brokers, topic, (n) => statePartition(key, n), (k, v) => { if (k && k.equals(want)) value = v; }, opts);
  return { value, bytesRead, records };
}

/**
 * The newest committed record of every key `key` or `<key>/<anything>` in the partition of `key` (a
 * task's state written in chunks, queries/cluster/task-state.ts): key → value.
 */
export async function readLatestStates(brokers: readonly string[], topic: string, key: string, opts: StateReadOptions = {}): Promise<{ values: Map<string, Buffer | null>; bytesRead: number; records: number }> {
  const want = Buffer.from(key, 'utf8');
  const prefix = Buffer.from(`${key}/`, 'utf8');
  const values = new Map<string, Buffer | null>();
  const { bytesRead, records } = await scanCommitted(brokers, topic, (n) => statePartition(key, n), (k, v) => {
    if (k && (k.equals(want) || (k.length > prefix.length && k.subarray(0, prefix.length).equals(prefix)))) values.set(k.toString('utf8'), v);
  }, opts);
  return { values, bytesRead, records };
}

/** Every committed record of one partition as text (tests and tools: a read_committed check that does not go through kafkajs' consumer). */
export async function readCommittedRecords(brokers: readonly string[], topic: string, partition: number, opts: { timeoutMs?: number } = {}): Promise<{ key: string | null; value: string | null; offset: number }[]> {
  const out: { key: string | null; value: string | null; offset: number }[] = [];
  await scanCommitted(brokers, topic, () => partition, (k, v, offset) => out.push({ key: k?.toString('utf8') ?? null, value: v?.toString('utf8') ?? null, offset }), opts);
  return out;
}

async function logStart(brokers: readonly string[], topic: string, partition: number, log?: Log): Promise<number> {
  const admin = createKafka(brokers, 'streamsql-state-reader', log).admin();
  await admin.connect();
  try {
    const o = (await admin.fetchTopicOffsets(topic)).find((x) => x.partition === partition);
    return Number(o?.low ?? 0);
  } finally { await admin.disconnect().catch(() => undefined); }
}

/** Log start and end offsets of the state topic's partitions (tests, status). */
export async function stateTopicOffsets(brokers: readonly string[], topic: string): Promise<{ partition: number; low: number; high: number }[]> {
  const admin = createKafka(brokers, 'streamsql-state-topic').admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }));
  } finally { await admin.disconnect().catch(() => undefined); }
}
