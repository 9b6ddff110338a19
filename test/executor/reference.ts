/**
 * A plain, obviously-correct batch computation of windowed aggregates, to check the streaming
 * operators against. Nothing here is shared with executor/: window membership is enumerated from the
 * definitions, sessions are built by sorting, aggregates are folded over JS arrays.
 *
 * Lateness is decided the way the operators decide it, from the watermark in force when a row's batch
 * is processed:
 * - tumble / hop / cumulate: a row is dropped for each of its windows whose end ≤ watermark (a hop or
 *   cumulate row can be late for some of its windows only); it counts as late when none is kept;
 * - session: a row is late when its own session [t, t + gap) would already be closed (t + gap ≤
 *   watermark), or when it falls into a session of its key that closed (end ≤ watermark) — that
 *   session was final and emitted, so joining it would change a result already given.
 */

export interface Ev {
  readonly k: string | null;
  readonly ik: number | null;
  readonly v: number | null;
  readonly d: number | null;
  readonly ts: number | null;
}

export type Win =
  | { readonly kind: 'tumble'; readonly size: number; readonly offset: number }
  | { readonly kind: 'hop'; readonly slide: number; readonly size: number; readonly offset: number }
  | { readonly kind: 'cumulate'; readonly step: number; readonly size: number; readonly offset: number }
  | { readonly kind: 'session'; readonly gap: number };

/** Every [start, end) window containing t, by enumeration. */
export function windowsOf(w: Exclude<Win, { kind: 'session' }>, t: number): [number, number][] {
  const out: [number, number][] = [];
  switch (w.kind) {
    case 'tumble': {
      const s = Math.floor((t - w.offset) / w.size) * w.size + w.offset;
      out.push([s, s + w.size]);
      break;
    }
    case 'hop': {
      // Window starts are offset + j·slide; walk down from the latest start ≤ t while the window reaches t.
      for (let s = Math.floor((t - w.offset) / w.slide) * w.slide + w.offset; s + w.size > t; s -= w.slide) out.push([s, s + w.size]);
      break;
    }
    case 'cumulate': {
      const p = Math.floor((t - w.offset) / w.size) * w.size + w.offset;
      for (let e = p + w.step; e <= p + w.size; e += w.step) if (e > t) out.push([p, e]);
      break;
    }
  }
  return out;
}

export interface RefBatch {
  readonly rows: readonly Ev[];
  /** Watermark in force when the batch is processed. */
  readonly wm: number;
}

export interface Assigned {
  readonly ev: Ev;
  readonly start: number;
  readonly end: number;
}

export interface RefResult {
  readonly pairs: Assigned[];
  readonly lateRows: number;
}

/** Rows of every window (tumble, hop, cumulate), without the windows that had closed for them. */
export function assignWindows(w: Exclude<Win, { kind: 'session' }>, batches: readonly RefBatch[]): RefResult {
  const pairs: Assigned[] = [];
  let lateRows = 0;
  for (const b of batches) {
    for (const ev of b.rows) {
      if (ev.ts === null) { lateRows++; continue; }
      let kept = 0;
      for (const [s, e] of windowsOf(w, ev.ts)) if (e > b.wm) { pairs.push({ ev, start: s, end: e }); kept++; }
      if (kept === 0) lateRows++;
    }
  }
  return { pairs, lateRows };
}

export type KeyOf = (ev: Ev) => string;

/** Sessions of a set of events: per key, sorted by time, a new session when an event is past the current end. */
export function sessions(gap: number, evs: readonly Ev[], keyOf: KeyOf): Assigned[] {
  const byKey = new Map<string, Ev[]>();
  for (const ev of evs) { const k = keyOf(ev); (byKey.get(k) ?? byKey.set(k, []).get(k)!).push(ev); }
  const out: Assigned[] = [];
  for (const list of byKey.values()) {
    list.sort((a, b) => a.ts! - b.ts!);
    let members: Ev[] = []; let start = 0; let end = -Infinity;
    const close = () => { for (const ev of members) out.push({ ev, start, end }); };
    for (const ev of list) {
      if (ev.ts! <= end) { members.push(ev); end = Math.max(end, ev.ts! + gap); continue; }
      if (members.length) close();
      members = [ev]; start = ev.ts!; end = ev.ts! + gap;
    }
    if (members.length) close();
  }
  return out;
}

