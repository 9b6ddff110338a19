/**
 * Kafka sink. Exactly-once: one transaction per epoch carries the epoch's records and the source
 * offsets (sent to the query's consumer group inside it), so a read_committed consumer sees every
 * result once across crashes. At-least-once: records are sent and flushed at the epoch's end.
 */
import type { Kafka, Producer } from 'kafkajs';
import type { SinkRecord, SinkWriter, SourcePosition } from '../source.ts';
import { DEFAULT_MAX_MESSAGE_BYTES, topicMaxMessageBytes } from './admin.ts';
import { fillSchemaIds } from '../formats/registry.ts';
import { createKafka, inTransaction, type Log } from './client.ts';
import { securityFor } from './security.ts';
import { javaSinkPartitioner } from './partitioner.ts';

export interface KafkaSinkConfig {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly exactlyOnce: boolean;
  /** Stable per query, so a restarted query fences its previous incarnation's producer. */
  readonly transactionalId: string;
  readonly groupId: string;
  readonly log?: Log;
  /** The sink's own Kafka client properties (`properties.*`: security) over the service's. */
  readonly properties?: Readonly<Record<string, string>>;
  /** 'sink.partitioner': 'fixed' → partition 0, 'round-robin' → spread; default: by key. */
  readonly partitioner?: 'fixed' | 'round-robin';
  /**
   * Records for other topics written inside the epoch's transaction (exactly-once only): a scale-out
   * task's state snapshot (queries/cluster/task-state.ts), atomic with its output. Asked at every
   * attempt of an epoch; must give the same records for the same epoch.
   */
  readonly extraRecords?: (epoch: number) => readonly { topic: string; messages: { key: string | Buffer | null; value: Buffer; partition: number }[] }[];
  /**
   * The positions given to commitEpoch are of another Kafka cluster than this sink's (its sources read
   * one cluster, it writes another). They cannot go into this cluster's group inside the transaction
   * (TxnOffsetCommit answers UNKNOWN_TOPIC_OR_PARTITION for a topic the cluster does not have), so the
   * epoch tag goes on the sink's own topic (partition 0) in the group, still atomic with the records,
   * and the caller commits the positions to the sources' cluster itself (`positionsInTransaction` false).
   */
  readonly positionsElsewhere?: boolean;
}

/** Offset metadata written with the epoch's offsets inside its transaction. */
export const epochMetadata = (epoch: number) => `streamsql-epoch:${epoch}`;
const parseEpoch = (m: string | null | undefined): number | null => {
  const x = /^streamsql-epoch:(\d+)$/.exec(m ?? '');
  return x ? Number(x[1]) : null;
};

