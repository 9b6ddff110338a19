/**
 * How long each step of stopping a query may take, shared by the whole-query runner and the cluster's
 * task runner: a stuck step (a source that does not stop, a producer that does not close) is abandoned
 * and logged, never waited on forever.
 */

/** Bound of each step of a stop (source, handler chain, producers). */
export const STOP_STEP_MS = 5000;
/** Bound of the final checkpoint of a stop (service shutdown); an unfinished one is resolved at the next start. */
export const STOP_CHECKPOINT_MS = 10_000;

/** True when `p` settles within `ms`; false (and `p` left running) otherwise. */
export function within(p: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  if (!p) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.then(() => { clearTimeout(t); resolve(true); }, () => { clearTimeout(t); resolve(true); });
  });
}
