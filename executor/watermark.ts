/**
 * Source watermarks: per partition, the largest event time seen minus the declared delay; the source's
 * watermark is the minimum over partitions that are active. A partition that has sent nothing yet, or
 * nothing for `idleTimeoutMs`, does not hold the watermark back, and counts again once data comes.
 * The watermark never goes backwards.
 */
import type { RecordBatch } from 'apache-arrow';
import { T } from '../planner/types.ts';
import { dataToVector } from './arrow.ts';
import { asF64 } from './vector.ts';

export interface WatermarkState {
  readonly partitions: Record<string, { maxTime: number }>;
  readonly watermark: number | null;
}

export class WatermarkTracker {
  private readonly maxTime = new Map<string, number>();
  private readonly lastSeen = new Map<string, number>();
  private wm = -Infinity;
  private readonly expected = new Set<string>();

  constructor(private readonly delayMs: number, private readonly idleTimeoutMs: number | null) {}

  /** Marks a partition that has data waiting to be read: the watermark waits for its first batch. */
  expect(partition: string): void {
    if (!this.maxTime.has(partition)) this.expected.add(partition);
  }

  /** Records the largest event time of a batch from one partition, at wall-clock `now`. */
  observe(partition: string, maxEventTime: number, now: number): void {
    this.lastSeen.set(partition, now);
    this.expected.delete(partition);
    if (!(maxEventTime > (this.maxTime.get(partition) ?? -Infinity))) return;
    this.maxTime.set(partition, maxEventTime);
  }

  /** The watermark as of `now` (-Infinity until some partition has data). */
  current(now: number): number {
    if (this.expected.size > 0) return this.wm;
    let min = Infinity;
    let any = false;
    for (const [p, t] of this.maxTime) {
      if (this.idleTimeoutMs !== null && now - (this.lastSeen.get(p) ?? 0) > this.idleTimeoutMs) continue;
      any = true;
      if (t < min) min = t;
    }
    if (any) {
      const w = min - this.delayMs;
      if (w > this.wm) this.wm = w;
    }
    return this.wm;
  }

  snapshot(): WatermarkState {
    const partitions: Record<string, { maxTime: number }> = {};
    for (const [p, t] of this.maxTime) partitions[p] = { maxTime: t };
    return { partitions, watermark: Number.isFinite(this.wm) ? this.wm : null };
  }

  restore(s: WatermarkState, now: number): void {
    this.maxTime.clear(); this.lastSeen.clear();
    for (const [p, v] of Object.entries(s.partitions)) { this.maxTime.set(p, v.maxTime); this.lastSeen.set(p, now); }
    this.wm = s.watermark ?? -Infinity;
  }
}

/** The largest non-NULL value of a TIMESTAMP column in a batch (-Infinity when there is none). */
export function maxTimestamp(batch: RecordBatch, column: number): number {
  const tv = dataToVector(batch.data.children[column]!, T.timestamp);
  const t = asF64(tv);
  const valid = tv.valid;
  let max = -Infinity;
  for (let i = 0; i < t.length; i++) if ((valid === null || valid[i] === 1) && t[i]! > max) max = t[i]!;
  return max;
}
