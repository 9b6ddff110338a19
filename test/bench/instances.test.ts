/** The scale-out benchmark's own parts (bench/instances.ts): the keyed load, the CPU of a process tree and of its threads, the window profile. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateKeyedBids, roundOrder, SCALE_PARTITIONS, summarizeRuns, threadCpu, treeCpuSeconds, type ScaleRun } from '../../bench/instances.ts';
import { selfTimes } from '../../bench/lib/profile-top.ts';
import { murmur2 } from '../../connectors/kafka/partitioner.ts';
import { START_ARGS, startArgs } from '../../scripts/start-command.ts';

describe('bench --instances', () => {
  it('puts each bid in the partition of its key (Java partitioner), keyed by auction, event time in order per partition', () => {
    const bids = generateKeyedBids(20_000);
    expect(bids.perPartition.reduce((a, b) => a + b, 0)).toBe(20_000);
    expect(bids.perPartition.filter((n) => n > 0).length).toBe(SCALE_PARTITIONS);
    bids.chunks.forEach((chunks, p) => {
      const lines = [bids.heads[p]!, ...chunks].map((c) => c.toString('utf8')).join('').split('\n').filter(Boolean);
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

describe('bench --instances: where the CPU goes', () => {
  it('splits a process\'s CPU into its main thread and its other threads', async () => {
    // The main thread idles while a worker thread burns (read while it still runs: an ended thread leaves /proc/<pid>/task).
    const code = "const { Worker } = require('node:worker_threads'); new Worker('const e=Date.now()+4000;while(Date.now()<e);', { eval: true }); setTimeout(()=>{}, 6000)";
    const child = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const t = threadCpu([child.pid!]);
      expect(t.get('other') ?? 0).toBeGreaterThanOrEqual(0.35);
      expect(t.get('main') ?? 0).toBeLessThan(t.get('other')!);
    } finally { child.kill('SIGKILL'); }
  });

  it('profiles a window of a process on SIGUSR2 (server/cpu-profile.ts) and sums self time per function (bench/lib/profile-top.ts)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'streamsql-prof-'));
    // Busy in a function named burnForTheProfile between the two signals, idle otherwise.
    const code = `import { cpuProfileOnSignal } from ${JSON.stringify(path.resolve('server/cpu-profile.ts'))};
      cpuProfileOnSignal(${JSON.stringify(dir)}, 'probe', () => {});
      function burnForTheProfile() { const e = Date.now() + 20; let x = 0; while (Date.now() < e) x++; return x; }
      setInterval(burnForTheProfile, 25); setTimeout(() => {}, 20000); console.log('ready');`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => { child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); }); child.on('exit', () => reject(new Error('the probe exited'))); });
      child.kill('SIGUSR2');
      await new Promise((r) => setTimeout(r, 800));
      child.kill('SIGUSR2');
      const file = path.join(dir, 'probe-1.cpuprofile');
      for (let i = 0; i < 50 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
      const { total, by } = selfTimes([file]);
      const burn = [...by].filter(([k]) => k.startsWith('burnForTheProfile ')).reduce((a, [, v]) => a + v, 0);
      expect(total).toBeGreaterThan(500);
      expect(burn / total).toBeGreaterThan(0.5);
    } finally { child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); }
  });
});

describe('bench --instances: the instances run what npm start runs', () => {
  it("takes node's arguments from package.json's start script, flags included", () => {
    const start = JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8')).scripts.start as string;
    expect(START_ARGS.at(-1)).toBe(path.resolve(__dirname, '../../server/main.ts'));
    expect(START_ARGS.slice(0, -1).join(' ')).toBe(start.split(/\s+/).slice(1, -1).join(' '));
    expect(START_ARGS).toContain('--heap-growing-percent=100');
    expect(() => startArgs('tsx server/main.ts')).toThrow(/not "node/);
  });
});

describe('bench --instances: rounds', () => {
  it('alternates the direction of the instance sets from round to round', () => {
    expect(roundOrder([1, 2, 3], 3).map((x) => `${x.round}:${x.n}`)).toEqual(['0:1', '0:2', '0:3', '1:3', '1:2', '1:1', '2:1', '2:2', '2:3']);
    expect(roundOrder([1, 3], 1).map((x) => x.n)).toEqual([1, 3]);
  });

  it('rows are the median round per query and N; ratio = median ÷ first-N median; paired = median of per-round ratios', () => {
    const run = (query: string, instances: number, round: number, eventsPerCpuS: number): ScaleRun => ({
      query, instances, round, eventsPerCpuS, eventsPerCpuSRaw: eventsPerCpuS * 0.9, events: 1000, placement: '', wallS: 1, machineBusyPct: 0, produceS: 0, cpuS: 1, idleCpuS: 0, netCpuS: 1, spreadS: 0,
      fromCreate: { wallS: 1, cpuS: 1, netCpuS: 1, eventsPerCpuS: eventsPerCpuS / 2, ratio: null }, tasks: {}, exchangeBytes: null, exchangeRows: null, inputRows: null, outputRows: 0, lateRows: null, threads: {}, peakRssMb: [], loadAvg: [0], tailS: null, warnings: [], warningCount: 0,
    });
    // The machine drifts up over the rounds; each N keeps the same share of it.
    const runs = [run('key', 1, 0, 100), run('key', 3, 0, 90), run('key', 3, 1, 135), run('key', 1, 1, 150), run('key', 1, 2, 200), run('key', 3, 2, 170), run('rekey', 1, 0, 80)];
    const rows = summarizeRuns(runs, [1, 3]);
    expect(rows.map((r) => `${r.query}@${r.instances}`)).toEqual(['key@1', 'rekey@1', 'key@3']);
    const k1 = rows[0]!; const k3 = rows[2]!;
    expect(k1.eventsPerCpuS).toBe(150);
    expect(k1.ratio).toBe(1);
    expect(k1.runs).toEqual([100, 150, 200]);
    expect(k3.eventsPerCpuS).toBe(135);
    expect(k3.ratio).toBeCloseTo(0.9);
    expect(k3.ratioRaw).toBeCloseTo(0.9);
    expect(k3.fromCreate.ratio).toBeCloseTo(0.9);
    expect(k3.pairedRatios).toEqual([0.9, 0.9, 0.85]);
    expect(k3.pairedRatio).toBeCloseTo(0.9);
    // With no first-N run the ratios are n/a, not made up.
    const lone = summarizeRuns([run('key', 2, 0, 100)], [1, 2]);
    expect(lone[0]!.ratio).toBeNull();
    expect(lone[0]!.pairedRatio).toBeNull();
  });
});
