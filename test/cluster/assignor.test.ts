/**
 * queries/cluster/assignor.ts: every task placed once, balanced overall and per query (group), sticky
 * (as few moves as any assignment balanced both ways — checked against brute force on small cases),
 * deterministic in the order of its inputs; a query some member does not know is left unassigned.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignTasks, groupOf, movedTasks, taskId, tasksOf, type MemberClaim } from '../../queries/cluster/assignor.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

function check(tasks: readonly string[], members: readonly MemberClaim[], out: Map<string, string[]>): void {
  const all = [...out.values()].flat();
  expect([...all].sort()).toEqual([...new Set(tasks)].sort()); // each task exactly once
  expect([...out.keys()].sort()).toEqual([...new Set(members.map((m) => m.id))].sort());
  expect(spread(out)).toBeLessThanOrEqual(1);
  expect(groupSpread(out)).toBeLessThanOrEqual(1);
}

/** Most minus fewest tasks per member. */
function spread(out: ReadonlyMap<string, readonly string[]>): number {
  const counts = [...out.values()].map((l) => l.length);
  return Math.max(...counts) - Math.min(...counts);
}

/** The largest, over the groups, of most minus fewest tasks of that group per member. */
function groupSpread(out: ReadonlyMap<string, readonly string[]>): number {
  const groups = new Set([...out.values()].flat().map(groupOf));
  let worst = 0;
  for (const g of groups) {
    const counts = [...out.values()].map((l) => l.filter((t) => groupOf(t) === g).length);
    worst = Math.max(worst, Math.max(...counts) - Math.min(...counts));
  }
  return worst;
}

/** Tasks kept by a previous owner (claims of the lowest-id claimant only, as the assignor counts them). */
function kept(members: readonly MemberClaim[], out: Map<string, string[]>): number {
  const owner = new Map<string, string>();
  for (const m of [...members].sort((a, b) => (a.id < b.id ? -1 : 1))) for (const t of m.previous) if (!owner.has(t)) owner.set(t, m.id);
  let n = 0;
  for (const [m, ts] of out) for (const t of ts) if (owner.get(t) === m) n++;
  return n;
}

/** The most tasks any assignment balanced overall and per group lets previous owners keep, by trying every assignment. */
function bestKept(tasks: readonly string[], members: readonly MemberClaim[]): number {
  const ids = members.map((m) => m.id);
  let best = 0;
  const choice = new Array<number>(tasks.length).fill(0);
  for (;;) {
    const out = new Map<string, string[]>(ids.map((id) => [id, []]));
    tasks.forEach((t, i) => out.get(ids[choice[i]!]!)!.push(t));
    if (spread(out) <= 1 && groupSpread(out) <= 1) best = Math.max(best, kept(members, out));
    let i = 0;
    while (i < tasks.length && ++choice[i]! === ids.length) choice[i++] = 0;
    if (i === tasks.length) return best;
  }
}

const arbCase = (maxTasks: number, maxMembers: number) => fc.record({
  groups: fc.array(fc.record({ name: fc.constantFrom('q1', 'q2', 'join'), partitions: fc.integer({ min: 1, max: maxTasks }) }), { minLength: 1, maxLength: 3 }),
  members: fc.uniqueArray(fc.constantFrom('m-a', 'm-b', 'm-c', 'm-d', 'm-e'), { minLength: 1, maxLength: maxMembers }),
  claims: fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 40 }),
}).map(({ groups, members, claims }) => {
  const tasks = [...new Set(groups.flatMap((g) => Array.from({ length: g.partitions }, (_, p) => taskId(g.name, p))))];
  // Arbitrary previous claims, overlapping and stale ones included (a task that no longer exists: `gone#<n>`).
  const prev = new Map<string, string[]>(members.map((m) => [m, []]));
  for (const [a, b] of claims) prev.get(members[a % members.length]!)!.push(b % 7 === 6 ? `gone#${b}` : tasks[b % tasks.length]!);
  return { tasks, members: members.map((id) => ({ id, previous: prev.get(id)! })) };
});

