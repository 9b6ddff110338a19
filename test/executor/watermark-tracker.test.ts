import { describe, expect, it } from 'vitest';
import { WatermarkTracker } from '../../executor/watermark.ts';

describe('WatermarkTracker', () => {
  it('is the minimum over partitions of max event time minus the delay, and never goes backwards', () => {
    const w = new WatermarkTracker(5, null);
    expect(w.current(0)).toBe(-Infinity);
    w.observe('p0', 100, 0);
    expect(w.current(0)).toBe(95);
    w.observe('p1', 50, 0);
    expect(w.current(0)).toBe(95); // p1 joined behind: the watermark holds, it does not go back
    w.observe('p1', 200, 0);
    expect(w.current(0)).toBe(95);
    w.observe('p0', 300, 0);
    expect(w.current(0)).toBe(195);
  });

  it('waits for a partition known to hold unread data', () => {
    const w = new WatermarkTracker(0, null);
    w.expect('p1');
    w.observe('p0', 100, 0);
    expect(w.current(0)).toBe(-Infinity);
    w.observe('p1', 80, 0);
    expect(w.current(0)).toBe(80);
  });

  it('lets an idle partition stop holding the watermark back, and counts it again when data comes', () => {
    const w = new WatermarkTracker(0, 1000);
    w.observe('p0', 100, 0);
    w.observe('p1', 10, 0);
    expect(w.current(500)).toBe(10);
    w.observe('p0', 400, 1500);
    expect(w.current(1500)).toBe(400); // p1 silent for 1.5 s > 1 s idle timeout
    w.observe('p1', 300, 1600); // rejoins behind the watermark: held, not moved back
    expect(w.current(1600)).toBe(400);
    w.observe('p0', 900, 1700);
    w.observe('p1', 700, 1700);
    expect(w.current(1700)).toBe(700); // p1 counts again
  });
});
