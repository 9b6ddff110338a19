import { describe, expect, it } from 'vitest';
import { createPageViewGenerator, SESSION_GAP_MS, serializePageView, type PageView } from '../../connectors/demo/pageviews.ts';

describe('page view generator', () => {
  // 30,000 views at 10/s: about 50 minutes of event time.
  const g = createPageViewGenerator({ seed: 4, eventsPerSecond: 10, baseTime: 0 });
  const views = Array.from({ length: 30_000 }, () => g.next());
  const byUser = new Map<number, PageView[]>();
  for (const v of views) {
    const list = byUser.get(v.user_id);
    if (list) list.push(v);
    else byUser.set(v.user_id, [v]);
  }

  it('produces well-formed views in event-time order', () => {
    expect(views.every((v, i) => v.ts === i * 100 && v.page.startsWith('/') && v.duration_ms > 0)).toBe(true);
    for (const v of views.slice(0, 200)) expect(JSON.parse(serializePageView(v))).toEqual(v);
  });

  it('skews traffic towards a few heavy users', () => {
    const counts = [...byUser.values()].map((vs) => vs.length).sort((a, b) => b - a);
    expect(counts[0] / views.length).toBeGreaterThan(0.03); // uniform over 500 users would be 0.2%
  });

  it('separates each user\'s sessions by idle gaps longer than 5 minutes', () => {
    let longGaps = 0;
    for (const vs of byUser.values()) {
      for (let i = 1; i < vs.length; i++) {
        const gap = vs[i].ts - vs[i - 1].ts;
        // Gaps are either inside an active period (at most 4 min) or real idle gaps (> 5 min),
        // never ambiguous around the session-gap boundary.
        if (!(gap < 4 * 60_000 || gap > SESSION_GAP_MS)) throw new Error(`ambiguous gap ${gap} ms for user ${vs[i].user_id}`);
        if (gap > SESSION_GAP_MS) longGaps++;
      }
    }
    expect(longGaps).toBeGreaterThan(100);
    const heavy = [...byUser.values()].sort((a, b) => b.length - a.length).slice(0, 5);
    for (const vs of heavy) expect(vs.some((v, i) => i > 0 && v.ts - vs[i - 1].ts > SESSION_GAP_MS)).toBe(true);
  });
});