describe('assignTasks', () => {
  it('places every task once, balanced, whatever the previous claims', () => {
    fc.assert(fc.property(arbCase(40, 5), ({ tasks, members }) => check(tasks, members, assignTasks(tasks, members))), { numRuns: RUNS });
  });

  it('keeps as many tasks with their previous owner as the best assignment balanced overall and per group (brute force)', () => {
    fc.assert(fc.property(arbCase(4, 3).filter((c) => c.tasks.length <= 8), ({ tasks, members }) => {
      const out = assignTasks(tasks, members);
      expect(kept(members, out)).toBe(bestKept(tasks, members));
    }), { numRuns: Math.min(RUNS, 200) });
  });

  it('is deterministic: members and tasks in any order give the same assignment', () => {
    fc.assert(fc.property(arbCase(30, 5), fc.integer(), ({ tasks, members }, seed) => {
      const shuffle = <T,>(xs: readonly T[]) => { const a = [...xs]; let s = seed >>> 0 || 1; for (let i = a.length - 1; i > 0; i--) { s = (s * 1103515245 + 12345) >>> 0; const j = s % (i + 1); [a[i], a[j]] = [a[j]!, a[i]!]; } return a; };
      const a = assignTasks(tasks, members);
      const b = assignTasks(shuffle(tasks), shuffle(members).map((m) => ({ ...m, previous: shuffle(m.previous) })));
      expect(Object.fromEntries(b)).toEqual(Object.fromEntries(a));
    }), { numRuns: RUNS });
  });

  it('changes nothing when the members and their tasks stay', () => {
    fc.assert(fc.property(arbCase(30, 5), ({ tasks, members }) => {
      const first = assignTasks(tasks, members);
      const again = assignTasks(tasks, [...first].map(([id, previous]) => ({ id, previous })));
      expect(Object.fromEntries(again)).toEqual(Object.fromEntries(first));
    }), { numRuns: RUNS });
  });

  it('a member leaving moves its tasks only; a member joining takes its share and nothing else moves', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 2, max: 6 }), fc.nat(), (n, m, who) => {
      const tasks = Array.from({ length: n }, (_, p) => taskId('q', p));
      const ids = Array.from({ length: m }, (_, i) => `m${i}`);
      const before = assignTasks(tasks, ids.map((id) => ({ id, previous: [] })));
      const leaver = ids[who % m]!;
      const after = assignTasks(tasks, [...before].filter(([id]) => id !== leaver).map(([id, previous]) => ({ id, previous })));
      check(tasks, ids.filter((id) => id !== leaver).map((id) => ({ id, previous: [] })), after);
      expect(movedTasks(before, after).sort()).toEqual([...before.get(leaver)!].sort());

      const joined = assignTasks(tasks, [...before].map(([id, previous]) => ({ id, previous })).concat([{ id: 'zz-new', previous: [] }]));
      const moved = movedTasks(before, joined);
      expect(moved.sort()).toEqual([...joined.get('zz-new')!].sort());
      expect(moved.length).toBe(Math.floor(n / (m + 1))); // the least the newcomer can hold
    }), { numRuns: RUNS });
  });

  it('spreads one query\'s tasks over the members', () => {
    const tasks = [...Array.from({ length: 6 }, (_, p) => taskId('a', p)), ...Array.from({ length: 6 }, (_, p) => taskId('b', p))];
    const out = assignTasks(tasks, ['x', 'y', 'z'].map((id) => ({ id, previous: [] })));
    for (const l of out.values()) {
      expect(l.filter((t) => t.startsWith('a#'))).toHaveLength(2);
      expect(l.filter((t) => t.startsWith('b#'))).toHaveLength(2);
    }
  });
});

