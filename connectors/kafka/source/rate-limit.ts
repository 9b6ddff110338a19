/**
 * 'scan.max-rate': at most this many rows per second from the source, averaged since it started.
 * The limit holds the next fetch (the reader awaits the handler, then this), so it only works where
 * the fetch is on the query's thread: a rate-limited source reads inline (native-reading.ts).
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RateLimiter {
  /** Starts counting (each time the source starts). */
  reset(): void;
  /**
   * Adds `rows` and waits until the rows so far fit the rate, in slices of at most 500 ms (calling
   * `beat` after each, e.g. a consumer heartbeat) while `alive` holds.
   */
  throttle(rows: number, alive: () => boolean, beat?: () => Promise<void>): Promise<void>;
}

export function createRateLimiter(maxRate: number | null, stopped: () => boolean): RateLimiter {
  let start = 0; let rows = 0;
  return {
    reset() { start = Date.now(); rows = 0; },
    async throttle(n, alive, beat) {
      if (!maxRate) return;
      rows += n;
      const due = start + (rows / maxRate) * 1000;
      while (Date.now() < due && alive() && !stopped()) { await sleep(Math.min(500, due - Date.now())); await beat?.(); }
    },
  };
}