export function createKafkaSink(cfg: KafkaSinkConfig): SinkWriter {
  // Made at first use, so an unusable security setting is a failed (retried) epoch, not a failed creation.
  let kafkaClient: Kafka | null = null;
  const client = (): Kafka => {
    if (!kafkaClient) {
      const sec = securityFor(cfg.properties);
      kafkaClient = createKafka(cfg.brokers, sec.clientId ?? `streamsql-sink-${cfg.transactionalId}`, cfg.log, {}, sec);
    }
    return kafkaClient;
  };
  // 'round-robin': every record to the next partition, keyed or not (the default hashes keys).
  let rr = 0;
  // Default: by key, where Java's client puts a key (partitioner.ts, without kafkajs' per-record Long arithmetic).
  const partitioner = cfg.partitioner === 'round-robin' ? { createPartitioner: () => ({ partitionMetadata }: { partitionMetadata: unknown[] }) => rr++ % partitionMetadata.length } : { createPartitioner: javaSinkPartitioner };
  let producer: Producer | null = null;
  let buffered: SinkRecord[] = [];
  let ensured = false;
  /** The epoch being committed: its records are frozen at the first attempt. */
  let pending: { epoch: number; records: SinkRecord[]; uncertain: boolean } | null = null;

  const connect = async (): Promise<Producer> => {
    if (producer) return producer;
    if (!ensured) {
      const admin = client().admin();
      await admin.connect();
      try {
        if (!(await admin.listTopics()).includes(cfg.topic)) await admin.createTopics({ topics: [{ topic: cfg.topic, numPartitions: 1 }], waitForLeaders: true }).catch(() => undefined);
      } finally { await admin.disconnect().catch(() => undefined); }
      ensured = true;
    }
    // Same transactionalId as the previous incarnation: initProducerId bumps the producer epoch,
    // which fences the old producer and aborts its open transaction.
    const kafka = client();
    const p = cfg.exactlyOnce
      ? kafka.producer({ transactionalId: cfg.transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 60_000, ...partitioner })
      : kafka.producer({ idempotent: true, maxInFlightRequests: 1, ...partitioner });
    try {
      await p.connect();
      // kafkajs sends the transactional InitProducerId at the first transaction, not at connect:
      // begin (and drop) an empty one now, so the fencing happens here.
      if (cfg.exactlyOnce) await (await p.transaction()).abort();
    } catch (e) { await p.disconnect().catch(() => undefined); throw e; }
    producer = p;
    return p;
  };

  async function committedEpoch(topics: readonly string[]): Promise<number | null> {
    const admin = client().admin();
    await admin.connect();
    try {
      const res = await admin.fetchOffsets({ groupId: cfg.groupId, topics: cfg.positionsElsewhere ? [cfg.topic] : [...topics] });
      let best: number | null = null;
      for (const t of res) for (const part of t.partitions) {
        const e = parseEpoch((part as { metadata?: string | null }).metadata);
        if (e !== null && (best === null || e > best)) best = e;
      }
      return best;
    } finally { await admin.disconnect().catch(() => undefined); }
  }

  return {
    exactlyOnce: cfg.exactlyOnce,
    positionsInTransaction: cfg.exactlyOnce && !cfg.positionsElsewhere,
    write(records) { for (const r of records) buffered.push(r); },
    async connect() { await connect(); },
    committedEpoch,
    async commitEpoch(epoch, positions: readonly SourcePosition[]) {
      if (!pending || pending.epoch !== epoch) { pending = { epoch, records: buffered, uncertain: false }; buffered = []; }
      const cur = pending;
      const messages = cur.records.map((r) => (cfg.partitioner === 'fixed' ? { key: r.key, value: r.value, partition: 0 } : { key: r.key, value: r.value }));
      try {
        // 'avro-confluent': the schema registered (once) and its id written into the epoch's values; a registry that cannot answer fails the attempt, retried.
        await fillSchemaIds(cur.records);
        const p = await connect();
        if (cfg.exactlyOnce) {
          const byTopic = new Map<string, { partition: number; offset: string; metadata: string }[]>();
          // Sources on another cluster: the tag alone, on the sink's own topic (see positionsElsewhere).
          if (cfg.positionsElsewhere) byTopic.set(cfg.topic, [{ partition: 0, offset: '0', metadata: epochMetadata(epoch) }]);
          else for (const pos of positions) {
            const l = byTopic.get(pos.topic) ?? [];
            l.push({ partition: pos.partition, offset: String(pos.offset), metadata: epochMetadata(epoch) });
            byTopic.set(pos.topic, l);
          }
          // A failed attempt may have committed anyway (the answer to EndTxn was lost): the epoch tag
          // in the group's offsets tells. The new producer's initProducerId has completed or aborted it.
          if (cur.uncertain && byTopic.size && (await committedEpoch([...byTopic.keys()])) === epoch) {
            cfg.log?.('warn', `sink ${cfg.topic}: epoch ${epoch} had committed before its failure was reported; not sending it again`);
            pending = null;
            return;
          }
          try {
            await inTransaction(p, async (txn) => {
              if (messages.length) await txn.send({ topic: cfg.topic, messages });
              for (const x of cfg.extraRecords?.(epoch) ?? []) await txn.send({ topic: x.topic, messages: x.messages });
              if (byTopic.size) await txn.sendOffsets({ consumerGroupId: cfg.groupId, topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) });
            });
          } catch (e) {
            cur.uncertain = true;
            throw e;
          }
        } else if (messages.length) {
          await p.send({ topic: cfg.topic, messages, acks: -1 });
        }
        pending = null;
      } catch (e) {
        // A failed producer is rebuilt on the next attempt; the epoch's records stay pending.
        await producer?.disconnect().catch(() => undefined);
        producer = null;
        throw e;
      }
    },
    async abortEpoch() { buffered = []; pending = null; },
    async close() { await producer?.disconnect().catch(() => undefined); producer = null; },
  };
}

