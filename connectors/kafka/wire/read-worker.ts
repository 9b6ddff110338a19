/**
 * A read worker thread: hosts native readers for shares of sources' partitions (several readers,
 * of several queries, per thread), decodes each fetch into Arrow columns here (fetch → record set
 * → JSON scan → columns), and sends the column buffers to the main thread in a transfer list.
 * Metadata and "offset gone" questions go to the main thread, which owns the kafkajs admin client.
 *
 * Backpressure per reader: at most {@link MAX_UNACKED} batches are on their way or being handled;
 * its reader (and with it the next fetch) waits for acknowledgements beyond that.
 */
import { parentPort } from 'node:worker_threads';
import { decodedToWire, type WireDecoded } from '../decode-wire.ts';
import { createFetchedDecoder, isPacked, malformedMessages, type FetchedMessages } from '../../formats/packed.ts';
import { createSchemaPreparer, untilPrepared } from '../../formats/registry.ts';
import type { SourceDef } from '../../../planner/catalog.ts';
import type { KafkaSecurity } from '../security.ts';
import { createNativeReader, type ClusterMetadata, type NativeReader } from './reader.ts';

export const MAX_UNACKED = 2;

export interface ReadWorkerStart {
  readonly kind: 'start';
  readonly rid: number;
  readonly def: SourceDef;
  readonly columns: readonly boolean[] | null;
  readonly clientId: string;
  readonly security?: KafkaSecurity;
  readonly readCommitted: boolean;
  readonly headers: boolean;
  readonly maxWaitMs: number;
  readonly partitions: readonly { topic: string; partition: number; offset: number }[];
}

export type ToReadWorker =
  | ReadWorkerStart
  | { readonly kind: 'ack'; readonly rid: number }
  | { readonly kind: 'reply'; readonly rid: number; readonly id: number; readonly ok: boolean; readonly value?: unknown; readonly error?: string; readonly errorName?: string }
  | { readonly kind: 'stop'; readonly rid: number };

type Ask = { readonly op: 'metadata' } | { readonly op: 'outOfRange'; readonly topic: string; readonly partition: number; readonly offset: number };

export type FromReadWorker = { readonly rid: number } & (
  | { readonly kind: 'batch'; readonly topic: string; readonly partition: number; readonly count: number; readonly nextOffset: number; readonly wire: WireDecoded; readonly malformedRaw: ReturnType<typeof malformedMessages> }
  | { readonly kind: 'skip'; readonly topic: string; readonly partition: number; readonly nextOffset: number }
  | { readonly kind: 'hw'; readonly topic: string; readonly partition: number; readonly highWatermark: number }
  | ({ readonly kind: 'ask'; readonly id: number } & Ask)
  | { readonly kind: 'state'; readonly state: 'running' | 'recovering'; readonly error: string | null }
  | { readonly kind: 'fatal'; readonly message: string; readonly name: string }
  | { readonly kind: 'stopped' });

interface Hosted {
  reader: NativeReader;
  unacked: number;
  wake: (() => void) | null;
  asks: Map<number, { resolve(v: unknown): void; reject(e: Error): void }>;
  stopped: boolean;
}

const port = parentPort;
if (port) {
  const hosted = new Map<number, Hosted>();
  let askId = 0;
  const send = (m: FromReadWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

  function start(m: ReadWorkerStart): void {
    const decode = createFetchedDecoder(m.def, m.columns);
    const prepare = createSchemaPreparer(m.def); // 'avro-confluent': writer schemas loaded before decoding
    const rid = m.rid;
    const ask = <T>(a: Ask): Promise<T> => new Promise<T>((resolve, reject) => {
      const id = ++askId;
      h.asks.set(id, { resolve: resolve as (v: unknown) => void, reject });
      send({ rid, kind: 'ask', id, ...a });
    });
    const reader = createNativeReader({
      clientId: m.clientId, security: m.security, readCommitted: m.readCommitted, headers: m.headers, maxWaitMs: m.maxWaitMs,
      metadata: async () => {
        const v = await ask<{ leaders: [string, number][]; brokers: [number, { host: string; port: number }][] }>({ op: 'metadata' });
        return { leaders: new Map(v.leaders), brokers: new Map(v.brokers) } satisfies ClusterMetadata;
      },
      onMessages: async (msgs: FetchedMessages, nextOffset: number) => {
        if (prepare && !(await untilPrepared(prepare, msgs, { stopped: () => h.stopped, onRetry: (error) => send({ rid, kind: 'state', state: 'recovering', error }), onRecovered: () => send({ rid, kind: 'state', state: 'running', error: null }) }))) return;
        const d = decode(msgs);
        // Copies: the raw bytes of malformed messages point into the fetch response, which stays here.
        const malformedRaw = d.malformed.length ? malformedMessages(msgs, d).map((x) => ({ key: x.key && Uint8Array.from(x.key), value: x.value && Uint8Array.from(x.value), timestamp: x.timestamp })) : [];
        const { wire, transfer } = decodedToWire(d);
        while (h.unacked >= MAX_UNACKED && !h.stopped) await new Promise<void>((r) => { h.wake = r; });
        if (h.stopped) return;
        h.unacked++;
        send({ rid, kind: 'batch', topic: msgs.topic, partition: msgs.partition, count: isPacked(msgs) ? msgs.count : 0, nextOffset, wire, malformedRaw }, transfer);
      },
      onSkip: (topic, partition, nextOffset) => send({ rid, kind: 'skip', topic, partition, nextOffset }),
      onHighWatermark: (topic, partition, highWatermark) => send({ rid, kind: 'hw', topic, partition, highWatermark }),
      outOfRange: (topic, partition, offset) => ask<number>({ op: 'outOfRange', topic, partition, offset }),
      onState: (state, error) => send({ rid, kind: 'state', state, error }),
      onFatal: (e) => send({ rid, kind: 'fatal', message: e.message, name: e.name }),
    });
    const h: Hosted = { reader, unacked: 0, wake: null, asks: new Map(), stopped: false };
    hosted.set(rid, h);
    reader.start(m.partitions);
  }

  port.on('message', (m: ToReadWorker) => {
    switch (m.kind) {
      case 'start': start(m); break;
      case 'ack': {
        const h = hosted.get(m.rid);
        if (!h) break;
        h.unacked--;
        if (h.wake) { const w = h.wake; h.wake = null; w(); }
        break;
      }
      case 'reply': {
        const a = hosted.get(m.rid)?.asks.get(m.id);
        if (!a) break;
        hosted.get(m.rid)!.asks.delete(m.id);
        if (m.ok) a.resolve(m.value);
        else { const e = new Error(m.error); if (m.errorName) e.name = m.errorName; a.reject(e); }
        break;
      }
      case 'stop': {
        const h = hosted.get(m.rid);
        if (!h) { send({ rid: m.rid, kind: 'stopped' }); break; }
        h.stopped = true;
        h.wake?.();
        for (const a of h.asks.values()) a.reject(new Error('reader stopped'));
        void h.reader.stop().finally(() => { hosted.delete(m.rid); send({ rid: m.rid, kind: 'stopped' }); });
        break;
      }
    }
  });
}