export function assignSessions(gap: number, batches: readonly RefBatch[], keyOf: KeyOf): RefResult {
  const kept: Ev[] = [];
  let lateRows = 0;
  for (const b of batches) {
    // Sessions closed by the watermark in force: final, so nothing may join them any more.
    const closed = new Map<string, { start: number; end: number }[]>();
    for (const a of sessions(gap, kept, keyOf)) {
      if (a.end > b.wm) continue;
      const k = keyOf(a.ev);
      const l = closed.get(k) ?? closed.set(k, []).get(k)!;
      if (!l.some((x) => x.start === a.start)) l.push({ start: a.start, end: a.end });
    }
    for (const ev of b.rows) {
      if (ev.ts === null || ev.ts + gap <= b.wm) { lateRows++; continue; }
      const t = ev.ts;
      if ((closed.get(keyOf(ev)) ?? []).some((s) => s.start <= t + gap && t <= s.end)) { lateRows++; continue; }
      kept.push(ev);
    }
  }
  return { pairs: sessions(gap, kept, keyOf), lateRows };
}

/** The aggregates of the property-test query, over the rows of one group. */
export function aggregateRows(evs: readonly Ev[]): Record<string, unknown> {
  const vs = evs.map((e) => e.v).filter((x): x is number => x !== null);
  const iks = evs.map((e) => e.ik).filter((x): x is number => x !== null);
  const ds = evs.map((e) => e.d).filter((x): x is number => x !== null);
  const sdp = evs.filter((e) => e.ik !== null && e.ik > 0 && e.d !== null).map((e) => e.d!);
  const sum = (a: number[]) => a.reduce((s, x) => s + x, 0);
  return {
    n: evs.length,
    nv: vs.length,
    sv: vs.length ? sum(vs) : null,
    mi: iks.length ? Math.min(...iks) : null,
    mx: vs.length ? Math.max(...vs) : null,
    ad: ds.length ? sum(ds) / ds.length : null,
    dv: new Set(vs).size,
    big: evs.filter((e) => e.v !== null && e.v > 50).length,
    sdp: sdp.length ? sum(sdp) : null,
  };
}

/** Groups assigned rows by (window, key columns) and aggregates each group. */
export function groupAndAggregate(pairs: readonly Assigned[], keys: readonly ('k' | 'ik')[]): Record<string, unknown>[] {
  const groups = new Map<string, { start: number; end: number; ev: Ev; evs: Ev[] }>();
  for (const p of pairs) {
    const id = JSON.stringify([p.start, p.end, ...keys.map((k) => p.ev[k])]);
    const g = groups.get(id) ?? groups.set(id, { start: p.start, end: p.end, ev: p.ev, evs: [] }).get(id)!;
    g.evs.push(p.ev);
  }
  return [...groups.values()].map((g) => {
    const o: Record<string, unknown> = { window_start: new Date(g.start).toISOString(), window_end: new Date(g.end).toISOString() };
    for (const k of keys) o[k] = g.ev[k];
    return { ...o, ...aggregateRows(g.evs) };
  });
}

/** The source watermark after each batch, computed from its definition (min over partitions of max − delay). */
export function watermarks(batches: readonly { partition: number; rows: readonly Ev[] }[], delay: number): number[] {
  const waiting = new Set(batches.map((b) => b.partition));
  const max = new Map<number, number>();
  let wm = -Infinity;
  const before: number[] = [];
  for (const b of batches) {
    before.push(wm);
    waiting.delete(b.partition);
    for (const ev of b.rows) if (ev.ts !== null && ev.ts > (max.get(b.partition) ?? -Infinity)) max.set(b.partition, ev.ts);
    if (waiting.size === 0 && max.size > 0) wm = Math.max(wm, Math.min(...max.values()) - delay);
  }
  return before;
}

/** Rows with sorted keys, in a canonical order, for comparison. */
export function canon(rows: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  return rows
    .map((r) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1))))
    .map((r) => [JSON.stringify(r), r] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map((x) => x[1]);
}

