/**
 * queries/cluster/command-log.ts over connectors/kafka/command-topic.ts on the real broker: instances
 * appending at the same time apply one sequence in one order, a late instance replays it, and of two
 * conflicting CREATEs exactly one wins.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { produce } from '../../connectors/kafka/admin.ts';
import { commandTopicName, openCommandTopic } from '../../connectors/kafka/command-topic.ts';
import { CommandLog, CommandRejectedError, type AppliedCommand, type CommandState } from '../../queries/cluster/command-log.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';

/** A stand-in catalog: names of sources and views, CREATE and DROP (the engine's catalog plugs in the same way). */
class NameCatalog implements CommandState {
  readonly names = new Map<string, string>();
  readonly order: string[] = [];
  check(statement: string): string | null {
    const m = /^(CREATE|DROP)\s+(SOURCE|VIEW|MATERIALIZED VIEW|SINK)\s+(\w+)/i.exec(statement);
    if (!m) return `not a DDL statement: ${statement.slice(0, 40)}`;
    const exists = this.names.has(m[3]!.toLowerCase());
    if (m[1]!.toUpperCase() === 'CREATE' && exists) return `${m[3]} already exists`;
    if (m[1]!.toUpperCase() === 'DROP' && !exists) return `${m[3]} does not exist`;
    return null;
  }
  apply(statement: string, cmd: AppliedCommand): void {
    const m = /^(CREATE|DROP)\s+(?:SOURCE|VIEW|MATERIALIZED VIEW|SINK)\s+(\w+)/i.exec(statement)!;
    if (m[1]!.toUpperCase() === 'CREATE') this.names.set(m[2]!.toLowerCase(), statement);
    else this.names.delete(m[2]!.toLowerCase());
    this.order.push(`${cmd.offset}:${statement}`);
  }
}

const open: CommandLog[] = [];
afterEach(async () => { await Promise.all(open.splice(0).map((l) => l.close())); });

