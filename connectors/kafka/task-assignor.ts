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
 *
 * Status (GET /v1/cluster): a member may add its own fields to its subscription's user data
 * (`memberInfo`: instance id, HTTP address) and reports the task ids it owns (`tasks`, preferred over
 * `owned` for claims: two queries over one topic share its partitions but not their tasks). The leader
 * puts each member's task ids and their partitions in the assignment's user data
 * (`{"v":1,"tasks":[{id,parts:[[topic,p]…]}]}`). kafkajs hands a member only its decoded partitions,
 * so everyone's tasks are read back with `openTaskGroupAdmin().describe` (DescribeGroups: every
 * member's metadata and assignment, what `kafka-consumer-groups --describe --members` shows).
 *
 * Catalog versions: a member also reports the partition groups it knows (`knows`: opaque strings the
 * planner compares, e.g. a query name and a hash of its SQL), so that the leader assigns a query only
 * once every member has applied its CREATE (each member reads the command log at its own pace).
 */
import './kafkajs-patches.ts'; // before kafkajs: its read_committed filter, corrected
import kafkajs, { type Consumer, type PartitionAssigner } from 'kafkajs';
import { createKafka, type Log } from './client.ts';

const { AssignerProtocol } = kafkajs;

export const TASK_ASSIGNOR_NAME = 'streamsql-tasks';

export interface TaskParts { readonly id: string; readonly parts: readonly { readonly topic: string; readonly partition: number }[] }

/** What the queries layer decides (queries/cluster/assignor.ts). Pure: the leader's result is everyone's. */
export interface TaskPlanner {
  tasks(partitionsOf: (topic: string) => number | undefined): { tasks: readonly TaskParts[]; problems: readonly string[] };
  assign(taskIds: readonly string[], members: readonly { id: string; previous: readonly string[]; knows: readonly string[] | null }[]): ReadonlyMap<string, readonly string[]>;
}

type Owned = Record<string, number[]>;

/** A subscription's user data: the partitions owned, and (newer members) the task ids owned and member info. */
interface Subscription { owned: Owned; tasks: string[] | null; knows: string[] | null; info: Record<string, unknown> }

function decodeSubscription(userData: Buffer | null | undefined): Subscription {
  const none: Subscription = { owned: {}, tasks: null, knows: null, info: {} };
  if (!userData || userData.length === 0) return none;
  try {
    const d = JSON.parse(userData.toString('utf8')) as { v?: number; owned?: unknown; tasks?: unknown; knows?: unknown; info?: unknown };
    if (d.v !== 1 || !d.owned || typeof d.owned !== 'object') return none;
    const owned: Owned = {};
    for (const [t, ps] of Object.entries(d.owned as Record<string, unknown>)) if (Array.isArray(ps)) owned[t] = ps.filter((p): p is number => Number.isInteger(p));
    const tasks = Array.isArray(d.tasks) ? d.tasks.filter((t): t is string => typeof t === 'string') : null;
    const knows = Array.isArray(d.knows) ? d.knows.filter((t): t is string => typeof t === 'string') : null;
    const info = d.info && typeof d.info === 'object' && !Array.isArray(d.info) ? d.info as Record<string, unknown> : {};
    return { owned, tasks, knows, info };
  } catch {
    return none; // a member of another version: no claims, it gets tasks like a new member
  }
}

/** The tasks an assignment's user data names (empty for an assignment without them). */
function decodeAssignedTasks(userData: Buffer | null | undefined): TaskParts[] {
  if (!userData || userData.length === 0) return [];
  try {
    const d = JSON.parse(userData.toString('utf8')) as { v?: number; tasks?: unknown };
    if (d.v !== 1 || !Array.isArray(d.tasks)) return [];
    return d.tasks.flatMap((t: { id?: unknown; parts?: unknown }) => typeof t?.id === 'string' && Array.isArray(t.parts)
      ? [{ id: t.id, parts: (t.parts as unknown[]).filter((x): x is [string, number] => Array.isArray(x) && typeof x[0] === 'string' && Number.isInteger(x[1])).map(([topic, partition]) => ({ topic, partition })) }]
      : []);
  } catch {
    return [];
  }
}

/** What this member reports at its next join, besides the partitions it owns. */
export interface MemberReport {
  readonly tasks?: readonly string[];
  /** The partition groups this member knows (its catalog's version of each); absent: taken as all. */
  readonly knows?: readonly string[];
  readonly info?: Readonly<Record<string, unknown>>;
}

/**
 * The assigner for `consumer({ partitionAssigners: [assigner] })`. `owned()` is what this member
 * reports it owns at its next join; `onProblem` hears co-partitioning problems the leader found.
 */
