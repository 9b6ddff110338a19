/**
 * Exchanges in cluster mode (planner/exchange.ts, issue 17): EXPLAIN with a cluster id shows an
 * Exchange where a keyed operator's key is not how its input is partitioned, and nowhere else;
 * without a cluster id EXPLAIN is what it always was.
 */
import { describe, expect, it } from 'vitest';
import { createCatalog } from '../../planner/catalog.ts';
import { planExchanges, repartitionTopic } from '../../planner/exchange.ts';
import { planRequest, type PlanOptions } from '../../planner/planner.ts';
import { printGraph } from '../../planner/physical-graph.ts';

// bid's topic is keyed by auction (Kafka key = {"auction": …}); person's has no key; account and
// payment are both keyed by a raw id, so their joins on those ids are co-partitioned.
const DDL = `CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH (connector = 'kafka', topic = 'bid', format = 'json', 'key.format' = 'json', 'key.fields' = 'auction');
CREATE SOURCE person (id BIGINT, name VARCHAR, city VARCHAR, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH (connector = 'kafka', topic = 'person', format = 'json');
CREATE SOURCE account (acct VARCHAR, owner VARCHAR, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH (connector = 'kafka', topic = 'account', format = 'json', 'key.format' = 'raw', 'key.fields' = 'acct');
CREATE SOURCE payment (payer VARCHAR, amount DOUBLE, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH (connector = 'kafka', topic = 'payment', format = 'json', 'key.format' = 'raw', 'key.fields' = 'payer')`;

const CLUSTER: PlanOptions = { cluster: { id: 'c1' } };

function explain(sql: string, options: PlanOptions = CLUSTER): string {
  const p = planRequest(`${DDL};\n${sql}`, createCatalog(), undefined, options).at(-1)!.planned;
  if (p.kind !== 'explain') throw new Error(`not an EXPLAIN: ${p.kind}`);
  return p.graph;
}

const exchangeLines = (text: string) => text.split('\n').filter((l) => / Exchange: /.test(l));

