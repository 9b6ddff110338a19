/**
 * connectors/kafka/task-assignor.ts with queries/cluster/assignor.ts on the real broker: three
 * consumers in one group split the tasks (co-partitioned partitions together, balanced); when one
 * leaves, only its tasks move. With membership.ts's planner, a query some member does not know yet
 * (reported in its subscription) stays unassigned until that member knows it and the group rebalances.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTopic } from '../../connectors/kafka/admin.ts';
import { joinTaskGroup, type TaskGroupMember, type TaskPlanner } from '../../connectors/kafka/task-assignor.ts';
import { assignTasks, movedTasks, taskId, tasksOf, type PartitionGroup } from '../../queries/cluster/assignor.ts';
import { taskPlanner } from '../../queries/cluster/membership.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';

const members: TaskGroupMember[] = [];
afterEach(async () => { await Promise.all(members.splice(0).map((m) => m.stop().catch(() => undefined))); });

async function waitFor<T>(f: () => T | null, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('task group on the real broker', () => {
  it('three members share the tasks, co-partitioned inputs together; a leaver\'s tasks only move', async () => {
    const [x, l, r] = [uniqueTopic('tg-x'), uniqueTopic('tg-l'), uniqueTopic('tg-r')];
    await Promise.all([createTopic(brokerList(), x, 6), createTopic(brokerList(), l, 3), createTopic(brokerList(), r, 3)]);
    const groups: PartitionGroup[] = [{ id: 'agg', topics: [x] }, { id: 'join', topics: [l, r] }];
    const planner: TaskPlanner = { tasks: (partitionsOf) => tasksOf(groups, partitionsOf), assign: assignTasks };
    const groupOf = new Map(groups.flatMap((g) => g.topics.map((t) => [t, g.id] as const)));
    const allTasks = [...Array.from({ length: 6 }, (_, p) => taskId('agg', p)), ...Array.from({ length: 3 }, (_, p) => taskId('join', p))];

    /** Each member's tasks, if every partition is owned by exactly one member and every task's partitions by one. */
    const snapshot = (ms: readonly TaskGroupMember[]): Map<string, string[]> | null => {
      const out = new Map<string, string[]>();
      const ownerOfPart = new Map<string, number>();
      const ownerOfTask = new Map<string, number>();
      for (const [i, m] of ms.entries()) {
        if (m.assignments() === 0) return null;
        const tasks = new Set<string>();
        for (const [topic, ps] of m.owned()) {
          for (const p of ps) {
            const key = `${topic}:${p}`;
            if (ownerOfPart.has(key)) return null;
            ownerOfPart.set(key, i);
            const t = taskId(groupOf.get(topic)!, p);
            if (ownerOfTask.has(t) && ownerOfTask.get(t) !== i) return null; // a task split between members
            ownerOfTask.set(t, i);
            tasks.add(t);
          }
        }
        out.set(`m${i}`, [...tasks].sort());
      }
      return ownerOfPart.size === 12 && ownerOfTask.size === allTasks.length ? out : null;
    };

    for (let i = 0; i < 3; i++) {
      members.push(await joinTaskGroup({ brokers: brokerList(), groupId: `tg-${x}`, topics: [x, l, r], planner, clientId: `tg-m${i}`, sessionTimeoutMs: 6000 }));
    }
    const before = await waitFor(() => {
      const s = snapshot(members);
      return s && [...s.values()].every((ts) => ts.length === 3) ? s : null;
    }, 60_000, 'three members with 3 tasks each');
    // snapshot() refused any state where the join's partition p of l and of r were with different members.
    expect([...before.values()].flat().sort()).toEqual([...allTasks].sort());

    const leaver = members.splice(1, 1)[0]!;
    const counts = members.map((m) => m.assignments());
    const t0 = Date.now();
    await leaver.stop();
    const after = await waitFor(() => {
      if (members.some((m, i) => m.assignments() === counts[i])) return null;
      const s = snapshot(members);
      return s && [...s.values()].map((ts) => ts.length).sort().join() === '4,5' ? s : null;
    }, 60_000, 'two members with all 9 tasks');
    console.log(`leave → both survivors reassigned: ${Date.now() - t0} ms`);
    // Same members under the names used in `before`: m0 stays m0, m2 is now index 1.
    const renamed = new Map([['m0', after.get('m0')!], ['m2', after.get('m1')!]]);
    expect(movedTasks(before, renamed).sort()).toEqual([...before.get('m1')!].sort());
    for (const id of ['m0', 'm2']) for (const t of before.get(id)!) expect(renamed.get(id)).toContain(t);
  }, 120_000);

  it('a query some member does not know stays unassigned; once every member knows it, it is spread', async () => {
    const [x, y] = [uniqueTopic('tg-known'), uniqueTopic('tg-new')];
    await Promise.all([createTopic(brokerList(), x, 3), createTopic(brokerList(), y, 3)]);
    const groups: PartitionGroup[] = [{ id: 'known', topics: [x] }, { id: 'fresh', topics: [y] }];
    const versions = new Map([['known', 'known@v1'], ['fresh', 'fresh@v1']]);
    const planner = taskPlanner(groups, versions);
    let laggardKnows = ['known@v1'];
    const join = (name: string, knows: () => string[]) => joinTaskGroup({
      brokers: brokerList(), groupId: `tg-${x}`, topics: [x, y], planner, clientId: name, sessionTimeoutMs: 6000, report: () => ({ knows: knows() }),
    });
    const parts = (m: TaskGroupMember, t: string) => m.owned().get(t) ?? [];
    // The laggard first (it leads alone: the new query is not assigned even then), then a member that knows both.
    const laggard = await join('tg-laggard', () => laggardKnows);
    members.push(laggard);
    const ahead = await join('tg-ahead', () => ['known@v1', 'fresh@v1', 'other@v9']);
    members.push(ahead);
    let sawFresh = false;
    await waitFor(() => {
      if ([laggard, ahead].some((m) => parts(m, y).length > 0)) sawFresh = true;
      return parts(laggard, x).length > 0 && parts(ahead, x).length > 0 && parts(laggard, x).length + parts(ahead, x).length === 3 ? true : null;
    }, 60_000, 'the known query over both members');
    await new Promise((r) => setTimeout(r, 500));
    expect(sawFresh).toBe(false);
    expect([...parts(laggard, y), ...parts(ahead, y)]).toEqual([]);

    // The laggard catches up; the next rebalance (a third member joining) assigns the new query to all three.
    laggardKnows = ['known@v1', 'fresh@v1'];
    const third = await join('tg-third', () => ['fresh@v1', 'known@v1']);
    members.push(third);
    await waitFor(() => ([laggard, ahead, third].every((m) => parts(m, x).length === 1 && parts(m, y).length === 1) ? true : null), 60_000, 'one partition of each query per member');
  }, 120_000);
});
