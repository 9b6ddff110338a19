/**
 * A view run as tasks, read whole on any instance of a cluster (issue 17): each task `<view>#p` fills its
 * own table on the instance that runs it (task-wiring.ts), so the view's rows are spread over the
 * instances. A read gathers them at read time: this instance asks every alive member of the task group
 * (membership.ts: id, advertised HTTP address, tasks) for its local share over HTTP (`?local=true`; its
 * own share without HTTP) and merges them.
 *
 * Why gathering rather than routing each view's rows to every instance (a view topic that every instance
 * materializes): a read costs one round trip per instance, but nothing is written twice, no instance holds
 * the whole of every view, and a task's rows are read from the one table that its exactly-once epochs
 * commit into, so what a reader sees is what the tasks committed, with no second copy to lag behind.
 *
 * What counts as a task's rows: its table once its runner is `running` (restored from the state topic),
 * never while it restores (an empty table then) nor once it is revoked, lost or failed. A task is taken
 * once: answered by two instances (a move in flight), the owner the task group names wins.
 *
 * - `rows`: one GET per member with a deadline; `partial` (with `missing` tasks and `unreachable`
 *   members) unless every task of the view answered.
 * - `localFeed`: this instance's share as a stream: `snapshot` (every ready task with its rows), then
 *   `change` per task commit, `task` when a task becomes ready here (with its rows), `untask` when one
 *   leaves. Served as SSE at `/v1/views/<v>/changes?local=true`.
 * - `feed`: the whole view's change feed: every member's local feed; once each task of the view is served
 *   by exactly one of them, one `snapshot` of all their rows, then their changes. When the set of tasks
 *   served changes (a task moved, a member came, went or stopped answering) it sends `resync`, subscribes
 *   again to every member and, once every task is served again, sends a fresh `snapshot` of the whole view:
 *   a client replaces its rows at each snapshot, so it never misses nor doubles one. A resumed connection
 *   (Last-Event-ID) starts with a snapshot too (nothing is buffered here).
 */
import type { Log } from '../../connectors/kafka/client.ts';
import { createQueryTable, type QueryTable } from '../../connectors/table/query-table.ts';
import { rowObject } from '../../executor/rows.ts';
import { SqlError, type MaterializedViewDef } from '../../planner/index.ts';
import type { ColumnInfo, ViewRows } from '../engine-api.ts';
import { formatChanges, type RowChange } from '../push.ts';
import { columnsOf, resultBudget } from '../results.ts';
import type { ClusterMember } from './membership.ts';

/** A view run as tasks here: its definition and the live map task → table of this instance's tasks. */
export interface ViewTaskTables {
  readonly def: MaterializedViewDef;
  readonly tables: ReadonlyMap<string, QueryTable>;
}

export interface ViewGatherConfig {
  /** This instance's id in the task group. */
  self(): string;
  /** The task group's members (membership.ts status; empty before the first join). */
  members(): readonly ClusterMember[];
  /** A view run as tasks (task-wiring.ts `viewTables`), undefined for any other name. */
  tables(view: string): ViewTaskTables | undefined;
  /** Whether a task's table holds its committed rows (its runner restored and running). */
  ready(task: string): boolean;
  readonly log: Log;
  /** How long a member may take to answer (a GET, or a feed's first snapshot). Default 5 s. */
  readonly timeoutMs?: number;
  /** How often the local feed looks for tasks that came or went, and the whole feed at membership. Default 250 ms. */
  readonly pollMs?: number;
  /** The API token sent to the other instances (API_TOKEN: every instance of a cluster has the same). */
  readonly token?: string;
}

/** How this instance calls the others (the server's API token, sent as a bearer token). */
export interface GatherAuth { readonly token?: string }

export interface TaskRows {
  readonly task: string; readonly epoch: number; readonly total: number; readonly rows: Record<string, unknown>[];
  /** With `raw`: the same rows as the table holds them, every column (non-finite numbers as {"$f": "NaN"}). */
  readonly raw?: unknown[][];
}

/** This instance's share of a task view (`?local=true`): its ready tasks' rows, task by task. */
export interface LocalViewRows extends ViewRows {
  readonly partial: true;
  readonly tasks: readonly { task: string; epoch: number; total: number; count: number }[];
  /** With `raw=true` (then `rows` is empty): the rows as the tables hold them, every column (SQL pull queries gather these). */
  readonly raw?: unknown[][];
}

