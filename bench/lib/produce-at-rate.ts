/**
 * A separate producer process for the latency and memory modes of bench/run.ts, so producing does
 * not take CPU from the engine under test. Sends bids stamped with the wall clock at send time
 * (`dateTime`), spread over partitions, at a fixed rate in 20 ms ticks, then prints the count.
 *
 *   node --import tsx bench/lib/produce-at-rate.ts --brokers B --topic T --rate R --seconds S --partitions P [--keys K]
 */
import { execFileSync, spawn } from 'node:child_process';
import { createBenchProducer } from '../../connectors/kafka/bench-consumer.ts';
import { flag } from './args.ts';

const brokers = flag('brokers')!.split(',');
const topic = flag('topic')!;
const rate = Number(flag('rate'));
const seconds = Number(flag('seconds'));
const partitions = Number(flag('partitions') ?? 4);
const keys = Number(flag('keys') ?? 1000);

// kcat -P (librdkafka, linger 5 ms) when installed: one kafkajs producer process tops out near
// 25–45k messages/s on this machine, below the rates the latency mode needs.
const useKcat = (() => { try { execFileSync('sh', ['-c', 'command -v kcat'], { stdio: 'ignore' }); return flag('client') !== 'kafkajs'; } catch { return false; } })();
const kcats = useKcat ? Array.from({ length: partitions }, (_, p) => spawn('kcat', ['-P', '-b', brokers.join(','), '-t', topic, '-p', String(p), '-X', 'linger.ms=5'], { stdio: ['pipe', 'ignore', 'inherit'] })) : [];
const producer = useKcat ? null : await createBenchProducer(brokers, { connections: 2 });
let stop = false;
process.on('SIGTERM', () => { stop = true; });
const tickMs = 20;
const t0 = Date.now();
let sent = 0; let seq = 0; let inflight = 0;
let rnd = 12345;
const next = () => { rnd = (rnd * 1103515245 + 12345) & 0x7fffffff; return rnd / 0x7fffffff; };
while (!stop && Date.now() - t0 < seconds * 1000) {
  const due = Math.floor(((Date.now() - t0) / 1000) * rate);
  const n = due - sent;
  if (n > 0 && inflight < 32) {
    const now = Date.now();
    const per = Math.ceil(n / partitions);
    for (let p = 0; p < partitions; p++) {
      const count = Math.min(per, n - p * per);
      if (count <= 0) break;
      const lines = new Array<string>(count);
      for (let i = 0; i < count; i++) {
        const auction = 1000 + Math.floor(next() * keys);
        lines[i] = `{"auction":${auction},"bidder":${++seq},"price":${100 + Math.floor(next() * 1e6)},"channel":"channel-${seq % 10000}","url":"https://nx.io/c${seq % 10000}","dateTime":${now},"extra":""}`;
      }
      if (producer === null) { kcats[p]!.stdin!.write(lines.join('\n') + '\n'); continue; }
      // Under 1 MB a request (the broker's message.max.bytes), even when catching up.
      for (let i = 0; i < count; i += 4000) {
        inflight++;
        producer.send(topic, p, lines.slice(i, i + 4000).map((l) => ({ value: Buffer.from(l), timestamp: now })))
          .finally(() => { inflight--; }).catch((e) => { console.error(e); process.exit(1); });
      }
    }
    sent += n;
  }
  await new Promise((r) => setTimeout(r, tickMs));
}
while (inflight > 0) await new Promise((r) => setTimeout(r, 10));
await producer?.close();
await Promise.all(kcats.map((k) => new Promise((r) => { k.on('exit', r); k.stdin!.end(); })));
console.log(JSON.stringify({ sent }));