/** A record for a side output (dead letters, late rows, the demo). */
export interface SideMessage {
  readonly key: string | Buffer | null;
  readonly value: string | Buffer;
  readonly timestamp?: number;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface DeliverOptions {
  /** Aborts the delivery: an in-flight request is abandoned (its producer dropped), a backoff wait ends. */
  readonly signal?: AbortSignal;
  /** Attempts per request before giving up on a retriable error (default {@link SIDE_ATTEMPTS}). */
  readonly attempts?: number;
  /** Called before each backoff wait after a retriable failure. */
  readonly onRetry?: (e: Error, attempt: number, delayMs: number) => void;
}

export interface DeliverResult {
  /** Produce requests sent (the messages split by the topic's size limit). */
  readonly requests: number;
  /** Messages cut down to fit the limit (marked with the {@link TRUNCATED_HEADER} header). */
  readonly truncated: number;
}

/** Attempts per side-output request on retriable errors (each attempt is kafkajs' own 5 retries). */
export const SIDE_ATTEMPTS = 8;
/** Header on a side-output record whose value (or key) was cut to fit the topic's `max.message.bytes`: the original size in bytes. */
export const TRUNCATED_HEADER = 'streamsql-truncated';
export const TRUNCATED_KEY_HEADER = 'streamsql-truncated-key';

/** A side-output delivery that will not succeed: a permanent broker error, or retriable ones `attempts` times. */
export class SideOutputError extends Error {
  constructor(message: string, readonly permanent: boolean) { super(message); }
}

/** Thrown when a delivery is aborted through its signal. */
export class SideOutputAborted extends Error {
  constructor() { super('side output aborted: the query is stopping'); }
}

// Record batch v2 framing (KIP-98): 61 bytes of batch header, and per record at most 5+1+10+5+5+5+5
// bytes of length, attributes and varints besides key and value; each header adds two varints.
const BATCH_OVERHEAD = 61;
const RECORD_OVERHEAD = 40;
const HEADER_OVERHEAD = 10;

const byteLen = (x: string | Buffer | null): number => (x === null ? 0 : typeof x === 'string' ? Buffer.byteLength(x) : x.length);
const headersLen = (h: Readonly<Record<string, string>> | undefined): number => {
  let n = 0;
  if (h) for (const [k, v] of Object.entries(h)) n += HEADER_OVERHEAD + Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
};
/** An upper bound of a record's size inside an uncompressed record batch. */
export const recordBytes = (m: SideMessage): number => RECORD_OVERHEAD + byteLen(m.key) + byteLen(m.value) + headersLen(m.headers);

/**
 * What one request may carry for a topic whose limit is `maxMessageBytes`: the limit applies to a
 * partition's record batch; a request never holds more than that in all (conservative when the
 * topic has several partitions), with headroom for framing we do not count exactly.
 */
export const requestBudget = (maxMessageBytes: number): number => maxMessageBytes - BATCH_OVERHEAD - Math.max(512, Math.floor(maxMessageBytes / 32));

/**
 * A record cut to fit `budget`, deterministically: the key to at most a quarter of the budget, the
 * value to what is left; each cut is marked by a header holding the original size in bytes. The
 * record is never retried whole: it could not be delivered, ever.
 */
export function fitRecord(m: SideMessage, budget: number): SideMessage {
  if (recordBytes(m) <= budget) return m;
  const headers: Record<string, string> = { ...(m.headers ?? {}) };
  let key = m.key === null ? null : Buffer.isBuffer(m.key) ? m.key : Buffer.from(m.key);
  const value = Buffer.isBuffer(m.value) ? m.value : Buffer.from(m.value);
  const keyCap = Math.floor(budget / 4);
  if (key && key.length > keyCap) { headers[TRUNCATED_KEY_HEADER] = String(key.length); key = key.subarray(0, keyCap); }
  headers[TRUNCATED_HEADER] = String(value.length);
  const room = Math.max(0, budget - RECORD_OVERHEAD - (key?.length ?? 0) - headersLen(headers));
  return { key, value: value.subarray(0, Math.min(value.length, room)), timestamp: m.timestamp, headers };
}

/** Splits records into requests of at most `budget` bytes each, cutting any record larger than that alone. */
export function splitBySize(messages: readonly SideMessage[], budget: number): { chunks: SideMessage[][]; truncated: number } {
  const chunks: SideMessage[][] = [];
  let cur: SideMessage[] = []; let size = 0; let truncated = 0;
  for (const m0 of messages) {
    const m = fitRecord(m0, budget);
    if (m !== m0) truncated++;
    const n = recordBytes(m);
    if (cur.length && size + n > budget) { chunks.push(cur); cur = []; size = 0; }
    cur.push(m); size += n;
  }
  if (cur.length) chunks.push(cur);
  return { chunks, truncated };
}

/** The chain of a kafkajs error: retries exceeded wrap the last error as `cause`/`originalError`. */
function errorChain(e: unknown): { type?: string; retriable?: boolean; name?: string; message?: string }[] {
  const out: { type?: string; retriable?: boolean; name?: string; message?: string }[] = [];
  for (let x = e as { originalError?: unknown; cause?: unknown } | undefined, i = 0; x && i < 6; i++) {
    out.push(x as (typeof out)[number]);
    x = (x.originalError ?? x.cause) as typeof x;
  }
  return out;
}
/** MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE, typed, or as kafkajs' bail reports them (message only). */
const isTooLarge = (e: unknown): boolean => errorChain(e).some((x) => /^(MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE)$/.test(x.type ?? '')
  || /larger than the (max message size|configured segment size)/.test(x.message ?? ''));
/**
 * Broker errors that no retry cures: a protocol error kafkajs marks non-retriable (invalid topic or
 * timestamp, no authorization, invalid record), whether typed or as its retrier's bail
 * (KafkaJSNonRetriableError). Retries exceeded, connection errors and timeouts are retriable.
 */
const isPermanent = (e: unknown): boolean => {
  const chain = errorChain(e);
  if (chain.some((x) => x.type !== undefined && x.retriable === false)) return true;
  return chain[0]?.name === 'KafkaJSNonRetriableError';
};

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  if (signal?.aborted) { resolve(); return; }
  const t = setTimeout(() => { signal?.removeEventListener('abort', done); resolve(); }, ms);
  const done = () => { clearTimeout(t); resolve(); };
  signal?.addEventListener('abort', done, { once: true });
});

