/** kafkajs clients configured once: quiet logs routed to our logger, bounded retries. */
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';

export type Log = (level: 'info' | 'warn' | 'error', msg: string) => void;

export function createKafka(brokers: readonly string[], clientId: string, log?: Log, extra: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId,
    brokers: [...brokers],
    connectionTimeout: 3000,
    requestTimeout: 30000,
    retry: { initialRetryTime: 200, retries: 5, maxRetryTime: 5000 },
    logLevel: logLevel.ERROR,
    logCreator: () => ({ level, log: entry }) => {
      if (!log) return;
      const msg = `${entry.message}${entry.error ? `: ${entry.error}` : ''}`;
      log(level <= logLevel.ERROR ? 'error' : level === logLevel.WARN ? 'warn' : 'info', `kafka ${entry.namespace}: ${msg}`);
    },
    ...extra,
  });
}

export function parseBrokers(s: string): string[] {
  return s.split(',').map((x) => x.trim()).filter(Boolean);
}
