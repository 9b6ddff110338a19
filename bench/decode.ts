/**
 * Decode micro-benchmark: reference decoder (JSON.parse + builders) vs the flat-JSON scanner on one
 * thread vs the worker pool, for 1k/10k/100k-message fetches of Nexmark bids. Prints messages/s.
 *
 *   node --import tsx bench/decode.ts [--total 300000] [--workers N] [--json out.json]
 */
import { availableParallelism } from 'node:os';
import { writeFileSync } from 'node:fs';
import { generateBatch } from '../connectors/demo/generator.ts';
import { createDecoder, type Decoded, type RawMessages } from '../connectors/formats/decode.ts';
import { createFastJsonDecoder } from '../connectors/formats/fast-json.ts';
import { createDecodePool } from '../connectors/kafka/decode-pool.ts';
import { bidSourceSql, sourceDef } from './lib/sources.ts';
import { flag } from './lib/args.ts';

export interface DecodeResult { readonly method: string; readonly batch: number; readonly inflight: number; readonly msgsPerSec: number }

export async function runDecodeBench(opts: { total: number; workers: number; log?: (s: string) => void }): Promise<DecodeResult[]> {
  const log = opts.log ?? console.log;
  const def = sourceDef(bidSourceSql('bench'));
  const msgs = generateBatch('bid', 100_000, { seed: 5 }).map((m) => m.value as Buffer);
  const mk = (from: number, n: number, partition: number): RawMessages => ({
    topic: 'bench', partition, values: msgs.slice(from, from + n), keys: new Array(n).fill(null),
    offsets: Array.from({ length: n }, (_, i) => from + i), timestamps: new Array(n).fill(Date.now()),
  });
  const out: DecodeResult[] = [];
  const ref = createDecoder(def);
  const fast = createFastJsonDecoder(def)!;
  for (const batch of [1_000, 10_000, 100_000]) {
    const inputs = Array.from({ length: Math.max(1, Math.round(opts.total / batch)) }, (_, i) => mk((i * batch) % 100_000, batch, i % 4));
    const n = inputs.length * batch;
    const sync = (name: string, f: (r: RawMessages) => Decoded) => {
      f(inputs[0]!); // warm-up
      const t0 = performance.now();
      for (const r of inputs) f(r);
      const rate = n / ((performance.now() - t0) / 1000);
      out.push({ method: name, batch, inflight: 1, msgsPerSec: Math.round(rate) });
      log(`  ${name.padEnd(28)} batch ${String(batch).padStart(6)}: ${Math.round(rate).toLocaleString('en-US').padStart(10)} msg/s`);
    };
    sync('reference (JSON.parse), 1 thread', ref);
    sync('fast scanner, 1 thread', fast.decode);
    for (const fastJson of [true, false]) {
      const pool = createDecodePool({ workers: opts.workers, minBatch: 1, fastJson });
      const decode = pool.decoder(def);
      await decode(inputs[0]!);
      for (const inflight of [1, 4]) {
        const t0 = performance.now();
        const pending: Promise<Decoded>[] = [];
        for (const r of inputs) {
          pending.push(decode(r));
          if (pending.length >= inflight) await pending.shift();
        }
        await Promise.all(pending);
        const rate = n / ((performance.now() - t0) / 1000);
        const name = `pool ${opts.workers}w ${fastJson ? 'fast' : 'reference'}, ${inflight} in flight`;
        out.push({ method: name, batch, inflight, msgsPerSec: Math.round(rate) });
        log(`  ${name.padEnd(28)} batch ${String(batch).padStart(6)}: ${Math.round(rate).toLocaleString('en-US').padStart(10)} msg/s`);
      }
      await pool.close();
    }
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const total = Number(flag('total') ?? 300_000);
  const workers = Number(flag('workers') ?? availableParallelism());
  const res = await runDecodeBench({ total, workers });
  const json = flag('json');
  if (json) writeFileSync(json, JSON.stringify(res, null, 2));
}
