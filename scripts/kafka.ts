/**
 * `npm run kafka`: one local Kafka broker in the foreground, for running the service by hand.
 *
 * Environment:
 * - KAFKA_PORT: client port on 127.0.0.1 (default: the port KAFKA_DIR last used, else a free one).
 * - KAFKA_DIR: broker directory to keep data across runs (default: a temp dir, removed at exit).
 *
 * Ctrl-C or SIGTERM stops the broker cleanly (controlled shutdown) before exiting.
 */
import { KAFKA_VERSION, startLocalBroker, type LocalBroker } from '../connectors/kafka/local-broker.ts';

const log = (msg: string) => console.log(`[kafka] ${msg}`);

function parsePort(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`KAFKA_PORT must be a TCP port (1-65535), got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return port;
}

let broker: LocalBroker | undefined;
let exiting = false;

// Installed before starting, so Ctrl-C during a slow first start (jar download, JVM boot)
// is handled here too; startLocalBroker's own handlers stop the broker alongside.
function shutdown(signal: NodeJS.Signals): void {
  if (exiting) return;
  exiting = true;
  log(`${signal}: stopping broker...`);
  const stopped = broker ? broker.stop() : Promise.resolve();
  stopped.then(
    () => {
      log('stopped');
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

try {
  broker = await startLocalBroker({
    port: parsePort(process.env.KAFKA_PORT),
    dir: process.env.KAFKA_DIR || undefined,
    log,
    onExit: ({ code, signal }) => {
      if (exiting) return;
      console.error(`Kafka broker exited on its own (code ${code}, signal ${signal}); see ${broker?.logFile}`);
      process.exit(1);
    },
  });
} catch (err) {
  if (exiting) process.exit(0); // interrupted while starting; the broker is already down
  console.error((err as Error).message);
  process.exit(1);
}

if (exiting) {
  // A signal arrived while starting; shutdown() had no broker to stop yet.
  await broker.stop();
  process.exit(0);
}
console.log(`Kafka ${KAFKA_VERSION} ready at ${broker.bootstrap}`);
log(`dir ${broker.dir}, log ${broker.logFile}; Ctrl-C to stop`);
// The broker's child process does not keep Node alive by design; this does, until a signal.
setInterval(() => {}, 1 << 30);
