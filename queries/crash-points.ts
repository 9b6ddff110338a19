/**
 * The crash hook of the fault tests, on its own: the checkpoint protocol (queries/epochs.ts) and the
 * runner call it between durable writes; nothing else in a production process reads it.
 */
import type { Log } from '../connectors/kafka/client.ts';

/**
 * TEST HOOK for the fault tests (test/fault): kills this process with SIGKILL at a chosen step of a
 * chosen checkpoint epoch, so a test can crash the service exactly between two durable writes.
 *
 *   STREAMSQL_CRASH_AT="<point>:<epoch>[:<query name>][,…]"     epoch '*' = the first time the point is reached
 *
 * Points, in the order a checkpoint reaches them: `mid-batch` (a source batch of the epoch has been
 * processed), `after-offsets` (offsets/<epoch> written), `state-write` (after the first state file),
 * `after-state` (state complete), `after-sink-commit` (sink transaction committed, no commit marker
 * yet), `after-commit` (marker written); and `restore` (state loaded, before reading starts).
 * Unset in production: then every call is one Map lookup on an empty map.
 */
export type CrashPointName = 'mid-batch' | 'after-offsets' | 'state-write' | 'after-state' | 'after-sink-commit' | 'after-commit' | 'restore';

const specs = new Map<string, { epoch: number | '*'; query: string | null }[]>();
for (const part of (process.env.STREAMSQL_CRASH_AT ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
  const [point, epoch, query] = part.split(':');
  const l = specs.get(point!) ?? [];
  l.push({ epoch: epoch === '*' || epoch === undefined ? '*' : Number(epoch), query: query ?? null });
  specs.set(point!, l);
}

export function crashPoint(point: CrashPointName, epoch: number, query: string, log?: Log): void {
  const l = specs.get(point);
  if (!l) return;
  if (!l.some((s) => (s.epoch === '*' || s.epoch === epoch) && (s.query === null || s.query.toLowerCase() === query.toLowerCase()))) return;
  const msg = `crash hook: ${point} epoch ${epoch} query ${query}: SIGKILL`;
  log?.('warn', msg);
  process.stderr.write(`${msg}\n`);
  process.kill(process.pid, 'SIGKILL');
  // The signal is delivered at once; never run another line of this process meanwhile.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
}
