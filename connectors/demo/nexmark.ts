/**
 * Nexmark event generator (persons, auctions, bids), written from the benchmark's published rules
 * (see /work/shared/nexmark.md): 1:3:46 proportions by event number, ids from 1000, 5 categories from
 * 10, hot auction/person skew, log-uniform prices, named vs numbered channels, `extra` padding
 * towards the reference average sizes, and evenly spaced event time with optional disorder.
 *
 * Everything is a pure function of (options, event number, seeded PRNG), so a run is reproducible.
 */
import { createRandom, foldSeed } from './random.ts';

/** A registered user. `dateTime` is epoch milliseconds (event time). */
export interface Person {
  id: number;
  name: string;
  emailAddress: string;
  creditCard: string;
  city: string;
  state: string;
  dateTime: number;
  extra: string;
}

/** An item put up for auction. Prices are in cents; `dateTime` and `expires` are epoch ms. */
export interface Auction {
  id: number;
  itemName: string;
  description: string;
  initialBid: number;
  reserve: number;
  dateTime: number;
  expires: number;
  seller: number;
  category: number;
  extra: string;
}

/** A bid on an auction. `price` is in cents; `dateTime` is epoch ms. */
export interface Bid {
  auction: number;
  bidder: number;
  price: number;
  channel: string;
  url: string;
  dateTime: number;
  extra: string;
}

/** One generated event; `time` always equals `value.dateTime` (after any out-of-order shift). */
export type NexmarkEvent =
  | { kind: 'person'; time: number; value: Person }
  | { kind: 'auction'; time: number; value: Auction }
  | { kind: 'bid'; time: number; value: Bid };

export type NexmarkKind = NexmarkEvent['kind'];

/** How `dateTime`/`expires` appear on the wire: epoch-ms numbers (default) or ISO-8601 strings. */
export type TimeFormat = 'epoch-ms' | 'iso';

export interface NexmarkOptions {
  /** PRNG seed; default 1. */
  seed?: number;
  /**
   * Event number of the first event (default 0). Ids and event time are functions of the event
   * number, so a generator started at k continues the id/time sequence of one that emitted k events
   * (its random draws differ, which lets parallel generators split one logical stream).
   */
  firstEventId?: number;
  /** Event-time rate: events per second of event time (default 10,000, the reference rate). */
  eventsPerSecond?: number;
  /** Event time (epoch ms) of event number 0; default 2025-01-01T00:00:00Z for reproducibility. */
  baseTime?: number;
  /** Fraction (0..1) of events whose dateTime is shifted back; default 0 (in order). */
  outOfOrderFraction?: number;
  /** Largest backwards shift in ms for out-of-order events; default 4000 (the reference watermark lag). */
  maxDelayMs?: number;
}

export interface NexmarkGenerator {
  /** The next event in the 1:3:46 person/auction/bid sequence. */
  next(): NexmarkEvent;
  /**
   * The next `count` bids, skipping person/auction event numbers without building them (their ids
   * and times are implied by the numbering), for benchmarks that only need the bid stream.
   */
  nextBids(count: number): Bid[];
  /** Event number the next call will start from. */
  readonly nextEventNumber: number;
}

export const FIRST_PERSON_ID = 1000;
export const FIRST_AUCTION_ID = 1000;
export const FIRST_CATEGORY_ID = 10;
export const NUM_CATEGORIES = 5;
/** Average serialized sizes the `extra` padding aims for (reference figures). */
export const TARGET_SIZES = { person: 200, auction: 500, bid: 100 } as const;

const PROPORTION_DENOMINATOR = 50; // person 1 + auction 3 + bid 46
const AUCTIONS_PER_EPOCH = 3;
const HOT_RATIO = 100; // one auction/person in every 100 is "hot"
const IN_FLIGHT_AUCTIONS = 100;
const ACTIVE_PEOPLE = 1000;
const DEFAULT_BASE_TIME = Date.UTC(2025, 0, 1);

