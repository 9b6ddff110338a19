/**
 * The embedded demo: a generator producing Nexmark, tweet and page-view JSON events to the local
 * broker, and the example queries from queries/examples, so a newcomer sees live results at once.
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
export const DEMO_EXAMPLES = ['nexmark-bids.sql'];

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
    const sql = await fs.readFile(path.join(EXAMPLES_DIR, f), 'utf8');
    try {
      await engine.execute(sql);
    } catch (e) {
      log('error', `demo example ${f}: ${(e as Error).message}`);
    }
  }
  return {
    generator,
    async stop() { await generator.stop(); await producer.close(); },
  };
}
