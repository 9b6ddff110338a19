/**
 * The cluster's command topic (issue 17), the Kafka half of queries/cluster/command-log.ts: the
 * shared catalog is the ordered list of DDL statements in one topic, as ksqlDB keeps its command
 * topic. One partition (one order), `retention.ms` and `retention.bytes` -1 (a new instance replays it
 * all from offset 0), `cleanup.policy=delete` (every statement matters, not just the last per key),
 * unclean leader election off and, with 3+ brokers, replication 3 with min.insync 2.
 *
 * Appends are exclusive: every instance of a cluster uses the same transactional id
 * (`_streamsql-<CLUSTER_ID>-commands`). Starting a transaction first runs InitProducerId, which
 * bumps the id's epoch (fencing whichever instance was appending: its open transaction is aborted,
 * its next request refused) and completes any transaction left open. Only then is the end of the
 * log read and the statement validated against a state that has applied everything up to it; if
 * another instance initialised meanwhile, our send or commit is refused as fenced and the caller
 * retries from the top. So a committed command was always validated against every command before it.
 * (ksqlDB: `TransactionalProducer`, shared `transactional.id` = service id, `waitForCommandConsumer`.)
 *
 * Reading uses the native reader (wire/reader.ts) with read_committed: it reports the position moving
 * over transaction markers and aborted records too, so "read up to the end offset" is exact.
 *
 * Nothing here is used unless CLUSTER_ID is set.
 */
import type { Admin } from 'kafkajs';
import { isPacked, unpack, type FetchedMessages } from '../formats/packed.ts';
import { metadataOf } from './admin.ts';
import { createKafka, type Log } from './client.ts';
import { createNativeReader, type NativeReader } from './wire/reader.ts';

/** A cluster id is part of topic and transactional-id names: Kafka's topic characters, bounded. */
const CLUSTER_ID_RE = /^[A-Za-z0-9._-]{1,200}$/;

export function commandTopicName(clusterId: string): string {
  if (!CLUSTER_ID_RE.test(clusterId)) throw new Error(`CLUSTER_ID must be 1 to 200 of [A-Za-z0-9._-], got ${JSON.stringify(clusterId)}`);
  return `_streamsql-${clusterId}-commands`;
}

/** Why an append did not happen; `commandAppend` is what command-log.ts reads (it imports nothing from here). */
export class CommandAppendError extends Error {
  override name = 'CommandAppendError';
  /**
   * fenced: another instance started appending (retry from reading the end);
   * retriable: a coordinator or transaction still settling (retry);
   * unknown: the commit was sent and its answer lost (re-read: the command may be in the log).
   */
  constructor(readonly commandAppend: 'fenced' | 'retriable' | 'unknown', message: string, override readonly cause?: unknown) { super(message); }
}

export interface CommandTopicRecord { readonly offset: number; readonly key: string | null; readonly value: Buffer }

export interface CommandFollower {
  /** Records in offset order, committed ones only; awaited before more are read. */
  onRecords(records: readonly CommandTopicRecord[]): void | Promise<void>;
  /** The read position (next offset) after the records handed over, transaction markers and aborted records. */
  onPosition(next: number): void;
  /** Reading stopped for good (the topic lost records, …). */
  onError(e: Error): void;
}

export interface CommandTopicOptions {
  readonly brokers: readonly string[];
  readonly clusterId: string;
  /** For client ids and logs. */
  readonly instanceId: string;
  readonly log?: Log;
  /** Long-poll wait of the follower's fetches (default 200 ms). */
  readonly maxWaitMs?: number;
}

export interface CommandTopic {
  readonly topic: string;
  /** Creates the topic if missing; checks an existing one (one partition, infinite retention). */
  ensure(): Promise<void>;
  /** Partition count and the retention/cleanup configs (status, tests). */
  describe(): Promise<{ partitions: number; configs: Record<string, string> }>;
  /** The end of the log (next offset to be written). */
  endOffset(): Promise<number>;
  follow(from: number, follower: CommandFollower): void;
  /**
   * One exclusive append: fence other appenders, read the end offset, ask `prepare(end)` for the record
   * (null: nothing to append), send and commit it. Returns its offset, or null. Throws CommandAppendError
   * for the cases to retry, anything `prepare` throws as is.
   */
  appendExclusive(prepare: (end: number) => Promise<{ key: string; value: Buffer } | null>): Promise<number | null>;
  close(): Promise<void>;
}

export const COMMAND_TOPIC_CONFIGS: Readonly<Record<string, string>> = {
  'cleanup.policy': 'delete',
  'retention.ms': '-1',
  'retention.bytes': '-1',
  'unclean.leader.election.enable': 'false',
};

