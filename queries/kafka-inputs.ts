/**
 * The Kafka side of a continuous query's source inputs: one source reader per input, its consumer
 * group and brokers, and where each partition stood when the current epoch began. Input 0 keeps the
 * query's group name (its committed offsets and the sink's epoch tag live there); input i > 0 commits
 * to `<group>-in<i>`, so one topic read twice keeps two sets of offsets. Sources are used only through
 * the SourceReader interface (connectors/source.ts).
 */
import type { Log } from '../connectors/kafka/client.ts';
import { createKafkaSource, type TopicPartition } from '../connectors/kafka/source.ts';
import type { ConnectorStatus, PartitionLag, SourcePosition, SourceReader } from '../connectors/source.ts';
import type { SourceDef } from '../planner/catalog.ts';
import type { DriverInput } from './driver.ts';

export interface KafkaInput {
  readonly index: number;
  readonly def: SourceDef;
  readonly groupId: string;
  readonly source: SourceReader;
  /** Offset each partition had when the current epoch began. */
  epochStart: Map<string, number>;
}

export type TaggedPosition = SourcePosition & { readonly input: number };

/** The tracker's and the epoch map's name of a partition. */
export const partKey = (t: string, p: number): string => `${t}:${p}`;

/** The positions of one input (an absent `input` is input 0). */
export const ofInput = <T extends { input?: number }>(ps: readonly T[], i: number): T[] => ps.filter((p) => (p.input ?? 0) === i);

export const brokersOf = (d: SourceDef, service: readonly string[]): string[] => (d.options.bootstrapServers ? d.options.bootstrapServers.split(',') : [...service]);

export interface KafkaInputs {
  readonly list: readonly KafkaInput[];
  /** The input whose group holds the sink's epoch tag: the first Kafka input. */
  readonly first: KafkaInput | undefined;
  byIndex(index: number): KafkaInput | undefined;
  /** Every input's read positions (input 0 first), each tagged with its input. */
  positions(): TaggedPosition[];
  /** Sets each input's epoch start from the positions an epoch ended at. */
  startEpochAt(positions: readonly (SourcePosition & { input?: number })[]): void;
  dataLoss(): { events: number; offsets: number };
  /** The sources' status as one: the first input not running speaks for all. */
  status(): ConnectorStatus;
  /** Positions and end offsets of every input (NaN ends when a source does not answer within 2 s). */
  lag(): Promise<(PartitionLag & { input: number })[]>;
  stopAll(): Promise<void>;
}

/**
 * `partitions`: the partitions each input reads (a scale-out task's share, queries/cluster/task-runner.ts);
 * absent or null: all of them, as the runner reads.
 */
export function createKafkaInputs(inputs: readonly DriverInput[], cfg: { brokers: readonly string[]; groupId: string; name: string; log: Log; partitions?: (input: DriverInput) => readonly TopicPartition[] | null }): KafkaInputs {
  const list: KafkaInput[] = inputs.filter((i) => i.def !== null).map((i) => {
    const d = i.def!;
    const gid = i.index === 0 ? cfg.groupId : `${cfg.groupId}-in${i.index}`;
    return {
      index: i.index, def: d, groupId: gid,
      // The native reader hands packed messages (pointers into the fetch response); the scanner reads them in place.
      source: createKafkaSource({
        brokers: brokersOf(d, cfg.brokers), def: d, groupId: gid, log: cfg.log, columns: i.columns,
        ...(cfg.partitions ? { partitions: cfg.partitions(i) } : {}),
        onDataLoss: (p, earliest) => { cfg.log('warn', `query ${cfg.name}: offsets ${p.offset}..${earliest - 1} of ${p.topic}[${p.partition}] are gone; skipping ahead`); },
      }),
      epochStart: new Map(),
    };
  });
  const byIndex = new Map(list.map((i) => [i.index, i]));
  const first = list[0];
  return {
    list, first,
    byIndex: (index) => byIndex.get(index),
    positions: () => list.flatMap((i) => i.source.positions().map((p) => ({ ...p, input: i.index }))),
    startEpochAt(positions) {
      for (const i of list) i.epochStart = new Map(ofInput(positions, i.index).map((p) => [partKey(p.topic, p.partition), p.offset]));
    },
    dataLoss: () => list.reduce((a, i) => { const l = i.source.dataLoss(); return { events: a.events + l.events, offsets: a.offsets + l.offsets }; }, { events: 0, offsets: 0 }),
    status: () => list.map((i) => i.source.status()).find((x) => x.state !== 'running') ?? first?.source.status() ?? { state: 'running', lastError: null, retries: 0 },
    async lag() {
      const lagOf = async (i: KafkaInput): Promise<(PartitionLag & { input: number })[]> => {
        let l: PartitionLag[];
        try { l = await Promise.race([i.source.lag(), new Promise<PartitionLag[]>((_, rej) => setTimeout(() => rej(new Error('timeout')), 2000))]); } catch {
          l = i.source.positions().map((p) => ({ ...p, endOffset: NaN, lag: NaN }));
        }
        return l.map((p) => ({ ...p, input: i.index }));
      };
      return (await Promise.all(list.map(lagOf))).flat();
    },
    stopAll: async () => { await Promise.all(list.map((i) => i.source.stop())); },
  };
}