const HOT_CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple'] as const;
const HOT_URLS = HOT_CHANNELS.map((c) => `https://${c.toLowerCase()}.com/`);
const FIRST_NAMES = ['Peter', 'Paul', 'Luke', 'John', 'Saul', 'Vicky', 'Kate', 'Julie', 'Sarah', 'Deiter', 'Walter'];
const LAST_NAMES = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris'];
const MAIL_DOMAINS = ['example.com', 'mail.net', 'post.org', 'inbox.io'];
// City and state are drawn as a pair so rows look plausible; OR/ID/CA are present for q3.
const PLACES: readonly (readonly [string, string])[] = [
  ['Phoenix', 'AZ'], ['Los Angeles', 'CA'], ['San Francisco', 'CA'], ['Boise', 'ID'], ['Portland', 'OR'],
  ['Bend', 'OR'], ['Redmond', 'WA'], ['Seattle', 'WA'], ['Kent', 'WA'], ['Cheyenne', 'WY'],
];
const ITEM_ADJECTIVES = ['vintage', 'rare', 'signed', 'antique', 'mint', 'used', 'handmade', 'boxed', 'limited', 'classic'];
const ITEM_NOUNS = ['watch', 'guitar', 'camera', 'lamp', 'bicycle', 'painting', 'vase', 'stamp', 'coin', 'record', 'chair', 'book'];
const DESCRIPTION_WORDS = [
  'excellent', 'condition', 'original', 'packaging', 'ships', 'worldwide', 'from', 'a', 'smoke', 'free',
  'home', 'with', 'minor', 'wear', 'fully', 'working', 'collector', 'item', 'no', 'returns',
];

// One shared, JSON-safe padding alphabet source: slicing it is much cheaper than drawing every
// padding character from the PRNG, and the slice offset still comes from the seeded stream.
const PAD = (() => {
  const r = createRandom(0x5eed);
  const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let s = '';
  for (let i = 0; i < 4096; i++) s += letters[r.nextInt(letters.length)];
  return s;
})();

// Numbered channels and their urls are interned once so the bid hot path allocates no strings.
let channelNames: string[] | undefined;
let channelUrls: string[] | undefined;
function numberedChannels(): [string[], string[]] {
  if (!channelNames || !channelUrls) {
    channelNames = Array.from({ length: 10_000 }, (_, i) => `channel-${i}`);
    channelUrls = Array.from({ length: 10_000 }, (_, i) => `https://nx.io/c${i}`);
  }
  return [channelNames, channelUrls];
}

// A bid's JSON without `extra` is never shorter than this (keys, punctuation, 13-digit dateTime,
// 4-digit ids, 3-digit price), so the bid path can size its padding without serializing.
const BID_MIN_BASE = 76 + 4 + 4 + 3 + 13;

