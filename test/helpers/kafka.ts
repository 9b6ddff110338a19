/**
 * Test helpers for the shared Kafka broker started by test/setup/kafka-global.ts.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

/** Bootstrap servers of the shared broker (`host:port`, comma-separated if KAFKA_BROKERS lists several). */
export function brokers(): string {
  return inject('kafkaBrokers');
}

/** {@link brokers} as the array kafkajs and our connectors take. */
export function brokerList(): string[] {
  return brokers()
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
}

let counter = 0;

/**
 * A topic name no other test, worker or earlier run uses: all test files share one broker,
 * and a KAFKA_BROKERS cluster may keep topics from before.
 */
export function uniqueTopic(prefix = 'test'): string {
  // Kafka allows [a-zA-Z0-9._-] and 249 chars; mixing '.' and '_' collides in metric names.
  const safe = prefix.replace(/[^a-zA-Z0-9-]/g, '-').slice(0, 100);
  return `${safe}-${process.pid}-${Date.now().toString(36)}-${++counter}-${randomBytes(3).toString('hex')}`;
}
