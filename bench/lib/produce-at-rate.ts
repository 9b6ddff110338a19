/**
 * A separate producer process for the latency and memory modes of bench/run.ts, so producing does
 * not take CPU from the engine under test. Sends bids stamped with the wall clock at send time
 * (`dateTime`), spread over partitions, at a fixed rate in 20 ms ticks, then prints the count.
 *
 *   node --import tsx bench/lib/produce-at-rate.ts --brokers B --topic T --rate R --seconds S --partitions P [--keys K]
 */
import { createBenchProducer } from '../../connectors/kafka/bench-consumer.ts';
import { flag } from './args.ts';

const brokers = flag('brokers')!.split(',');
const topic = flag('topic')!;
const rate = Number(flag('rate'));
const seconds = Number(flag('seconds'));
const partitions = Number(flag('partitions') ?? 4);
const keys = Number(flag('keys') ?? 1000);

const producer = await createBenchProducer(brokers, { connections: 2 });
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
      const msgs = new Array(count);
      for (let i = 0; i < count; i++) {
        const auction = 1000 + Math.floor(next() * keys);
        msgs[i] = { value: Buffer.from(`{"auction":${auction},"bidder":${++seq},"price":${100 + Math.floor(next() * 1e6)},"channel":"channel-${seq % 10000}","url":"https://nx.io/c${seq % 10000}","dateTime":${now},"extra":""}`), timestamp: now };
      }
      inflight++;
      producer.send(topic, p, msgs).finally(() => { inflight--; }).catch((e) => { console.error(e); process.exit(1); });
    }
    sent += n;
  }
  await new Promise((r) => setTimeout(r, tickMs));
}
while (inflight > 0) await new Promise((r) => setTimeout(r, 10));
await producer.close();
console.log(JSON.stringify({ sent }));
