/**
 * This instance's membership in its cluster's task group (issue 17): who is in the cluster, where
 * each instance answers HTTP, and which tasks each one owns — what GET /v1/cluster shows, and the
 * assignment a task runtime will act on (`onAssignment`).
 *
 * The group is `_streamsql-<CLUSTER_ID>-tasks`, joined with connectors/kafka/task-assignor.ts
 * `joinTaskGroup` (a paused consumer: membership, not reading). Its subscription is the command topic
 * (so an instance with no query is still a member) plus every Kafka input topic of the catalog's
 * continuous queries; the planner is `tasksOf` over one partition group per query (placement.ts
 * `catalogPlacement`: its Kafka inputs and the changes topics of the views it reads, or one task,
 * task ids `<query name>#<p>`) + `assignTasks`. Each member reports its instance id and advertised
 * address in its subscription; the leader writes each member's tasks into its assignment, and every
 * member reads the whole group back with DescribeGroups after each join and every few seconds
 * (kafkajs tells a member only its own partitions). `alive` = in the group's current (Stable)
 * generation; an instance seen before and gone since is listed with alive false and no tasks.
 *
 * A catalog change (CREATE/DROP of a query, applied from the command log) calls `refresh()`: when the
 * partition groups changed the member leaves and joins again with its new subscription (kafkajs
 * cannot change a running consumer's subscription), reporting the tasks it owned, so the leader
 * recomputes and moves as little as balance allows. Which queries run is not decided here.
 *
 * Each member also reports the queries it knows, as versions (`groupVersions`: the query's name and a
 * hash of its SQL and topics), read from its catalog at each join; the leader assigns a query's tasks
 * only when every member reports the version the leader has (`taskPlanner`). An instance that has not
 * applied a CREATE yet would drop the tasks it cannot run, and stickiness would keep the rest where
 * they landed; instead the query waits for that instance's rejoin, which its catalog change triggers.
 */
import { createHash } from 'node:crypto';
import type { Log } from '../../connectors/kafka/client.ts';
import { commandTopicName } from '../../connectors/kafka/command-topic.ts';
import { joinTaskGroup, openTaskGroupAdmin, type TaskGroupAdmin, type TaskGroupMember, type TaskParts, type TaskPlanner } from '../../connectors/kafka/task-assignor.ts';
import type { CatalogObject } from '../../planner/index.ts';
import { assignTasks, tasksOf, type MemberClaim, type PartitionGroup } from './assignor.ts';
import { catalogPlacement } from './placement.ts';

/** One instance as the task group shows it. */
export interface ClusterMember {
  /** The instance id (INSTANCE_ID). */
  readonly id: string;
  /** Its advertised HTTP address (ADVERTISED_URL, else where it listens); null when it did not say. */
  readonly address: string | null;
  /** In the group's current generation. */
  readonly alive: boolean;
  /** Task ids it owns (`<query>#<partition>`), sorted. */
  readonly tasks: readonly string[];
}

export interface MembershipStatus {
  readonly groupId: string;
  /** Assignments this instance received so far (0: not joined yet). */
  readonly assignments: number;
  /** Every instance seen, by id: the current generation's first. */
  readonly members: readonly ClusterMember[];
  /** This instance's tasks with their partitions. */
  readonly tasks: readonly TaskParts[];
}

export interface Membership {
  status(): MembershipStatus;
  /** The catalog changed: rejoin if the partition groups did (debounced, in the background). */
  refresh(): void;
  /** Reads the group's description now (tests; otherwise after each join and every few seconds). */
  poll(): Promise<void>;
  close(): Promise<void>;
}

export interface MembershipOptions {
  readonly brokers: readonly string[];
  readonly clusterId: string;
  readonly instanceId: string;
  readonly address: string | null;
  /** The catalog's objects (queries, their sources) and the query ids, read at each (re)join. */
  catalog(): { objects: readonly CatalogObject[]; queryIdOf?(name: string): string | undefined };
  readonly log: Log;
  /** The group's session timeout (how long a silent member keeps its tasks). Default 10 s. */
  readonly sessionTimeoutMs?: number;
  /** How often the group is described besides after joins. Default 3 s. */
  readonly pollMs?: number;
  /** Called with this instance's tasks whenever they change (the hook for the task runtime). */
  onAssignment?(tasks: readonly TaskParts[]): void;
}

export const taskGroupId = (clusterId: string): string => `_streamsql-${clusterId}-tasks`;

