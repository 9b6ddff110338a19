/**
 * Synthetic page views for session-window demos. Users are picked with a Zipf-like skew, and each
 * user alternates between active periods (1-4 min of event time) and idle gaps strictly longer than
 * {@link SESSION_GAP_MS}, so a 5-minute session window finds real, separate sessions.
 */
import { createRandom, foldSeed } from './random.ts';

/** One page view; `ts` is event time in epoch ms. */
export interface PageView {
  user_id: number;
  page: string;
  /** Previous page in the session, or the external origin (or 'direct') on a session's first view. */
  referrer: string;
  duration_ms: number;
  ts: number;
}

export interface PageViewOptions {
  /** PRNG seed; default 1. */
  seed?: number;
  /** Event-time rate in views per second; default 20. */
  eventsPerSecond?: number;
  /** Event time (epoch ms) of the first view; default 2025-01-01T00:00:00Z. */
  baseTime?: number;
  /** Number of users (ids 1..users); default 500. */
  users?: number;
}

export interface PageViewGenerator {
  next(): PageView;
}

/** The session gap the data is shaped for: idle periods always exceed it. */
export const SESSION_GAP_MS = 5 * 60_000;

const MIN_ACTIVE_MS = 60_000;
const MAX_ACTIVE_MS = 4 * 60_000;
const MIN_IDLE_MS = SESSION_GAP_MS + 30_000; // margin so gaps are unambiguous, not borderline
const MAX_IDLE_MS = 20 * 60_000;
const PAGES = ['/', '/search', '/products', '/products/1', '/products/2', '/products/3', '/cart', '/checkout', '/account', '/help', '/blog', '/about'];
const EXTERNAL_REFERRERS = ['direct', 'https://www.google.com/', 'https://twitter.com/', 'https://news.ycombinator.com/', 'https://www.bing.com/'];
const DEFAULT_BASE_TIME = Date.UTC(2025, 0, 1);
const PICK_ATTEMPTS = 16;

/** Creates a deterministic page-view generator. */
export function createPageViewGenerator(opts: PageViewOptions = {}): PageViewGenerator {
  const rng = createRandom(foldSeed(opts.seed ?? 1) ^ 0x9a9e);
  const eventsPerSecond = opts.eventsPerSecond ?? 20;
  const baseTime = opts.baseTime ?? DEFAULT_BASE_TIME;
  const users = Math.max(1, opts.users ?? 500);
  // Per-user session state in typed arrays: the generator stays allocation-free per event.
  const activeEnd = new Float64Array(users).fill(-Infinity);
  const nextStart = new Float64Array(users);
  const lastPage = new Int32Array(users).fill(-1);
  // Half the users may start at once, the rest come online over the first idle span, so the
  // demo does not open with every session in lockstep.
  for (let u = 0; u < users; u++) nextStart[u] = baseTime + (rng.nextFloat() < 0.5 ? 0 : rng.nextFloat() * MAX_IDLE_MS);
  let n = 0;

  const usable = (u: number, ts: number): boolean => ts <= activeEnd[u] || ts >= nextStart[u];
  const pickUser = (ts: number): number => {
    for (let i = 0; i < PICK_ATTEMPTS; i++) {
      const u = Math.floor(users ** rng.nextFloat()) - 1; // P(u) ~ 1/(u+1): a few heavy users
      if (usable(u, ts)) return u;
    }
    const from = rng.nextInt(users);
    for (let i = 0; i < users; i++) {
      const u = (from + i) % users;
      if (usable(u, ts)) return u;
    }
    // Every user is mid-gap (only possible with very few users): take the one idle longest.
    let best = 0;
    for (let u = 1; u < users; u++) if (activeEnd[u] < activeEnd[best]) best = u;
    return best;
  };

  return {
    next(): PageView {
      const ts = baseTime + Math.floor((n++ * 1000) / eventsPerSecond);
      const u = pickUser(ts);
      if (ts > activeEnd[u]) {
        activeEnd[u] = ts + MIN_ACTIVE_MS + rng.nextFloat() * (MAX_ACTIVE_MS - MIN_ACTIVE_MS);
        nextStart[u] = activeEnd[u] + MIN_IDLE_MS + rng.nextFloat() * (MAX_IDLE_MS - MIN_IDLE_MS);
        lastPage[u] = -1;
      }
      const page = rng.nextInt(PAGES.length);
      const referrer = lastPage[u] < 0 ? rng.pick(EXTERNAL_REFERRERS) : PAGES[lastPage[u]];
      lastPage[u] = page;
      return {
        user_id: u + 1,
        page: PAGES[page],
        referrer,
        duration_ms: Math.round(500 * 10 ** (rng.nextFloat() * 2.4)),
        ts,
      };
    },
  };
}

/** Serializes a page view to JSON. */
export function serializePageView(v: PageView): string {
  return JSON.stringify(v);
}