const FENCED = ['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING'];
const RETRIABLE = ['CONCURRENT_TRANSACTIONS', 'NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS', 'REQUEST_TIMED_OUT', 'NOT_LEADER_OR_FOLLOWER', 'NOT_LEADER_FOR_PARTITION', 'LEADER_NOT_AVAILABLE'];

/** The Kafka error types in an error and what it wraps (kafkajs nests retried errors). */
function errorTypes(e: unknown): string[] {
  const out: string[] = [];
  const walk = (x: unknown, depth: number): void => {
    if (!x || typeof x !== 'object' || depth > 5) return;
    const o = x as { type?: unknown; originalError?: unknown; cause?: unknown; errors?: unknown };
    if (typeof o.type === 'string') out.push(o.type);
    walk(o.originalError, depth + 1);
    walk(o.cause, depth + 1);
    if (Array.isArray(o.errors)) for (const y of o.errors) walk(y, depth + 1);
  };
  walk(e, 0);
  return out;
}

class PrepareError extends Error { constructor(readonly inner: unknown) { super('prepare failed'); } }

function classify(e: unknown, committing: boolean): CommandAppendError | null {
  const types = errorTypes(e);
  const msg = (e as Error)?.message ?? String(e);
  if (types.some((t) => FENCED.includes(t)) || /fenced|producer epoch/i.test(msg)) return new CommandAppendError('fenced', `fenced by another instance: ${msg}`, e);
  if (committing) return new CommandAppendError('unknown', `commit outcome unknown: ${msg}`, e);
  if (types.some((t) => RETRIABLE.includes(t)) || (e as { retriable?: boolean })?.retriable === true) return new CommandAppendError('retriable', msg, e);
  return null;
}

