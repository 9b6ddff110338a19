/**
 * kafkajs clients configured once: quiet logs routed to our logger, bounded retries, and the
 * connection's security (TLS, SASL: connectors/kafka/security.ts) on every client the service makes.
 */
import './kafkajs-patches.ts'; // before kafkajs: its read_committed filter, corrected
import kafkajs, { Kafka, logLevel, type KafkaConfig, type Producer, type SASLOptions, type Transaction } from 'kafkajs';
import { oauthToken } from './oauth.ts';
import { securityFor, tlsOptions, type KafkaSecurity } from './security.ts';
import { lz4Decompress, snappyDecompress, zstdDecompressFrame } from './wire/codecs.ts';

// kafkajs reads only gzip on its own; it takes the native reader's decoders for the other codecs, so
// its consumers ('source.client' = 'kafkajs', tools) read what other clients compress. Producing
// with them stays unsupported: we write gzip or nothing. (Through the default export: Node's ESM
// view of kafkajs, a CommonJS module, does not list CompressionCodecs as a named export.)
const { CompressionCodecs, CompressionTypes } = kafkajs;
for (const [type, decompress] of [[CompressionTypes.Snappy, snappyDecompress], [CompressionTypes.LZ4, lz4Decompress], [CompressionTypes.ZSTD, zstdDecompressFrame]] as const) {
  CompressionCodecs[type] = () => ({
    compress: async () => { throw new Error(`producing ${CompressionTypes[type]}-compressed batches is not supported; use gzip or none`); },
    decompress: async (buf: Buffer) => { const out = decompress(buf); return Buffer.from(out.buffer, out.byteOffset, out.byteLength); },
  });
}

export type Log = (level: 'info' | 'warn' | 'error', msg: string) => void;

/** kafkajs' `ssl` and `sasl` settings for a connection's security. */
export function kafkajsSecurity(sec: KafkaSecurity): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const out: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (sec.tls) {
    // kafkajs sets host and servername per broker itself.
    const { host: _h, servername: _s, ...tls } = tlsOptions(sec, 'localhost');
    out.ssl = tls;
  }
  const sasl = sec.sasl;
  if (sasl?.mechanism === 'OAUTHBEARER') {
    // Asked at every connection's authentication: the cached token until its refresh time, then a fresh one.
    out.sasl = { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: await oauthToken(sasl) }) };
  } else if (sasl) {
    out.sasl = { mechanism: sasl.mechanism.toLowerCase(), username: sasl.username, password: sasl.password } as SASLOptions;
  }
  return out;
}

/**
 * A kafkajs client. `security`: the connection's settings (a source's or sink's own); by default the
 * service's (KAFKA_CONFIG and KAFKA_* variables), so admin, side producers and tools connect as it does.
 */
export function createKafka(brokers: readonly string[], clientId: string, log?: Log, extra: Partial<KafkaConfig> = {}, security: KafkaSecurity = securityFor()): Kafka {
  return new Kafka({
    ...kafkajsSecurity(security),
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

/** Errors before the commit that a fresh attempt cures: a transaction still completing, a coordinator moving or loading. */
const RETRY_TYPES = ['CONCURRENT_TRANSACTIONS', 'NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS'];
const isConcurrentTxn = (e: unknown): boolean => {
  for (let x = e as { type?: string; originalError?: unknown; cause?: unknown } | undefined, i = 0; x && i < 4; i++) {
    if (x.type && RETRY_TYPES.includes(x.type)) return true;
    x = (x.originalError ?? x.cause) as typeof x;
  }
  return /concurrent operation on the same transaction/.test(String((e as Error)?.message));
};

/**
 * Runs `body` in a transaction of `p` and commits it. Right after a restart (the previous producer's
 * transaction is still being aborted) or a commit, the coordinator answers CONCURRENT_TRANSACTIONS to
 * the first requests (and a new broker answers NOT_COORDINATOR while its offsets topic loads): those
 * attempts are aborted and retried shortly. A
 * failure of the commit itself is thrown, never retried here: whether it committed is then unknown.
 */
export async function inTransaction(p: Producer, body: (txn: Transaction) => Promise<void>): Promise<void> {
  for (let i = 0; ; i++) {
    const txn = await p.transaction();
    let committing = false;
    try {
      await body(txn);
      committing = true;
      await txn.commit();
      return;
    } catch (e) {
      await txn.abort().catch(() => undefined);
      if (committing || !isConcurrentTxn(e) || i >= 8) throw e;
      await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** i)));
    }
  }
}
