/**
 * `node --import tsx bench/lib/profile-top.ts DIR... [--top N]`: the functions taking the most
 * self time in the .cpuprofile files under each DIR together (server/cpu-profile.ts writes them over a
 * bench window), as ms and % of the samples — so two runs (1 and 3 instances) compare line by line.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : f.endsWith('.cpuprofile') ? [p] : [];
  });
}

export function selfTimes(paths: readonly string[]): { total: number; by: Map<string, number> } {
  const by = new Map<string, number>();
  let total = 0;
  for (const f of paths) {
    const p = JSON.parse(readFileSync(f, 'utf8')) as Profile;
    const label = new Map<number, string>();
    for (const n of p.nodes) {
      const u = n.callFrame.url.replace(/^file:\/\//, '').replace(/.*node_modules\//, '').replace(/.*\/main\//, '');
      label.set(n.id, `${n.callFrame.functionName || '(anon)'} ${u}:${n.callFrame.lineNumber + 1}`);
    }
    for (let i = 0; i < p.samples.length; i++) {
      const dt = (p.timeDeltas[i] ?? 0) / 1000;
      const k = label.get(p.samples[i]!)!;
      by.set(k, (by.get(k) ?? 0) + dt);
      total += dt;
    }
  }
  return { total, by };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const ti = args.indexOf('--top');
  const top = ti >= 0 ? Number(args[ti + 1]) : 40;
  // Without --top (ti = -1) every argument is a directory (ti + 1 = 0 would drop the first one).
  const dirs = args.filter((a, i) => a !== '--top' && (ti < 0 || i !== ti + 1));
  for (const d of dirs) {
    const { total, by } = selfTimes(files(d));
    console.log(`== ${d}: ${(total / 1000).toFixed(2)} s sampled`);
    for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${v.toFixed(0).padStart(8)} ms ${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
  }
}