describe('EXPLAIN with a cluster id', () => {
  it('GROUP BY the Kafka key column: no exchange (rows of a key are in one partition already)', () => {
    expect(explain('EXPLAIN CREATE MATERIALIZED VIEW v AS SELECT auction, COUNT(*) AS n FROM bid GROUP BY auction')).toBe(
      `n3 QueryTableSink: v key=[auction] emit=changes <- [n2] | changelog key=[auction]
n2 UpdatingAggregate: groupBy=[auction], aggs=[count(*) AS n] <- [n1] | changelog key=[auction]
n1 Project: auction <- [n0] | append-only
n0 KafkaSource: bid topics=[bid] format=json columns=[auction:BIGINT, bidder:BIGINT, price:BIGINT, ts:TIMESTAMP(3)] decode=[auction, ts] watermark=ts - 1s input=#0 | append-only`);
    // A key that contains the partitioning column keeps it too.
    expect(exchangeLines(explain('EXPLAIN CREATE MATERIALIZED VIEW v AS SELECT auction, bidder, COUNT(*) AS n FROM bid GROUP BY auction, bidder'))).toEqual([]);
  });

  it('GROUP BY another column: an exchange keyed by it, read by the aggregate', () => {
    expect(explain('EXPLAIN CREATE MATERIALIZED VIEW v AS SELECT bidder, COUNT(*) AS n FROM bid GROUP BY bidder')).toBe(
      `n3 QueryTableSink: v key=[bidder] emit=changes <- [n2] | changelog key=[bidder]
n2 UpdatingAggregate: groupBy=[bidder], aggs=[count(*) AS n] <- [x0] | changelog key=[bidder]
x0 Exchange: key=[bidder] topic=_streamsql-c1-v-n2-repartition partitions=max(input topics) (GROUP BY (bidder) is not how the input is partitioned) <- [n1] | append-only
n1 Project: bidder <- [n0] | append-only
n0 KafkaSource: bid topics=[bid] format=json columns=[auction:BIGINT, bidder:BIGINT, price:BIGINT, ts:TIMESTAMP(3)] decode=[bidder, ts] watermark=ts - 1s input=#0 | append-only`);
  });

  it('a window aggregate by another column: the exchange is keyed by the group key, not the window', () => {
    expect(explain(`EXPLAIN CREATE MATERIALIZED VIEW w AS SELECT window_start, window_end, bidder, SUM(price) AS total
      FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY window_start, window_end, bidder EMIT ON WINDOW CLOSE`)).toBe(
      `n3 QueryTableSink: w key=[window_start, window_end, bidder] emit=on-window-close <- [n2] | append-only
n2 TumbleAggregate: size=10s, time=ts, groupBy=[bidder], aggs=[sum(price) AS total], emit=on-window-close <- [x0] | append-only
x0 Exchange: key=[bidder] topic=_streamsql-c1-w-n2-repartition partitions=max(input topics) (GROUP BY (bidder) is not how the input is partitioned) <- [n1] | append-only
n1 Project: ts, bidder, price <- [n0] | append-only
n0 KafkaSource: bid topics=[bid] format=json columns=[auction:BIGINT, bidder:BIGINT, price:BIGINT, ts:TIMESTAMP(3)] decode=[bidder, price, ts] watermark=ts - 1s input=#0 | append-only`);
  });

  it('a join on columns that are not the topics\' keys: an exchange on both sides, one partition count', () => {
    const text = explain('EXPLAIN CREATE MATERIALIZED VIEW j AS SELECT b.price, p.name FROM bid b JOIN person p ON b.bidder = p.id', { cluster: { id: 'c1', topicPartitions: { bid: 12, person: 4 } } });
    expect(text).toBe(
      `n4 QueryTableSink: j append-only emit=changes <- [n3] | append-only
n3 Project: price, name <- [n2] | append-only
n2 Join: inner, on=[bidder = id] <- [x0, x1] | append-only
x1 Exchange: key=[id] topic=_streamsql-c1-j-n2-right-repartition partitions=12 (join key (id) is not how this side is partitioned) <- [n1] | append-only
x0 Exchange: key=[bidder] topic=_streamsql-c1-j-n2-left-repartition partitions=12 (join key (bidder) is not how this side is partitioned) <- [n0] | append-only
n1 KafkaSource: person topics=[person] format=json columns=[id:BIGINT, name:VARCHAR, city:VARCHAR, ts:TIMESTAMP(3)] watermark=ts - 1s input=#1 | append-only
n0 KafkaSource: bid topics=[bid] format=json columns=[auction:BIGINT, bidder:BIGINT, price:BIGINT, ts:TIMESTAMP(3)] watermark=ts - 1s input=#0 | append-only`);
  });

  it('a join on both topics\' raw keys is co-partitioned: no exchange; on one key only, both sides move', () => {
    const q = 'EXPLAIN CREATE MATERIALIZED VIEW j AS SELECT a.owner, p.amount FROM payment p JOIN account a ON p.payer = a.acct';
    expect(exchangeLines(explain(q))).toEqual([]);
    expect(exchangeLines(explain(q, { cluster: { id: 'c1', topicPartitions: { payment: 8, account: 8 } } }))).toEqual([]);
    // Equal keys hash to different partitions among different counts: both sides move to the larger count.
    expect(exchangeLines(explain(q, { cluster: { id: 'c1', topicPartitions: { payment: 8, account: 4 } } })).map((l) => l.split(' (')[0])).toEqual([
      'x1 Exchange: key=[acct] topic=_streamsql-c1-j-n2-right-repartition partitions=8',
      'x0 Exchange: key=[payer] topic=_streamsql-c1-j-n2-left-repartition partitions=8',
    ]);
    // bid is keyed by auction, and its partner joins on bidder: bid's side must move, and the other
    // side must then be hashed the same way, so both get an exchange.
    expect(exchangeLines(explain('EXPLAIN CREATE MATERIALIZED VIEW j AS SELECT b.price, p.name FROM bid b JOIN person p ON b.auction = p.id')).map((l) => l.split(' (')[0])).toEqual([
      'x1 Exchange: key=[id] topic=_streamsql-c1-j-n2-right-repartition partitions=max(input topics)',
      'x0 Exchange: key=[auction] topic=_streamsql-c1-j-n2-left-repartition partitions=max(input topics)',
    ]);
  });

  it('dedup PARTITION BY another column: an exchange keyed by it', () => {
    expect(explain(`EXPLAIN CREATE MATERIALIZED VIEW d AS SELECT auction, bidder, price, ts FROM (
      SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder ORDER BY ts) AS rn FROM bid) WHERE rn = 1`)).toBe(
      `n4 QueryTableSink: d append-only emit=changes <- [n3] | append-only
n3 Project: auction, bidder, price, ts <- [n2] | append-only
n2 Project: auction, bidder, price, ts, 1 AS rn <- [n1] | append-only
n1 Dedup: keep=first, keys=[bidder], time=ts <- [x0] | append-only
x0 Exchange: key=[bidder] topic=_streamsql-c1-d-n1-repartition partitions=max(input topics) (PARTITION BY (bidder) is not how the input is partitioned) <- [n0] | append-only
n0 KafkaSource: bid topics=[bid] format=json columns=[auction:BIGINT, bidder:BIGINT, price:BIGINT, ts:TIMESTAMP(3)] watermark=ts - 1s input=#0 | append-only`);
  });

  it('a global aggregate: an exchange to a single partition; a one-partition topic needs none', () => {
    const q = 'EXPLAIN CREATE MATERIALIZED VIEW g AS SELECT COUNT(*) AS n FROM bid';
    expect(exchangeLines(explain(q))).toEqual([
      'x0 Exchange: single partition topic=_streamsql-c1-g-n2-repartition partitions=1 (no GROUP BY: every row to one partition) <- [n1] | append-only',
    ]);
    expect(exchangeLines(explain(q, { cluster: { id: 'c1', topicPartitions: { bid: 1 } } }))).toEqual([]);
  });

  it('an exchange is needed once: operators after it keep its partitioning', () => {
    // person has no key: the aggregate by city moves rows once, the Top-N by city over it finds them in place.
    expect(exchangeLines(explain(`EXPLAIN CREATE MATERIALIZED VIEW t AS SELECT city, n FROM (
      SELECT city, n, ROW_NUMBER() OVER (PARTITION BY city ORDER BY n DESC) AS rk FROM (
        SELECT city, COUNT(*) AS n FROM person GROUP BY city)) WHERE rk <= 3`)).map((l) => l.split(' (')[0])).toEqual([
      'x0 Exchange: key=[city] topic=_streamsql-c1-t-n2-repartition partitions=max(input topics)',
    ]);
    // bid is keyed by auction: GROUP BY (bidder, auction) contains it and stays put, the Top-N by
    // bidder over it does not: its input moves, keyed by bidder.
    expect(exchangeLines(explain(`EXPLAIN CREATE MATERIALIZED VIEW t AS SELECT bidder, auction, n FROM (
      SELECT bidder, auction, n, ROW_NUMBER() OVER (PARTITION BY bidder ORDER BY n DESC) AS rk FROM (
        SELECT bidder, auction, COUNT(*) AS n FROM bid GROUP BY bidder, auction)) WHERE rk <= 3`)).map((l) => l.split(' topic=')[0])).toEqual(['x0 Exchange: key=[bidder]']);
  });

  it('a changelog re-keyed by a column outside its key: the writer tracks rows by that key (a moved row leaves a delete behind)', () => {
    const ddl = 'CREATE MATERIALIZED VIEW per_auction AS SELECT auction, COUNT(*) AS n FROM bid GROUP BY auction;\n';
    expect(exchangeLines(explain(`${ddl}EXPLAIN CREATE MATERIALIZED VIEW hist AS SELECT n, COUNT(*) AS c FROM per_auction GROUP BY n`))).toEqual([
      'x0 Exchange: key=[n] topic=_streamsql-c1-hist-n1-repartition partitions=max(input topics) tracks=[auction] (GROUP BY (n) is not how the input is partitioned) <- [n0] | changelog key=[auction]',
    ]);
    // Grouped by the view's own key: its changes topic is already hashed by that key (queries/cluster/view-changes.ts), no exchange.
    expect(exchangeLines(explain(`${ddl}EXPLAIN CREATE MATERIALIZED VIEW s AS SELECT auction, SUM(n) AS c FROM per_auction GROUP BY auction`))).toEqual([]);
    // Re-keyed by a column of the view's key, a row's versions all go to one partition: nothing to track.
    const ddl2 = 'CREATE MATERIALIZED VIEW per_ab AS SELECT auction, bidder, COUNT(*) AS n FROM bid GROUP BY auction, bidder;\n';
    expect(exchangeLines(explain(`${ddl2}EXPLAIN CREATE MATERIALIZED VIEW s2 AS SELECT bidder, SUM(n) AS c FROM per_ab GROUP BY bidder`))).toEqual([
      'x0 Exchange: key=[bidder] topic=_streamsql-c1-s2-n1-repartition partitions=max(input topics) (GROUP BY (bidder) is not how the input is partitioned) <- [n0] | changelog key=[auction, bidder]',
    ]);
  });
});