/** The whole view: `partial` when some task did not answer (which, and which members failed). */
export interface GatheredViewRows extends ViewRows {
  readonly missing?: readonly string[];
  readonly unreachable?: readonly { instance: string; address: string | null; error: string }[];
}

export type LocalFeedEvent =
  | { readonly kind: 'snapshot'; readonly tasks: readonly TaskRows[] }
  | { readonly kind: 'task'; readonly task: string; readonly epoch: number; readonly total: number; readonly rows: Record<string, unknown>[] }
  | { readonly kind: 'untask'; readonly task: string }
  | { readonly kind: 'change'; readonly task: string; readonly epoch: number; readonly changes: readonly RowChange[] }
  | { readonly kind: 'end'; readonly reason: string };

export type GatheredFeedEvent =
  | { readonly kind: 'snapshot'; readonly epoch: number; readonly rows: readonly Record<string, unknown>[] }
  | { readonly kind: 'changes'; readonly epoch: number; readonly changes: readonly RowChange[] }
  | { readonly kind: 'resync'; readonly reason: string; readonly missing: readonly string[] }
  | { readonly kind: 'end'; readonly reason: string };

export interface ViewGather {
  /** True for a view run as tasks (the only views gathered). */
  isTaskView(view: string): boolean;
  columns(view: string): ColumnInfo[] | undefined;
  localRows(view: string, limit?: number, raw?: boolean): LocalViewRows | undefined;
  rows(view: string, limit: number | undefined, auth?: GatherAuth): Promise<GatheredViewRows | undefined>;
  /**
   * The whole view as a table, every column (SQL pull queries read it as they read a view's table); a
   * SqlError ('busy', 429) when a task of the view did not answer.
   */
  table(view: string, auth?: GatherAuth): Promise<QueryTable | undefined>;
  localFeed(view: string, send: (e: LocalFeedEvent) => void): (() => void) | undefined;
  feed(view: string, send: (e: GatheredFeedEvent) => void, auth?: GatherAuth): (() => void) | undefined;
}

const groupOf = (task: string): string => task.slice(0, task.lastIndexOf('#')).toLowerCase();
const byTask = (a: { task: string }, b: { task: string }): number => {
  const d = groupOf(a.task) < groupOf(b.task) ? -1 : groupOf(a.task) > groupOf(b.task) ? 1 : 0;
  return d || Number(a.task.slice(a.task.lastIndexOf('#') + 1)) - Number(b.task.slice(b.task.lastIndexOf('#') + 1));
};
const viewUrl = (address: string, view: string, changes: boolean): string =>
  `${address.replace(/\/+$/, '')}/v1/views/${encodeURIComponent(view)}${changes ? '/changes' : ''}?local=true`;

