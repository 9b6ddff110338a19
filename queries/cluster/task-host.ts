/**
 * The tasks one instance runs (issue 17): told which tasks it owns — by the task group's assignment
 * (connectors/kafka/task-assignor.ts `joinTaskGroup` → `onAssignment`) or directly — it starts the
 * new ones and stops the revoked ones (their open epoch committed first, so the next owner resumes
 * exactly there; a dropped query's tasks stop without it). A task that is lost or failed while still
 * owned here (a commit that failed: fenced, or its outcome unknown; a broker error at start) is started
 * again as a new incarnation after a backoff, which restores from the state topic: a runner never
 * retries a commit itself (task-runner.ts says why).
 *
 * Assignments are applied one at a time, in order. Stopping revoked tasks comes before starting new
 * ones, so a task moving between two instances of one process (tests) never runs twice here.
 */
import type { Log } from '../../connectors/kafka/client.ts';
import type { TaskParts } from '../../connectors/kafka/task-assignor.ts';
import type { QueryTable } from '../../connectors/table/query-table.ts';
import type { QueryOptions } from '../../planner/catalog.ts';
import type { PhysicalPlan } from '../../planner/physical.ts';
import { createTaskRunner, type TaskRunner, type TaskRunnerConfig, type TaskStatus } from './task-runner.ts';

/** What a host needs to run a query's tasks. */
export interface TaskQuery {
  readonly plan: PhysicalPlan;
  readonly options: QueryOptions;
  /**
   * A view sink's table for one task (each task checkpoints and restores its own rows; gathering a
   * view's tasks into one is the view topic's job, not this runtime's).
   */
  readonly table?: (task: string) => QueryTable;
  readonly hasExchange?: boolean;
  /** Its repartition exchanges with its task count (task-runner.ts `exchanges`). */
  readonly exchanges?: TaskRunnerConfig['exchanges'];
  /** One task reading every partition of its inputs (task-runner.ts `single`). */
  readonly single?: boolean;
  /**
   * Names the state topic and the tasks' transactional ids (default: the query's name). The engine adds
   * the query id, so a query dropped and created again under its name never restores the old one's state.
   */
  readonly stateName?: string;
}

export interface TaskHostConfig {
  readonly clusterId: string;
  readonly brokers: readonly string[];
  readonly log: Log;
  /** The query a task id's group names (`<query>#p` → query), or undefined when this instance does not know it (yet). */
  query(name: string): TaskQuery | undefined;
  readonly stateTopicPartitions?: number;
  /** First wait before a lost or failed task is started again (doubles to 10 s). Default 500 ms. */
  readonly reviveDelayMs?: number;
}

export interface TaskHost {
  /** Runs exactly `tasks` from now on; resolves once revoked tasks stopped and new ones started (or failed to). */
  assign(tasks: readonly TaskParts[]): Promise<void>;
  /**
   * joinTaskGroup's `onAssignment`: the partitions now owned → the tasks (of `all`, the planner's list)
   * whose partitions are all owned here.
   */
  onAssignment(owned: ReadonlyMap<string, readonly number[]>, all: readonly TaskParts[]): Promise<void>;
  /** The current incarnation of a task run here. */
  runner(task: string): TaskRunner | undefined;
  status(): TaskStatus[];
  /** Incarnations started after a lost or failed one, so far. */
  readonly revivals: number;
  /** Stops every task (final epochs committed when `checkpoint`, the default). */
  close(opts?: { checkpoint?: boolean }): Promise<void>;
  /**
   * Stops managing its tasks without stopping them: what a process that hangs or dies leaves behind
   * (fault tests). Its runners keep going until fenced by the tasks' next owners.
   */
  abandon(): void;
}

const groupOf = (task: string): string => { const i = task.lastIndexOf('#'); return i < 0 ? task : task.slice(0, i); };

/** The tasks of `all` whose partitions are all in `owned`. */
export function ownedTasks(owned: ReadonlyMap<string, readonly number[]>, all: readonly TaskParts[]): TaskParts[] {
  const has = (t: string, p: number) => owned.get(t)?.includes(p) ?? false;
  return all.filter((t) => t.parts.length > 0 && t.parts.every((p) => has(p.topic, p.partition)));
}

