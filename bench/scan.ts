/**
 * The flat-JSON scanner alone over packed messages (the form the native reader hands over), one
 * thread: messages/s and ns/byte for all columns and for the 3 the tumbling query reads.
 *
 *   node --import tsx bench/scan.ts [--rounds 5] [--cols all|3]
 */
import { generateBatch } from '../connectors/demo/generator.ts';
import { createFastJsonDecoder, type PackedMessages } from '../connectors/formats/fast-json.ts';
import { bidSourceSql, sourceDef } from './lib/sources.ts';
import { flag } from './lib/args.ts';

const def = sourceDef(bidSourceSql('bench'));
const N = 10_000;
const batches: PackedMessages[] = [];
for (let b = 0; b < 20; b++) {
  const msgs = generateBatch('bid', N, { seed: 5 + b }).map((m) => m.value as Buffer);
  const total = msgs.reduce((n, m) => n + m.length, 0);
  // A Buffer with start and end positions, like a fetch response read in place.
  const bytes = Buffer.allocUnsafeSlow(total); const starts = new Int32Array(N); const ends = new Int32Array(N);
  let p = 0;
  for (let i = 0; i < N; i++) { starts[i] = p; bytes.set(msgs[i]!, p); p += msgs[i]!.length; ends[i] = p; }
  batches.push({ topic: 'bench', partition: b % 4, count: N, bytes, starts, ends, nulls: null, keys: null, offsets: Float64Array.from({ length: N }, (_, i) => i), timestamps: new Float64Array(N).fill(Date.now()) });
}
const bytes = batches.reduce((n, b) => n + b.bytes.length, 0);
const rounds = Number(flag('rounds') ?? 5);
// One decoder per process (--cols all|3): a second decoder in the same process measured up to 40%
// apart from the first, run to run.
const cols = flag('cols') ?? 'all';
{
  const name = cols === 'all' ? 'all columns' : '3 of 6 columns';
  const used = cols === 'all' ? null : def.columns.map((c) => ['auction', 'price', 'dateTime'].includes(c.name));
  const d = createFastJsonDecoder(def, used)!;
  for (const b of batches) d.decodePacked(b); // warm-up
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (const b of batches) d.decodePacked(b);
    best = Math.min(best, performance.now() - t0);
  }
  const msgs = batches.length * N;
  console.log(`${name.padEnd(16)} ${Math.round(msgs / (best / 1000)).toLocaleString('en-US').padStart(11)} msg/s  ${(best * 1e6 / bytes).toFixed(2)} ns/byte  (${(bytes / msgs).toFixed(0)} B/msg, fallbacks ${d.lastFallbacks()})`);
}
