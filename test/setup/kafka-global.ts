/**
 * Vitest globalSetup: one real Kafka broker for the whole test run, shared by every test
 * file through `inject('kafkaBrokers')` (see test/helpers/kafka.ts). Tests that need to stop
 * or restart a broker start their own with startLocalBroker().
 *
 * Set KAFKA_BROKERS (e.g. `127.0.0.1:9092`) to run against an existing cluster instead;
 * then nothing is started.
 */
import type { TestProject } from 'vitest/node';
import { startLocalBroker } from '../../connectors/kafka/local-broker.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap servers of the shared broker, comma-separated `host:port`. */
    kafkaBrokers: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const external = process.env.KAFKA_BROKERS?.trim();
  if (external) {
    project.provide('kafkaBrokers', external);
    return undefined;
  }
  // stderr, so a slow first run (jar download, JVM boot) explains itself.
  const broker = await startLocalBroker({ log: (msg) => process.stderr.write(`[kafka] ${msg}\n`) });
  project.provide('kafkaBrokers', broker.bootstrap);
  return () => broker.stop();
}
