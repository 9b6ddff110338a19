/**
 * Which instance runs which task (issue 17): the pure algorithm behind the consumer group's assignor
 * (connectors/kafka/task-assignor.ts wraps it for kafkajs; only the group's leader runs it, the
 * others just receive its result, so it must be a function of its inputs alone).
 *
 * A task is a partition group: partition p of every co-partitioned input topic of one query, so the
 * two sides of a join (or a query and its repartition topic) meet in one task, as Kafka Streams
 * groups a sub-topology's source partitions. Tasks are spread so that member task counts differ by at
 * most one (balanced) and, within each query, member task counts differ by at most one too (a query's
 * load spread over the instances, not piled on the first member to join after its CREATE); each member
 * keeps the tasks it owned before as far as both allow (sticky: a task that moves must restore its
 * state elsewhere) — exactly as far: the moves are the least any assignment meeting both can reach.
 * A query some member does not know yet (its CREATE not applied there: the member reports the queries
 * it knows) is left unassigned until every member knows it.
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

/**
 * A group of co-partitioned topics (one query's inputs that must be read together). `single`: the
 * query runs as one task `<id>#0` that reads every partition of its inputs itself (queries/cluster/
 * placement.ts says which), whatever its topics' partition counts.
 */
export interface PartitionGroup { readonly id: string; readonly topics: readonly string[]; readonly single?: boolean }

/**
 * The tasks of the groups given each topic's partition count. Co-partitioned topics must have equal
 * counts; when they do not (a `problems` entry says which), a task takes the partitions that exist,
 * so every partition is still read exactly once. A topic with no known count is left out (problem).
 */