/**
 * A plain producer for side outputs (late rows, dead letters) and the demo generator. Requests are
 * split by the topic's `max.message.bytes` (asked of the broker once per topic): a batch of large
 * records never becomes one request the broker refuses. A record larger than the limit on its own
 * is cut to fit and marked ({@link fitRecord}). Retriable errors are retried with backoff a bounded
 * number of times; an abort signal ends a delivery at once, even one stuck in a request.
 */
export function createSideProducer(brokers: readonly string[], clientId: string, log?: Log, properties?: Readonly<Record<string, string>>) {
  const kafka = createKafka(brokers, clientId, log, {}, securityFor(properties));
  let producer: Producer | null = null;
  let closed = false;
  const limits = new Map<string, number>();

  const drop = async () => { const p = producer; producer = null; await p?.disconnect().catch(() => undefined); };

  async function prepare(topic: string, refresh: boolean): Promise<number> {
    if (!producer) {
      // Idempotent: kafkajs' own retries of a request whose answer was lost do not write it twice.
      const p = kafka.producer({ allowAutoTopicCreation: true, idempotent: true, maxInFlightRequests: 1 });
      try { await p.connect(); } catch (e) { await p.disconnect().catch(() => undefined); throw e; }
      // Closed meanwhile (an aborted delivery left this connect running): leave nothing open.
      if (closed) { await p.disconnect().catch(() => undefined); throw new SideOutputAborted(); }
      producer = p;
    }
    const known = limits.get(topic);
    if (known !== undefined && !refresh) return known;
    const admin = kafka.admin();
    await admin.connect();
    try {
      if (!(await admin.listTopics()).includes(topic)) await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }).catch(() => undefined);
      const limit = await topicMaxMessageBytes(admin, topic).catch(() => DEFAULT_MAX_MESSAGE_BYTES);
      limits.set(topic, limit);
      return limit;
    } finally { await admin.disconnect().catch(() => undefined); }
  }

  /** `p`, or a rejection as soon as `signal` aborts (the producer is dropped: its request is abandoned). */
  function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!signal) return p;
    p.catch(() => undefined);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => { void drop(); reject(new SideOutputAborted()); };
      if (signal.aborted) { onAbort(); return; }
      signal.addEventListener('abort', onAbort, { once: true });
      p.then((v) => { signal.removeEventListener('abort', onAbort); resolve(v); }, (e) => { signal.removeEventListener('abort', onAbort); reject(e); });
    });
  }

  async function deliver(topic: string, messages: readonly SideMessage[], opts: DeliverOptions = {}): Promise<DeliverResult> {
    closed = false;
    const attempts = opts.attempts ?? SIDE_ATTEMPTS;
    const { signal } = opts;
    let limit = -1;
    let rest: readonly SideMessage[] = messages;
    let chunks: SideMessage[][] | null = null;
    let truncated = 0; let requests = 0; let attempt = 0; let refreshed = false; let refresh = false;
    while (rest.length) {
      if (signal?.aborted) throw new SideOutputAborted();
      try {
        // The producer (rebuilt after a failure) and the topic's limit (cached; asked again once after MESSAGE_TOO_LARGE).
        limit = await abortable(prepare(topic, refresh), signal);
        refresh = false;
        if (chunks === null) {
          const s = splitBySize(rest, requestBudget(limit));
          chunks = s.chunks; truncated += s.truncated;
          // From here `rest` holds the fitted records: a later re-split does not count them again.
          rest = chunks.flat();
        }
        const chunk = chunks[0]!;
        await abortable(producer!.send({
          topic, acks: -1,
          messages: chunk.map((m) => ({ key: m.key, value: m.value, timestamp: m.timestamp === undefined ? undefined : String(m.timestamp), ...(m.headers ? { headers: { ...m.headers } } : {}) })),
        }), signal);
        chunks.shift(); rest = rest.slice(chunk.length); requests++; attempt = 0;
      } catch (e) {
        if (signal?.aborted || e instanceof SideOutputAborted) throw new SideOutputAborted();
        // Rebuilt on the next attempt (the broker may have been away).
        await drop();
        const err = e as Error;
        if (isTooLarge(e) && !refreshed) {
          // The topic's limit changed since we asked (or a broker limit is lower): ask again, re-split.
          refreshed = true; refresh = true; chunks = null;
          log?.('warn', `side output ${topic}: request refused as too large (limit was ${limit} bytes); asking the broker again`);
          continue;
        }
        if (isTooLarge(e) || isPermanent(e)) throw new SideOutputError(err.message, true);
        if (++attempt >= attempts) throw new SideOutputError(`gave up after ${attempts} attempts: ${err.message}`, false);
        const delay = Math.min(200 * 2 ** (attempt - 1), 5000);
        opts.onRetry?.(err, attempt, delay);
        await sleep(delay, signal);
      }
    }
    return { requests, truncated };
  }

  return {
    deliver,
    /** One attempt of {@link deliver} (tools, tests, the demo). */
    async send(topic: string, messages: readonly SideMessage[]): Promise<void> { await deliver(topic, messages, { attempts: 1 }); },
    async close() { closed = true; await drop(); },
  };
}