async function instance(clusterId: string, name: string): Promise<{ log: CommandLog; catalog: NameCatalog }> {
  const topic = openCommandTopic({ brokers: brokerList(), clusterId, instanceId: name });
  await topic.ensure();
  const catalog = new NameCatalog();
  const log = new CommandLog(topic, catalog, { instanceId: name });
  open.push(log);
  await log.start();
  return { log, catalog };
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const view = (c: CommandLog) => c.commands().map((x) => `${x.offset}:${x.origin}:${x.statement}`);

describe('command log on the real broker', () => {
  it('creates the topic with one partition and infinite retention', async () => {
    const clusterId = uniqueTopic('cfg');
    const topic = openCommandTopic({ brokers: brokerList(), clusterId, instanceId: 'a' });
    try {
      await topic.ensure();
      await topic.ensure(); // idempotent
      expect(topic.topic).toBe(commandTopicName(clusterId));
      const d = await topic.describe();
      expect(d.partitions).toBe(1);
      expect(d.configs).toMatchObject({ 'retention.ms': '-1', 'retention.bytes': '-1', 'cleanup.policy': 'delete' });
    } finally {
      await topic.close();
    }
    expect(() => commandTopicName('bad id/with slash')).toThrow(/CLUSTER_ID/);
  });

  it('two instances appending concurrently apply one sequence; a third replays it; of two equal CREATEs one wins', async () => {
    const clusterId = uniqueTopic('cmd');
    const [a, b] = await Promise.all([instance(clusterId, 'inst-a'), instance(clusterId, 'inst-b')]);
    const N = 6;
    const t0 = Date.now();
    const results = await Promise.allSettled([
      (async () => { for (let i = 0; i < N; i++) await a.log.propose(`CREATE SOURCE a${i} (x INT) WITH ('topic' = 'ta${i}')`); })(),
      (async () => { for (let i = 0; i < N; i++) await b.log.propose(`CREATE VIEW b${i} AS SELECT 1`); })(),
    ]);
    const ms = Date.now() - t0;
    expect(results.map((r) => (r.status === 'rejected' ? String((r.reason as Error)?.stack ?? r.reason) : 'ok'))).toEqual(['ok', 'ok']);
    await waitFor(() => a.log.commands().length === 2 * N && b.log.commands().length === 2 * N, 30_000, 'both applied all');
    expect(view(b.log)).toEqual(view(a.log));
    expect(b.catalog.order).toEqual(a.catalog.order);
    const offsets = a.log.commands().map((c) => c.offset);
    expect(offsets).toEqual([...offsets].sort((x, y) => x - y));
    // Every command was validated against everything before it: planned at or after the previous command.
    a.log.commands().forEach((c, i) => { if (i > 0) expect(c.plannedAt).toBeGreaterThan(a.log.commands()[i - 1]!.offset); });
    console.log(`${2 * N} proposals from 2 instances in ${ms} ms; fenced retries: ${a.log.fencedRetries + b.log.fencedRetries}`);

    // Conflict: both propose the same name at the same moment; exactly one is appended.
    const dup = await Promise.allSettled([a.log.propose('CREATE VIEW dup AS SELECT 1'), b.log.propose('CREATE VIEW dup AS SELECT 2')]);
    const won = dup.filter((r) => r.status === 'fulfilled');
    const lost = dup.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(CommandRejectedError);
    expect((lost[0]!.reason as Error).message).toBe('dup already exists');
    // A DROP of something missing is refused the same way.
    await expect(a.log.propose('DROP VIEW nothing')).rejects.toThrow(/nothing does not exist/);
    const t1 = Date.now();
    await a.log.propose('DROP SOURCE a0');
    console.log(`one uncontended proposal, appended and applied: ${Date.now() - t1} ms`);
    await waitFor(() => b.log.commands().length === a.log.commands().length, 30_000, 'b caught up');

    // A third instance, started later, replays the whole log to the same state.
    const c = await instance(clusterId, 'inst-c');
    expect(view(c.log)).toEqual(view(a.log));
    expect([...c.catalog.names.keys()].sort()).toEqual([...a.catalog.names.keys()].sort());
    expect(c.catalog.names.has('a0')).toBe(false);
    expect(c.catalog.names.get('dup')).toBe(a.catalog.names.get('dup'));
    expect(a.log.commands().filter((x) => x.statement.startsWith('CREATE VIEW dup'))).toHaveLength(1);
    expect(a.log.skippedCommands()).toEqual([]);

    // And it takes part: its proposal reaches the others.
    await c.log.propose('CREATE SINK s1 AS SELECT 1');
    await waitFor(() => a.log.commands().at(-1)?.statement === 'CREATE SINK s1 AS SELECT 1' && b.log.commands().at(-1)?.statement === 'CREATE SINK s1 AS SELECT 1', 30_000, 'sink applied everywhere');
    expect(view(a.log)).toEqual(view(c.log));

    // Records written around the fence (an old version, a tool): every instance gives the same verdict.
    const first = a.log.commands()[0]!;
    const stale = { v: 1, id: 'stale-1', origin: 'tool', plannedAt: 0, statement: 'CREATE VIEW dup AS SELECT 3' };
    const fresh = { v: 1, id: 'fresh-1', origin: 'tool', plannedAt: 0, statement: 'CREATE VIEW late AS SELECT 4' };
    await produce(brokerList(), commandTopicName(clusterId), [
      { key: 'x', value: '{not json' }, { key: first.id, value: JSON.stringify(first) }, { key: 'stale-1', value: JSON.stringify(stale) }, { key: 'fresh-1', value: JSON.stringify(fresh) },
    ].map((m) => ({ ...m, partition: 0 })));
    await waitFor(() => [a, b, c].every((x) => x.log.commands().at(-1)?.id === 'fresh-1'), 30_000, 'the written records handled');
    const reasons = a.log.skippedCommands().map((x) => x.reason);
    expect(reasons).toHaveLength(3);
    expect(reasons[0]).toMatch(/^malformed command/);
    expect(reasons.slice(1)).toEqual(['repeated command id', 'dup already exists']);
    expect(b.log.skippedCommands()).toEqual(a.log.skippedCommands());
    expect(c.log.skippedCommands()).toEqual(a.log.skippedCommands());
    expect(view(b.log)).toEqual(view(a.log));
    expect(view(c.log)).toEqual(view(a.log));
  });
});
