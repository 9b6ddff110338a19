/**
 * A CPU profile of a chosen window of this process's main thread, for benchmarks: with
 * STREAMSQL_CPU_PROFILE_DIR set, the first SIGUSR2 starts V8's sampling profiler and the next one
 * writes `<dir>/<instance>-<n>.cpuprofile` (open it in Chrome DevTools or read it with
 * bench/lib/profile-top.ts). Node's own `--cpu-prof` covers the whole life of the process, start-up
 * and settling included, which hides what a timed window costs (bench/instances.ts sends the signals
 * around its window when BENCH_PROFILE_DIR is set).
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export function cpuProfileOnSignal(dir: string, name: string, log: (level: 'info' | 'warn', msg: string) => void): void {
  const session = new Session();
  session.connect();
  let running = false;
  let n = 0;
  const post = (method: string, params?: object) => new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  process.on('SIGUSR2', () => {
    const wasRunning = running;
    running = !running;
    void (async () => {
      if (!wasRunning) {
        await post('Profiler.enable');
        await post('Profiler.setSamplingInterval', { interval: 500 });
        await post('Profiler.start');
        log('info', 'cpu profile: started');
        return;
      }
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      const file = path.join(dir, `${name}-${++n}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      log('info', `cpu profile: written to ${file}`);
    })().catch((e) => log('warn', `cpu profile: ${String(e)}`));
  });
}
