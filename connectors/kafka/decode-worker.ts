/**
 * A decode worker: receives packed fetches for registered sources, decodes them into Arrow columns
 * (the flat-JSON scanner when the schema allows, the reference decoder otherwise) and sends the
 * column buffers back in a transfer list. Loaded through decode-worker-boot.mjs, which registers
 * tsx in this thread first.
 */
import { parentPort } from 'node:worker_threads';
import { createDecoder, type Decoder } from '../formats/decode.ts';
import { createFastJsonDecoder, type FastJsonDecoder } from '../formats/fast-json.ts';
import type { SourceDef } from '../../planner/catalog.ts';
import { decodedToWire, unpackMessages, type WireMessages } from './decode-wire.ts';

/** Messages from the pool to a worker. */
export type ToWorker =
  | { readonly kind: 'init'; readonly sid: number; readonly def: SourceDef; readonly fast: boolean }
  | { readonly kind: 'decode'; readonly id: number; readonly sid: number; readonly msgs: WireMessages };

interface Registered { readonly fast: FastJsonDecoder | null; readonly slow: Decoder }

const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

const port = parentPort;
if (port) {
  const sources = new Map<number, Registered>();
  port.on('message', (m: ToWorker) => {
    switch (m.kind) {
      case 'init':
        sources.set(m.sid, { fast: m.fast ? createFastJsonDecoder(m.def) : null, slow: createDecoder(m.def) });
        break;
      case 'decode': {
        try {
          const s = sources.get(m.sid);
          if (!s) throw new Error(`decode worker: unknown source ${m.sid}`);
          const p = m.msgs;
          // A Buffer over the packed bytes, so rare reference-path messages read text as kafkajs Buffers do.
          const d = s.fast && p.headers === null
            ? s.fast.decodePacked({ ...p, bytes: asBuffer(p.bytes), keys: p.keys && { ...p.keys, bytes: asBuffer(p.keys.bytes) } })
            : s.slow(unpackMessages(p));
          const { wire, transfer } = decodedToWire(d);
          port.postMessage({ kind: 'done', id: m.id, wire }, transfer);
        } catch (e) {
          port.postMessage({ kind: 'error', id: m.id, message: (e as Error).message });
        }
        break;
      }
    }
  });
}
