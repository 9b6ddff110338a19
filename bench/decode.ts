/**
 * Decode micro-benchmark on one thread: reference decoder (JSON.parse + builders) vs the flat-JSON
 * scanner, all columns and only the 3 the tumbling query reads, for 1k/10k/100k-message fetches of
 * Nexmark bids. Prints messages/s. (Decoding in parallel happens in read workers, measured end to
 * end by bench/run.ts.)
 *
 *   node --import tsx bench/decode.ts [--total 300000] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { generateBatch } from '../connectors/demo/generator.ts';
import { createDecoder, type Decoded, type RawMessages } from '../connectors/formats/decode.ts';
import { createFastJsonDecoder } from '../connectors/formats/fast-json.ts';
import { bidSourceSql, sourceDef } from './lib/sources.ts';
import { flag } from './lib/args.ts';

export interface DecodeResult { readonly method: string; readonly batch: number; readonly inflight: number; readonly msgsPerSec: number }

export async function runDecodeBench(opts: { total: number; log?: (s: string) => void }): Promise<DecodeResult[]> {
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
    const used = def.columns.map((c) => ['auction', 'price', 'dateTime'].includes(c.name));
    sync('fast scanner, 3 of 6 columns', createFastJsonDecoder(def, used)!.decode);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const total = Number(flag('total') ?? 300_000);
  const res = await runDecodeBench({ total });
  const json = flag('json');
  if (json) writeFileSync(json, JSON.stringify(res, null, 2));
}