describe('without a cluster id', () => {
  it('EXPLAIN prints the graph as before: no exchanges', () => {
    const sql = 'EXPLAIN CREATE MATERIALIZED VIEW v AS SELECT bidder, COUNT(*) AS n FROM bid GROUP BY bidder';
    const plain = explain(sql, {});
    expect(exchangeLines(plain)).toEqual([]);
    const p = planRequest(`${DDL};\nCREATE MATERIALIZED VIEW v AS SELECT bidder, COUNT(*) AS n FROM bid GROUP BY bidder`, createCatalog()).at(-1)!.planned;
    if (p.kind !== 'create_materialized_view') throw new Error(p.kind);
    expect(plain).toBe(printGraph(p.physical.graph));
    // The pass keeps the graph's ids: only the aggregate's input changes.
    const x = planExchanges(p.physical.graph, { clusterId: 'c1', query: 'v' });
    expect(x.nodes.filter((n) => n.role !== 'exchange').map((n) => n.id)).toEqual(p.physical.graph.nodes.map((n) => n.id));
    expect(x.exchanges.map((e) => [e.target, e.port, e.topic])).toEqual([['n2', 0, '_streamsql-c1-v-n2-repartition']]);
  });

  it('topic names take only Kafka\'s characters, and stay distinct', () => {
    expect(repartitionTopic('prod', 'my view', 'n3')).toMatch(/^_streamsql-prod-my_view_[0-9a-f]{8}-n3-repartition$/);
    expect(repartitionTopic('prod', 'my view', 'n3')).not.toBe(repartitionTopic('prod', 'my_view', 'n3'));
  });
});
