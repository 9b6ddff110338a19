import { describe, expect, it } from 'vitest';
import {
  createNexmarkGenerator,
  serializeNexmark,
  type Auction,
  type Bid,
  type NexmarkEvent,
  type Person,
} from '../../connectors/demo/nexmark.ts';

const take = (count: number, opts: Parameters<typeof createNexmarkGenerator>[0] = {}): NexmarkEvent[] => {
  const g = createNexmarkGenerator(opts);
  return Array.from({ length: count }, () => g.next());
};
const values = <K extends NexmarkEvent['kind']>(events: NexmarkEvent[], kind: K) =>
  events.filter((e) => e.kind === kind).map((e) => e.value) as (K extends 'bid' ? Bid : K extends 'auction' ? Auction : Person)[];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const topShare = (xs: number[]) => {
  const counts = new Map<number, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  return Math.max(...counts.values()) / xs.length;
};

describe('nexmark generator', () => {
  const events = take(5000, { seed: 3 });

  it('emits persons, auctions and bids in 1:3:46 by event number', () => {
    expect(values(events, 'person')).toHaveLength(100);
    expect(values(events, 'auction')).toHaveLength(300);
    expect(values(events, 'bid')).toHaveLength(4600);
    events.forEach((e, n) => {
      const offset = n % 50;
      expect(e.kind).toBe(offset === 0 ? 'person' : offset <= 3 ? 'auction' : 'bid');
    });
  });

  it('numbers persons and auctions from 1000 and only references existing ones', () => {
    expect(values(events, 'person').map((p) => p.id)).toEqual(Array.from({ length: 100 }, (_, i) => 1000 + i));
    expect(values(events, 'auction').map((a) => a.id)).toEqual(Array.from({ length: 300 }, (_, i) => 1000 + i));
    let lastPerson = 0;
    let lastAuction = 0;
    for (const e of events) {
      if (e.kind === 'person') lastPerson = e.value.id;
      else if (e.kind === 'auction') {
        lastAuction = e.value.id;
        expect(e.value.seller).toBeGreaterThanOrEqual(1000);
        expect(e.value.seller).toBeLessThanOrEqual(lastPerson);
        expect(e.value.category).toBeGreaterThanOrEqual(10);
        expect(e.value.category).toBeLessThanOrEqual(14);
        expect(e.value.expires).toBeGreaterThan(e.value.dateTime);
        expect(e.value.reserve).toBeGreaterThanOrEqual(e.value.initialBid);
      } else {
        expect(e.value.auction).toBeGreaterThanOrEqual(Math.max(1000, lastAuction - 99));
        expect(e.value.auction).toBeLessThanOrEqual(lastAuction);
        expect(e.value.bidder).toBeGreaterThanOrEqual(1000);
        expect(e.value.bidder).toBeLessThanOrEqual(lastPerson);
      }
    }
    expect(new Set(values(events, 'auction').map((a) => a.category)).size).toBe(5);
  });

  it('draws prices log-uniformly between 100 and 10^8 cents', () => {
    const prices = values(events, 'bid').map((b) => b.price);
    for (const p of prices) {
      expect(Number.isInteger(p)).toBe(true);
      expect(p).toBeGreaterThanOrEqual(100);
      expect(p).toBeLessThanOrEqual(1e8);
    }
    // log10(price) is uniform on [2, 8], so the median is 10^5 cents ($1,000).
    const m = median(prices);
    expect(m).toBeGreaterThan(1e5 / 3);
    expect(m).toBeLessThan(1e5 * 3);
    const perDecade = new Array(6).fill(0);
    for (const p of prices) perDecade[Math.min(5, Math.floor(Math.log10(p)) - 2)]++;
    for (const c of perDecade) expect(c / prices.length).toBeGreaterThan(0.12);
  });

  it('skews bids towards hot auctions and hot bidders', () => {
    const bids = values(events, 'bid');
    // Uniform choice among ~100 in-flight auctions would give ~1%; the hot one gets ~1/6 here
    // (half of all bids, shared by the three hot auctions of the 300 created).
    expect(topShare(bids.map((b) => b.auction))).toBeGreaterThan(0.1);
    expect(topShare(bids.map((b) => b.bidder))).toBeGreaterThan(0.5);
    expect(topShare(values(events, 'auction').map((a) => a.seller))).toBeGreaterThan(0.5);
  });

  it('sends half the bids through four named channels and the rest through channel-N', () => {
    const bids = values(events, 'bid');
    const named = bids.filter((b) => ['Google', 'Facebook', 'Baidu', 'Apple'].includes(b.channel));
    expect(named.length / bids.length).toBeGreaterThan(0.45);
    expect(named.length / bids.length).toBeLessThan(0.55);
    for (const b of bids) if (!named.includes(b)) expect(b.channel).toMatch(/^channel-\d{1,4}$/);
  });

  it('pads serialized events to about 100 / 500 / 200 bytes', () => {
    const size = (kind: NexmarkEvent['kind']) => mean(events.filter((e) => e.kind === kind).map((e) => Buffer.byteLength(serializeNexmark(e))));
    for (const [kind, target] of [['bid', 100], ['auction', 500], ['person', 200]] as const) {
      expect(size(kind)).toBeGreaterThan(target * 0.6);
      expect(size(kind)).toBeLessThan(target * 1.4);
    }
  });

  it('serializes to valid JSON that round-trips, with epoch-ms or ISO times', () => {
    for (const e of events.slice(0, 500)) {
      expect(JSON.parse(serializeNexmark(e))).toEqual(e.value);
      const iso = JSON.parse(serializeNexmark(e, 'iso'));
      expect(iso.dateTime).toBe(new Date(e.time).toISOString());
      if (e.kind === 'auction') expect(iso.expires).toBe(new Date(e.value.expires).toISOString());
    }
  });

  it('is deterministic under a seed', () => {
    const a = take(2000, { seed: 11 }).map((e) => serializeNexmark(e));
    expect(take(2000, { seed: 11 }).map((e) => serializeNexmark(e))).toEqual(a);
    expect(take(2000, { seed: 12 }).map((e) => serializeNexmark(e))).not.toEqual(a);
  });

  it('advances event time evenly from the base time at the configured rate', () => {
    const base = Date.UTC(2030, 0, 1);
    const evs = take(1000, { baseTime: base, eventsPerSecond: 400 });
    evs.forEach((e, n) => {
      expect(e.time).toBe(base + Math.floor((n * 1000) / 400));
      expect(e.value.dateTime).toBe(e.time);
    });
  });

  it('shifts a configured fraction of events back by at most maxDelayMs', () => {
    const base = Date.UTC(2030, 0, 1);
    const evs = take(10_000, { baseTime: base, eventsPerSecond: 1000, outOfOrderFraction: 0.2, maxDelayMs: 500 });
    let late = 0;
    evs.forEach((e, n) => {
      const nominal = base + n;
      expect(e.time).toBeLessThanOrEqual(nominal);
      expect(e.time).toBeGreaterThanOrEqual(nominal - 500);
      if (e.time < nominal) late++;
    });
    expect(late / evs.length).toBeGreaterThan(0.17);
    expect(late / evs.length).toBeLessThan(0.23);
  });

  it('continues ids and time from firstEventId', () => {
    const [first] = take(1, { firstEventId: 500, baseTime: 0, eventsPerSecond: 1000 });
    expect(first.kind).toBe('person');
    expect(first.value).toMatchObject({ id: 1010, dateTime: 500 });
  });

  it('nextBids emits only bids with the same numbering, skipping person/auction slots', () => {
    const g = createNexmarkGenerator({ seed: 5, baseTime: 0, eventsPerSecond: 1000 });
    const bids = g.nextBids(460);
    expect(g.nextEventNumber).toBe(500);
    // With 1 ms per event, dateTime is the event number: never a person/auction slot.
    for (const b of bids) expect(b.dateTime % 50).toBeGreaterThanOrEqual(4);
    expect(bids.map((b) => b.dateTime)).toEqual([...bids.map((b) => b.dateTime)].sort((a, b) => a - b));
    expect(Math.max(...bids.map((b) => b.auction))).toBeLessThanOrEqual(1029);
    expect(topShare(bids.map((b) => b.auction))).toBeGreaterThan(0.3);
    expect(g.next().kind).toBe('person');
  });
});