describe('assignTasks: per query', () => {
  const six = (g: string) => Array.from({ length: 6 }, (_, p) => taskId(g, p));

  it('spreads a query piled on one member (the first to rejoin after its CREATE) over all members', () => {
    // Observed: the first member to rejoin held all 6 tasks of `out`, and stickiness kept them there.
    const tasks = [...six('out'), ...six('per_key'), ...six('per_v')];
    const members: MemberClaim[] = [
      { id: 'a', previous: six('out') },
      { id: 'b', previous: six('per_key') },
      { id: 'c', previous: six('per_v') },
    ];
    const out = assignTasks(tasks, members);
    check(tasks, members, out);
    for (const l of out.values()) for (const g of ['out', 'per_key', 'per_v']) expect(l.filter((t) => groupOf(t) === g), `${g} in ${l}`).toHaveLength(2);
    // Each member keeps 2 of its own query's tasks: 12 moves, the least that spreads all three.
    expect(kept(members, out)).toBe(6);
  });

  it('a member holding a whole query keeps its share of it when the others join', () => {
    const tasks = six('q');
    const out = assignTasks(tasks, [{ id: 'z', previous: tasks }, { id: 'a', previous: [] }, { id: 'b', previous: [] }]);
    expect(out.get('z')).toHaveLength(2);
    expect(out.get('a')).toHaveLength(2);
    expect(out.get('b')).toHaveLength(2);
    for (const t of out.get('z')!) expect(tasks).toContain(t);
  });

  it('leaves a query unassigned until every member knows it; a member that reports nothing knows all', () => {
    const tasks = [...six('old'), ...six('new')];
    const partial = assignTasks(tasks, [
      { id: 'a', previous: [], knows: ['old', 'new'] },
      { id: 'b', previous: [], knows: ['old'] },
      { id: 'c', previous: [] },
    ]);
    expect([...partial.values()].flat().sort()).toEqual([...six('old')].sort());
    for (const l of partial.values()) expect(l).toHaveLength(2);
    const all = assignTasks(tasks, [
      { id: 'a', previous: partial.get('a')!, knows: ['old', 'new'] },
      { id: 'b', previous: partial.get('b')!, knows: ['new', 'old'] },
      { id: 'c', previous: partial.get('c')!, knows: null },
    ]);
    check(tasks, [{ id: 'a', previous: [] }, { id: 'b', previous: [] }, { id: 'c', previous: [] }], all);
    expect(movedTasks(partial, all)).toEqual([]);
  });

  it('assigns exactly the tasks of the groups every member knows, balanced both ways', () => {
    fc.assert(fc.property(arbCase(20, 5), fc.array(fc.subarray(['q1', 'q2', 'join']), { maxLength: 5 }), ({ tasks, members }, knows) => {
      const ms = members.map((m, i) => ({ ...m, knows: i < knows.length ? knows[i]! : null }));
      const known = (g: string) => ms.every((m) => m.knows === null || m.knows.includes(g));
      const out = assignTasks(tasks, ms);
      const expected = tasks.filter((t) => known(groupOf(t)));
      check(expected, ms, out);
    }), { numRuns: RUNS });
  });
});

describe('tasksOf', () => {
  it('puts partition p of all co-partitioned topics of a group in one task', () => {
    const counts: Record<string, number> = { bids: 3, auctions: 3, clicks: 2 };
    const { tasks, problems } = tasksOf([{ id: 'q7', topics: ['bids', 'auctions'] }, { id: 'q1', topics: ['clicks'] }], (t) => counts[t]);
    expect(problems).toEqual([]);
    expect(tasks.map((t) => t.id)).toEqual(['q1#0', 'q1#1', 'q7#0', 'q7#1', 'q7#2']);
    expect(tasks.find((t) => t.id === 'q7#2')!.parts).toEqual([{ topic: 'bids', partition: 2 }, { topic: 'auctions', partition: 2 }]);
  });

  it('reports co-partitioned topics with different counts and still reads every partition once', () => {
    const counts: Record<string, number> = { l: 4, r: 2 };
    const { tasks, problems } = tasksOf([{ id: 'j', topics: ['l', 'r', 'missing'] }], (t) => counts[t]);
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).toMatch(/different partition counts \(l: 4, r: 2\)/);
    expect(problems.join('\n')).toMatch(/missing has no metadata/);
    expect(tasks.flatMap((t) => t.parts.map((p) => `${p.topic}:${p.partition}`)).sort()).toEqual(['l:0', 'l:1', 'l:2', 'l:3', 'r:0', 'r:1']);
  });
});
