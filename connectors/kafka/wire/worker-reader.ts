/**
 * Read workers on the main thread's side: the source's partitions spread over N worker threads,
 * each running the native reader and the decoder (read-worker.ts). The main thread gets Arrow
 * batches over transferred buffers and only runs the query. Same contract as the inline reader
 * ({@link NativeReader}); the configuration's callbacks run here, on the main thread.
 *
 * Messages of one worker are handled strictly in arrival order (a position moved by a `skip` must
 * not overtake the batch before it), one at a time, each acknowledged once handled.
 */
import { Worker } from 'node:worker_threads';
import { arrowSchema } from '../../../executor/arrow.ts';
import type { SourceDef } from '../../../planner/catalog.ts';
import { wireToDecoded } from '../decode-wire.ts';
import type { NativeReader, NativeReaderConfig } from './reader.ts';
import type { FromReadWorker, ToReadWorker } from './read-worker.ts';

export interface WorkerReaderConfig extends NativeReaderConfig {
  readonly def: SourceDef;
  readonly workers: number;
  /** Columns to decode (sourceColumnsUsed); null: all. */
  readonly columns: readonly boolean[] | null;
}

export function createWorkerReader(cfg: WorkerReaderConfig): NativeReader {
  const schema = arrowSchema(cfg.def.schema);
  const boot = new URL('./read-worker-boot.mjs', import.meta.url);
  let workers: Worker[] = [];
  let stopped = true;

  function spawn(parts: readonly { topic: string; partition: number; offset: number }[]): Worker {
    const w = new Worker(boot);
    let chain: Promise<void> = Promise.resolve();
    const post = (m: ToReadWorker) => { if (!stopped) w.postMessage(m); };
    const inOrder = (f: () => Promise<void> | void) => { chain = chain.then(f).catch((e) => { if (!stopped) { stopped = true; cfg.onFatal(e as Error); } }); };
    w.on('message', (m: FromReadWorker) => {
      if (stopped && m.kind !== 'stopped') return;
      switch (m.kind) {
        case 'batch':
          inOrder(async () => {
            if (stopped) return;
            const decoded = wireToDecoded(m.wire, schema);
            await cfg.onMessages({ topic: m.topic, partition: m.partition, count: m.count, decoded, malformedRaw: m.malformedRaw }, m.nextOffset);
            post({ kind: 'ack' });
          });
          break;
        case 'skip':
          inOrder(() => cfg.onSkip(m.topic, m.partition, m.nextOffset));
          break;
        case 'ask':
          void (async () => {
            try {
              if (m.op === 'metadata') {
                const meta = await cfg.metadata();
                post({ kind: 'reply', id: m.id, ok: true, value: { leaders: [...meta.leaders], brokers: [...meta.brokers] } });
              } else {
                // After the batches before it: the answer may move the position.
                const p = new Promise<number>((resolve, reject) => inOrder(() => cfg.outOfRange(m.topic, m.partition, m.offset).then(resolve, reject)));
                post({ kind: 'reply', id: m.id, ok: true, value: await p });
              }
            } catch (e) {
              post({ kind: 'reply', id: m.id, ok: false, error: (e as Error).message, errorName: (e as Error).name });
            }
          })();
          break;
        case 'state':
          cfg.onState(m.state, m.error);
          break;
        case 'fatal': {
          const e = new Error(m.message); e.name = m.name;
          inOrder(() => { if (!stopped) { stopped = true; cfg.onFatal(e); } });
          break;
        }
        case 'stopped':
          break;
      }
    });
    w.on('error', (e) => { if (!stopped) { stopped = true; cfg.onFatal(new Error(`read worker failed: ${e.message}`)); } });
    w.postMessage({
      kind: 'start', def: cfg.def, columns: cfg.columns, clientId: cfg.clientId, readCommitted: cfg.readCommitted, headers: cfg.headers,
      maxWaitMs: cfg.maxWaitMs, partitions: parts,
    } satisfies ToReadWorker);
    return w;
  }

  return {
    start(positions) {
      stopped = false;
      const n = Math.max(1, Math.min(cfg.workers, positions.length));
      const shares: { topic: string; partition: number; offset: number }[][] = Array.from({ length: n }, () => []);
      [...positions].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition).forEach((p, i) => shares[i % n]!.push(p));
      workers = shares.map((s) => spawn(s));
    },
    async stop() {
      stopped = true;
      const ws = workers; workers = [];
      await Promise.all(ws.map(async (w) => {
        const done = new Promise<void>((r) => { w.on('message', (m: FromReadWorker) => { if (m.kind === 'stopped') r(); }); w.once('exit', () => r()); });
        w.postMessage({ kind: 'stop' } satisfies ToReadWorker);
        await Promise.race([done, new Promise((r) => setTimeout(r, 2000))]);
        await w.terminate();
      }));
    },
  };
}
