/**
 * A continuous query's side outputs: dead letters (malformed messages as produced) and late rows,
 * sent through one side producer. They are sent inside the batch's handling, before the source moves
 * past the batch, so a checkpoint never covers a dead letter or late row not yet produced. A stop
 * aborts a send stuck in retries (`abort`, then `SideOutputAborted` reaches the runner, which marks
 * the batch torn: no checkpoint after it).
 */
import type { RecordBatch } from 'apache-arrow';
import type { Decoded } from '../connectors/formats/decode.ts';
import { malformedMessages, type FetchedMessages } from '../connectors/formats/packed.ts';
import type { Log } from '../connectors/kafka/client.ts';
import { createSideProducer, SIDE_ATTEMPTS, SideOutputAborted, type SideMessage } from '../connectors/kafka/sink.ts';
import { formatTimestamp } from '../executor/expr/calendar.ts';
import type { LateRows } from '../executor/operator.ts';
import { batchRows, rowObject } from '../executor/rows.ts';
import type { SourceDef } from '../planner/catalog.ts';

export interface SideOutputsConfig {
  readonly brokers: readonly string[];
  readonly id: string;
  /** The query's name, in log lines and late-row records. */
  readonly name: string;
  readonly log: Log;
  readonly properties?: SourceDef['options']['properties'];
  /** Where late rows go (null: counted only). */
  readonly lateTopic: string | null;
}

export interface SideOutputs {
  /** Dead letters and truncations so far (restored from a checkpoint's counters). */
  readonly counters: { deadLettered: number; sideTruncated: number };
  /** The retry a send is in, for the status (`recovering` meanwhile); null when none. */
  readonly error: string | null;
  /** Sends a fetch's malformed messages to the source's dead-letter topic (held until sent). */
  deadLetter(def: SourceDef, fetched: FetchedMessages, d: Decoded): Promise<void>;
  /** The driver's late-row hook: collects the rows for {@link flushLate}. */
  onLate(l: LateRows): void;
  /** Sends the late rows collected during the batch just pushed. */
  flushLate(): Promise<void>;
  /** Forgets collected late rows (a torn batch). */
  dropLate(): void;
  /** Aborts the sends in flight (stop). */
  abort(): void;
  /** A new start: sends may run again. */
  reset(): void;
  close(): Promise<void>;
}

/** Header values on each dead letter: where the message came from and why it was refused. */
const deadLetterHeaders = (topic: string, partition: number, offset: number, error: string): Record<string, string> => ({
  'streamsql-source-topic': topic, 'streamsql-source-partition': String(partition), 'streamsql-source-offset': String(offset), 'streamsql-error': error.slice(0, 500),
});

export function createSideOutputs(cfg: SideOutputsConfig): SideOutputs {
  const side = createSideProducer([...cfg.brokers], `streamsql-side-${cfg.id}`, cfg.log, cfg.properties);
  const counters = { deadLettered: 0, sideTruncated: 0 };
  let abort = new AbortController();
  let sideError: string | null = null;
  let lateOut: SideMessage[] = [];

  /**
   * Sends side-output records: split by the topic's size limit, oversized ones cut and marked,
   * retriable errors retried with backoff {@link SIDE_ATTEMPTS} times (status `recovering`
   * meanwhile). A permanent failure throws (the query fails with it in its status); a stop throws
   * {@link SideOutputAborted}.
   */
  async function send(what: string, topic: string, msgs: readonly SideMessage[]): Promise<void> {
    try {
      const r = await side.deliver(topic, msgs, {
        signal: abort.signal,
        onRetry: (e, attempt, delay) => {
          sideError = `cannot send ${what} to topic ${topic} (attempt ${attempt} of ${SIDE_ATTEMPTS}, next in ${delay} ms): ${e.message}`;
          cfg.log('warn', `query ${cfg.name}: ${sideError}`);
        },
      });
      if (r.truncated) {
        counters.sideTruncated += r.truncated;
        cfg.log('warn', `query ${cfg.name}: ${r.truncated} ${what} larger than topic ${topic}'s max.message.bytes were cut to fit (header streamsql-truncated)`);
      }
    } catch (e) {
      if (e instanceof SideOutputAborted) throw e;
      throw new Error(`cannot send ${what} to topic ${topic}: ${(e as Error).message}`);
    } finally { sideError = null; }
  }

  return {
    counters,
    get error() { return sideError; },
    async deadLetter(def, fetched, d) {
      // The message as produced (key bytes kept), with headers naming its origin and the error.
      const msgs: SideMessage[] = malformedMessages(fetched, d).map((m, i) => ({
        key: m.key ? Buffer.from(m.key) : null,
        value: m.value ? Buffer.from(m.value) : Buffer.alloc(0),
        timestamp: m.timestamp,
        headers: deadLetterHeaders(fetched.topic, fetched.partition, d.malformed[i]!.offset, d.malformed[i]!.error),
      }));
      // The broker may be away: the batch is held (backpressure) while the send retries.
      await send('dead letters', def.options.deadLetterTopic!, msgs);
      counters.deadLettered += d.malformed.length;
    },
    onLate(l) {
      const topic = cfg.lateTopic;
      if (!topic) return;
      const rows = batchRows(l.batch as RecordBatch, l.schema);
      // Sent by the batch's handler once the graph has taken the batch (flushLate).
      for (const i of l.rows) {
        lateOut.push({
          key: null,
          value: JSON.stringify({ row: rowObject(l.schema, rows[i]!), reason: l.reason, watermark: formatTimestamp(l.watermark), query: cfg.name }),
        });
      }
    },
    async flushLate() {
      const topic = cfg.lateTopic;
      if (!topic || !lateOut.length) { lateOut = []; return; }
      const msgs = lateOut; lateOut = [];
      await send('late rows', topic, msgs);
    },
    dropLate() { lateOut = []; },
    abort() { abort.abort(); },
    reset() { abort = new AbortController(); },
    close: () => side.close(),
  };
}
