/**
 * The service as a whole, below HTTP: the Kafka cluster in use (an external one from KAFKA_BROKERS,
 * or the embedded local broker) and how to connect to it (KAFKA_CONFIG, KAFKA_* security variables:
 * connectors/kafka/security.ts), the engine, and the demo. server/ starts it and serves it.
 * CLUSTER_ID (and INSTANCE_ID, ADVERTISED_URL) are read here: with a cluster id the engine's catalog is the
 * cluster's command log (queries/cluster/catalog-log.ts) and it joins the cluster's task group
 * (queries/cluster/membership.ts) under its advertised HTTP address.
 */
import path from 'node:path';
import { parseBrokers, type Log } from '../connectors/kafka/client.ts';
import { startLocalBroker, type LocalBroker } from '../connectors/kafka/local-broker.ts';
import { describeSecurity, resolveSecurity, serviceProperties, setServiceKafkaProperties } from '../connectors/kafka/security.ts';
import { createEngine, type Engine, type EngineConfig } from './engine.ts';
import { startDemo, type Demo } from './demo.ts';

export const VERSION = '0.1.0';

export interface ServiceConfig {
  /** External cluster; when absent the embedded local broker is started. */
  readonly kafkaBrokers?: string;
  /**
   * Kafka client properties for every connection to that cluster (security.protocol, sasl.*, ssl.*);
   * default: the file KAFKA_CONFIG names and KAFKA_* variables (only with KAFKA_BROKERS).
   */
  readonly kafkaProperties?: Readonly<Record<string, string>>;
  readonly dataDir: string;
  /** Start the demo generator and example queries (default: only with the embedded broker). */
  readonly demo?: boolean;
  readonly demoEventsPerSecond?: number;
  readonly maxQueries?: number;
  /** Instances with one cluster id share their catalog (issue 17); default: the CLUSTER_ID variable. */
  readonly clusterId?: string;
  /** This instance in its cluster; default: INSTANCE_ID, else host, pid and a random suffix. */
  readonly instanceId?: string;
  /**
   * With a cluster: the HTTP address this instance advertises to the others (GET /v1/cluster); default
   * the ADVERTISED_URL variable (server/main.ts passes it, else http://<HOST>:<PORT>).
   */
  readonly advertisedUrl?: string;
  /** With a cluster: the task group's session timeout (default CLUSTER_SESSION_TIMEOUT_MS, else 10 s). */
  readonly clusterSessionTimeoutMs?: number;
  /** With a cluster: this instance's tasks each time the task group changes them (EngineConfig.onAssignment). */
  readonly onAssignment?: EngineConfig['onAssignment'];
  readonly log: Log;
}

export interface KafkaInfo {
  readonly bootstrap: string;
  readonly embedded: boolean;
}

export interface Service {
  readonly engine: Engine;
  readonly kafka: KafkaInfo;
  readonly version: string;
  stop(): Promise<void>;
}

export async function startService(cfg: ServiceConfig): Promise<Service> {
  let broker: LocalBroker | null = null;
  let brokers: string[];
  const props = cfg.kafkaProperties ?? (cfg.kafkaBrokers ? serviceProperties() : {});
  // Checked now: a bad setting stops the start with a clear message (never the secret itself).
  setServiceKafkaProperties({ ...props });
  if (cfg.kafkaBrokers) {
    brokers = parseBrokers(cfg.kafkaBrokers);
    cfg.log('info', `Kafka at ${brokers.join(',')} (${describeSecurity(resolveSecurity(props))})`);
  } else {
    cfg.log('info', 'no KAFKA_BROKERS: starting the embedded Kafka broker (the first run downloads its jars with mvn)');
    broker = await startLocalBroker({ dir: path.join(cfg.dataDir, 'kafka'), log: (m) => cfg.log('info', m) });
    brokers = [broker.bootstrap];
    cfg.log('info', `embedded Kafka ready at ${broker.bootstrap}`);
  }
  const clusterId = cfg.clusterId ?? (process.env.CLUSTER_ID || undefined);
  const instanceId = cfg.instanceId ?? (process.env.INSTANCE_ID || undefined);
  const cluster = clusterId ? { clusterId, ...(instanceId ? { instanceId } : {}) } : undefined;
  const advertisedUrl = cfg.advertisedUrl ?? (process.env.ADVERTISED_URL || undefined);
  const engine = createEngine({ brokers, dataDir: cfg.dataDir, log: cfg.log, maxQueries: cfg.maxQueries, cluster, advertisedUrl, clusterToken: process.env.API_TOKEN || undefined, clusterSessionTimeoutMs: cfg.clusterSessionTimeoutMs ?? sessionTimeoutFromEnv(), onAssignment: cfg.onAssignment });
  let demo: Demo | null = null;
  try {
    await engine.start();
    if (cfg.demo ?? broker !== null) demo = await startDemo(engine, brokers, cfg.log, { eventsPerSecond: cfg.demoEventsPerSecond });
  } catch (e) {
    await broker?.stop();
    setServiceKafkaProperties({});
    throw e;
  }
  return {
    engine,
    kafka: { bootstrap: brokers.join(','), embedded: broker !== null },
    version: VERSION,
    async stop() {
      await demo?.stop().catch(() => undefined);
      await engine.close().catch(() => undefined);
      await broker?.stop();
      setServiceKafkaProperties({});
    },
  };
}

/** CLUSTER_SESSION_TIMEOUT_MS: how long a silent (killed) instance keeps its tasks; within the broker's group.min/max.session.timeout.ms. */
function sessionTimeoutFromEnv(): number | undefined {
  const v = process.env.CLUSTER_SESSION_TIMEOUT_MS;
  if (!v) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`CLUSTER_SESSION_TIMEOUT_MS must be a positive integer (milliseconds), got ${v}`);
  return n;
}