export function createViewGather(cfg: ViewGatherConfig): ViewGather {
  const timeoutMs = cfg.timeoutMs ?? 5000;
  const pollMs = cfg.pollMs ?? 250;

  /** This instance's ready tasks of a view, with their tables. */
  const readyTables = (v: ViewTaskTables): [string, QueryTable][] => [...v.tables].filter(([task]) => cfg.ready(task));
  const taskRows = (def: MaterializedViewDef, task: string, t: QueryTable, limit?: number, raw = false): TaskRows => {
    const all = t.rows();
    const rows = limit !== undefined && all.length > limit ? all.slice(all.length - limit) : all;
    // Raw: the table's rows only (a pull query reads those), not their JSON objects as well.
    return raw ? { task, epoch: t.epoch, total: all.length, rows: [], raw: rows.map(encodeRaw) }
      : { task, epoch: t.epoch, total: all.length, rows: rows.map((r) => rowObject(def.schema, r, def.visibleCount)) };
  };
  /** The alive members (this instance at least), and which of them the group says owns each task of the view. */
  const membersOf = (view: string) => {
    const self = cfg.self();
    const alive = cfg.members().filter((m) => m.alive);
    const list = alive.some((m) => m.id === self) ? alive : [...alive, { id: self, address: null, alive: true, tasks: [] }];
    const owner = new Map<string, string>();
    for (const m of list) for (const t of m.tasks) if (groupOf(t) === view.toLowerCase()) owner.set(t, m.id);
    return { self, list, owner };
  };

  const localRows = (view: string, limit?: number, raw = false): LocalViewRows | undefined => {
    const v = cfg.tables(view);
    if (!v) return undefined;
    const budget = resultBudget(`the rows of ${v.def.name} on this instance`, 'ask for fewer with ?limit=N');
    const tasks = readyTables(v).map(([task, t]) => taskRows(v.def, task, t, limit, raw)).sort(byTask);
    const rows = tasks.flatMap((t) => t.rows.map((r) => budget.add(r)));
    return {
      name: v.def.name, epoch: tasks.reduce((m, t) => Math.min(m, t.epoch), tasks.length ? Infinity : 0), total: tasks.reduce((n, t) => n + t.total, 0),
      columns: columnsOf(v.def.schema, v.def.visibleCount), rows, partial: true,
      tasks: tasks.map((t) => ({ task: t.task, epoch: t.epoch, total: t.total, count: raw ? t.raw!.length : t.rows.length })),
      ...(raw ? { raw: tasks.flatMap((t) => t.raw!.map((r) => budget.add(r))) } : {}),
    };
  };
  /** A local read cut back into its tasks. */
  const split = (l: LocalViewRows): TaskRows[] => {
    let at = 0;
    return l.tasks.map((t) => {
      const rows = l.raw ? [] : l.rows.slice(at, at + t.count);
      const raw = l.raw?.slice(at, at + t.count);
      at += t.count;
      return { task: t.task, epoch: t.epoch, total: t.total, rows, ...(raw ? { raw } : {}) };
    });
  };

  async function remoteRows(address: string, view: string, limit: number | undefined, raw: boolean, auth: GatherAuth): Promise<TaskRows[]> {
    const url = viewUrl(address, view, false) + (limit !== undefined ? `&limit=${limit}` : '') + (raw ? '&raw=true' : '');
    const res = await fetch(url, { headers: auth.token ? { authorization: `Bearer ${auth.token}` } : {}, signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const body = await res.json() as LocalViewRows;
    if (!Array.isArray(body.tasks) || !Array.isArray(body.rows) || (raw && !Array.isArray(body.raw))) throw new Error('not a local view read (an instance of another version?)');
    return split(body);
  }

  /** Every member's share, one answer per task (the owner the group names, else the newest epoch). */
  async function collect(view: string, limit: number | undefined, raw: boolean, auth: GatherAuth) {
    const { self, list, owner } = membersOf(view);
    const unreachable: { instance: string; address: string | null; error: string }[] = [];
    const answers = await Promise.all(list.map(async (m): Promise<{ id: string; tasks: TaskRows[] }> => {
      if (m.id === self) { const l = localRows(view, limit, raw); return { id: m.id, tasks: l ? split(l) : [] }; }
      if (!m.address) { unreachable.push({ instance: m.id, address: null, error: 'it advertises no HTTP address (ADVERTISED_URL)' }); return { id: m.id, tasks: [] }; }
      try {
        return { id: m.id, tasks: await remoteRows(m.address, view, limit, raw, auth) };
      } catch (e) {
        const err = e as Error;
        const error = err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : err.message;
        unreachable.push({ instance: m.id, address: m.address, error });
        return { id: m.id, tasks: [] };
      }
    }));
    const chosen = new Map<string, { from: string; t: TaskRows }>();
    for (const a of answers) {
      for (const t of a.tasks) {
        const prev = chosen.get(t.task);
        const better = !prev || (owner.get(t.task) === a.id && owner.get(t.task) !== prev.from) || (owner.get(t.task) !== prev.from && t.epoch > prev.t.epoch);
        if (better) chosen.set(t.task, { from: a.id, t });
      }
    }
    const tasks = [...chosen.values()].map((c) => c.t).sort(byTask);
    const missing = [...owner.keys()].filter((t) => !chosen.has(t)).sort((a, b) => byTask({ task: a }, { task: b }));
    const epoch = tasks.reduce((m, t) => Math.min(m, t.epoch), tasks.length ? Infinity : 0);
    // No task of the view in the group yet (just created, its topics missing, or this instance not in the group): not the whole view either.
    return { tasks, missing, unreachable, epoch, partial: missing.length > 0 || owner.size === 0 };
  }

  const gather: ViewGather = {
    isTaskView: (view) => cfg.tables(view) !== undefined,
    columns: (view) => { const v = cfg.tables(view); return v ? columnsOf(v.def.schema, v.def.visibleCount) : undefined; },
    localRows,

    async rows(view, limit, auth = {}) {
      const v = cfg.tables(view);
      if (!v) return undefined;
      const { tasks, missing, unreachable, epoch, partial } = await collect(view, limit, false, { token: auth.token ?? cfg.token });
      const budget = resultBudget(`the newest rows of ${v.def.name}`, 'ask for fewer with ?limit=N');
      const all = tasks.flatMap((t) => t.rows);
      const rows = (limit !== undefined && all.length > limit ? all.slice(all.length - limit) : all).map((r) => budget.add(r));
      return {
        name: v.def.name, epoch, total: tasks.reduce((n, t) => n + t.total, 0), columns: columnsOf(v.def.schema, v.def.visibleCount), rows,
        ...(partial ? { partial: true, missing } : {}), ...(unreachable.length ? { unreachable } : {}),
      };
    },

    async table(view, auth = {}) {
      const v = cfg.tables(view);
      if (!v) return undefined;
      const { tasks, missing, unreachable, epoch, partial } = await collect(view, undefined, true, { token: auth.token ?? cfg.token });
      if (partial) {
        const why = missing.length ? `its tasks ${missing.join(', ')} did not answer${unreachable.length ? ` (${unreachable.map((u) => `${u.instance}: ${u.error}`).join('; ')})` : ' (moving)'}` : 'no instance runs its tasks yet';
        throw new SqlError(`view ${v.def.name} runs as tasks across the cluster and ${why}: try again`, 1, 1, 'busy');
      }
      const t = createQueryTable(v.def.name, v.def.schema, v.def.keyColumns, null);
      t.load(tasks.flatMap((x) => x.raw!.map(decodeRaw)), epoch);
      return t;
    },

    localFeed(view, send) {
      const first = cfg.tables(view);
      if (!first) return undefined;
      const def = first.def;
      const subs = new Map<string, { table: QueryTable; off: () => void }>();
      let ended = false;
      const scan = (initial: boolean) => {
        if (ended) return;
        const v = cfg.tables(view);
        if (!v || v.def !== def) { stop(); send({ kind: 'end', reason: `view ${def.name} was dropped` }); return; }
        const now = new Map(readyTables(v));
        for (const [task, s] of [...subs]) {
          if (now.get(task) === s.table) continue;
          s.off(); subs.delete(task);
          send({ kind: 'untask', task });
        }
        const added: TaskRows[] = [];
        for (const [task, t] of now) {
          if (subs.has(task)) continue;
          // Rows read and subscription taken in one synchronous step: the changes follow these rows exactly.
          const off = t.subscribe((epoch, changes) => send({ kind: 'change', task, epoch, changes: formatChanges(def.schema, def.visibleCount, changes) }));
          subs.set(task, { table: t, off });
          added.push(taskRows(def, task, t));
        }
        if (initial) send({ kind: 'snapshot', tasks: added.sort(byTask) });
        else for (const a of added) send({ kind: 'task', ...a });
      };
      const timer = setInterval(() => scan(false), pollMs);
      timer.unref();
      const stop = () => { ended = true; clearInterval(timer); for (const s of subs.values()) s.off(); subs.clear(); };
      scan(true);
      return stop;
    },

    feed(view, send, auth = {}) {
      const first = cfg.tables(view);
      if (!first) return undefined;
      const def = first.def;
      let closed = false;
      let gen = 0;
      let live = false;
      let streams: (() => void)[] = [];
      /** Per member of this generation: its ready tasks (rows until the snapshot is sent), or the reason it failed. */
      let shares = new Map<string, Map<string, TaskRows> | { failed: string }>();
      let waiting: string[] = [];
      let buffered: { from: string; task: string; epoch: number; changes: readonly RowChange[] }[] = [];
      let chosen = new Map<string, string>();
      let basis = '';
      let since = 0;
      /** When the client last had the whole view (or the feed started), and whether it was told what is missing since. */
      let notLiveSince = Date.now();
      let told = false;

      const keyOf = (m: ReturnType<typeof membersOf>) => JSON.stringify(m.list.map((x) => [x.id, x.address, x.tasks.filter((t) => groupOf(t) === view.toLowerCase())]));

      const end = (reason: string) => { if (closed) return; close(); send({ kind: 'end', reason }); };

      function restart(reason: string): void {
        gen++;
        for (const s of streams.splice(0)) s();
        if (live) { send({ kind: 'resync', reason, missing: [] }); notLiveSince = Date.now(); told = false; }
        live = false;
        shares = new Map(); buffered = []; chosen = new Map();
        const m = membersOf(view);
        basis = keyOf(m); since = Date.now();
        waiting = m.list.map((x) => x.id);
        const g = gen;
        for (const x of m.list) {
          const on = (e: LocalFeedEvent) => { if (g === gen && !closed) handle(x.id, e); };
          if (x.id === m.self) {
            const off = gather.localFeed(view, on);
            if (!off) { end(`view ${def.name} was dropped`); return; }
            streams.push(off);
          } else if (!x.address) {
            shares.set(x.id, { failed: 'it advertises no HTTP address (ADVERTISED_URL)' });
          } else {
            streams.push(openRemoteFeed(viewUrl(x.address, view, true), { token: auth.token ?? cfg.token }, on, (err) => { if (g === gen && !closed) failed(x.id, err); }));
          }
        }
        check();
      }

      function failed(id: string, err: string): void {
        if (live) { restart(`instance ${id} stopped answering (${err})`); return; }
        shares.set(id, { failed: err });
      }

      function handle(from: string, e: LocalFeedEvent): void {
        const share = shares.get(from);
        switch (e.kind) {
          case 'snapshot': shares.set(from, new Map(e.tasks.map((t) => [t.task, t]))); check(); return;
          case 'task':
            if (live) { restart(`task ${e.task} is served by ${from} now`); return; }
            // Its rows now: changes buffered from an earlier incarnation of it are in them or gone.
            buffered = buffered.filter((b) => b.from !== from || b.task !== e.task);
            if (share instanceof Map) share.set(e.task, e);
            check();
            return;
          case 'untask':
            if (live) { if (chosen.get(e.task) === from) restart(`task ${e.task} left ${from}`); return; }
            buffered = buffered.filter((b) => b.from !== from || b.task !== e.task);
            if (share instanceof Map) share.delete(e.task);
            check();
            return;
          case 'change':
            if (live) { if (chosen.get(e.task) === from && e.changes.length) send({ kind: 'changes', epoch: e.epoch, changes: e.changes }); return; }
            buffered.push({ from, task: e.task, epoch: e.epoch, changes: e.changes });
            return;
          case 'end': end(e.reason); return;
        }
      }

      /** The tasks not served yet (every task the group lists, each by exactly one member). */
      function coverage(): { missing: string[]; pick: Map<string, string> } {
        const { owner } = membersOf(view);
        const served = new Map<string, string[]>();
        for (const [id, s] of shares) if (s instanceof Map) for (const t of s.keys()) served.set(t, [...(served.get(t) ?? []), id]);
        const pick = new Map<string, string>();
        const missing: string[] = [];
        for (const t of new Set([...owner.keys(), ...served.keys()])) {
          const by = served.get(t) ?? [];
          const o = owner.get(t);
          if (by.length === 1 && (o === undefined || o === by[0] || !shares.has(o) || !(shares.get(o) instanceof Map))) pick.set(t, by[0]!);
          else if (o !== undefined && by.includes(o)) pick.set(t, o);
          else missing.push(t);
        }
        return { missing: missing.sort((a, b) => byTask({ task: a }, { task: b })), pick };
      }

      function check(): void {
        if (live || closed) return;
        // Every member has answered (or failed); a failed one's tasks are missing until the group moves them.
        if (waiting.some((id) => !shares.has(id))) return;
        const { missing, pick } = coverage();
        if (missing.length) return;
        live = true;
        chosen = pick;
        const tasks: TaskRows[] = [];
        for (const [t, id] of pick) tasks.push((shares.get(id) as Map<string, TaskRows>).get(t)!);
        tasks.sort(byTask);
        const budget = resultBudget(`the snapshot of ${def.name}`);
        send({ kind: 'snapshot', epoch: tasks.reduce((m, t) => Math.min(m, t.epoch), tasks.length ? Infinity : 0), rows: tasks.flatMap((t) => t.rows.map((r) => budget.add(r))) });
        for (const b of buffered.splice(0)) if (chosen.get(b.task) === b.from && b.changes.length) send({ kind: 'changes', epoch: b.epoch, changes: b.changes });
        // The rows are the client's now: keep only which member serves which task.
        for (const s of shares.values()) if (s instanceof Map) for (const [k, t] of s) s.set(k, { ...t, rows: [] });
      }

      const timer = setInterval(() => {
        if (closed) return;
        const changed = keyOf(membersOf(view)) !== basis;
        if (live) { if (changed) restart('the task group changed (members or their tasks)'); return; }
        const late = Date.now() - since;
        // Not complete: look again when the group changed, or retry members that failed or are silent.
        if (changed || (late > 1000 && [...shares.values()].some((s) => !(s instanceof Map))) || late > timeoutMs * 2) { restart('waiting for every task of the view'); return; }
        if (late > timeoutMs) {
          for (const id of waiting) if (!shares.has(id)) shares.set(id, { failed: `no snapshot within ${timeoutMs} ms` });
          check();
        }
        // Without the whole view for a while: the client is told which tasks it waits for (once per wait).
        if (!live && !told && Date.now() - notLiveSince > timeoutMs) {
          told = true;
          const silent = [...shares].filter(([, s]) => !(s instanceof Map)).map(([id]) => id);
          send({ kind: 'resync', reason: `waiting for every task of the view${silent.length ? ` (not answering: ${silent.join(', ')})` : ''}`, missing: coverage().missing });
        }
      }, pollMs);
      timer.unref();

      function close(): void {
        if (closed) return;
        closed = true;
        clearInterval(timer);
        for (const s of streams.splice(0)) s();
      }
      restart('start');
      return close;
    },
  };
  return gather;
}

/** A table row as JSON: numbers that JSON cannot hold (NaN, ±Infinity) as {"$f": "…"}. */
function encodeRaw(r: readonly unknown[]): unknown[] {
  return r.map(function enc(x: unknown): unknown {
    if (typeof x === 'number') return Number.isFinite(x) ? x : { $f: String(x) };
    if (Array.isArray(x)) return x.map(enc);
    if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, enc(y)]));
    return x;
  });
}
function decodeRaw(r: readonly unknown[]): unknown[] {
  return r.map(function dec(x: unknown): unknown {
    if (Array.isArray(x)) return x.map(dec);
    if (x && typeof x === 'object') {
      const o = x as Record<string, unknown>;
      if (typeof o.$f === 'string' && Object.keys(o).length === 1) return Number(o.$f);
      return Object.fromEntries(Object.entries(o).map(([k, y]) => [k, dec(y)]));
    }
    return x;
  });
}

/**
 * Another instance's local feed (`/v1/views/<v>/changes?local=true`) over Node's fetch: the SSE frames
 * parsed as they come. `onError` once when the stream fails or ends; the returned function closes it.
 */
function openRemoteFeed(url: string, auth: GatherAuth, on: (e: LocalFeedEvent) => void, onError: (err: string) => void): () => void {
  const ac = new AbortController();
  let done = false;
  const fail = (err: string) => { if (done) return; done = true; ac.abort(); onError(err); };
  void (async () => {
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...(auth.token ? { authorization: `Bearer ${auth.token}` } : {}) }, signal: ac.signal });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (!data.length || done) continue;
        const d = JSON.parse(data.join('\n')) as Record<string, unknown>;
        if (event === 'snapshot' || event === 'task' || event === 'untask' || event === 'change' || event === 'end') on({ kind: event, ...d } as LocalFeedEvent);
        if (event === 'end') { done = true; ac.abort(); return; }
      }
    }
    throw new Error('the stream ended');
  })().catch((e: Error) => fail(e.name === 'AbortError' ? 'closed' : e.message));
  return () => { done = true; ac.abort(); };
}
