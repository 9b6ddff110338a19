/**
 * Plain batch joins to check the streaming join operators against: nested loops over JS objects, nothing
 * shared with executor/. Which rows take part (the ones that were not late, the current rows of a
 * changelog, the right version valid at a time) is decided by the test from the arrival order; these
 * functions only join.
 */

export type JRow = Record<string, unknown>;
export type JoinType = 'inner' | 'left' | 'right' | 'full' | 'semi' | 'anti';

/** `x = y` in SQL: NULL never equals anything. */
export function sqlEq(x: unknown, y: unknown): boolean {
  return x !== null && x !== undefined && y !== null && y !== undefined && x === y;
}

const nulls = (cols: readonly string[]): JRow => Object.fromEntries(cols.map((c) => [c, null]));

/**
 * The join of two row lists: `match(l, r)` is the whole ON condition (keys, time bounds, residual).
 * Output rows are `{...l, ...r}`; the padded side of an outer row is NULL; SEMI and ANTI give left rows.
 */
export function refJoin(left: readonly JRow[], right: readonly JRow[], type: JoinType, match: (l: JRow, r: JRow) => boolean, leftCols: readonly string[], rightCols: readonly string[]): JRow[] {
  const out: JRow[] = [];
  const rightMatched = new Array<boolean>(right.length).fill(false);
  for (const l of left) {
    let any = false;
    right.forEach((r, j) => {
      if (!match(l, r)) return;
      any = true; rightMatched[j] = true;
      if (type !== 'semi' && type !== 'anti') out.push({ ...l, ...r });
    });
    if (type === 'semi' && any) out.push({ ...l });
    if (type === 'anti' && !any) out.push({ ...l });
    if ((type === 'left' || type === 'full') && !any) out.push({ ...l, ...nulls(rightCols) });
  }
  if (type === 'right' || type === 'full') right.forEach((r, j) => { if (!rightMatched[j]) out.push({ ...nulls(leftCols), ...r }); });
  return out;
}

/** The current rows of a changelog (upsert / delete by `key`) after all its changes, in arrival order. */
export function currentRows(changes: readonly { row: JRow; op: number }[], key: (r: JRow) => string): JRow[] {
  const t = new Map<string, JRow>();
  for (const c of changes) { const k = key(c.row); if (c.op > 0) { t.delete(k); t.set(k, c.row); } else t.delete(k); }
  return [...t.values()];
}

/**
 * The version of a versioned table valid at time `at`: among the changes of one key (arrival order),
 * the one with the greatest time <= at (equal times: the later arrival); null when none or a delete.
 */
export function versionAt(changes: readonly { row: JRow; op: number; time: number }[], at: number): JRow | null {
  let best: { row: JRow; op: number; time: number } | null = null;
  for (const c of changes) if (c.time <= at && (best === null || c.time >= best.time)) best = c;
  return best === null || best.op < 0 ? null : best.row;
}
