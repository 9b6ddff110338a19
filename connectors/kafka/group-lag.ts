/**
 * Consumer-group lag as Kafka's own tools count it (`kafka-consumer-groups --describe`): for every
 * partition a group has committed, end offset (high watermark) minus committed offset. Used by
 * GET /v1/cluster (issue 17), where a query's lag must be the same whichever instance answers: the
 * committed offsets are in the broker, not in one instance's runner.
 *
 * A query commits to `<group>` for its first Kafka input and `<group>-in<i>` for the others
 * (queries/kafka-inputs.ts), so a lag is asked for a group and those suffixes together. A group with
 * no committed offset yet has lag null (unknown: nothing read, or nothing checkpointed yet).
 */
import { createKafka, type Log } from './client.ts';

/** Sum of (end − committed) over every partition committed by `group` or `group-in<i>`; null when none is committed. */
export async function consumerGroupLag(brokers: readonly string[], groups: readonly string[], log?: Log): Promise<Map<string, number | null>> {
  const out = new Map<string, number | null>(groups.map((g) => [g, null]));
  if (groups.length === 0) return out;
  const admin = createKafka(brokers, 'streamsql-lag', log).admin();
  await admin.connect();
  try {
    const all = (await admin.listGroups()).groups.map((g) => g.groupId);
    const ends = new Map<string, Map<number, number>>();
    const endsOf = async (topic: string) => {
      let e = ends.get(topic);
      if (!e) {
        e = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
        ends.set(topic, e);
      }
      return e;
    };
    for (const g of groups) {
      const members = all.filter((x) => x === g || (x.startsWith(`${g}-in`) && /^\d+$/.test(x.slice(g.length + 3))));
      let sum: number | null = null;
      for (const m of members) {
        for (const t of await admin.fetchOffsets({ groupId: m })) {
          const e = await endsOf(t.topic).catch(() => null);
          if (!e) continue;
          for (const p of t.partitions) {
            const committed = Number(p.offset);
            const end = e.get(p.partition);
            if (committed < 0 || end === undefined) continue;
            sum = (sum ?? 0) + Math.max(0, end - committed);
          }
        }
      }
      out.set(g, sum);
    }
    return out;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
