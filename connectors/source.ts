/**
 * The connector interfaces the query runner works with. Kafka implements them under connectors/kafka;
 * the runner never sees a Kafka client.
 */
import type { FetchedMessages } from './formats/packed.ts';

/** The next offset to read in one topic partition. */
export interface SourcePosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

export interface PartitionLag extends SourcePosition {
  readonly endOffset: number;
  readonly lag: number;
}

export type ConnectorState = 'starting' | 'running' | 'recovering' | 'stopped' | 'failed';

export interface ConnectorStatus {
  readonly state: ConnectorState;
  readonly lastError: string | null;
  readonly retries: number;
  /** How it reads, e.g. 'native, 2 read workers (auto)'. */
  readonly reader?: string;
}

export interface SourceHooks {
  /** Called once the start positions are known, before the first batch: where each partition starts and ends. */
  onPartitions?(partitions: readonly PartitionLag[]): void;
  /** Called when reading cannot go on (offsets lost with failOnDataLoss); the source has stopped fetching. */
  onFatal?(e: Error): Promise<void> | void;
}

export interface SourceReader {
  /**
   * Starts reading at `from` (positions restored from a checkpoint; partitions not listed start per
   * the source's startup mode). `handle` is awaited before the next fetch, which is the backpressure.
   */
  start(from: readonly SourcePosition[], handle: (msgs: FetchedMessages) => Promise<void>, hooks?: SourceHooks): Promise<void>;
  stop(): Promise<void>;
  /** Positions after the last handled batch. */
  positions(): SourcePosition[];
  /** Positions and end offsets, for progress and lag. */
  lag(): Promise<PartitionLag[]>;
  /** Records progress in the query's consumer group (tagged with the checkpoint epoch), so Kafka's lag tools see it. */
  commit(positions: readonly SourcePosition[], epoch?: number): Promise<void>;
  status(): ConnectorStatus;
  /** Offsets skipped because they were gone from the broker (failOnDataLoss = false). */
  dataLoss(): { readonly events: number; readonly offsets: number };
}

export interface SinkRecord {
  readonly key: string | null;
  /** A Buffer for binary formats (Avro). */
  readonly value: string | Buffer | null;
}

export interface SinkWriter {
  /** Buffers records of the current epoch. */
  write(records: readonly SinkRecord[]): void;
  /**
   * Makes the epoch's records durable. With exactly-once, the records and the source positions are
   * committed in one Kafka transaction; `positions` go to the query's consumer group inside it,
   * tagged with the epoch (offset metadata), which is how a restart learns the transaction committed.
   *
   * The records buffered at the first call for an epoch belong to it; if the call fails, a retry for
   * the same epoch commits exactly those records (later writes wait for the next epoch), and first
   * checks whether the failed attempt committed after all, so nothing is written twice.
   */
  commitEpoch(epoch: number, positions: readonly SourcePosition[]): Promise<void>;
  /**
   * The epoch of the last committed transaction as recorded in the query's consumer group (offset
   * metadata for `topics`), or null when none is recorded. Exactly-once sinks only.
   */
  committedEpoch?(topics: readonly string[]): Promise<number | null>;
  /** Connects now (a restarted transactional producer fences the previous incarnation and aborts its open transaction). */
  connect?(): Promise<void>;
  /** Drops the records of an epoch that will not be committed (restore after failure). */
  abortEpoch(): Promise<void>;
  close(): Promise<void>;
  readonly exactlyOnce: boolean;
  /**
   * Whether commitEpoch commits `positions` to the group in its transaction (default: `exactlyOnce`).
   * False for an exactly-once sink on another cluster than its sources (kafka/sink.ts
   * `positionsElsewhere`): the caller commits them to the sources' group after the epoch.
   */
  readonly positionsInTransaction?: boolean;
}
