/**
 * Which instance runs which task (issue 17): the pure algorithm behind the consumer group's assignor
 * (connectors/kafka/task-assignor.ts wraps it for kafkajs; only the group's leader runs it, the
 * others just receive its result, so it must be a function of its inputs alone).
 *
 * A task is a partition group: partition p of every co-partitioned input topic of one query, so the
 * two sides of a join (or a query and its repartition topic) meet in one task, as Kafka Streams
 * groups a sub-topology's source partitions. Tasks are spread so that member task counts differ by at
 * most one (balanced), and each member keeps the tasks it owned before as far as balance allows
 * (sticky: a task that moves must restore its state elsewhere). Which member may take one more task
 * than the others goes to those that owned the most before, which makes the number of moved tasks the
 * least any balanced assignment can reach. New or freed tasks go round the members with room, a
 * query's tasks spread over as many members as possible.
 *
 * Determinism: members and tasks are sorted first, so the same inputs in any order give the same
 * result. Two members claiming the same task (a member presumed dead came back with stale claims)
 * resolve to the lowest member id; the other's claim is dropped.
 */

/** One task: its id, the query (partition group) it belongs to, and the topic partitions it reads. */
export interface Task {
  readonly id: string;
  readonly group: string;
  readonly partition: number;
  readonly parts: readonly { readonly topic: string; readonly partition: number }[];
}

/** The id of partition `partition` of group `group` (`<group>#<partition>`). */
export const taskId = (group: string, partition: number): string => `${group}#${partition}`;

/** A group of co-partitioned topics (one query's inputs that must be read together). */
export interface PartitionGroup { readonly id: string; readonly topics: readonly string[] }

/**
 * The tasks of the groups given each topic's partition count. Co-partitioned topics must have equal
 * counts; when they do not (a `problems` entry says which), a task takes the partitions that exist,
 * so every partition is still read exactly once. A topic with no known count is left out (problem).
 */
export function tasksOf(groups: readonly PartitionGroup[], partitionsOf: (topic: string) => number | undefined): { tasks: Task[]; problems: string[] } {
  const tasks: Task[] = [];
  const problems: string[] = [];
  for (const g of [...groups].sort((a, b) => cmp(a.id, b.id))) {
    const counts = g.topics.map((t) => [t, partitionsOf(t)] as const);
    for (const [t, n] of counts) if (n === undefined) problems.push(`group ${g.id}: topic ${t} has no metadata`);
    const known = counts.filter((c): c is readonly [string, number] => c[1] !== undefined);
    if (new Set(known.map((c) => c[1])).size > 1) {
      problems.push(`group ${g.id}: co-partitioned topics have different partition counts (${known.map(([t, n]) => `${t}: ${n}`).join(', ')})`);
    }
    const max = Math.max(0, ...known.map((c) => c[1]));
    for (let p = 0; p < max; p++) {
      tasks.push({ id: taskId(g.id, p), group: g.id, partition: p, parts: known.filter(([, n]) => p < n).map(([topic]) => ({ topic, partition: p })) });
    }
  }
  return { tasks, problems };
}

/** A member of the group and the tasks it owned before this assignment (from its subscription's user data). */
export interface MemberClaim { readonly id: string; readonly previous: readonly string[] }

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Orders task ids by group, then partition number (so `q#10` follows `q#9`). */
function cmpTask(a: string, b: string): number {
  const i = a.lastIndexOf('#'), j = b.lastIndexOf('#');
  const ga = i < 0 ? a : a.slice(0, i), gb = j < 0 ? b : b.slice(0, j);
  if (ga !== gb) return cmp(ga, gb);
  const pa = i < 0 ? NaN : Number(a.slice(i + 1)), pb = j < 0 ? NaN : Number(b.slice(j + 1));
  return pa === pb || Number.isNaN(pa) || Number.isNaN(pb) ? cmp(a, b) : pa - pb;
}

const groupOf = (task: string): string => { const i = task.lastIndexOf('#'); return i < 0 ? task : task.slice(0, i); };

/**
 * Assigns every task to exactly one member: counts differ by at most one, previous owners keep their
 * tasks as far as that allows. Returns member id → sorted task ids (every member listed, maybe empty).
 */
export function assignTasks(taskIds: readonly string[], members: readonly MemberClaim[]): Map<string, string[]> {
  const tasks = [...new Set(taskIds)].sort(cmpTask);
  const ids = [...new Set(members.map((m) => m.id))].sort(cmp);
  const out = new Map<string, string[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return out;
  const exists = new Set(tasks);

  // Valid claims: a task that still exists, claimed by its first (lowest-id) claimant only.
  const claimedBy = new Map<string, string>();
  const previous = new Map<string, readonly string[]>();
  for (const m of members) previous.set(m.id, [...(previous.get(m.id) ?? []), ...m.previous]);
  for (const id of ids) {
    for (const t of previous.get(id)!) if (exists.has(t) && !claimedBy.has(t)) claimedBy.set(t, id);
  }
  const claims = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const [t, id] of claimedBy) claims.get(id)!.push(t);
  for (const c of claims.values()) c.sort(cmpTask);

  // Capacities: floor(T/m) each; the T mod m extra places go to the members that claimed the most.
  const base = Math.floor(tasks.length / ids.length);
  const extra = tasks.length % ids.length;
  const byClaims = [...ids].sort((a, b) => claims.get(b)!.length - claims.get(a)!.length || cmp(a, b));
  const capacity = new Map<string, number>(ids.map((id) => [id, base]));
  for (let i = 0; i < extra; i++) capacity.set(byClaims[i]!, base + 1);

  // Sticky part: each member keeps its claims up to its capacity.
  const taken = new Set<string>();
  for (const id of ids) {
    const keep = claims.get(id)!.slice(0, capacity.get(id)!);
    out.get(id)!.push(...keep);
    for (const t of keep) taken.add(t);
  }

  // The rest, in task order, each to the member with room that holds the fewest tasks of that task's
  // group (spreads a query), then the most room left, then the lowest id.
  for (const t of tasks) {
    if (taken.has(t)) continue;
    const g = groupOf(t);
    let best: string | null = null;
    let bestKey: [number, number] = [0, 0];
    for (const id of ids) {
      const mine = out.get(id)!;
      const room = capacity.get(id)! - mine.length;
      if (room <= 0) continue;
      const key: [number, number] = [mine.filter((x) => groupOf(x) === g).length, -room];
      if (best === null || key[0] < bestKey[0] || (key[0] === bestKey[0] && key[1] < bestKey[1])) { best = id; bestKey = key; }
    }
    out.get(best!)!.push(t);
  }
  for (const l of out.values()) l.sort(cmpTask);
  return out;
}

/** Tasks whose owner differs between two assignments (new tasks and tasks that left not counted). */
export function movedTasks(before: ReadonlyMap<string, readonly string[]>, after: ReadonlyMap<string, readonly string[]>): string[] {
  const owner = new Map<string, string>();
  for (const [m, ts] of before) for (const t of ts) owner.set(t, m);
  const moved: string[] = [];
  for (const [m, ts] of after) for (const t of ts) if (owner.has(t) && owner.get(t) !== m) moved.push(t);
  return moved.sort(cmpTask);
}
