/**
 * The native partition reader: Fetch requests straight to each partition leader, responses read
 * in place (record-set.ts) and handed over as packed messages. It replaces kafkajs' consumer on the
 * hot path only; metadata, offsets lookups, commits and producers stay with kafkajs (the caller
 * supplies `metadata` and `outOfRange`).
 *
 * Why: kafkajs turns every message into several objects (message, Buffer slices, headers), which
 * capped a consumer at ~0.5M messages/s here and left the decode half the CPU; reading the
 * response in place costs a varint walk per record. See README, "Performance".
 *
 * One loop per leader broker. Each keeps one fetch in flight ahead of the one being handled, so
 * the broker's answer travels while the executor works; handling is awaited (backpressure), so
 * at most two responses per broker are in memory. Partition errors that mean "the leader moved"
 * re-plan all loops from fresh metadata; connection failures retry with backoff and show as
 * `recovering`. Nothing here decides what a lost offset means: `outOfRange` does.
 */
import type { PackedMessages } from '../../formats/fast-json.ts';
import type { FetchedMessages } from '../../formats/packed.ts';
import type { KafkaSecurity } from '../security.ts';
import { openConnection, type BrokerConnection } from './connection.ts';
import { decodeFetchResponse, encodeFetchRequest, FETCH_API_KEY, FETCH_VERSION, KafkaError, needsMetadata } from './fetch-protocol.ts';
import { CodecError } from './codecs.ts';
import { readRecordSet, UnsupportedCompressionError } from './record-set.ts';

export interface BrokerAddress { readonly host: string; readonly port: number }

export interface ClusterMetadata {
  /** Leader node id per `topic:partition`. */
  readonly leaders: ReadonlyMap<string, number>;
  readonly brokers: ReadonlyMap<number, BrokerAddress>;
}

export interface NativeReaderConfig {
  readonly clientId: string;
  /** TLS and SASL of every broker connection (plain data: it crosses to read workers). */
  readonly security?: KafkaSecurity;
  readonly readCommitted: boolean;
  /** Parse record headers (only when the source reads them). */
  readonly headers: boolean;
  readonly maxWaitMs: number;
  /** Per response; default 32 MiB. */
  readonly maxBytes?: number;
  /** Per partition and response; default 4 MiB (doubled when one batch is larger). */
  readonly partitionMaxBytes?: number;
  metadata(): Promise<ClusterMetadata>;
  /** Messages of one partition, in offset order (packed; decoded already from read workers); awaited before that loop handles more. */
  onMessages(m: FetchedMessages, nextOffset: number): Promise<void>;
  /** The position moved without messages (transaction markers, aborted records). */
  onSkip(topic: string, partition: number, nextOffset: number): void;
  /** Each response's high watermark per partition (how far behind the end reading is). */
  onHighWatermark?(topic: string, partition: number, highWatermark: number): void;
  /** The broker no longer has `offset` (retention) or never had it: where to go on; throws to stop reading. */
  outOfRange(topic: string, partition: number, offset: number): Promise<number>;
  onState(state: 'running' | 'recovering', error: string | null): void;
  /** Reading cannot go on (data loss with failOnDataLoss, an unsupported codec); the reader has stopped. */
  onFatal(e: Error): void;
}

export interface NativeReader {
  start(positions: readonly { topic: string; partition: number; offset: number }[]): void;
  stop(): Promise<void>;
}

interface Part { readonly topic: string; readonly partition: number; readonly key: string; offset: number; maxBytes: number }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createNativeReader(cfg: NativeReaderConfig): NativeReader {
  const maxBytes = cfg.maxBytes ?? 32 * 1024 * 1024;
  const partMax = cfg.partitionMaxBytes ?? 4 * 1024 * 1024;
  const parts = new Map<string, Part>();
  const conns = new Map<number, BrokerConnection>();
  let stopped = true;
  let generation = 0;
  let running: Promise<void> | null = null;
  let state: 'running' | 'recovering' | null = null;
  const setState = (s: 'running' | 'recovering', err: string | null) => {
    if (s === 'running' && state === 'running') return;
    state = s;
    cfg.onState(s, err);
  };

  /** Errors that end reading instead of being retried (DataLossError comes from `outOfRange`, maybe across threads: by name). */
  const isFatal = (e: unknown) => e instanceof UnsupportedCompressionError || e instanceof CodecError || (e as Error)?.name === 'DataLossError';

  async function connection(id: number, addr: BrokerAddress): Promise<BrokerConnection> {
    const c = conns.get(id);
    if (c && !c.closed) return c;
    const n = await openConnection(addr.host, addr.port, cfg.clientId, 3000, cfg.security);
    conns.set(id, n);
    return n;
  }

