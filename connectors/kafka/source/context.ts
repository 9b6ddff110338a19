/**
 * What the parts of one Kafka source share: its configuration, the kafkajs client (made at first
 * use), the admin client (dropped after a broker failure so the next call reconnects), the status
 * the query shows, the positions, the data-loss ledger and the rate limiter. The reader paths,
 * startup, discovery and the composition in ../source.ts all act on one of these per source.
 */
import type { Admin, Kafka } from 'kafkajs';
import type { KafkaSourceOptions, SourceDef } from '../../../planner/catalog.ts';
import type { FetchedMessages } from '../../formats/packed.ts';
import type { ConnectorStatus, PartitionLag, SourcePosition } from '../../source.ts';
import { createKafka, type Log } from '../client.ts';
import { securityFor, type KafkaSecurity } from '../security.ts';
import { createLossLedger, type LossLedger } from './data-loss.ts';
import { partitionFilter, Positions, type PartitionChoice, type TopicPartition } from './partitions.ts';
import { createRateLimiter, type RateLimiter } from './rate-limit.ts';

export interface KafkaSourceConfig {
  readonly brokers: readonly string[];
  readonly def: SourceDef;
  /** The consumer group: named after the query, so lag tools show its progress. */
  readonly groupId: string;
  readonly log?: Log;
  /** Source columns the query reads (sourceColumnsUsed); read workers decode only these. Null: all. */
  readonly columns?: readonly boolean[] | null;
  /** Called when offsets a checkpoint wants are gone (retention) and failOnDataLoss is false. */
  readonly onDataLoss?: (p: SourcePosition, earliest: number) => void;
  /**
   * The partitions of the source's topics to read (see partitions.ts); unset or null: all of them,
   * and those discovery finds later. A scale-out task will be given its share here.
   */
  readonly partitions?: readonly TopicPartition[] | null;
}

export interface SourceContext {
  readonly cfg: KafkaSourceConfig;
  readonly opts: KafkaSourceOptions;
  /** This incarnation's fetch group for the kafkajs consumer (see ../source.ts). */
  readonly readerGroup: string;
  client(): Kafka;
  /** The resolved security settings; resolves them (and may throw) when the client was not made yet. */
  security(): KafkaSecurity;
  clientId(): string;
  admin(): Promise<Admin>;
  /** The admin client if one is connected (no connection made). */
  openAdmin(): Admin | null;
  /** Disconnects and forgets the admin client: after a broker failure the next call needs a fresh one. */
  dropAdmin(): Promise<void>;
  readonly status: { state: ConnectorStatus['state']; lastError: string | null; retries: number };
  readonly positions: Positions;
  readonly loss: LossLedger;
  readonly limiter: RateLimiter;
  /** The topics read (the source's list, or those matching its pattern when last looked). */
  topics: string[];
  /** Which partitions of `topics` are read (see partitions.ts). */
  partitions: PartitionChoice;
  reads(topic: string, partition: number): boolean;
  /** The runner's handler (wrapped for schema loading); null before start. */
  handler: ((m: FetchedMessages) => Promise<void>) | null;
  onFatal?: (e: Error) => Promise<void> | void;
  onPartitions?: (parts: readonly PartitionLag[]) => void;
  stopped: boolean;
}

export function createSourceContext(cfg: KafkaSourceConfig): SourceContext {
  const opts = cfg.def.options;
  // Made at first use: a security setting that cannot be resolved (an unset ${VAR}, a missing CA file)
  // then shows in the status and is retried like an unreachable broker, instead of failing creation.
  let kafkaClient: Kafka | null = null;
  let security: KafkaSecurity | null = null;
  let admin: Admin | null = null;
  let reads = partitionFilter(cfg.partitions ?? null);
  let partitions: PartitionChoice = cfg.partitions ?? null;
  const ctx: SourceContext = {
    cfg, opts,
    readerGroup: `${cfg.groupId}.reader-${process.pid}-${Date.now().toString(36)}`,
    client() {
      if (!kafkaClient) {
        security = securityFor(opts.properties);
        kafkaClient = createKafka(cfg.brokers, security.clientId ?? `streamsql-${cfg.groupId}`, cfg.log, {}, security);
      }
      return kafkaClient;
    },
    security: () => security ?? securityFor(opts.properties),
    clientId: () => security?.clientId ?? `streamsql-${cfg.groupId}`,
    async admin() {
      if (!admin) { admin = ctx.client().admin(); await admin.connect(); }
      return admin;
    },
    openAdmin: () => admin,
    async dropAdmin() { await admin?.disconnect().catch(() => undefined); admin = null; },
    status: { state: 'starting', lastError: null, retries: 0 },
    positions: new Positions(),
    loss: createLossLedger(cfg.onDataLoss),
    limiter: createRateLimiter(opts.maxRate, () => ctx.stopped),
    topics: [],
    get partitions() { return partitions; },
    set partitions(p: PartitionChoice) { partitions = p; reads = partitionFilter(p); },
    reads: (topic, partition) => reads(topic, partition),
    handler: null,
    stopped: false,
  };
  return ctx;
}