export function createTaskHost(cfg: TaskHostConfig): TaskHost {
  const runners = new Map<string, { runner: TaskRunner; parts: TaskParts; delay: number; timer: NodeJS.Timeout | null }>();
  let chain: Promise<unknown> = Promise.resolve();
  let revivals = 0;
  let closed = false;
  let watch: NodeJS.Timeout | null = null;
  const serial = (f: () => Promise<void>): Promise<void> => { const r = chain.then(f); chain = r.catch(() => undefined); return r; };

  function make(parts: TaskParts): TaskRunner | null {
    const q = cfg.query(groupOf(parts.id));
    if (!q) { cfg.log('warn', `task ${parts.id}: query ${groupOf(parts.id)} is not known on this instance; not started`); return null; }
    return createTaskRunner({
      clusterId: cfg.clusterId, query: q.stateName ?? groupOf(parts.id), task: parts.id, plan: q.plan, parts: parts.parts, options: q.options,
      brokers: cfg.brokers, log: cfg.log, table: q.table?.(parts.id), hasExchange: q.hasExchange, ...(q.exchanges ? { exchanges: q.exchanges } : {}), ...(q.single ? { single: true } : {}), stateTopicPartitions: cfg.stateTopicPartitions,
    });
  }

  async function startOne(parts: TaskParts, delay: number): Promise<void> {
    let runner: TaskRunner | null;
    try { runner = make(parts); } catch (e) { cfg.log('error', `task ${parts.id}: ${(e as Error).message}`); return; }
    if (!runner) return;
    runners.set(parts.id, { runner, parts, delay, timer: null });
    await runner.start().catch((e) => cfg.log('warn', `task ${parts.id} did not start: ${(e as Error).message}`));
  }

  /** Lost or failed tasks still owned: a new incarnation after their backoff. */
  function checkRevive(): void {
    if (closed) return;
    for (const [id, r] of runners) {
      const s = r.runner.state();
      if ((s !== 'lost' && s !== 'failed') || r.timer) continue;
      r.timer = setTimeout(() => {
        void serial(async () => {
          const cur = runners.get(id);
          if (closed || cur !== r) return; // revoked meanwhile
          await r.runner.stop({ checkpoint: false }).catch(() => undefined);
          revivals++;
          cfg.log('info', `task ${id}: starting a new incarnation after ${s}`);
          await startOne(r.parts, Math.min(r.delay * 2, 10_000));
        });
      }, r.delay);
    }
  }
  watch = setInterval(checkRevive, 200);

  const assign = (tasks: readonly TaskParts[]): Promise<void> => serial(async () => {
    if (closed) return;
    const want = new Map(tasks.map((t) => [t.id, t]));
    const revoked = [...runners].filter(([id]) => !want.has(id));
    await Promise.all(revoked.map(async ([id, r]) => {
      runners.delete(id);
      if (r.timer) clearTimeout(r.timer);
      // A task of a dropped query (no longer known here) stops without a final epoch: nobody resumes it, and its
      // epoch would commit into topics the DROP is deleting (measured: up to 10 s of failed TxnOffsetCommits).
      const dropped = cfg.query(groupOf(id)) === undefined;
      await r.runner.stop({ checkpoint: !dropped }).catch((e) => cfg.log('warn', `task ${id}: stop failed: ${(e as Error).message}`));
    }));
    await Promise.all([...want.values()].filter((t) => !runners.has(t.id)).map((t) => startOne(t, cfg.reviveDelayMs ?? 500)));
  });

  return {
    assign,
    onAssignment: (owned, all) => assign(ownedTasks(owned, all)),
    runner: (task) => runners.get(task)?.runner,
    status: () => [...runners.values()].map((r) => r.runner.status()),
    get revivals() { return revivals; },
    async close(opts = {}) {
      await serial(async () => {
        closed = true;
        if (watch) clearInterval(watch);
        const all = [...runners.values()];
        runners.clear();
        await Promise.all(all.map(async (r) => { if (r.timer) clearTimeout(r.timer); await r.runner.stop({ checkpoint: opts.checkpoint ?? true }).catch(() => undefined); }));
      });
    },
    abandon() {
      closed = true;
      if (watch) clearInterval(watch);
      for (const r of runners.values()) if (r.timer) clearTimeout(r.timer);
      runners.clear();
    },
  };
}
