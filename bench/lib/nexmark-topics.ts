/**
 * The Nexmark topic set of the join rows in bench/run.ts: persons, auctions and bids in the benchmark's
 * proportions (1:3:46 by event number, the demo generator's skew), one topic each, loaded with one
 * `kcat -P` per partition (librdkafka; a kafkajs producer manages only ~25–45k messages/s here), and
 * the sources and queries over them, written as Flink's Nexmark SQL writes them (test/sql/joins.slt).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createNexmarkBatchGenerator } from '../../connectors/demo/generator.ts';

export type NexmarkKind = 'person' | 'auction' | 'bid';
export const NEXMARK_KINDS: readonly NexmarkKind[] = ['person', 'auction', 'bid'];
export type NexmarkTopics = Record<NexmarkKind, string>;
export type NexmarkCounts = Record<NexmarkKind, number>;

/** Sources `person`, `auction` and `bid` (all fields; `extra` included, q7, q9 and q20 read it). */
export function nexmarkSourcesSql(t: NexmarkTopics): string {
  const w = `WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND`;
  const opts = (topic: string) => `WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest')`;
  return `
    CREATE SOURCE person (id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, dateTime TIMESTAMP(3), extra VARCHAR, ${w}) ${opts(t.person)};
    CREATE SOURCE auction (id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, dateTime TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR, ${w}) ${opts(t.auction)};
    CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, dateTime TIMESTAMP(3), extra VARCHAR, ${w}) ${opts(t.bid)};`;
}

export interface JoinQuery {
  readonly label: string;
  readonly sql: string;
  /** The topic each input reads (q7 reads bid twice); the query is done when its input rows reach their sum. */
  readonly inputs: readonly NexmarkKind[];
  /** Flink 1.13's published throughput per core (8 cores), events/s, where there is one. */
  readonly flinkPerCore?: number;
}

export const JOIN_QUERIES: Record<string, JoinQuery> = {
  q3: {
    label: 'engine: Nexmark q3 local item suggestion (regular join)',
    inputs: ['auction', 'person'],
    sql: `SELECT P.name, P.city, P.state, A.id
          FROM auction AS A INNER JOIN person AS P on A.seller = P.id
          WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')`,
  },
  q4: {
    label: 'engine: Nexmark q4 average price per category (join, MAX, AVG)',
    inputs: ['auction', 'bid'],
    sql: `SELECT Q.category, AVG(Q.final) AS avg_final
          FROM (
            SELECT MAX(B.price) AS final, A.category
            FROM auction A, bid B
            WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
            GROUP BY A.id, A.category
          ) Q
          GROUP BY Q.category`,
  },
  q7: {
    label: 'engine: Nexmark q7 highest bid (window MAX + interval join)',
    inputs: ['bid', 'bid'],
    flinkPerCore: 12_000,
    sql: `SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra
          from bid B
          JOIN (
            SELECT MAX(price) AS maxprice, window_end as dateTime
            FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
            GROUP BY window_start, window_end
          ) B1
          ON B.price = B1.maxprice
          WHERE B.dateTime BETWEEN B1.dateTime  - INTERVAL '10' SECOND and B1.dateTime`,
  },
  q8: {
    label: 'engine: Nexmark q8 new users (window join)',
    inputs: ['person', 'auction'],
    flinkPerCore: 146_000,
    sql: `SELECT P.id, P.name, P.starttime
          FROM (
            SELECT id, name, window_start AS starttime, window_end AS endtime
            FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
            GROUP BY id, name, window_start, window_end
          ) P
          JOIN (
            SELECT seller, window_start AS starttime, window_end AS endtime
            FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
            GROUP BY seller, window_start, window_end
          ) A
          ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime`,
  },
  q9: {
    label: 'engine: Nexmark q9 winning bids (join + ROW_NUMBER)',
    inputs: ['auction', 'bid'],
    sql: `SELECT id, itemName, description, initialBid, reserve, dateTime, expires, seller, category, extra, auction, bidder, price, bid_dateTime, bid_extra
          FROM (
            SELECT A.*, B.auction, B.bidder, B.price, B.dateTime AS bid_dateTime, B.extra AS bid_extra,
              ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime ASC) AS rownum
            FROM auction A, bid B
            WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
          )
          WHERE rownum <= 1`,
  },
};

/** Distinct topics a query reads, and the input rows it must count (an input per source reference). */
export function joinWork(q: JoinQuery, counts: NexmarkCounts): { events: number; inputRows: number } {
  const distinct = [...new Set(q.inputs)];
  return { events: distinct.reduce((s, k) => s + counts[k], 0), inputRows: q.inputs.reduce((s, k) => s + counts[k], 0) };
}

/**
 * Loads `events` Nexmark events (seed 1, 10,000 events/s of event time from now) into the three topics,
 * each with `partitions` partitions written by one `kcat -P` apiece. Chunks of 10,000 events go to the
 * partitions in turn, so event time rises within each partition. `track` registers each child for cleanup.
 */
export async function loadNexmarkTopics(bootstrap: string, topics: NexmarkTopics, events: number, partitions: number,
  track: (c: ChildProcess, done: Promise<void>) => void, progress?: (sent: number) => void): Promise<{ counts: NexmarkCounts; bytes: number; ms: number }> {
  const procs = {} as Record<NexmarkKind, { c: ChildProcess; done: Promise<void> }[]>;
  for (const k of NEXMARK_KINDS) {
    procs[k] = Array.from({ length: partitions }, (_, p) => {
      const c = spawn('kcat', ['-P', '-b', bootstrap, '-t', topics[k], '-p', String(p),
        '-X', 'linger.ms=20', '-X', 'batch.num.messages=10000', '-X', 'queue.buffering.max.kbytes=262144'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      c.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
      const done = new Promise<void>((resolve, reject) => c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kcat -P exited ${code}: ${err.slice(-300)}`)))));
      track(c, done);
      return { c, done };
    });
  }
  const gen = createNexmarkBatchGenerator({ seed: 1 });
  const counts: NexmarkCounts = { person: 0, auction: 0, bid: 0 };
  const NL = Buffer.from('\n');
  const t0 = performance.now();
  let bytes = 0; let sent = 0; let chunkNo = 0;
  while (sent < events) {
    const n = Math.min(10_000, events - sent);
    const b = gen.next(n);
    const part = chunkNo++ % partitions;
    for (const [k, msgs] of [['person', b.persons], ['auction', b.auctions], ['bid', b.bids]] as const) {
      if (msgs.length === 0) continue;
      counts[k] += msgs.length;
      const buf = Buffer.concat(msgs.flatMap((m) => [m.value, NL]));
      bytes += buf.length - msgs.length;
      const { c } = procs[k][part]!;
      if (!c.stdin!.write(buf)) await new Promise((r) => c.stdin!.once('drain', r));
    }
    sent += n;
    if (chunkNo % 20 === 0) progress?.(sent);
  }
  for (const k of NEXMARK_KINDS) for (const { c } of procs[k]) c.stdin!.end();
  await Promise.all(NEXMARK_KINDS.flatMap((k) => procs[k].map((p) => p.done)));
  return { counts, bytes, ms: performance.now() - t0 };
}