/**
 * Each partition group's version as members report it: `<group id>@<hash>`, the hash over the group's
 * topics and its query's SQL (a query dropped and created again differently is another version).
 */
export function groupVersions(objects: readonly CatalogObject[], groups: readonly PartitionGroup[]): Map<string, string> {
  const sqlOf = new Map(objects.map((o) => [o.name.toLowerCase(), o.kind === 'source' ? '' : o.sql]));
  return new Map(groups.map((g) => [g.id, `${g.id}@${createHash('sha256').update(JSON.stringify([g.topics, sqlOf.get(g.id.toLowerCase()) ?? ''])).digest('hex').slice(0, 12)}`]));
}

/**
 * The leader's planner: the tasks of `groups`, assigned by `assignTasks`; a member knows a group when
 * it reported the same version of it as `versions` (the leader's). A member reporting no versions (an
 * older one) counts as knowing every group.
 */
export function taskPlanner(groups: readonly PartitionGroup[], versions: ReadonlyMap<string, string>): TaskPlanner {
  const ids = new Map([...versions].map(([id, v]) => [v, id]));
  return {
    tasks: (partitionsOf) => tasksOf(groups, partitionsOf),
    assign: (taskIds, members) => assignTasks(taskIds, members.map((m): MemberClaim => ({
      id: m.id, previous: m.previous, knows: m.knows === null ? null : m.knows.flatMap((v) => (ids.has(v) ? [ids.get(v)!] : [])),
    }))),
  };
}

