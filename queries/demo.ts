/**
 * The embedded demo: a generator producing Nexmark (persons, auctions and bids, 1:3:46, to the topics
 * persons, auctions and bids), tweet and page-view JSON events to the local broker, and the example
 * queries from queries/examples, so a newcomer sees live results at once. The bid-only examples read
 * the source `bids`; the join examples declare Nexmark's own names `person`, `auction` and `bid`, so
 * their SQL is the benchmark's text.
 *
 * An example file is a header comment (its description), the statements that create its sources and
 * views, then optionally a line `-- Pull queries:` followed by SELECTs over those views. The demo
 * submits the part before that line; `streamsql submit file.sql` runs the whole file.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDemoGenerator, type DemoGenerator } from '../connectors/demo/generator.ts';
import type { Log } from '../connectors/kafka/client.ts';
import { createSideProducer } from '../connectors/kafka/sink.ts';
import type { Engine } from './engine.ts';

export const EXAMPLES_DIR = fileURLToPath(new URL('./examples/', import.meta.url));

/** The example files the demo submits, in order. */
export const DEMO_EXAMPLES = [
  'nexmark-bids.sql',
  'tweet-sentiment.sql',
  'pageviews-per-user.sql',
  'user-sessions.sql',
  'nexmark-q1.sql',
  'nexmark-q2.sql',
  'nexmark-q5.sql',
  'nexmark-q18.sql',
  'nexmark-q19.sql',
  // Joins over the three Nexmark topics (sources person, auction, bid over persons, auctions, bids).
  'nexmark-q3.sql',
  'nexmark-q4.sql',
  'nexmark-q7.sql',
  'nexmark-q8.sql',
  'nexmark-q9.sql',
  'nexmark-q20.sql',
];

const PULL_MARKER = /^--\s*Pull queries:?\s*$/im;

export interface Example {
  readonly file: string;
  /** The header comment, without the comment markers. */
  readonly description: string;
  /** The statements that create sources and views (what the demo submits). */
  readonly setup: string;
  /** Pull queries over the example's views, one SELECT each. */
  readonly pulls: readonly string[];
}

export function parseExample(file: string, text: string): Example {
  const lines = text.split('\n');
  const header: string[] = [];
  for (const l of lines) {
    if (!l.startsWith('--')) break;
    header.push(l.replace(/^--\s?/, ''));
  }
  const m = PULL_MARKER.exec(text);
  const setup = m ? text.slice(0, m.index) : text;
  const pulls = m
    ? text.slice(m.index + m[0].length).split('\n').filter((l) => !l.trim().startsWith('--')).join('\n')
      .split(';').map((s) => s.trim()).filter(Boolean)
    : [];
  return { file, description: header.join(' ').replace(/\s+/g, ' ').trim(), setup, pulls };
}

export async function loadExample(file: string): Promise<Example> {
  return parseExample(file, await fs.readFile(path.join(EXAMPLES_DIR, file), 'utf8'));
}

export interface Demo {
  readonly generator: DemoGenerator;
  stop(): Promise<void>;
}

export async function startDemo(engine: Engine, brokers: readonly string[], log: Log, opts: { eventsPerSecond?: number; examples?: readonly string[] } = {}): Promise<Demo> {
  const producer = createSideProducer(brokers, 'streamsql-demo', log);
  const generator = startDemoGenerator({
    send: (topic, messages) => producer.send(topic, messages),
    eventsPerSecond: opts.eventsPerSecond ?? 200,
    onError: (e, topic) => log('warn', `demo generator: cannot produce to ${topic}: ${(e as Error).message}`),
  });
  for (const f of opts.examples ?? DEMO_EXAMPLES) {
    try {
      const ex = await loadExample(f);
      await engine.execute(ex.setup);
    } catch (e) {
      log('error', `demo example ${f}: ${(e as Error).message}`);
    }
  }
  return {
    generator,
    async stop() { await generator.stop(); await producer.close(); },
  };
}
