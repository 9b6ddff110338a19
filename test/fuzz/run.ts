/**
 * The fuzz driver shared by the in-suite runs (test/fuzz/*.test.ts) and `npm run fuzz`
 * (scripts/fuzz.ts): draws inputs for a list of targets from one seeded fast-check stream, sends them
 * one at a time, probes /healthz on its own timer throughout, watches that the service process
 * lives, and collects findings by class. Each class can then be shrunk by fast-check (replaying the
 * seed and the path of its first input) to a minimal reproducer.
 */
import fc from 'fast-check';
import { httpRequest, rawRequest } from './raw-http.ts';
import type { Finding, Target } from './targets.ts';

export interface ClassReport {
  readonly cls: string;
  count: number;
  /** The first input of the class: its run index (the fast-check path) and its printed form. */
  readonly firstIndex: number;
  readonly first: string;
  readonly detail: string;
  /** After shrinking: the smallest input that still shows the class. */
  minimal?: string;
}

export interface FuzzReport {
  readonly seed: number;
  readonly ms: number;
  /** Inputs sent per target, and the statuses (0 = no answer) per target. */
  readonly sent: Record<string, number>;
  readonly statuses: Record<string, Record<string, number>>;
  readonly healthProbes: number;
  readonly classes: ClassReport[];
  /** Why the run stopped early, if it did (the service died or stopped answering). */
  readonly aborted: string | null;
}

export interface RunOptions {
  readonly port: number;
  readonly seed: number;
  /** Stop after this many inputs or this long, whichever comes first. */
  readonly maxRuns?: number;
  readonly maxMs: number;
  /** The service's liveness (the child process); a non-null answer ends the run. */
  readonly exited?: () => unknown;
  /** /healthz must answer within this (default 2 s); probed every `probeEveryMs` (250). */
  readonly healthLimitMs?: number;
  readonly probeEveryMs?: number;
  /** /healthz failing this long (default 15 s) ends the run: the service is wedged. */
  readonly unresponsiveMs?: number;
  readonly onProgress?: (r: FuzzReport) => void;
}

type Tagged = { t: number; v: unknown };

function combined(targets: readonly Target<any>[]): fc.Arbitrary<Tagged> {
  return fc.oneof(...targets.map((tg, t) => ({ weight: tg.weight, arbitrary: tg.arbitrary.map((v): Tagged => ({ t, v })) })));
}

export async function runFuzz(targets: readonly Target<any>[], o: RunOptions): Promise<FuzzReport> {
  const t0 = Date.now();
  const sent: Record<string, number> = {};
  const statuses: Record<string, Record<string, number>> = {};
  const classes = new Map<string, ClassReport>();
  let aborted: string | null = null;
  let probes = 0;
  let index = -1;

  const record = (target: string, f: Finding, idx: number, input: string) => {
    const cls = `${target}: ${f.cls}`;
    const c = classes.get(cls);
    if (c) c.count++;
    else classes.set(cls, { cls, count: 1, firstIndex: idx, first: input, detail: f.detail });
  };

  // /healthz on its own timer: a request that blocks the service's event loop shows here.
  const healthLimit = o.healthLimitMs ?? 2000;
  const unresponsiveMs = o.unresponsiveMs ?? 15_000;
  let lastHealthy = Date.now();
  let probing = true;
  const prober = (async () => {
    while (probing) {
      const r = await rawRequest(o.port, httpRequest('GET', '/healthz'), healthLimit + 1000);
      probes++;
      if (r.status !== 200 || r.ms > healthLimit) {
        record('healthz', { cls: 'did not answer in time', detail: `status ${r.status} after ${r.ms} ms` }, index, `(while input #${index} ran)`);
        if (Date.now() - lastHealthy > unresponsiveMs && !aborted) aborted = `the service did not answer /healthz for ${Math.round((Date.now() - lastHealthy) / 1000)} s (since input #${index})`;
      } else lastHealthy = Date.now();
      await new Promise((res) => setTimeout(res, o.probeEveryMs ?? 250));
    }
  })();

  const report = (): FuzzReport => ({ seed: o.seed, ms: Date.now() - t0, sent, statuses, healthProbes: probes, classes: [...classes.values()], aborted });
  let lastProgress = Date.now();
  await fc.check(fc.asyncProperty(combined(targets), async ({ t, v }) => {
    index++;
    if (aborted) return false; // ends fc.check: nothing more can be learnt from a dead or wedged service
    const tg = targets[t]!;
    const { status, findings } = await tg.run(v);
    sent[tg.name] = (sent[tg.name] ?? 0) + 1;
    const st = (statuses[tg.name] ??= {});
    st[String(status)] = (st[String(status)] ?? 0) + 1;
    for (const f of findings) record(tg.name, f, index, tg.show(v));
    const gone = o.exited?.();
    if (gone) { aborted = `the service exited (${JSON.stringify(gone)}) after input #${index}`; record(tg.name, { cls: 'the service died', detail: aborted }, index, tg.show(v)); }
    if (o.onProgress && Date.now() - lastProgress > 10_000) { lastProgress = Date.now(); o.onProgress(report()); }
    return true;
  }), { seed: o.seed, numRuns: o.maxRuns ?? 1_000_000_000, interruptAfterTimeLimit: o.maxMs, markInterruptAsFailure: false, endOnFailure: true });
  probing = false;
  await prober;
  return report();
}

