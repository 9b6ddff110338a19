/**
 * The view change feed behind GET /v1/views/:name/changes, on a query table without Kafka:
 * snapshot for new clients, exact replay of missed epochs from the bounded buffer, a fresh snapshot
 * once they are gone, hidden columns left out, and an end event when the view is dropped.
 */
import { describe, expect, it } from 'vitest';
import { createQueryTable } from '../../connectors/table/query-table.ts';
import { rowsBatch } from '../../executor/rows.ts';
import { T, type Schema } from '../../planner/types.ts';
import { createViewFeed, type FeedEvent } from '../../queries/push.ts';

const schema: Schema = { fields: [
  { name: 'window_start', type: T.timestamp, nullable: false },
  { name: 'k', type: T.bigint, nullable: false },
  { name: 'n', type: T.bigint, nullable: false },
  { name: 'hidden', type: T.bigint, nullable: true },
] };
const W = Date.parse('2024-01-01T00:00:00.000Z');

function table() {
  const t = createQueryTable('v', schema, [0, 1]);
  let epoch = 0;
  const commit = (rows: [number, number, number][], ops?: number[]) => {
    t.apply(rowsBatch(schema, rows.map(([w, k, n]) => [W + w, k, n, 99])), ops ? Int8Array.from(ops) : Int8Array.from(rows.map(() => 1)));
    t.commit(++epoch);
    return epoch;
  };
  return { t, commit, empty: () => t.commit(++epoch) };
}

describe('view feed', () => {
  it('gives a new client a snapshot, then every change of every committed epoch', () => {
    const { t, commit } = table();
    commit([[0, 1, 1], [0, 2, 1]]);
    const feed = createViewFeed(t, 3);
    const got: FeedEvent[] = [];
    feed.subscribe(null, (e) => got.push(e));
    expect(got).toEqual([{ kind: 'snapshot', epoch: 1, rows: [
      { window_start: '2024-01-01T00:00:00.000Z', k: 1, n: 1 },
      { window_start: '2024-01-01T00:00:00.000Z', k: 2, n: 1 },
    ] }]);
    commit([[0, 1, 2], [0, 2, 1]], [1, -1]);
    expect(got[1]).toEqual({ kind: 'changes', epoch: 2, changes: [
      { op: 'upsert', row: { window_start: '2024-01-01T00:00:00.000Z', k: 1, n: 2 } },
      { op: 'delete', row: { window_start: '2024-01-01T00:00:00.000Z', k: 2, n: 1 } },
    ] });
    expect(feed.subscribers).toBe(1);
  });

  it('replays exactly the epochs after Last-Event-ID while buffered, else sends a fresh snapshot', () => {
    const { t, commit, empty } = table();
    commit([[0, 1, 1]]);
    const feed = createViewFeed(t, 3, { maxEpochs: 3 });
    const e2 = commit([[0, 1, 2]]);
    empty(); // epoch 3: nothing changed
    const e4 = commit([[0, 2, 1]]);
    const got: FeedEvent[] = [];
    const stop = feed.subscribe(e2, (e) => got.push(e));
    expect(got.map((e) => [e.kind, e.kind === 'changes' ? e.epoch : null])).toEqual([['changes', e4]]);
    stop();
    // Up to date: nothing to replay.
    const none: FeedEvent[] = [];
    feed.subscribe(e4, (e) => none.push(e))();
    expect(none).toEqual([]);
    // Three more epochs push epoch 2's and 4's changes out of a 3-epoch buffer.
    commit([[0, 3, 1]]); commit([[0, 4, 1]]); commit([[0, 5, 1]]);
    const late: FeedEvent[] = [];
    feed.subscribe(e2, (e) => late.push(e));
    expect(late).toHaveLength(1);
    expect(late[0]).toMatchObject({ kind: 'snapshot', epoch: 7 });
    expect((late[0] as Extract<FeedEvent, { kind: 'snapshot' }>).rows).toHaveLength(5);
    // An epoch from the future (another server's numbering): snapshot as well.
    const future: FeedEvent[] = [];
    feed.subscribe(1000, (e) => future.push(e));
    expect(future[0]!.kind).toBe('snapshot');
  });

  it('ends every subscriber when the view goes away and stops following the table', () => {
    const { t, commit } = table();
    const feed = createViewFeed(t, 3);
    const got: FeedEvent[] = [];
    feed.subscribe(null, (e) => got.push(e));
    feed.close();
    expect(got.at(-1)).toEqual({ kind: 'end', reason: 'view v was dropped' });
    commit([[0, 1, 1]]);
    expect(got).toHaveLength(2);
    expect(feed.subscribers).toBe(0);
  });
});
