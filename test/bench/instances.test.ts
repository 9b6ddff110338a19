/** The scale-out benchmark's own parts (bench/instances.ts): the keyed load and the CPU of a process tree. */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { generateKeyedBids, SCALE_PARTITIONS, treeCpuSeconds } from '../../bench/instances.ts';
import { murmur2 } from '../../connectors/kafka/partitioner.ts';

describe('bench --instances', () => {
  it('puts each bid in the partition of its key (Java partitioner), keyed by auction, event time in order per partition', () => {
    const bids = generateKeyedBids(20_000);
    expect(bids.perPartition.reduce((a, b) => a + b, 0)).toBe(20_000);
    expect(bids.perPartition.filter((n) => n > 0).length).toBe(SCALE_PARTITIONS);
    bids.chunks.forEach((chunks, p) => {
      const lines = chunks.map((c) => c.toString('utf8')).join('').split('\n').filter(Boolean);
      expect(lines.length).toBe(bids.perPartition[p]);
      let last = -Infinity;
      for (const line of lines) {
        const [key, value] = line.split('\t') as [string, string];
        const bid = JSON.parse(value) as { auction: number; dateTime: number };
        expect(String(bid.auction)).toBe(key);
        expect((murmur2(Buffer.from(key)) & 0x7fffffff) % SCALE_PARTITIONS).toBe(p);
        expect(bid.dateTime).toBeGreaterThanOrEqual(last);
        last = bid.dateTime;
      }
    });
  });

  it('counts the CPU of a process and of its descendants', async () => {
    // A shell whose child burns ~0.4 s of CPU, then both wait: the tree's CPU must include the grandchild's.
    const sh = spawn('sh', ['-c', `${JSON.stringify(process.execPath)} -e "const e=Date.now()+400;while(Date.now()<e);setTimeout(()=>{},5000)" & wait`], { stdio: 'ignore', detached: true });
    try {
      await new Promise((r) => setTimeout(r, 1200));
      const tree = treeCpuSeconds([sh.pid!]);
      expect(tree).toBeGreaterThanOrEqual(0.3);
      expect(treeCpuSeconds([process.pid])).toBeGreaterThan(0);
    } finally {
      // Stop the whole group this test started: the shell and its child.
      process.kill(-sh.pid!, 'SIGKILL');
    }
  });
});