/**
 * Shrinks one class: replays the seed from the input that first showed it and lets fast-check
 * shrink while the class recurs. Returns the smallest input found within `maxMs`.
 */
export async function shrinkClass(targets: readonly Target<any>[], seed: number, c: ClassReport, maxMs: number): Promise<string | undefined> {
  const [targetName, ...rest] = c.cls.split(': ');
  const want = rest.join(': ');
  if (targetName === 'healthz' || c.firstIndex < 0) return undefined;
  let smallest: string | undefined;
  const res = await fc.check(fc.asyncProperty(combined(targets), async ({ t, v }) => {
    const tg = targets[t]!;
    if (tg.name !== targetName) return true;
    const { findings } = await tg.run(v);
    const hit = findings.some((f) => f.cls === want);
    if (hit) { const s = tg.show(v); if (smallest === undefined || s.length <= smallest.length) smallest = s; }
    return !hit;
  }), { seed, path: String(c.firstIndex), interruptAfterTimeLimit: maxMs, markInterruptAsFailure: false });
  if (res.failed && res.counterexample) {
    const [{ t, v }] = res.counterexample as [Tagged];
    return targets[t]!.show(v);
  }
  return smallest;
}

/** The report as text: counts, statuses, and each class with its reproducer. */
export function formatReport(r: FuzzReport): string {
  const lines = [
    `seed ${r.seed}, ${(r.ms / 1000).toFixed(1)} s, ${Object.values(r.sent).reduce((a, b) => a + b, 0)} inputs (${Object.entries(r.sent).map(([k, v]) => `${k} ${v}`).join(', ')}), ${r.healthProbes} /healthz probes`,
    ...Object.entries(r.statuses).map(([k, st]) => `  ${k} statuses: ${Object.entries(st).sort().map(([s, n]) => `${s}×${n}`).join(' ')}`),
  ];
  if (r.aborted) lines.push(`ABORTED: ${r.aborted}`);
  lines.push(r.classes.length === 0 ? 'failures: none' : `failures: ${r.classes.length} classes`);
  for (const c of r.classes) {
    lines.push(`- [${c.cls}] ×${c.count}: ${c.detail.slice(0, 300)}`);
    lines.push(`    first (input #${c.firstIndex}): ${c.first.slice(0, 600)}`);
    if (c.minimal !== undefined) lines.push(`    minimal: ${c.minimal.slice(0, 600)}`);
  }
  return lines.join('\n');
}