/** Creates a deterministic Nexmark generator. */
export function createNexmarkGenerator(opts: NexmarkOptions = {}): NexmarkGenerator {
  const first = opts.firstEventId ?? 0;
  // Mixing the start position into the seed keeps split generators from repeating one another.
  const rng = createRandom(foldSeed(opts.seed ?? 1) ^ foldSeed(first));
  const eventsPerSecond = opts.eventsPerSecond ?? 10_000;
  const baseTime = opts.baseTime ?? DEFAULT_BASE_TIME;
  const oooFraction = opts.outOfOrderFraction ?? 0;
  const maxDelayMs = opts.maxDelayMs ?? 4000;
  // An auction should stay open for about as long as it takes ~100 newer auctions to appear,
  // which is what keeps roughly IN_FLIGHT_AUCTIONS open at any event time.
  const avgAuctionLifeMs = Math.max(1, Math.ceil(((IN_FLIGHT_AUCTIONS * PROPORTION_DENOMINATOR) / AUCTIONS_PER_EPOCH) * 1000 / eventsPerSecond));
  const [chanNames, chanUrls] = numberedChannels();
  let n = first;

  const timeOf = (eventNumber: number): number => {
    let t = baseTime + Math.floor((eventNumber * 1000) / eventsPerSecond);
    if (oooFraction > 0 && maxDelayMs > 0 && rng.nextFloat() < oooFraction) t -= 1 + rng.nextInt(maxDelayMs);
    return t;
  };
  const price = (): number => Math.round(100 * 10 ** (rng.nextFloat() * 6));
  // A recently registered person (the last ~1000), not just the newest.
  const recentPerson = (lastBase0: number): number => {
    const active = Math.min(lastBase0 + 1, ACTIVE_PEOPLE);
    return lastBase0 + 1 - active + rng.nextInt(active);
  };
  const padding = (current: number, target: number): string => {
    if (current >= target) return '';
    const avg = target - current;
    const delta = Math.floor(avg / 5);
    const len = avg - delta + rng.nextInt(2 * delta + 1);
    const start = rng.nextInt(PAD.length - len);
    return PAD.slice(start, start + len);
  };
  const digits = (count: number): string => String(rng.nextInt(10 ** count)).padStart(count, '0');

  const person = (epoch: number, dateTime: number): Person => {
    const firstName = rng.pick(FIRST_NAMES);
    const lastName = rng.pick(LAST_NAMES);
    const [city, state] = rng.pick(PLACES);
    const p: Person = {
      id: FIRST_PERSON_ID + epoch,
      name: `${firstName} ${lastName}`,
      emailAddress: `${firstName.toLowerCase()}.${lastName.toLowerCase()}${rng.nextInt(1000)}@${rng.pick(MAIL_DOMAINS)}`,
      creditCard: `${digits(4)} ${digits(4)} ${digits(4)} ${digits(4)}`,
      city,
      state,
      dateTime,
      extra: '',
    };
    p.extra = padding(serializePerson(p).length, TARGET_SIZES.person);
    return p;
  };

  const auction = (epoch: number, offset: number, dateTime: number): Auction => {
    const wordCount = 6 + rng.nextInt(7);
    let description = rng.pick(DESCRIPTION_WORDS);
    for (let i = 1; i < wordCount; i++) description += ' ' + rng.pick(DESCRIPTION_WORDS);
    const initialBid = price();
    const lastPerson = epoch; // this epoch's person (offset 0) already exists
    const a: Auction = {
      id: FIRST_AUCTION_ID + epoch * AUCTIONS_PER_EPOCH + offset - 1,
      itemName: `${rng.pick(ITEM_ADJECTIVES)} ${rng.pick(ITEM_NOUNS)}`,
      description,
      initialBid,
      reserve: initialBid + price(),
      dateTime,
      expires: dateTime + 1 + rng.nextInt(2 * avgAuctionLifeMs),
      seller: FIRST_PERSON_ID + (rng.nextInt(4) !== 0 ? Math.floor(lastPerson / HOT_RATIO) * HOT_RATIO : recentPerson(lastPerson)),
      category: FIRST_CATEGORY_ID + rng.nextInt(NUM_CATEGORIES),
      extra: '',
    };
    a.extra = padding(serializeAuction(a).length, TARGET_SIZES.auction);
    return a;
  };

  const bid = (epoch: number, dateTime: number): Bid => {
    const lastAuction = epoch * AUCTIONS_PER_EPOCH + AUCTIONS_PER_EPOCH - 1; // offsets 1..3 precede every bid
    const lastPerson = epoch;
    const auctionBase0 = rng.nextInt(2) === 0
      ? Math.floor(lastAuction / HOT_RATIO) * HOT_RATIO
      : Math.max(0, lastAuction - IN_FLIGHT_AUCTIONS + 1) + rng.nextInt(Math.min(IN_FLIGHT_AUCTIONS, lastAuction + 1));
    const bidderBase0 = rng.nextInt(4) !== 0 ? Math.floor(lastPerson / HOT_RATIO) * HOT_RATIO : recentPerson(lastPerson);
    const p = price();
    let channel: string;
    let url: string;
    if (rng.nextInt(2) === 0) {
      const c = rng.nextInt(HOT_CHANNELS.length);
      channel = HOT_CHANNELS[c];
      url = HOT_URLS[c];
    } else {
      const c = rng.nextInt(10_000);
      channel = chanNames[c];
      url = chanUrls[c];
    }
    return {
      auction: FIRST_AUCTION_ID + auctionBase0,
      bidder: FIRST_PERSON_ID + bidderBase0,
      price: p,
      channel,
      url,
      dateTime,
      // JSON field names alone take ~76 bytes, so bids normally exceed the 100 B target unpadded.
      extra: padding(BID_MIN_BASE + channel.length + url.length, TARGET_SIZES.bid),
    };
  };

  return {
    next(): NexmarkEvent {
      const eventNumber = n++;
      const epoch = Math.floor(eventNumber / PROPORTION_DENOMINATOR);
      const offset = eventNumber % PROPORTION_DENOMINATOR;
      const time = timeOf(eventNumber);
      if (offset === 0) return { kind: 'person', time, value: person(epoch, time) };
      if (offset <= AUCTIONS_PER_EPOCH) return { kind: 'auction', time, value: auction(epoch, offset, time) };
      return { kind: 'bid', time, value: bid(epoch, time) };
    },
    nextBids(count: number): Bid[] {
      const out: Bid[] = new Array(count);
      for (let i = 0; i < count; i++) {
        let offset = n % PROPORTION_DENOMINATOR;
        if (offset <= AUCTIONS_PER_EPOCH) {
          n += AUCTIONS_PER_EPOCH + 1 - offset;
          offset = AUCTIONS_PER_EPOCH + 1;
        }
        const eventNumber = n++;
        out[i] = bid(Math.floor(eventNumber / PROPORTION_DENOMINATOR), timeOf(eventNumber));
      }
      return out;
    },
    get nextEventNumber() {
      return n;
    },
  };
}