/*
 * Graph reference (graph-properties.test.ts): plain computations over rows {k, v, ts} that reached a
 * node, each with the watermark in force there when it arrived. Nothing is shared with executor/.
 */

export interface GRow { readonly k: string | null; readonly v: number | null; readonly ts: number | null }
export interface Arrived { readonly row: GRow; readonly wm: number }

/** Orders values as SQL ORDER BY does here: NULL last ascending, first descending. */
export function sqlCompare(x: unknown, y: unknown, desc = false): number {
  if (x === y) return 0;
  if (x === null) return desc ? -1 : 1;
  if (y === null) return desc ? 1 : -1;
  const c = (x as number) < (y as number) ? -1 : 1;
  return desc ? -c : c;
}

/** Tumbling windows of `size` with COUNT(*), SUM(v), MAX(v) per (window, k); rows whose window closed are left out. */
export function refTumble(rows: readonly Arrived[], size: number): { start: number; end: number; k: string | null; n: number; sv: number | null; mx: number | null }[] {
  const groups = new Map<string, { start: number; end: number; k: string | null; vs: (number | null)[] }>();
  for (const { row, wm } of rows) {
    if (row.ts === null) continue;
    const start = Math.floor(row.ts / size) * size; const end = start + size;
    if (end <= wm) continue;
    const id = JSON.stringify([start, row.k]);
    (groups.get(id) ?? groups.set(id, { start, end, k: row.k, vs: [] }).get(id)!).vs.push(row.v);
  }
  return [...groups.values()].map((g) => {
    const vs = g.vs.filter((x): x is number => x !== null);
    return { start: g.start, end: g.end, k: g.k, n: g.vs.length, sv: vs.length ? vs.reduce((a, b) => a + b, 0) : null, mx: vs.length ? Math.max(...vs) : null };
  });
}

/** First row per k by time among rows not at or behind the watermark; last row per k by time (times are distinct). */
export function refDedup(rows: readonly Arrived[], keep: 'first' | 'last'): GRow[] {
  const best = new Map<string, GRow>();
  for (const { row, wm } of rows) {
    if (row.ts === null || (keep === 'first' && row.ts <= wm)) continue;
    const id = JSON.stringify(row.k);
    const cur = best.get(id);
    if (!cur || (keep === 'first' ? row.ts < cur.ts! : row.ts > cur.ts!)) best.set(id, row);
  }
  return [...best.values()];
}

/**
 * Top-N of plain objects within each partition: ordered by `order` (desc), ties broken by every column
 * in `cols` ascending; ROW_NUMBER or RANK, keeping ranks ≤ n, the rank in `rn`.
 */
export function refTopN<R extends Record<string, unknown>>(rows: readonly R[], partition: (r: R) => string, order: keyof R, cols: readonly (keyof R)[], n: number, fn: 'row_number' | 'rank'): (R & { rn: number })[] {
  const parts = new Map<string, R[]>();
  for (const r of rows) { const p = partition(r); (parts.get(p) ?? parts.set(p, []).get(p)!).push(r); }
  const out: (R & { rn: number })[] = [];
  for (const list of parts.values()) {
    list.sort((a, b) => sqlCompare(a[order], b[order], true) || cols.reduce((c, col) => c || sqlCompare(a[col], b[col]), 0));
    list.forEach((r, i) => {
      const rn = fn === 'row_number' ? i + 1 : list.findIndex((x) => x[order] === r[order]) + 1;
      if (rn <= n) out.push({ ...r, rn });
    });
  }
  return out;
}

/** GROUP BY over plain objects with the aggregates given as functions of the group's rows. */
export function refGroup<R, O>(rows: readonly R[], key: (r: R) => unknown, aggs: (key: unknown, rows: R[]) => O): O[] {
  const groups = new Map<string, { key: unknown; rows: R[] }>();
  for (const r of rows) { const k = key(r); const id = JSON.stringify(k); (groups.get(id) ?? groups.set(id, { key: k, rows: [] }).get(id)!).rows.push(r); }
  return [...groups.values()].map((g) => aggs(g.key, g.rows));
}