export function openCommandTopic(opts: CommandTopicOptions): CommandTopic {
  const topic = commandTopicName(opts.clusterId);
  const kafka = createKafka(opts.brokers, `streamsql-${opts.instanceId}-commands`, opts.log);
  let admin: Admin | null = null;
  let reader: NativeReader | null = null;
  let closed = false;

  const getAdmin = async (): Promise<Admin> => {
    if (admin) return admin;
    const a = kafka.admin();
    await a.connect();
    admin = a;
    return a;
  };
  /** Runs an admin call; a failed one drops the client so the next call reconnects. */
  const withAdmin = async <T>(f: (a: Admin) => Promise<T>): Promise<T> => {
    const a = await getAdmin();
    try {
      return await f(a);
    } catch (e) {
      if (admin === a) { admin = null; await a.disconnect().catch(() => undefined); }
      throw e;
    }
  };

  async function describe(): Promise<{ partitions: number; configs: Record<string, string> }> {
    return withAdmin(async (a) => {
      const meta = await a.fetchTopicMetadata({ topics: [topic] });
      const res = await a.describeConfigs({ resources: [{ type: 2 /* TOPIC */, name: topic, configNames: Object.keys(COMMAND_TOPIC_CONFIGS) }], includeSynonyms: false });
      const configs: Record<string, string> = {};
      for (const c of res.resources[0]?.configEntries ?? []) configs[c.configName] = c.configValue;
      return { partitions: meta.topics[0]?.partitions.length ?? 0, configs };
    });
  }

  async function ensure(): Promise<void> {
    await withAdmin(async (a) => {
      if (!(await a.listTopics()).includes(topic)) {
        const brokers = (await a.describeCluster()).brokers.length;
        const replicas = Math.min(3, brokers);
        const configs: Record<string, string> = { ...COMMAND_TOPIC_CONFIGS, ...(replicas >= 3 ? { 'min.insync.replicas': '2' } : {}) };
        await a.createTopics({
          topics: [{ topic, numPartitions: 1, replicationFactor: replicas, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }],
          waitForLeaders: true,
        }).catch((e: Error) => {
          // Another instance created it at the same moment; or kafkajs gave up waiting for the leader (below).
          if (!/already exists|does not host this topic-partition/i.test(e.message)) throw e;
        });
      }
      for (let attempt = 0; ; attempt++) {
        const n = await a.fetchTopicOffsets(topic).then((o) => o.length, () => 0);
        if (n >= 1) break;
        if (attempt >= 100) throw new Error(`command topic ${topic} has no leader after creation`);
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    const d = await describe();
    if (d.partitions !== 1) throw new Error(`command topic ${topic} has ${d.partitions} partitions; it must have exactly 1 (one order for every instance)`);
    for (const k of ['retention.ms', 'retention.bytes']) {
      if (d.configs[k] !== undefined && d.configs[k] !== '-1') {
        throw new Error(`command topic ${topic} has ${k}=${d.configs[k]}; it must be -1 (a new instance replays every command): kafka-configs --alter --entity-type topics --entity-name ${topic} --add-config ${k}=-1`);
      }
    }
  }

  async function endOffset(): Promise<number> {
    return withAdmin(async (a) => {
      const offs = await a.fetchTopicOffsets(topic);
      const p0 = offs.find((o) => o.partition === 0);
      if (!p0) throw new Error(`command topic ${topic} has no partition 0`);
      return Number(p0.high);
    });
  }

  function follow(from: number, f: CommandFollower): void {
    if (reader) throw new Error('the command topic is followed already');
    reader = createNativeReader({
      clientId: `streamsql-${opts.instanceId}-commands`,
      readCommitted: true,
      headers: false,
      maxWaitMs: opts.maxWaitMs ?? 200,
      metadata: () => withAdmin((a) => metadataOf(a, [topic])),
      onMessages: async (m: FetchedMessages, next: number) => {
        if (!('offsets' in m) && !isPacked(m)) throw new Error('command topic: unexpected pre-decoded fetch');
        const raw = isPacked(m) ? unpack(m) : (m as Exclude<FetchedMessages, { decoded: unknown }>);
        if (!('values' in raw)) throw new Error('command topic: unexpected fetch shape');
        const records: CommandTopicRecord[] = [];
        raw.values.forEach((v, i) => {
          if (v === null) return; // a tombstone has no command
          const k = raw.keys?.[i];
          records.push({ offset: Number(raw.offsets[i]), key: k ? Buffer.from(k).toString('utf8') : null, value: Buffer.from(v) });
        });
        if (records.length > 0) await f.onRecords(records);
        f.onPosition(next);
      },
      onSkip: (_t, _p, next) => f.onPosition(next),
      outOfRange: async (_t, _p, offset) => {
        const e = new Error(`command topic ${topic} no longer has offset ${offset}: commands were deleted (retention must be -1); this instance cannot rebuild the catalog`);
        e.name = 'DataLossError';
        throw e;
      },
      onState: (state, error) => { if (state === 'recovering') opts.log?.('warn', `command topic ${topic}: reading is recovering: ${error ?? ''}`); },
      onFatal: (e) => f.onError(e),
    });
    reader.start([{ topic, partition: 0, offset: from }]);
  }

  async function appendExclusive(prepare: (end: number) => Promise<{ key: string; value: Buffer } | null>): Promise<number | null> {
    if (closed) throw new Error('command topic closed');
    const producer = kafka.producer({
      transactionalId: topic, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 60_000,
      // Few retries inside kafkajs: fencing and settling transactions are retried by the command log, with jitter.
      retry: { initialRetryTime: 100, retries: 3, maxRetryTime: 1000 },
    });
    let committing = false;
    try {
      await producer.connect();
      const txn = await producer.transaction(); // InitProducerId: fences the other instances' producers
      try {
        const end = await endOffset();
        let rec: { key: string; value: Buffer } | null;
        try {
          rec = await prepare(end);
        } catch (e) {
          throw new PrepareError(e); // the caller's verdict (a rejection), not Kafka's: passed on as is
        }
        if (rec === null) { await txn.abort(); return null; }
        const [meta] = await txn.send({ topic, acks: -1, messages: [{ key: rec.key, value: rec.value, partition: 0 }] });
        committing = true;
        await txn.commit();
        return Number(meta!.baseOffset);
      } catch (e) {
        if (!committing) await txn.abort().catch(() => undefined);
        throw e;
      }
    } catch (e) {
      if (e instanceof PrepareError) throw e.inner;
      if (e instanceof CommandAppendError) throw e;
      // Nothing was committed before the commit request: any failure up to there is safe to retry
      // (a coordinator still loading on a fresh broker, a connection lost, kafkajs' retries used up).
      throw classify(e, committing) ?? new CommandAppendError('retriable', (e as Error)?.message ?? String(e), e);
    } finally {
      await producer.disconnect().catch(() => undefined);
    }
  }

  async function close(): Promise<void> {
    closed = true;
    const r = reader;
    reader = null;
    await r?.stop().catch(() => undefined);
    const a = admin;
    admin = null;
    await a?.disconnect().catch(() => undefined);
  }

  return { topic, ensure, describe, endOffset, follow, appendExclusive, close };
}
