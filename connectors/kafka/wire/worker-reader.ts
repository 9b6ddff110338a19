/**
 * Read workers on the main thread's side. A process-wide pool of worker threads (started once,
 * kept warm: booting a thread with the TypeScript loader and Arrow costs ~1 s) hosts native readers
 * (read-worker.ts); a source's partitions are spread over N of them. The main thread gets Arrow
 * batches over transferred buffers and only runs the query. Same contract as the inline reader
 * ({@link NativeReader}); the configuration's callbacks run here, on the main thread.
 *
 * Messages of one hosted reader are handled strictly in arrival order (a position moved by a
 * `skip` must not overtake the batch before it), one at a time, each acknowledged once handled.
 */
import { availableParallelism } from 'node:os';
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

interface PoolThread {
  readonly worker: Worker;
  readonly routes: Map<number, (m: FromReadWorker) => void>;
  /** Called for every hosted reader if the thread dies. */
  readonly onDeath: Map<number, (e: Error) => void>;
  dead: boolean;
}

const threads: PoolThread[] = [];
let nextRid = 0;
let rotate = 0;

function spawnThread(): PoolThread {
  const worker = new Worker(new URL('./read-worker-boot.mjs', import.meta.url));
  // The pool must not keep a process alive that has nothing else to do.
  worker.unref();
  const t: PoolThread = { worker, routes: new Map(), onDeath: new Map(), dead: false };
  worker.on('message', (m: FromReadWorker) => t.routes.get(m.rid)?.(m));
  const die = (e: Error) => {
    if (t.dead) return;
    t.dead = true;
    const i = threads.indexOf(t);
    if (i >= 0) threads.splice(i, 1);
    for (const f of t.onDeath.values()) f(e);
  };
  worker.on('error', (e) => die(new Error(`read worker failed: ${e.message}`)));
  worker.on('exit', () => die(new Error('read worker exited')));
  return t;
}

/** Starts the pool's threads now (up to `size`), so the first query does not wait for them. */
export function warmReadPool(size = availableParallelism()): void {
  while (threads.length < size) threads.push(spawnThread());
}

/** Terminates the pool's threads (readers still hosted fail); the next reader starts new ones. */
export async function closeReadPool(): Promise<void> {
  const ts = threads.splice(0);
  for (const t of ts) t.dead = true;
  await Promise.all(ts.map((t) => t.worker.terminate()));
}

let holders = 0;
/**
 * Holds the pool for a service (warming it); the last release terminates its threads. Readers
 * created without a holder still work: the pool starts on demand and its threads do not keep the
 * process alive.
 */
export function holdReadPool(size: number): () => Promise<void> {
  holders++;
  if (size > 0) warmReadPool(size);
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    if (--holders === 0) await closeReadPool();
  };
}

export function createWorkerReader(cfg: WorkerReaderConfig): NativeReader {
  const schema = arrowSchema(cfg.def.schema);
  let hosted: { t: PoolThread; rid: number }[] = [];
  /** Each hosted reader's handling chain: stop waits for a batch being handled. */
  const chains = new Map<number, () => Promise<void>>();
  let stopped = true;
  const fatal = (e: Error) => { if (!stopped) { stopped = true; cfg.onFatal(e); } };

  function host(t: PoolThread, parts: readonly { topic: string; partition: number; offset: number }[]): number {
    const rid = ++nextRid;
    let chain: Promise<void> = Promise.resolve();
    const post = (m: ToReadWorker) => { if (!stopped && !t.dead) t.worker.postMessage(m); };
    const inOrder = (f: () => Promise<void> | void) => { chain = chain.then(f).catch((e) => fatal(e as Error)); };
    chains.set(rid, () => chain);
    t.routes.set(rid, (m) => {
      if (stopped) return;
      switch (m.kind) {
        case 'batch':
          inOrder(async () => {
            if (stopped) return;
            const decoded = wireToDecoded(m.wire, schema);
            await cfg.onMessages({ topic: m.topic, partition: m.partition, count: m.count, decoded, malformedRaw: m.malformedRaw }, m.nextOffset);
            post({ kind: 'ack', rid });
          });
          break;
        case 'skip':
          inOrder(() => cfg.onSkip(m.topic, m.partition, m.nextOffset));
          break;
        case 'hw':
          cfg.onHighWatermark?.(m.topic, m.partition, m.highWatermark);
          break;
        case 'ask':
          void (async () => {
            try {
              if (m.op === 'metadata') {
                const meta = await cfg.metadata();
                post({ kind: 'reply', rid, id: m.id, ok: true, value: { leaders: [...meta.leaders], brokers: [...meta.brokers] } });
              } else {
                // After the batches before it: the answer may move the position.
                const to = await new Promise<number>((resolve, reject) => inOrder(() => cfg.outOfRange(m.topic, m.partition, m.offset).then(resolve, reject)));
                post({ kind: 'reply', rid, id: m.id, ok: true, value: to });
              }
            } catch (e) {
              post({ kind: 'reply', rid, id: m.id, ok: false, error: (e as Error).message, errorName: (e as Error).name });
            }
          })();
          break;
        case 'state':
          cfg.onState(m.state, m.error);
          break;
        case 'fatal': {
          const e = new Error(m.message); e.name = m.name;
          inOrder(() => fatal(e));
          break;
        }
        case 'stopped':
          break;
      }
    });
    t.onDeath.set(rid, (e) => fatal(e));
    t.worker.postMessage({
      kind: 'start', rid, def: cfg.def, columns: cfg.columns, clientId: cfg.clientId, security: cfg.security, readCommitted: cfg.readCommitted,
      headers: cfg.headers, maxWaitMs: cfg.maxWaitMs, partitions: parts,
    } satisfies ToReadWorker);
    return rid;
  }

  return {
    start(positions) {
      stopped = false;
      const n = Math.max(1, Math.min(cfg.workers, positions.length));
      warmReadPool(Math.max(n, threads.length));
      const shares: { topic: string; partition: number; offset: number }[][] = Array.from({ length: n }, () => []);
      [...positions].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition).forEach((p, i) => shares[i % n]!.push(p));
      // Queries take turns on the threads, so two sources do not both load the first one.
      const first = rotate++;
      hosted = shares.map((s, i) => {
        const t = threads[(first + i) % threads.length]!;
        return { t, rid: host(t, s) };
      });
    },
    async stop() {
      stopped = true;
      const hs = hosted; hosted = [];
      await Promise.all(hs.map(async ({ t, rid }) => {
        t.onDeath.delete(rid);
        if (t.dead) { t.routes.delete(rid); return; }
        const done = new Promise<void>((r) => {
          t.routes.set(rid, (m) => { if (m.kind === 'stopped') r(); });
          t.onDeath.set(rid, () => r());
        });
        t.worker.postMessage({ kind: 'stop', rid } satisfies ToReadWorker);
        await Promise.race([done, new Promise((r) => setTimeout(r, 3000).unref())]);
        t.routes.delete(rid); t.onDeath.delete(rid);
        await chains.get(rid)?.();
        chains.delete(rid);
      }));
    },
  };
}