export function taskAssigner(planner: TaskPlanner, owned: () => Owned, onProblem: (msg: string) => void = () => undefined, report: () => MemberReport = () => ({})): PartitionAssigner {
  return ({ cluster }) => ({
    name: TASK_ASSIGNOR_NAME,
    version: 1,
    protocol: ({ topics }) => ({
      name: TASK_ASSIGNOR_NAME,
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.from(JSON.stringify({ v: 1, owned: owned(), ...report() })) }),
    }),
    assign: async ({ members, topics }) => {
      const subscribed = new Set(topics);
      const partitionsOf = (t: string) => (subscribed.has(t) ? cluster.findTopicPartitionMetadata(t)?.length || undefined : undefined);
      const { tasks, problems } = planner.tasks(partitionsOf);
      for (const p of problems) onProblem(p);
      const taskOfPart = new Map<string, string>();
      for (const t of tasks) for (const p of t.parts) taskOfPart.set(`${p.topic}:${p.partition}`, t.id);
      const byId = new Map(tasks.map((t) => [t.id, t]));
      const claims = members.map((m) => {
        const md = AssignerProtocol.MemberMetadata.decode(m.memberMetadata);
        const sub = decodeSubscription(md?.userData);
        if (sub.tasks) return { id: m.memberId, previous: sub.tasks.filter((t) => byId.has(t)), knows: sub.knows };
        const previous = new Set<string>();
        for (const [topic, ps] of Object.entries(sub.owned)) for (const p of ps) { const id = taskOfPart.get(`${topic}:${p}`); if (id) previous.add(id); }
        return { id: m.memberId, previous: [...previous], knows: sub.knows };
      });
      const result = planner.assign(tasks.map((t) => t.id), claims);
      return members.map((m) => {
        const assignment: Record<string, number[]> = {};
        const mine = (result.get(m.memberId) ?? []).map((id) => byId.get(id)!);
        for (const t of mine) for (const p of t.parts) (assignment[p.topic] ??= []).push(p.partition);
        for (const [t, ps] of Object.entries(assignment)) assignment[t] = [...new Set(ps)].sort((a, b) => a - b);
        const userData = Buffer.from(JSON.stringify({ v: 1, tasks: mine.map((t) => ({ id: t.id, parts: t.parts.map((p) => [p.topic, p.partition]) })) }));
        return { memberId: m.memberId, memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment, userData }) };
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
  /** Partitions reported as owned at the first join (a member that rejoins keeps its claims: sticky). */
  readonly initialOwned?: Readonly<Record<string, readonly number[]>>;
  /** Task ids and member info reported at each join (asked at each join). */
  report?(): MemberReport;
  readonly log?: Log;
}

export interface TaskGroupMember {
  /** Partitions owned now (topic → sorted partitions). */
  owned(): ReadonlyMap<string, readonly number[]>;
  /** Assignments received so far (1 after the first join). */
  assignments(): number;
  /** This member's id in the group (null before the first join). */
  memberId(): string | null;
  /** Leaves the group (its tasks move at once, no session timeout). */
  stop(): Promise<void>;
}

/** Joins the task group; resolves once the consumer runs (the first assignment follows: see `assignments`). */
export async function joinTaskGroup(opts: TaskGroupOptions): Promise<TaskGroupMember> {
  let owned: Owned = Object.fromEntries(Object.entries(opts.initialOwned ?? {}).map(([t, ps]) => [t, [...ps]]));
  let memberId: string | null = null;
  let count = 0;
  let paused = false;
  const kafka = createKafka(opts.brokers, opts.clientId ?? `streamsql-${opts.groupId}`, opts.log);
  const consumer: Consumer = kafka.consumer({
    groupId: opts.groupId,
    partitionAssigners: [taskAssigner(opts.planner, () => owned, (m) => opts.log?.('warn', `task group ${opts.groupId}: ${m}`), () => opts.report?.() ?? {})],
    sessionTimeout: opts.sessionTimeoutMs ?? 10_000,
    heartbeatInterval: opts.heartbeatIntervalMs ?? 1_000,
    rebalanceTimeout: 30_000,
    // A paused consumer sleeps this long between its heartbeat checks: how soon a member hears of a
    // rebalance (a member's session expired, one joined) is this plus the heartbeat interval at worst.
    maxWaitTimeInMs: 250,
  });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const next: Owned = {};
    for (const [t, ps] of Object.entries(e.payload.memberAssignment)) next[t] = [...ps].sort((a, b) => a - b);
    owned = next;
    memberId = e.payload.memberId;
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
    memberId: () => memberId,
    stop: () => consumer.disconnect(),
  };
}

/** One member of a task group as DescribeGroups shows it. */
export interface TaskGroupMemberInfo {
  readonly memberId: string;
  readonly clientId: string;
  /** The `info` it reported in its subscription (instance id, address…). */
  readonly info: Readonly<Record<string, unknown>>;
  /** The tasks the leader gave it (empty while the group rebalances). */
  readonly tasks: readonly TaskParts[];
}

export interface TaskGroupDescription {
  /** Stable, PreparingRebalance, CompletingRebalance, Empty, Dead. Assignments are current only when Stable. */
  readonly state: string;
  readonly members: readonly TaskGroupMemberInfo[];
}

/** One admin connection for a member's status: the group's description and topics' partition counts. */
export interface TaskGroupAdmin {
  describe(groupId: string): Promise<TaskGroupDescription>;
  /** Partition counts of the topics that exist (others are left out). */
  partitionCounts(topics: readonly string[]): Promise<Map<string, number>>;
  close(): Promise<void>;
}

export async function openTaskGroupAdmin(brokers: readonly string[], log?: Log): Promise<TaskGroupAdmin> {
  const admin = createKafka(brokers, 'streamsql-task-group-admin', log).admin();
  await admin.connect();
  return {
    async describe(groupId) {
      const { groups } = await admin.describeGroups([groupId]);
      const g = groups[0];
      if (!g) return { state: 'Dead', members: [] };
      return {
        state: g.state,
        members: g.members.map((m) => {
          const md = m.memberMetadata.length > 0 ? AssignerProtocol.MemberMetadata.decode(m.memberMetadata) : null;
          const ma = m.memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
          return { memberId: m.memberId, clientId: m.clientId, info: decodeSubscription(md?.userData).info, tasks: decodeAssignedTasks(ma?.userData) };
        }),
      };
    },
    async partitionCounts(topics) {
      const out = new Map<string, number>();
      if (topics.length === 0) return out;
      const existing = new Set(await admin.listTopics());
      const wanted = [...new Set(topics)].filter((t) => existing.has(t));
      if (wanted.length === 0) return out;
      const md = await admin.fetchTopicMetadata({ topics: wanted });
      for (const t of md.topics) out.set(t.name, t.partitions.length);
      return out;
    },
    close: () => admin.disconnect(),
  };
}