  function fetch(conn: BrokerConnection, ps: readonly Part[]): Promise<Uint8Array> {
    const body = encodeFetchRequest({
      maxWaitMs: cfg.maxWaitMs, minBytes: 1, maxBytes, readCommitted: cfg.readCommitted,
      partitions: ps.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.offset, maxBytes: p.maxBytes })),
    });
    return conn.request(FETCH_API_KEY, FETCH_VERSION, body, cfg.maxWaitMs + 30_000);
  }

  async function brokerLoop(gen: number, id: number, addr: BrokerAddress, ps: Part[]): Promise<void> {
    const byKey = new Map(ps.map((p) => [p.key, p]));
    let conn: BrokerConnection | null = null;
    let inflight: Promise<Uint8Array> | null = null;
    try {
      conn = await connection(id, addr);
      while (!stopped && gen === generation) {
        const resp: Uint8Array = await (inflight ?? fetch(conn, ps));
        inflight = null;
        if (stopped || gen !== generation) return;
        const r = decodeFetchResponse(resp, 4);
        const work: { part: Part; m: PackedMessages | null; next: number }[] = [];
        const lost: Part[] = [];
        let replan = false;
        for (const pr of r.partitions) {
          const part = byKey.get(`${pr.topic}:${pr.partition}`);
          if (!part) continue;
          if (pr.errorCode === KafkaError.NONE) {
            cfg.onHighWatermark?.(pr.topic, pr.partition, pr.highWatermark);
            if (pr.recordsEnd <= pr.recordsStart) continue;
            const set = readRecordSet(resp, pr.recordsStart, pr.recordsEnd, {
              topic: part.topic, partition: part.partition, fetchOffset: part.offset, aborted: pr.aborted, headers: cfg.headers,
            });
            if (set.batches === 0) { part.maxBytes = Math.min(part.maxBytes * 2, 256 * 1024 * 1024); continue; } // one batch larger than the limit
            if (set.nextOffset > part.offset) { part.offset = set.nextOffset; work.push({ part, m: set.messages, next: set.nextOffset }); }
          } else if (pr.errorCode === KafkaError.OFFSET_OUT_OF_RANGE) lost.push(part);
          else if (needsMetadata(pr.errorCode)) replan = true;
          else throw new Error(`fetch from ${pr.topic}[${pr.partition}] failed with Kafka error code ${pr.errorCode}`);
        }
        setState('running', null);
        // The next response travels while this one is handled.
        if (!replan && lost.length === 0) { inflight = fetch(conn, ps); inflight.catch(() => undefined); }
        for (const w of work) {
          // Let the socket drain between runs: the next response arrives while this one is handled.
          await new Promise<void>((r) => setImmediate(r));
          if (w.m) await cfg.onMessages(w.m, w.next);
          else cfg.onSkip(w.part.topic, w.part.partition, w.next);
          if (stopped) return;
        }
        for (const part of lost) part.offset = await cfg.outOfRange(part.topic, part.partition, part.offset);
        if (replan) { generation++; return; }
      }
    } catch (e) {
      if (!isFatal(e)) { conn?.close(); conns.delete(id); }
      generation++; // siblings stop at their next step; the supervisor re-plans once all have
      throw e;
    }
  }

  async function supervise(): Promise<void> {
    let delay = 200;
    while (!stopped) {
      let err: unknown = null;
      try {
        const meta = await cfg.metadata();
        const groups = new Map<number, Part[]>();
        for (const p of parts.values()) {
          const leader = meta.leaders.get(p.key);
          if (leader === undefined || leader < 0 || !meta.brokers.has(leader)) throw new Error(`no leader for ${p.topic}[${p.partition}] yet`);
          const l = groups.get(leader);
          if (l) l.push(p); else groups.set(leader, [p]);
        }
        const gen = ++generation;
        if (groups.size === 0) { await sleep(1000); continue; }
        const results = await Promise.allSettled([...groups].map(([id, ps]) => brokerLoop(gen, id, meta.brokers.get(id)!, ps)));
        const bad = results.find((x) => x.status === 'rejected') as PromiseRejectedResult | undefined;
        if (bad) err = bad.reason;
        else delay = 200;
      } catch (e) { err = e; }
      if (err === null || stopped) continue;
      if (isFatal(err)) { stopped = true; cfg.onFatal(err as Error); break; }
      setState('recovering', (err as Error).message ?? String(err));
      await sleep(delay);
      delay = Math.min(delay * 2, 5000);
    }
  }

  return {
    start(positions) {
      parts.clear();
      for (const p of positions) parts.set(`${p.topic}:${p.partition}`, { topic: p.topic, partition: p.partition, key: `${p.topic}:${p.partition}`, offset: p.offset, maxBytes: partMax });
      stopped = false;
      state = null;
      running = supervise();
    },
    async stop() {
      stopped = true;
      generation++;
      for (const c of conns.values()) c.close();
      conns.clear();
      await running?.catch(() => undefined);
      running = null;
    },
  };
}
