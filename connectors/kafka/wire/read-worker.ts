/**
 * A read worker: runs the native reader for its share of a source's partitions on its own thread,
 * decodes each fetch into Arrow columns there (fetch → record set → JSON scan → columns), and sends
 * the column buffers to the main thread in a transfer list. Metadata and "offset gone" questions go
 * to the main thread, which owns the kafkajs admin client.
 *
 * Backpressure: at most {@link MAX_UNACKED} batches are on their way or being handled; the reader
 * (and with it the next fetch) waits for acknowledgements beyond that.
 */
import { parentPort } from 'node:worker_threads';
import { decodedToWire } from '../decode-wire.ts';
import { createFetchedDecoder, isPacked, malformedMessages, type FetchedMessages } from '../../formats/packed.ts';
import type { SourceDef } from '../../../planner/catalog.ts';
import { createNativeReader, type ClusterMetadata, type NativeReader } from './reader.ts';

export const MAX_UNACKED = 2;

export interface ReadWorkerStart {
  readonly kind: 'start';
  readonly def: SourceDef;
  readonly columns: readonly boolean[] | null;
  readonly clientId: string;
  readonly readCommitted: boolean;
  readonly headers: boolean;
  readonly maxWaitMs: number;
  readonly partitions: readonly { topic: string; partition: number; offset: number }[];
}

export type ToReadWorker =
  | ReadWorkerStart
  | { readonly kind: 'ack' }
  | { readonly kind: 'reply'; readonly id: number; readonly ok: boolean; readonly value?: unknown; readonly error?: string; readonly errorName?: string }
  | { readonly kind: 'stop' };

export type FromReadWorker =
  | { readonly kind: 'batch'; readonly topic: string; readonly partition: number; readonly count: number; readonly nextOffset: number; readonly wire: ReturnType<typeof decodedToWire>['wire']; readonly malformedRaw: ReturnType<typeof malformedMessages> }
  | { readonly kind: 'skip'; readonly topic: string; readonly partition: number; readonly nextOffset: number }
  | { readonly kind: 'ask'; readonly id: number; readonly op: 'metadata' } | { readonly kind: 'ask'; readonly id: number; readonly op: 'outOfRange'; readonly topic: string; readonly partition: number; readonly offset: number }
  | { readonly kind: 'state'; readonly state: 'running' | 'recovering'; readonly error: string | null }
  | { readonly kind: 'fatal'; readonly message: string; readonly name: string }
  | { readonly kind: 'stopped' };

const port = parentPort;
if (port) {
  let reader: NativeReader | null = null;
  let unacked = 0;
  let wake: (() => void) | null = null;
  let askId = 0;
  const asks = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const send = (m: FromReadWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
  const ask = <T>(m: { op: 'metadata' } | { op: 'outOfRange'; topic: string; partition: number; offset: number }): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = ++askId;
      asks.set(id, { resolve: resolve as (v: unknown) => void, reject });
      send({ kind: 'ask', id, ...m } as FromReadWorker);
    });

  port.on('message', (m: ToReadWorker) => {
    switch (m.kind) {
      case 'start': {
        const decode = createFetchedDecoder(m.def, m.columns);
        reader = createNativeReader({
          clientId: m.clientId, readCommitted: m.readCommitted, headers: m.headers, maxWaitMs: m.maxWaitMs,
          metadata: async () => {
            const v = await ask<{ leaders: [string, number][]; brokers: [number, { host: string; port: number }][] }>({ op: 'metadata' });
            return { leaders: new Map(v.leaders), brokers: new Map(v.brokers) } satisfies ClusterMetadata;
          },
          onMessages: async (msgs: FetchedMessages, nextOffset: number) => {
            const d = decode(msgs);
            const malformedRaw = d.malformed.length ? malformedMessages(msgs, d).map((x) => ({ key: x.key && Uint8Array.from(x.key), value: x.value && Uint8Array.from(x.value), timestamp: x.timestamp })) : [];
            const { wire, transfer } = decodedToWire(d);
            const count = isPacked(msgs) ? msgs.count : 0;
            while (unacked >= MAX_UNACKED) await new Promise<void>((r) => { wake = r; });
            unacked++;
            send({ kind: 'batch', topic: msgs.topic, partition: msgs.partition, count, nextOffset, wire, malformedRaw }, transfer);
          },
          onSkip: (topic, partition, nextOffset) => send({ kind: 'skip', topic, partition, nextOffset }),
          outOfRange: (topic, partition, offset) => ask<number>({ op: 'outOfRange', topic, partition, offset }),
          onState: (state, error) => send({ kind: 'state', state, error }),
          onFatal: (e) => send({ kind: 'fatal', message: e.message, name: e.name }),
        });
        reader.start(m.partitions);
        break;
      }
      case 'ack':
        unacked--;
        if (wake) { const w = wake; wake = null; w(); }
        break;
      case 'reply': {
        const a = asks.get(m.id);
        if (!a) break;
        asks.delete(m.id);
        if (m.ok) a.resolve(m.value);
        else { const e = new Error(m.error); if (m.errorName) e.name = m.errorName; a.reject(e); }
        break;
      }
      case 'stop':
        void (async () => {
          unacked = 0; wake?.();
          await reader?.stop();
          send({ kind: 'stopped' });
        })();
        break;
    }
  });
}