export async function startMembership(opts: MembershipOptions): Promise<Membership> {
  const groupId = taskGroupId(opts.clusterId);
  const commandTopic = commandTopicName(opts.clusterId);
  const admin: TaskGroupAdmin = await openTaskGroupAdmin(opts.brokers, opts.log);
  let member: TaskGroupMember | null = null;
  let groupsKey = '';
  let closed = false;
  let chain: Promise<unknown> = Promise.resolve();
  const serial = (f: () => Promise<void>): Promise<void> => { const r = chain.then(f); chain = r.catch(() => undefined); return r; };

  /** instance id → last known member; `alive` from the latest Stable description. */
  const seen = new Map<string, { address: string | null; alive: boolean; tasks: string[] }>();
  let mine: TaskParts[] = [];
  let mineKey = '';
  let assignments = 0;

  /** The partition groups of the catalog as applied here now. */
  const groupsNow = (): { objects: readonly CatalogObject[]; groups: PartitionGroup[] } => {
    const c = opts.catalog();
    return { objects: c.objects, groups: [...catalogPlacement(c.objects, c.queryIdOf ?? (() => undefined), opts.clusterId, opts.brokers).groups] };
  };
  /** Topics of the groups that did not exist at the last join (a source's topic made later, a view's changes topic not created yet). */
  let missing: string[] = [];

  async function join(): Promise<void> {
    const { objects, groups } = groupsNow();
    groupsKey = JSON.stringify(groups);
    const topics = [...new Set(groups.flatMap((g) => g.topics))];
    const counts = await admin.partitionCounts(topics);
    missing = topics.filter((t) => !counts.has(t));
    const subscribed = [commandTopic, ...topics.filter((t) => counts.has(t))];
    const planner = taskPlanner(groups, groupVersions(objects, groups));
    const owned: Record<string, number[]> = {};
    for (const t of mine) for (const p of t.parts) (owned[p.topic] ??= []).push(p.partition);
    member = await joinTaskGroup({
      brokers: opts.brokers, groupId, topics: subscribed, planner,
      clientId: `streamsql-${opts.instanceId}`,
      sessionTimeoutMs: opts.sessionTimeoutMs ?? 10_000,
      // Survivors hear of a rebalance at their next heartbeat: a twelfth of the session (500 ms at 6 s), 1 s at most.
      heartbeatIntervalMs: Math.max(250, Math.min(1000, Math.round((opts.sessionTimeoutMs ?? 10_000) / 12))),
      initialOwned: owned,
      // Read at each JoinGroup: the catalog as applied here now (it may be ahead of this member's subscription).
      report: () => { const now = groupsNow(); return { tasks: mine.map((t) => t.id), knows: [...groupVersions(now.objects, now.groups).values()], info: { instance: opts.instanceId, address: opts.address } }; },
      onAssignment: () => { assignments++; void describeUntilStable(); },
      // kafkajs logs each rebalance as an error ("The group is rebalancing, re-joining"): routine here.
      log: (level, msg) => opts.log(level === 'error' && /rebalanc/i.test(msg) ? 'info' : level, msg),
    });
  }

  /** After a join: the group's description once every member has its assignment (a few tries). */
  async function describeUntilStable(): Promise<void> {
    for (let i = 0; i < 20 && !closed; i++) {
      if (await poll()) return;
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  let polling: Promise<boolean> | null = null;
  /** Reads the group; true when it was Stable (and so taken as the current generation). */
  function poll(): Promise<boolean> {
    polling ??= (async () => {
      try {
        const d = await admin.describe(groupId);
        if (d.state !== 'Stable') return false;
        const myId = member?.memberId() ?? null;
        if (myId && !d.members.some((m) => m.memberId === myId)) return false; // not yet the generation we joined
        for (const s of seen.values()) { s.alive = false; s.tasks = []; }
        for (const m of d.members) {
          const id = typeof m.info.instance === 'string' ? m.info.instance : m.clientId;
          const address = typeof m.info.address === 'string' ? m.info.address : null;
          const tasks = m.tasks.map((t) => t.id).sort(cmpTask);
          const prev = seen.get(id);
          // One instance twice in a generation (a rejoin before its old member expired): their tasks together.
          if (prev?.alive) { prev.tasks = [...prev.tasks, ...tasks].sort(cmpTask); continue; }
          seen.set(id, { address, alive: true, tasks });
          if (m.memberId === myId) {
            const key = JSON.stringify(m.tasks);
            if (key !== mineKey) {
              mineKey = key; mine = [...m.tasks];
              try { opts.onAssignment?.(mine); } catch (e) { opts.log('warn', `task group: onAssignment failed: ${(e as Error).message}`); }
            }
          }
        }
        return true;
      } catch (e) {
        if (!closed) opts.log('warn', `task group ${groupId}: cannot describe it: ${(e as Error).message}`);
        return false;
      } finally {
        polling = null;
      }
    })();
    return polling;
  }

  let debounce: NodeJS.Timeout | null = null;
  function refresh(): void {
    if (closed) return;
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = null;
      void serial(async () => {
        if (closed || JSON.stringify(groupsNow().groups) === groupsKey) return;
        const m = member; member = null;
        await m?.stop().catch(() => undefined);
        if (closed) return;
        await join().catch((e: Error) => {
          opts.log('error', `task group ${groupId}: cannot rejoin: ${e.message}`);
          setTimeout(refresh, 2000).unref();
          groupsKey = '';
        });
      });
    }, 100);
  }

  try {
    await join();
  } catch (e) {
    await admin.close().catch(() => undefined);
    throw e;
  }
  // A topic of a group that did not exist at the join: the group is joined again once it does.
  const appeared = async (): Promise<void> => {
    if (!missing.length || closed) return;
    const counts = await admin.partitionCounts(missing).catch(() => new Map<string, number>());
    if (![...counts.keys()].length || closed) return;
    opts.log('info', `task group ${groupId}: topic(s) ${[...counts.keys()].join(', ')} now exist: rejoining`);
    missing = [];
    groupsKey = '';
    refresh();
  };
  const timer = setInterval(() => { void poll(); void appeared(); }, opts.pollMs ?? 3000);
  timer.unref();
  opts.log('info', `cluster ${opts.clusterId}: instance ${opts.instanceId} joined task group ${groupId}${opts.address ? ` (address ${opts.address})` : ''}`);

  return {
    status() {
      const members = [...seen].map(([id, s]) => ({ id, address: s.address, alive: s.alive, tasks: [...s.tasks] }))
        .sort((a, b) => Number(b.alive) - Number(a.alive) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return { groupId, assignments, members, tasks: mine };
    },
    refresh,
    async poll() { await poll(); },
    async close() {
      closed = true;
      clearInterval(timer);
      if (debounce) clearTimeout(debounce);
      await chain.catch(() => undefined);
      const m = member; member = null;
      await m?.stop().catch(() => undefined);
      await polling?.catch(() => undefined);
      await admin.close().catch(() => undefined);
    },
  };
}

/** Task ids by query, then partition number. */
function cmpTask(a: string, b: string): number {
  const i = a.lastIndexOf('#'), j = b.lastIndexOf('#');
  const ga = a.slice(0, i), gb = b.slice(0, j);
  if (ga !== gb) return ga < gb ? -1 : 1;
  return Number(a.slice(i + 1)) - Number(b.slice(j + 1));
}