export function tasksOf(groups: readonly PartitionGroup[], partitionsOf: (topic: string) => number | undefined): { tasks: Task[]; problems: string[] } {
  const tasks: Task[] = [];
  const problems: string[] = [];
  for (const g of [...groups].sort((a, b) => cmp(a.id, b.id))) {
    if (g.single) { tasks.push({ id: taskId(g.id, 0), group: g.id, partition: 0, parts: [] }); continue; }
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

/** A member of the group, the tasks it owned before this assignment, and the groups (queries) it knows. */
export interface MemberClaim {
  readonly id: string;
  readonly previous: readonly string[];
  /**
   * The groups this member has in its catalog (from its subscription's user data); null or absent: not
   * reported (a member of an older version), taken as knowing every group.
   */
  readonly knows?: readonly string[] | null;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Orders task ids by group, then partition number (so `q#10` follows `q#9`). */
function cmpTask(a: string, b: string): number {
  const i = a.lastIndexOf('#'), j = b.lastIndexOf('#');
  const ga = i < 0 ? a : a.slice(0, i), gb = j < 0 ? b : b.slice(0, j);
  if (ga !== gb) return cmp(ga, gb);
  const pa = i < 0 ? NaN : Number(a.slice(i + 1)), pb = j < 0 ? NaN : Number(b.slice(j + 1));
  return pa === pb || Number.isNaN(pa) || Number.isNaN(pb) ? cmp(a, b) : pa - pb;
}

/** The group (query) of a task id. */
export const groupOf = (task: string): string => { const i = task.lastIndexOf('#'); return i < 0 ? task : task.slice(0, i); };

/**
 * The groups whose tasks may be assigned: those every member knows (a member that reported nothing
 * counts as knowing all). A group some member has not applied yet waits for the rejoin that member
 * makes once it has (membership.ts `refresh`).
 */
export function assignableGroups(groups: Iterable<string>, members: readonly MemberClaim[]): Set<string> {
  const out = new Set(groups);
  for (const m of members) {
    if (m.knows === undefined || m.knows === null) continue;
    const k = new Set(m.knows);
    for (const g of [...out]) if (!k.has(g)) out.delete(g);
  }
  return out;
}

/**
 * Assigns every task of an assignable group (see `assignableGroups`; the others are left out) to
 * exactly one member, so that
 * - member task counts differ by at most one (balanced),
 * - within each group (query), member task counts differ by at most one (a query spread over the
 *   members: always possible together with the first, by dealing each group's remainder on from
 *   where the previous group's stopped),
 * - as many tasks as any assignment meeting both can keep stay with their previous owner (sticky).
 * Returns member id → sorted task ids (every member listed, maybe empty).
 *
 * How: with M members, group g of n_g tasks gives each member f_g = ⌊n_g/M⌋ tasks and r_g = n_g mod M
 * members one more. Which members take those extras is the only choice: each member must take ⌊E/M⌋
 * or ⌊E/M⌋+1 of all E = Σ r_g extras (overall balance), at most one per group, and an extra is worth
 * keeping one more claimed task where the member claimed more than f_g of g. That is a small
 * min-cost flow (groups → members), solved exactly; then each member keeps its claims up to its
 * quota per group and the rest fill the remaining quotas in task order.
 */
export function assignTasks(taskIds: readonly string[], members: readonly MemberClaim[]): Map<string, string[]> {
  const ids = [...new Set(members.map((m) => m.id))].sort(cmp);
  const out = new Map<string, string[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return out;
  const assignable = assignableGroups(new Set(taskIds.map(groupOf)), members);
  const tasks = [...new Set(taskIds)].filter((t) => assignable.has(groupOf(t))).sort(cmpTask);
  const exists = new Set(tasks);

  // Valid claims: a task that still exists, claimed by its first (lowest-id) claimant only.
  const claimedBy = new Map<string, string>();
  const previous = new Map<string, readonly string[]>();
  for (const m of members) previous.set(m.id, [...(previous.get(m.id) ?? []), ...m.previous]);
  for (const id of ids) {
    for (const t of [...previous.get(id)!].sort(cmpTask)) if (exists.has(t) && !claimedBy.has(t)) claimedBy.set(t, id);
  }

  // Tasks by group, and each member's claims per group (in task order).
  const groups = new Map<string, string[]>();
  for (const t of tasks) { const g = groupOf(t); (groups.get(g) ?? groups.set(g, []).get(g)!).push(t); }
  const M = ids.length;
  const mi = new Map(ids.map((id, i) => [id, i]));
  const gs = [...groups.keys()].sort(cmp);
  const claims = gs.map((g) => ids.map(() => [] as string[]));
  gs.forEach((g, gi) => { for (const t of groups.get(g)!) { const o = claimedBy.get(t); if (o !== undefined) claims[gi]![mi.get(o)!]!.push(t); } });

  const extra = extras(gs.map((g) => groups.get(g)!.length % M), gs.map((g, gi) => {
    const f = Math.floor(groups.get(g)!.length / M);
    return claims[gi]!.map((c) => c.length > f);
  }), M);

  gs.forEach((g, gi) => {
    const all = groups.get(g)!;
    const f = Math.floor(all.length / M);
    const quota = ids.map((_, m) => f + (extra[gi]![m] ? 1 : 0));
    const taken = new Set<string>();
    ids.forEach((id, m) => {
      const keep = claims[gi]![m]!.slice(0, quota[m]);
      out.get(id)!.push(...keep);
      for (const t of keep) taken.add(t);
      quota[m]! -= keep.length;
    });
    let m = 0;
    for (const t of all) {
      if (taken.has(t)) continue;
      while (quota[m] === 0) m++;
      out.get(ids[m]!)!.push(t);
      quota[m]!--;
    }
  });
  for (const l of out.values()) l.sort(cmpTask);
  return out;
}

/**
 * Which members take one more task of each group: `r[g]` of them for group g, at most one each, every
 * member ⌊E/M⌋ or ⌊E/M⌋+1 in all (E = Σ r), as many as possible where `good[g][m]` (that member keeps a
 * claimed task by it). Min-cost flow by successive shortest paths (Bellman-Ford: costs are negative):
 * source → group (capacity r[g]) → member (1, cost -1 if good) → sink, each member's first ⌊E/M⌋ units
 * at a cost below any gain (so every member reaches them) and E mod M more units shared by all.
 */
function extras(r: readonly number[], good: readonly (readonly boolean[])[], M: number): boolean[][] {
  const G = r.length;
  const E = r.reduce((a, b) => a + b, 0);
  const lo = Math.floor(E / M), K = E % M;
  const BIG = E + 1;
  // Nodes: 0 source, 1..G groups, G+1..G+M members, G+M+1 shared, G+M+2 sink.
  const S = 0, X = G + M + 1, T = G + M + 2, N = G + M + 3;
  const to: number[] = [], cap: number[] = [], cost: number[] = [], head: number[][] = Array.from({ length: N }, () => []);
  const edge = (a: number, b: number, c: number, w: number): number => {
    const e = to.length;
    to.push(b, a); cap.push(c, 0); cost.push(w, -w);
    head[a]!.push(e); head[b]!.push(e + 1);
    return e;
  };
  const ge: number[][] = [];
  for (let g = 0; g < G; g++) {
    if (r[g]! > 0) edge(S, 1 + g, r[g]!, 0);
    ge.push(Array.from({ length: M }, (_, m) => edge(1 + g, G + 1 + m, 1, good[g]![m] ? -1 : 0)));
  }
  for (let m = 0; m < M; m++) {
    if (lo > 0) edge(G + 1 + m, T, lo, -BIG);
    if (K > 0) edge(G + 1 + m, X, 1, 0);
  }
  if (K > 0) edge(X, T, K, 0);
  for (;;) {
    const dist = new Array<number>(N).fill(Infinity), via = new Array<number>(N).fill(-1);
    dist[S] = 0;
    for (let round = 0, changed = true; changed && round < N; round++) {
      changed = false;
      for (let a = 0; a < N; a++) {
        if (dist[a] === Infinity) continue;
        for (const e of head[a]!) {
          if (cap[e]! > 0 && dist[a]! + cost[e]! < dist[to[e]!]!) { dist[to[e]!] = dist[a]! + cost[e]!; via[to[e]!] = e; changed = true; }
        }
      }
    }
    if (dist[T] === Infinity) break;
    let push = Infinity;
    for (let v = T; v !== S; v = to[via[v]! ^ 1]!) push = Math.min(push, cap[via[v]!]!);
    for (let v = T; v !== S; v = to[via[v]! ^ 1]!) { cap[via[v]!]! -= push; cap[via[v]! ^ 1]! += push; }
  }
  return ge.map((es) => es.map((e) => cap[e] === 0));
}

/** Tasks whose owner differs between two assignments (new tasks and tasks that left not counted). */
export function movedTasks(before: ReadonlyMap<string, readonly string[]>, after: ReadonlyMap<string, readonly string[]>): string[] {
  const owner = new Map<string, string>();
  for (const [m, ts] of before) for (const t of ts) owner.set(t, m);
  const moved: string[] = [];
  for (const [m, ts] of after) for (const t of ts) if (owner.has(t) && owner.get(t) !== m) moved.push(t);
  return moved.sort(cmpTask);
}
