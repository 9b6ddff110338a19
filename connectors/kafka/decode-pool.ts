/**
 * Parallel decoding: a pool of worker threads that turn fetched Kafka messages into Arrow batches.
 *
 * The calling thread only packs each fetch into one buffer (a memcpy) and, when the result comes
 * back, wraps the transferred column buffers in Arrow Data (no copy). JSON scanning, number parsing
 * and UTF-8 column building happen in the workers, on the other cores. Results of one topic
 * partition resolve in submission order, whatever worker finished first. Fetches smaller than
 * `minBatch` messages are decoded on the calling thread, where the round trip would cost more than
 * the decode (see README, "Performance").
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Schema as ArrowSchema } from 'apache-arrow';
import { arrowSchema } from '../../executor/arrow.ts';
import type { SourceDef } from '../../planner/catalog.ts';
import { createDecoder, type Decoded, type Decoder, type RawMessages } from '../formats/decode.ts';
import { createFastJsonDecoder } from '../formats/fast-json.ts';
import { packMessages, wireToDecoded, type WireDecoded } from './decode-wire.ts';
import type { ToWorker } from './decode-worker.ts';

export interface DecodePoolOptions {
  /** Worker threads; default: the machine's cores. 0 decodes everything on the calling thread. */
  readonly workers?: number;
  /** Fetches with fewer messages are decoded inline; default {@link DEFAULT_MIN_BATCH}. */
  readonly minBatch?: number;
  /** Use the flat-JSON scanner where the schema allows (default true); false = reference decoder only. */
  readonly fastJson?: boolean;
}

/** Decodes one fetch of a source; resolves in submission order per topic partition. */
export type PoolDecoder = (raw: RawMessages) => Promise<Decoded>;

export interface DecodePool {
  /** Worker threads started. */
  readonly size: number;
  /** Registers a source with every worker and returns its decode function. */
  decoder(def: SourceDef): PoolDecoder;
  /** Workers still running (0 after close). */
  alive(): number;
  /** Terminates the workers; pending decodes reject. */
  close(): Promise<void>;
}

/**
 * Below this many messages a fetch is decoded on the calling thread. Measured (bench/decode.ts, 2-core
 * shared machine, ~126-byte bids): the flat-JSON scanner inline decodes 1k messages in ~1.5 ms, about
 * a worker round trip; on that machine the inline scanner beat the pool at every fetch size (the
 * workers compete with the fetch loop and the broker for the same cores), so give `workers: 0` there.
 */
export const DEFAULT_MIN_BATCH = 2000;

interface Pending { resolve(w: WireDecoded): void; reject(e: Error): void }
interface Slot { worker: Worker; inflight: number; alive: boolean; pending: Map<number, Pending> }

export function createDecodePool(opts: DecodePoolOptions = {}): DecodePool {
  const count = Math.max(0, opts.workers ?? availableParallelism());
  const minBatch = opts.minBatch ?? DEFAULT_MIN_BATCH;
  const fast = opts.fastJson ?? true;
  const bootUrl = new URL('./decode-worker-boot.mjs', import.meta.url);
  const slots: Slot[] = [];
  const inits: ToWorker[] = [];
  let nextId = 1;
  let nextSid = 1;
  let closed = false;

  function spawn(): Slot {
    const worker = new Worker(bootUrl);
    const slot: Slot = { worker, inflight: 0, alive: true, pending: new Map() };
    worker.on('message', (m: { kind: 'done'; id: number; wire: WireDecoded } | { kind: 'error'; id: number; message: string }) => {
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      slot.inflight--;
      if (m.kind === 'done') p.resolve(m.wire); else p.reject(new Error(m.message));
    });
    const die = (err: Error) => {
      slot.alive = false;
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
      slot.inflight = 0;
    };
    worker.on('error', (e) => die(e instanceof Error ? e : new Error(String(e))));
    worker.on('exit', (code) => die(new Error(closed ? 'decode pool closed' : `decode worker exited with code ${code}`)));
    for (const m of inits) worker.postMessage(m);
    return slot;
  }
  for (let i = 0; i < count; i++) slots.push(spawn());

  /** The least busy live worker (replacing a dead one first). */
  function pick(): Slot {
    for (let i = 0; i < slots.length; i++) if (!slots[i]!.alive && !closed) slots[i] = spawn();
    let best = slots[0]!;
    for (const s of slots) if (s.inflight < best.inflight) best = s;
    return best;
  }

  return {
    size: count,
    decoder(def) {
      const sid = nextSid++;
      const init: ToWorker = { kind: 'init', sid, def, fast };
      inits.push(init);
      for (const s of slots) s.worker.postMessage(init);
      const schema: ArrowSchema = arrowSchema(def.schema);
      const inline: Decoder = (fast ? createFastJsonDecoder(def)?.decode : undefined) ?? createDecoder(def);
      const needKeys = def.columns.some((c) => c.metadata === 'key');
      const needHeaders = def.columns.some((c) => c.metadata === 'headers');
      // The last result promise per topic partition: the next one resolves only after it.
      const tails = new Map<string, Promise<unknown>>();
      return (raw) => {
        if (closed) return Promise.reject(new Error('decode pool closed'));
        let result: Promise<Decoded>;
        if (slots.length === 0 || raw.values.length < minBatch) {
          try { result = Promise.resolve(inline(raw)); } catch (e) { result = Promise.reject(e as Error); }
        } else {
          const slot = pick();
          const id = nextId++;
          const { msg, transfer } = packMessages(raw, { keys: needKeys, headers: needHeaders });
          result = new Promise<WireDecoded>((resolve, reject) => {
            slot.pending.set(id, { resolve, reject });
            slot.inflight++;
            slot.worker.postMessage({ kind: 'decode', id, sid, msgs: msg } satisfies ToWorker, transfer);
          }).then((w) => wireToDecoded(w, schema));
        }
        const k = `${raw.topic}:${raw.partition}`;
        const prev = tails.get(k);
        const ordered = prev ? prev.then(() => result, () => result) : result;
        tails.set(k, ordered);
        // Forget finished partitions' tails so the map does not grow with idle partitions' promises.
        void ordered.then(() => { if (tails.get(k) === ordered) tails.delete(k); }, () => { if (tails.get(k) === ordered) tails.delete(k); });
        return ordered;
      };
    },
    alive: () => slots.filter((s) => s.alive).length,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(slots.map((s) => s.worker.terminate()));
      for (const s of slots) s.alive = false;
    },
  };
}