// Serializers build JSON with template literals: measurably faster than JSON.stringify on these
// flat shapes. They do not escape strings, which is safe for everything the generator produces
// (fixed word lists, digits and the alphanumeric padding); use JSON.stringify for foreign values.
const iso = (ms: number): string => `"${new Date(ms).toISOString()}"`;

/** Serializes a generated bid to JSON. */
export function serializeBid(b: Bid, format: TimeFormat = 'epoch-ms'): string {
  const t = format === 'iso' ? iso(b.dateTime) : b.dateTime;
  return `{"auction":${b.auction},"bidder":${b.bidder},"price":${b.price},"channel":"${b.channel}","url":"${b.url}","dateTime":${t},"extra":"${b.extra}"}`;
}

/** Serializes a generated auction to JSON. */
export function serializeAuction(a: Auction, format: TimeFormat = 'epoch-ms'): string {
  const isIso = format === 'iso';
  return `{"id":${a.id},"itemName":"${a.itemName}","description":"${a.description}","initialBid":${a.initialBid},"reserve":${a.reserve},"dateTime":${isIso ? iso(a.dateTime) : a.dateTime},"expires":${isIso ? iso(a.expires) : a.expires},"seller":${a.seller},"category":${a.category},"extra":"${a.extra}"}`;
}

/** Serializes a generated person to JSON. */
export function serializePerson(p: Person, format: TimeFormat = 'epoch-ms'): string {
  const t = format === 'iso' ? iso(p.dateTime) : p.dateTime;
  return `{"id":${p.id},"name":"${p.name}","emailAddress":"${p.emailAddress}","creditCard":"${p.creditCard}","city":"${p.city}","state":"${p.state}","dateTime":${t},"extra":"${p.extra}"}`;
}

/** Serializes any generated Nexmark event's value to JSON. */
export function serializeNexmark(e: NexmarkEvent, format: TimeFormat = 'epoch-ms'): string {
  switch (e.kind) {
    case 'person':
      return serializePerson(e.value, format);
    case 'auction':
      return serializeAuction(e.value, format);
    case 'bid':
      return serializeBid(e.value, format);
  }
}
