/**
 * The consumer group that spreads a cluster's tasks over its instances (issue 17): a kafkajs
 * `partitionAssigners` entry that assigns whole tasks (partition groups) instead of single partitions,
 * balanced and sticky, and `joinTaskGroup`, one instance's membership in that group.
 *
 * The algorithm is not here: `TaskPlanner` is handed in by the queries layer
 * (queries/cluster/assignor.ts `tasksOf` + `assignTasks`), which keeps this folder free of query
 * concepts and the algorithm free of kafkajs. Only the group's leader calls `assign`; every member
 * just reports, in its subscription's user data, the partitions it owns now (JSON
 * `{"v":1,"owned":{topic:[partitions]}}`), which the leader turns into "previous owner" claims: a task
 * is claimed by a member that owns any of its partitions. Like Kafka Streams, the group is about
 * membership, not reading: `joinTaskGroup` pauses its consumer (it still heartbeats), and the tasks'
 * partitions are read by the native reader at the task's own checkpointed offsets.
 *
 * Every member of one group must subscribe to the same topics with the same planner (same queries).
 * Nothing here is used unless CLUSTER_ID is set.
 */
import kafkajs, { type Consumer, type PartitionAssigner } from 'kafkajs';
import { createKafka, type Log } from './client.ts';

const { AssignerProtocol } = kafkajs;

export const TASK_ASSIGNOR_NAME = 'streamsql-tasks';

export interface TaskParts { readonly id: string; readonly parts: readonly { readonly topic: string; readonly partition: number }[] }

/** What the queries layer decides (queries/cluster/assignor.ts). Pure: the leader's result is everyone's. */
export interface TaskPlanner {
  tasks(partitionsOf: (topic: string) => number | undefined): { tasks: readonly TaskParts[]; problems: readonly string[] };
  assign(taskIds: readonly string[], members: readonly { id: string; previous: readonly string[] }[]): ReadonlyMap<string, readonly string[]>;
}

type Owned = Record<string, number[]>;

function decodeOwned(userData: Buffer | null | undefined): Owned {
  if (!userData || userData.length === 0) return {};
  try {
    const d = JSON.parse(userData.toString('utf8')) as { v?: number; owned?: unknown };
    if (d.v !== 1 || !d.owned || typeof d.owned !== 'object') return {};
    const out: Owned = {};
    for (const [t, ps] of Object.entries(d.owned as Record<string, unknown>)) if (Array.isArray(ps)) out[t] = ps.filter((p): p is number => Number.isInteger(p));
    return out;
  } catch {
    return {}; // a member of another version: no claims, it gets tasks like a new member
  }
}

/**
 * The assigner for `consumer({ partitionAssigners: [assigner] })`. `owned()` is what this member
 * reports it owns at its next join; `onProblem` hears co-partitioning problems the leader found.
 */
export function taskAssigner(planner: TaskPlanner, owned: () => Owned, onProblem: (msg: string) => void = () => undefined): PartitionAssigner {
  return ({ cluster }) => ({
    name: TASK_ASSIGNOR_NAME,
    version: 1,
    protocol: ({ topics }) => ({
      name: TASK_ASSIGNOR_NAME,
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.from(JSON.stringify({ v: 1, owned: owned() })) }),
    }),
    assign: async ({ members, topics }) => {
      const subscribed = new Set(topics);
      const partitionsOf = (t: string) => (subscribed.has(t) ? cluster.findTopicPartitionMetadata(t)?.length || undefined : undefined);
      const { tasks, problems } = planner.tasks(partitionsOf);
      for (const p of problems) onProblem(p);
      const taskOfPart = new Map<string, string>();
      for (const t of tasks) for (const p of t.parts) taskOfPart.set(`${p.topic}:${p.partition}`, t.id);
      const claims = members.map((m) => {
        const md = AssignerProtocol.MemberMetadata.decode(m.memberMetadata);
        const previous = new Set<string>();
        for (const [topic, ps] of Object.entries(decodeOwned(md?.userData))) for (const p of ps) { const id = taskOfPart.get(`${topic}:${p}`); if (id) previous.add(id); }
        return { id: m.memberId, previous: [...previous] };
      });
      const result = planner.assign(tasks.map((t) => t.id), claims);
      const byId = new Map(tasks.map((t) => [t.id, t]));
      return members.map((m) => {
        const assignment: Record<string, number[]> = {};
        for (const id of result.get(m.memberId) ?? []) for (const p of byId.get(id)!.parts) (assignment[p.topic] ??= []).push(p.partition);
        for (const ps of Object.values(assignment)) ps.sort((a, b) => a - b);
        return { memberId: m.memberId, memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment, userData: Buffer.alloc(0) }) };
      });
    },
  });
}

export interface TaskGroupOptions {
  readonly brokers: readonly string[];
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly planner: TaskPlanner;
  readonly clientId?: string;
  /** The group's session timeout: how long a silent member keeps its tasks (failover time). Default 10 s. */
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  /** Called after every assignment with the partitions this member now owns. */
  onAssignment?(owned: ReadonlyMap<string, readonly number[]>): void;
  readonly log?: Log;
}

export interface TaskGroupMember {
  /** Partitions owned now (topic → sorted partitions). */
  owned(): ReadonlyMap<string, readonly number[]>;
  /** Assignments received so far (1 after the first join). */
  assignments(): number;
  /** Leaves the group (its tasks move at once, no session timeout). */
  stop(): Promise<void>;
}

/** Joins the task group; resolves once the consumer runs (the first assignment follows: see `assignments`). */
export async function joinTaskGroup(opts: TaskGroupOptions): Promise<TaskGroupMember> {
  let owned: Owned = {};
  let count = 0;
  let paused = false;
  const kafka = createKafka(opts.brokers, opts.clientId ?? `streamsql-${opts.groupId}`, opts.log);
  const consumer: Consumer = kafka.consumer({
    groupId: opts.groupId,
    partitionAssigners: [taskAssigner(opts.planner, () => owned, (m) => opts.log?.('warn', `task group ${opts.groupId}: ${m}`))],
    sessionTimeout: opts.sessionTimeoutMs ?? 10_000,
    heartbeatInterval: opts.heartbeatIntervalMs ?? 1_000,
    rebalanceTimeout: 30_000,
    maxWaitTimeInMs: 500,
  });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const next: Owned = {};
    for (const [t, ps] of Object.entries(e.payload.memberAssignment)) next[t] = [...ps].sort((a, b) => a - b);
    owned = next;
    count++;
    // Membership only: nothing is fetched (a paused consumer still heartbeats and rebalances). Paused here:
    // `run` may resolve before its group exists, and pausing before that throws. Until this first join
    // nothing is assigned, so nothing is fetched before it either.
    if (!paused) { paused = true; consumer.pause(opts.topics.map((topic) => ({ topic }))); }
    opts.onAssignment?.(new Map(Object.entries(owned)));
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...opts.topics], fromBeginning: false });
    await consumer.run({ eachBatchAutoResolve: false, autoCommit: false, eachBatch: async () => undefined });
  } catch (e) {
    await consumer.disconnect().catch(() => undefined);
    throw e;
  }
  return {
    owned: () => new Map(Object.entries(owned)),
    assignments: () => count,
    stop: () => consumer.disconnect(),
  };
}
