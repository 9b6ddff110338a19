/**
 * The project's own local Apache Kafka broker: Kafka 3.9.1 in KRaft mode, one node that is
 * both broker and controller, listening on 127.0.0.1 only.
 *
 * Kafka is published neither on npm nor in Debian, so its jars come from Maven Central via
 * `mvn` (scripts/kafka/pom.xml) into the git-ignored `.cache/kafka-3.9.1/libs`, and the broker
 * runs as `java -cp 'libs/*' kafka.Kafka server.properties`. Used by the service, by
 * `npm run kafka` and by the test suite's global setup.
 *
 * The JVM never outlives the Node process that started it: java runs under
 * scripts/kafka/run-broker.sh, which polls the owner's pid and takes the JVM down when the
 * owner is gone (the owner may die by SIGKILL, where no Node code runs), and Node-side
 * 'exit'/SIGINT/SIGTERM handlers stop it in the ordinary cases.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import './kafkajs-patches.ts'; // before kafkajs: its read_committed filter, corrected
import { Kafka, logLevel } from 'kafkajs';

/** The Kafka release this module runs; must match `kafka.version` in scripts/kafka/pom.xml. */
export const KAFKA_VERSION = '3.9.1';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const POM = path.join(PROJECT_ROOT, 'scripts', 'kafka', 'pom.xml');
const WATCHDOG = path.join(PROJECT_ROOT, 'scripts', 'kafka', 'run-broker.sh');
const LOG4J_CONFIG = path.join(PROJECT_ROOT, 'scripts', 'kafka', 'log4j.properties');
const CACHE_DIR = path.join(PROJECT_ROOT, '.cache', `kafka-${KAFKA_VERSION}`);
const LIBS_DIR = path.join(CACHE_DIR, 'libs');
/** Written into the download dir last, before the atomic rename: its presence means "complete". */
const MARKER = '.complete';
/** Jars without which the set is certainly not a usable broker (the full set is ~57 jars). */
const REQUIRED_JARS = [`kafka_2.13-${KAFKA_VERSION}.jar`, `kafka-clients-${KAFKA_VERSION}.jar`, 'reload4j-1.2.19.jar'];

const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 20_000;
const DEFAULT_HEAP_MB = 512;

type Log = (msg: string) => void;
const noop: Log = () => {};

/** Options of {@link ensureKafkaJars}. */
export interface EnsureKafkaJarsOptions {
  /** Progress messages (a first run downloads ~46 MB); silent by default. */
  log?: (msg: string) => void;
}

/** Options of {@link startLocalBroker}. */
export interface StartLocalBrokerOptions {
  /**
   * Broker directory (config, data under `data/`, `server.log`). Defaults to a fresh temp dir
   * that stop() removes. A given dir is kept; if it is already formatted the broker restarts
   * on its data, and on the ports it last used unless `port`/`controllerPort` say otherwise.
   */
  dir?: string;
  /** Client (PLAINTEXT) port on 127.0.0.1; a free one when omitted. */
  port?: number;
  /** KRaft controller port on 127.0.0.1; a free one when omitted. */
  controllerPort?: number;
  /** JVM max heap in MB; default 512. */
  heapMb?: number;
  /** Progress messages; silent by default. */
  log?: (msg: string) => void;
  /** Extra secured listeners (SASL_SSL, SSL with client certificates, SASL_PLAINTEXT), for tests of secured clients. */
  secure?: SecureListeners;
  /**
   * Called if the JVM exits on its own after startup succeeded (not via stop()), so a
   * long-running owner such as `npm run kafka` can notice that its broker died.
   */
  onExit?: (exit: { code: number | null; signal: NodeJS.Signals | null }) => void;
}

/**
 * Secured listeners beside the PLAINTEXT one (which stays for the broker's own use and for tools).
 * SASL listeners take PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 for `users`; the SCRAM credentials are
 * written by the storage format tool (`--add-scram`), as Kafka documents for KRaft, so they exist
 * from the first start. The SSL listener requires a client certificate signed by the CA (mTLS).
 */
export interface SecureListeners {
  readonly listeners: readonly ('SASL_SSL' | 'SSL' | 'SASL_PLAINTEXT')[];
  /**
   * An extra SASL_PLAINTEXT listener named OAUTH that takes OAUTHBEARER only, validating each token as
   * Kafka's OIDC support does (OAuthBearerValidatorCallbackHandler): signature by a key from `jwksUrl`,
   * expiry, and when given the issuer and audience.
   */
  readonly oauth?: { readonly jwksUrl: string; readonly issuer?: string; readonly audience?: string };
  readonly users: readonly { readonly name: string; readonly password: string }[];
  /** For SSL / SASL_SSL: the broker's PKCS#12 keystore (key + certificate for 127.0.0.1) and the CA (PEM) that signs clients' certificates. */
  readonly tls?: { readonly keystore: string; readonly keystorePassword: string; readonly truststorePem: string };
  /**
   * An extra SSL listener named SSL_OTHER_NAME that presents this PKCS#12 keystore (same password as `tls`),
   * no client certificate asked: a certificate for another host name, for hostname verification tests.
   */
  readonly otherNameKeystore?: string;
}

/** A running local broker. */
export interface LocalBroker {
  /** `127.0.0.1:<port>`, for kafkajs `brokers: [bootstrap]`. */
  readonly bootstrap: string;
  readonly port: number;
  readonly controllerPort: number;
  /** Broker directory: server.properties, data/, server.log (the broker's log4j log). */
  readonly dir: string;
  /** Pid of the java process itself (not of its watchdog). */
  readonly pid: number;
  /** The broker's log4j log file, for diagnostics. */
  readonly logFile: string;
  /** Bootstrap address of each secured listener (see {@link SecureListeners}). */
  readonly listeners: Readonly<Partial<Record<'SASL_SSL' | 'SSL' | 'SASL_PLAINTEXT' | 'OAUTH' | 'SSL_OTHER_NAME', string>>>;
  /**
   * Controlled shutdown: SIGTERM, up to 20 s grace, then SIGKILL. Resolves once the java
   * process is gone (and a temp dir removed). Idempotent: later calls return the same promise.
   */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Jars

let jarsInFlight: Promise<string> | undefined;

/**
 * Makes sure the Kafka jars are in `<project>/.cache/kafka-3.9.1/libs` and returns that dir.
 *
 * A complete cache is reused as is. Otherwise Maven resolves the jars into a private temp
 * dir that is renamed into place only once complete, so a killed download never leaves a
 * half-filled cache, and concurrent callers (several vitest workers, the service and a test)
 * never see one. A lock file keeps them from downloading the same 46 MB side by side.
 *
 * @throws if `mvn` is needed but missing, or Maven fails (with the tail of its output).
 */
export function ensureKafkaJars(opts: EnsureKafkaJarsOptions = {}): Promise<string> {
  // One resolution at a time per process; the lock file handles other processes.
  jarsInFlight ??= resolveJars(opts.log ?? noop).finally(() => {
    jarsInFlight = undefined;
  });
  return jarsInFlight;
}

async function resolveJars(log: Log): Promise<string> {
  if (await isComplete(LIBS_DIR)) return LIBS_DIR;
  requireCommand('mvn', ['-v'], `Maven (\`mvn\`) is needed to fetch the Kafka ${KAFKA_VERSION} jars from Maven Central; install maven (3.8+) or put it on PATH.`);
  await mkdir(CACHE_DIR, { recursive: true });
  const release = await acquireLock(path.join(CACHE_DIR, 'libs.lock'), () => isComplete(LIBS_DIR), log);
  if (!release) return LIBS_DIR; // another process completed the cache while we waited
  try {
    if (await isComplete(LIBS_DIR)) return LIBS_DIR;
    await removeStaleDownloads();
    const started = Date.now();
    log(`Fetching Kafka ${KAFKA_VERSION} jars with Maven into ${LIBS_DIR} (first run, ~46 MB)...`);
    const tmp = await mkdtemp(path.join(CACHE_DIR, `libs.tmp-${process.pid}-`));
    try {
      await runToCompletion(
        'mvn',
        ['-q', '-B', '-Dstyle.color=never', '-f', POM, 'dependency:copy-dependencies', `-DoutputDirectory=${tmp}`, '-DincludeScope=runtime'],
        'Maven could not resolve the Kafka jars',
        tmp,
      );
      const jars = (await readdir(tmp)).filter((f) => f.endsWith('.jar'));
      const missing = REQUIRED_JARS.filter((j) => !jars.includes(j));
      if (missing.length > 0) throw new Error(`Maven finished but ${missing.join(', ')} is missing from ${tmp}; check scripts/kafka/pom.xml`);
      await chmod(tmp, 0o755); // mkdtemp makes it private; the cache is not a secret
      await writeFile(path.join(tmp, MARKER), `${JSON.stringify({ kafka: KAFKA_VERSION, jars: jars.length, at: new Date().toISOString() })}\n`);
      await publish(tmp);
      log(`Fetched ${jars.length} Kafka jars in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      await rm(tmp, { recursive: true, force: true }); // a no-op after a successful rename
    }
    return LIBS_DIR;
  } finally {
    await release();
  }
}

async function isComplete(dir: string): Promise<boolean> {
  try {
    await stat(path.join(dir, MARKER));
    return true;
  } catch {
    return false;
  }
}

/** Atomically moves a complete download into place; losing a race to another process is fine. */
async function publish(tmp: string): Promise<void> {
  try {
    await rename(tmp, LIBS_DIR);
  } catch (err) {
    const code = errorCode(err);
    if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw err;
    if (await isComplete(LIBS_DIR)) return;
    // A dir without the marker is debris (e.g. filled by hand); nobody uses it.
    await rm(LIBS_DIR, { recursive: true, force: true });
    await rename(tmp, LIBS_DIR);
  }
}

/** Downloads orphaned by killed processes: their dir names carry the downloader's pid. */
async function removeStaleDownloads(): Promise<void> {
  for (const name of await readdir(CACHE_DIR)) {
    const pid = /^libs\.tmp-(\d+)-/.exec(name)?.[1];
    if (pid !== undefined && !pidAlive(Number(pid))) await rm(path.join(CACHE_DIR, name), { recursive: true, force: true });
  }
}

/**
 * Takes an exclusive lock file holding our pid; returns its release function, or undefined
 * if `done()` became true while waiting. A lock whose holder died is taken over. The lock
 * only avoids duplicate downloads: correctness comes from the atomic rename, so the rare
 * race of two processes taking over the same stale lock is harmless.
 */
async function acquireLock(lockPath: string, done: () => Promise<boolean>, log: Log): Promise<(() => Promise<void>) | undefined> {
  let announced = false;
  const waitUntil = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      await writeFile(lockPath, `${process.pid}\n`, { flag: 'wx' });
      return () => rm(lockPath, { force: true });
    } catch (err) {
      if (errorCode(err) !== 'EEXIST') throw err;
    }
    if (await done()) return undefined;
    const holder = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
    const info = await stat(lockPath).catch(() => undefined);
    // An empty lock file is one being written right now, unless it has stayed empty.
    const stale = Number.isInteger(holder) ? !pidAlive(holder) : info !== undefined && Date.now() - info.mtimeMs > 10_000;
    if (stale || Date.now() > waitUntil) {
      await rm(lockPath, { force: true });
      continue;
    }
    if (!announced) {
      log(`Waiting for process ${Number.isInteger(holder) ? holder : '?'} to finish fetching the Kafka jars...`);
      announced = true;
    }
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------------
// Broker

/** What a broker dir remembers between runs, so a restart comes back on the same ports. */
interface BrokerState {
  clusterId: string;
  port: number;
  controllerPort: number;
  /** Ports of the secured listeners, by name. */
  secure?: Record<string, number>;
}

/**
 * Starts a single-node KRaft broker on 127.0.0.1 and resolves once a kafkajs admin client can
 * list topics on it (up to 90 s).
 *
 * @throws if java is missing, the jars cannot be fetched, a wanted port is taken, another
 *   live broker uses `dir`, or the JVM exits (or does not become ready) during startup; the
 *   error then carries the first errors and last lines of the broker's log.
 */
export async function startLocalBroker(opts: StartLocalBrokerOptions = {}): Promise<LocalBroker> {
  const log = opts.log ?? noop;
  const heapMb = opts.heapMb ?? DEFAULT_HEAP_MB;
  if (!Number.isInteger(heapMb) || heapMb < 128) throw new Error(`heapMb must be an integer >= 128, got ${heapMb}`);
  for (const [name, p] of [['port', opts.port], ['controllerPort', opts.controllerPort]] as const) {
    if (p !== undefined && (!Number.isInteger(p) || p < 1 || p > 65535)) throw new Error(`${name} must be a TCP port, got ${p}`);
  }
  if (opts.port !== undefined && opts.port === opts.controllerPort) throw new Error('port and controllerPort must differ');
  const java = javaCommand();
  const libs = await ensureKafkaJars({ log });

  const ownsDir = opts.dir === undefined;
  const dir = ownsDir ? await mkdtemp(path.join(os.tmpdir(), 'streamsql-kafka-')) : path.resolve(opts.dir!);
  let lock: DirLock | undefined;
  try {
    await mkdir(path.join(dir, 'data'), { recursive: true });
    lock = await lockBrokerDir(dir, log);
    const saved = await readState(dir);
    const clusterId = (await formattedClusterId(dir)) ?? newClusterId();
    // Freshly picked ports can be taken by someone else before the JVM binds them; then we
    // pick again. Ports the caller chose, or that the dir used before, are not changed.
    for (let attempt = 1; ; attempt++) {
      const lastTime = "the one this dir's broker used last; pass port and controllerPort to choose others";
      const [port, controllerPort] = await choosePorts(
        { port: opts.port ?? saved?.port, why: opts.port !== undefined ? 'port' : `port, ${lastTime}` },
        { port: opts.controllerPort ?? saved?.controllerPort, why: opts.controllerPort !== undefined ? 'controllerPort' : `controllerPort, ${lastTime}` },
      );
      const picked = port.picked || controllerPort.picked;
      const state: BrokerState = { clusterId, port: port.value, controllerPort: controllerPort.value };
      const secureNames = opts.secure ? [...opts.secure.listeners, ...(opts.secure.oauth ? ['OAUTH'] : []), ...(opts.secure.otherNameKeystore ? ['SSL_OTHER_NAME'] : [])] : [];
      if (secureNames.length) {
        const ports = await freePorts(secureNames.length, [port.value, controllerPort.value]);
        state.secure = Object.fromEntries(secureNames.map((l, i) => [l, ports[i]!]));
      }
      await writeFile(path.join(dir, 'server.properties'), serverProperties(dir, state, opts.secure));
      if (!(await exists(path.join(dir, 'data', 'meta.properties')))) {
        log(`Formatting KRaft storage in ${dir} (cluster ${clusterId})`);
        await runToCompletion(
          java,
          [...log4jArgs(dir), '-Xmx256m', '-XX:TieredStopAtLevel=1', '-cp', path.join(libs, '*'), 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', path.join(dir, 'server.properties'),
            ...(opts.secure ?? { users: [] }).users.flatMap((u) => ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => ['--add-scram', `${m}=[name=${u.name},password=${u.password}]`]))],
          `Formatting Kafka storage in ${dir} failed`,
        );
      }
      await writeFile(path.join(dir, 'broker.json'), `${JSON.stringify(state, null, 2)}\n`);
      try {
        return await launch({ java, libs, dir, ownsDir, lock, heapMb, state, log, onExit: opts.onExit });
      } catch (err) {
        if (err instanceof StartupExitError && err.portInUse && picked && attempt < 3) {
          log(`Port ${state.port} or ${state.controllerPort} was taken before the broker could bind it; retrying with other ports`);
          continue;
        }
        throw err;
      }
    }
  } catch (err) {
    await lock?.release();
    if (ownsDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** The JVM exited before it was ready; `portInUse` if it failed to bind a port. */
class StartupExitError extends Error {
  constructor(
    message: string,
    readonly portInUse: boolean,
  ) {
    super(message);
  }
}

interface LaunchParams {
  java: string;
  libs: string;
  dir: string;
  ownsDir: boolean;
  lock: DirLock;
  heapMb: number;
  state: BrokerState;
  log: Log;
  onExit: StartLocalBrokerOptions['onExit'];
}

async function launch(p: LaunchParams): Promise<LocalBroker> {
  const { dir, state, log } = p;
  const started = Date.now();
  const bootstrap = `127.0.0.1:${state.port}`;
  const logFile = path.join(dir, 'server.log');
  const jvmOut = path.join(dir, 'jvm.out');
  const marks = await markLogs(dir);
  const jvmArgs = [
    `-Xmx${p.heapMb}m`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:InitiatingHeapOccupancyPercent=35',
    '-XX:+ExplicitGCInvokesConcurrent',
    '-Djava.awt.headless=true',
    ...log4jArgs(dir),
    '-cp',
    path.join(p.libs, '*'),
    'kafka.Kafka',
    path.join(dir, 'server.properties'),
  ];

  // stdout/stderr of the JVM (GC warnings, crashes before log4j is up) go to a file: the JVM
  // must not hold our pipes, or a reader of our stdout would wait for it after we are gone.
  const outFd = openSync(jvmOut, 'a');
  let child: ChildProcess;
  try {
    child = spawn('bash', [WATCHDOG, String(process.pid), p.java, ...jvmArgs], {
      cwd: dir,
      // Own process group: a terminal's Ctrl-C reaches only us, and we stop the broker in order.
      detached: true,
      stdio: ['ignore', outFd, outFd, 'pipe'],
      env: { ...process.env, RUN_BROKER_CLEANUP_DIR: p.ownsDir ? dir : '' },
    });
  } finally {
    closeSync(outFd);
  }
  // The broker alone must not keep the owner alive; an owner that just ends stops it in 'exit'.
  child.unref();

  let jvmPid: number | undefined;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let stopping: Promise<void> | undefined;
  let ready = false;
  // Whether stop() releases the dir (lock, and the dir itself if it is a temp dir): not after
  // a failed start, whose caller reads the logs and may retry in the same dir.
  let releaseDir = true;
  // The watchdog exits only after the JVM has exited and been reaped.
  child.once('exit', (code, signal) => {
    exit = { code, signal };
    if (ready && !stopping) {
      unregister(running);
      log(`Kafka broker pid ${jvmPid} exited unexpectedly (code ${code}, signal ${signal})`);
      p.onExit?.(exit);
    }
  });
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) => {
      exit ??= { code: null, signal: null }; // no 'exit' follows a failed spawn
      reject(err);
    }),
  );
  spawnError.catch(() => {});

  const gone = () => exit !== undefined && (jvmPid === undefined || !pidAlive(jvmPid));
  const waitGone = async (ms: number): Promise<boolean> => {
    const until = Date.now() + ms;
    while (!gone()) {
      if (Date.now() > until) return false;
      await sleep(50);
    }
    return true;
  };
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      unregister(running);
      signalPid(jvmPid ?? child.pid, 'SIGTERM'); // controlled shutdown
      if (!(await waitGone(STOP_GRACE_MS))) {
        log(`Kafka broker pid ${jvmPid} still running ${STOP_GRACE_MS / 1000} s after SIGTERM; sending SIGKILL`);
        signalPid(jvmPid, 'SIGKILL');
        signalPid(child.pid, 'SIGKILL');
        if (!(await waitGone(10_000))) throw new Error(`Kafka broker pid ${jvmPid} survived SIGKILL`);
      }
      if (!releaseDir) return;
      await p.lock.release();
      if (p.ownsDir) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return stopping;
  };
  const running: Running = {
    stop,
    // Synchronous, for process 'exit': start the controlled shutdown; the watchdog sees us
    // gone right after and escalates to SIGKILL if the JVM lingers.
    killNow: () => signalPid(jvmPid ?? child.pid, 'SIGTERM'),
  };
  register(running);

  try {
    const pidPipe = child.stdio[3] as Readable | null;
    jvmPid = await Promise.race([pidPipe ? readPid(pidPipe) : spawnError, spawnError]);
    await p.lock.setJvm(jvmPid);
    log(`Started Kafka ${KAFKA_VERSION} broker pid ${jvmPid} on ${bootstrap} (dir ${dir})`);
    await Promise.race([waitReady(bootstrap, () => exit !== undefined), spawnError]);
    if (exit) {
      const logs = await readRunLogs(dir, marks);
      throw new StartupExitError(
        `Kafka broker exited during startup (code ${exit.code}, signal ${exit.signal}):\n${describeRunLogs(logs)}`,
        logs.some((l) => /Address already in use|BindException/.test(l.text)),
      );
    }
  } catch (err) {
    releaseDir = false;
    await stop().catch(() => {});
    if (err instanceof StartupExitError) throw err;
    throw new Error(`Kafka broker on ${bootstrap} did not start: ${(err as Error).message}\n${describeRunLogs(await readRunLogs(dir, marks))}`);
  }
  ready = true;
  log(`Kafka ${KAFKA_VERSION} ready at ${bootstrap} in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  return {
    bootstrap,
    port: state.port,
    controllerPort: state.controllerPort,
    dir,
    pid: jvmPid,
    logFile,
    listeners: Object.fromEntries(Object.entries(state.secure ?? {}).map(([l, port]) => [l, `127.0.0.1:${port}`])),
    stop,
  };
}

/** The watchdog writes the JVM's pid to fd 3 and closes it. */
function readPid(stream: Readable): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk));
    stream.once('error', reject);
    stream.once('end', () => {
      const pid = Number.parseInt(text, 10);
      if (Number.isInteger(pid) && pid > 0) resolve(pid);
      else reject(new Error('the broker watchdog did not report the JVM pid'));
    });
  });
}

/** Polls with a fresh admin client until listTopics() works, the JVM exits, or 90 s pass. */
async function waitReady(bootstrap: string, exited: () => boolean): Promise<void> {
  const kafka = new Kafka({
    clientId: 'streamsql-local-broker-probe',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 5_000,
    retry: { retries: 0 },
  });
  const until = Date.now() + READY_TIMEOUT_MS;
  let lastError: unknown;
  while (!exited()) {
    const admin = kafka.admin({ retry: { retries: 0 } });
    try {
      await admin.connect();
      await admin.listTopics();
      return;
    } catch (err) {
      lastError = err;
    } finally {
      await admin.disconnect().catch(() => {});
    }
    if (Date.now() > until) throw new Error(`not ready after ${READY_TIMEOUT_MS / 1000} s (last error: ${(lastError as Error)?.message ?? lastError})`);
    await sleep(250);
  }
}

function serverProperties(dir: string, s: BrokerState, secure?: SecureListeners): string {
  const props: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${s.controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${s.port},CONTROLLER://127.0.0.1:${s.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${s.port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': path.join(dir, 'data'),
    'num.partitions': 1,
    'auto.create.topics.enable': true,
    // A single node cannot hold the default 3 replicas of the internal topics.
    'offsets.topic.replication.factor': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    // Nobody else will join: a consumer group should not wait 3 s for peers.
    'group.initial.rebalance.delay.ms': 0,
  };
  if (secure && s.secure) Object.assign(props, secureProperties(s, secure));
  const escape = (v: string) => v.replace(/\\/g, '\\\\');
  const lines = Object.entries(props).map(([k, v]) => `${k}=${escape(String(v))}`);
  return `# Generated by connectors/kafka/local-broker.ts on every start; edits are overwritten.\n${lines.join('\n')}\n`;
}

/** Listener settings for {@link SecureListeners}: protocols, SASL mechanisms and users, TLS stores. */
function secureProperties(s: BrokerState, secure: SecureListeners): Record<string, string> {
  const ls = Object.entries(s.secure!);
  const props: Record<string, string> = {
    listeners: [`PLAINTEXT://127.0.0.1:${s.port}`, `CONTROLLER://127.0.0.1:${s.controllerPort}`, ...ls.map(([l, p]) => `${l}://127.0.0.1:${p}`)].join(','),
    'advertised.listeners': [`PLAINTEXT://127.0.0.1:${s.port}`, ...ls.map(([l, p]) => `${l}://127.0.0.1:${p}`)].join(','),
    'listener.security.protocol.map': ['PLAINTEXT:PLAINTEXT', 'CONTROLLER:PLAINTEXT', ...ls.map(([l]) => `${l}:${l === 'OAUTH' ? 'SASL_PLAINTEXT' : l === 'SSL_OTHER_NAME' ? 'SSL' : l}`)].join(','),
    'sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    // A test broker: one partition for the offsets and transaction topics, so their first use (which a
    // fresh broker answers with NOT_COORDINATOR until they are loaded) takes a second, not fifty.
    'offsets.topic.num.partitions': '1',
    'transaction.state.log.num.partitions': '1',
  };
  const quote = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  if (secure.oauth) {
    const o = secure.oauth;
    Object.assign(props, {
      'listener.name.oauth.sasl.enabled.mechanisms': 'OAUTHBEARER',
      'listener.name.oauth.oauthbearer.sasl.jaas.config': 'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;',
      'listener.name.oauth.oauthbearer.sasl.server.callback.handler.class': 'org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler',
      'sasl.oauthbearer.jwks.endpoint.url': o.jwksUrl,
      ...(o.issuer ? { 'sasl.oauthbearer.expected.issuer': o.issuer } : {}),
      ...(o.audience ? { 'sasl.oauthbearer.expected.audience': o.audience } : {}),
    });
  }
  for (const [l] of ls) {
    if (!l.startsWith('SASL_')) continue;
    const n = l.toLowerCase();
    props[`listener.name.${n}.plain.sasl.jaas.config`] = `org.apache.kafka.common.security.plain.PlainLoginModule required ${secure.users.map((u) => `user_${u.name}=${quote(u.password)}`).join(' ')};`;
    for (const m of ['scram-sha-256', 'scram-sha-512']) props[`listener.name.${n}.${m}.sasl.jaas.config`] = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  }
  if (secure.tls) {
    Object.assign(props, {
      'ssl.keystore.type': 'PKCS12', 'ssl.keystore.location': secure.tls.keystore, 'ssl.keystore.password': secure.tls.keystorePassword,
      'ssl.truststore.type': 'PEM', 'ssl.truststore.location': secure.tls.truststorePem,
    });
    if (s.secure!.SSL) props['listener.name.ssl.ssl.client.auth'] = 'required';
    if (secure.otherNameKeystore) {
      Object.assign(props, {
        'listener.name.ssl_other_name.ssl.keystore.type': 'PKCS12', 'listener.name.ssl_other_name.ssl.keystore.location': secure.otherNameKeystore,
        'listener.name.ssl_other_name.ssl.keystore.password': secure.tls.keystorePassword,
      });
    }
  }
  return props;
}

function log4jArgs(dir: string): string[] {
  return [`-Dlog4j.configuration=${pathToFileURL(LOG4J_CONFIG).href}`, `-Dkafka.logs.dir=${dir}`];
}

/** Kafka cluster ids are 16 random bytes in unpadded base64url; a leading '-' would read as a CLI flag. */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** The cluster id in data/meta.properties, if the dir is already formatted. */
async function formattedClusterId(dir: string): Promise<string | undefined> {
  const meta = await readFile(path.join(dir, 'data', 'meta.properties'), 'utf8').catch(() => undefined);
  return meta?.match(/^cluster\.id=(.+)$/m)?.[1]?.trim();
}

async function readState(dir: string): Promise<BrokerState | undefined> {
  try {
    const s = JSON.parse(await readFile(path.join(dir, 'broker.json'), 'utf8')) as Partial<BrokerState>;
    if (typeof s.clusterId === 'string' && Number.isInteger(s.port) && Number.isInteger(s.controllerPort)) return s as BrokerState;
  } catch {
    // no or unreadable state: a new broker
  }
  return undefined;
}

const LOG_FILES = ['jvm.out', 'server.log'] as const;
/** Where each log file ended when a run started: logs are appended to across restarts. */
type LogMarks = Record<(typeof LOG_FILES)[number], number>;

async function markLogs(dir: string): Promise<LogMarks> {
  const size = async (name: string) => (await stat(path.join(dir, name)).catch(() => undefined))?.size ?? 0;
  return { 'jvm.out': await size('jvm.out'), 'server.log': await size('server.log') };
}

/** What this run wrote to the logs. */
async function readRunLogs(dir: string, marks: LogMarks): Promise<{ name: string; text: string }[]> {
  const out: { name: string; text: string }[] = [];
  for (const name of LOG_FILES) {
    const buf = await readFile(path.join(dir, name)).catch(() => Buffer.alloc(0));
    // A smaller file than at the start has been rolled over: all of it is from this run.
    const text = buf.subarray(buf.length >= marks[name] ? marks[name] : 0).toString('utf8');
    if (text.trim()) out.push({ name, text });
  }
  return out;
}

/**
 * A startup failure for humans: a fatal error is followed by a long orderly shutdown, so the
 * last lines alone rarely show the cause. Gives the first ERROR lines with the line after each
 * (the exception message), then the last lines.
 */
function describeRunLogs(logs: { name: string; text: string }[]): string {
  if (logs.length === 0) return '(the broker wrote no log output)';
  const parts: string[] = [];
  for (const { name, text } of logs) {
    const lines = text.trimEnd().split('\n');
    const errors: string[] = [];
    for (let i = 0; i < lines.length && errors.length < 12; i++) {
      if (/^\[[^\]]*\] (ERROR|FATAL) /.test(lines[i])) errors.push(lines[i], ...(lines[i + 1]?.startsWith('[') ? [] : [lines[i + 1] ?? '']));
    }
    if (errors.length > 0) parts.push(`--- ${name}: first errors ---`, ...errors);
    parts.push(`--- ${name}: last lines ---`, ...lines.slice(-15));
  }
  return parts.join('\n');
}

/** Exclusive use of a broker dir; see {@link lockBrokerDir}. */
interface DirLock {
  /** Records the JVM, so that a later start can tell a live broker from a stale lock. */
  setJvm(pid: number): Promise<void>;
  release(): Promise<void>;
}

/**
 * Claims a broker dir via `<dir>/broker.lock` ({ owner, jvm } pids). Two JVMs on one KRaft dir
 * corrupt each other's metadata log: Kafka locks its log dirs only after the controller is up,
 * and a second broker on the same dir wrecked the first one's shutdown when tried.
 *
 * A lock whose JVM and owner are both gone is stale and taken over. If the JVM still runs but
 * its owner is gone (killed with SIGKILL), the watchdog is taking the JVM down: wait for that,
 * so a test can kill -9 a broker's owner and restart on the same dir right away.
 *
 * @throws if a broker runs, or is being started, in `dir` by a live process.
 */
async function lockBrokerDir(dir: string, log: Log): Promise<DirLock> {
  const file = path.join(dir, 'broker.lock');
  const started = Date.now();
  let announced = false;
  for (;;) {
    try {
      await writeFile(file, JSON.stringify({ owner: process.pid }), { flag: 'wx' });
      break;
    } catch (err) {
      if (errorCode(err) !== 'EEXIST') throw err;
    }
    const held = await readFile(file, 'utf8')
      .then((t) => JSON.parse(t) as { owner?: number; jvm?: number })
      .catch(() => undefined);
    if (held === undefined && Date.now() - started < 2_000) {
      await sleep(100); // being written right now, most likely
      continue;
    }
    const ownerAlive = held?.owner !== undefined && pidAlive(held.owner);
    const jvmRunning = held?.jvm !== undefined && isBrokerJvm(held.jvm, dir);
    if (ownerAlive && jvmRunning) throw new Error(`A Kafka broker is already running in ${dir} (JVM pid ${held!.jvm}, owner pid ${held!.owner})`);
    if (ownerAlive && held?.jvm === undefined) throw new Error(`A Kafka broker is being started in ${dir} by process ${held!.owner}`);
    if (jvmRunning) {
      if (Date.now() - started > 30_000) throw new Error(`The broker JVM ${held!.jvm} in ${dir} outlived its owner by 30 s`);
      if (!announced) log(`Waiting for the broker JVM ${held!.jvm} left running in ${dir} by a dead owner to exit`);
      announced = true;
      await sleep(250);
      continue;
    }
    await rm(file, { force: true }); // stale
  }
  return {
    setJvm: (pid) => writeFile(file, JSON.stringify({ owner: process.pid, jvm: pid })),
    release: () => rm(file, { force: true }),
  };
}

/** Whether pid is a live broker JVM of `dir` (pids get reused; on Linux, look at its command line). */
function isBrokerJvm(pid: number, dir: string): boolean {
  if (!pidAlive(pid)) return false;
  if (!HAVE_PROC) return true;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('kafka.Kafka') && cmdline.includes(path.join(dir, 'server.properties'));
  } catch {
    return false; // exited in between
  }
}

// ---------------------------------------------------------------------------------------------
// Ports

/**
 * Uses the given ports and picks free loopback ports for the missing ones, all distinct.
 * Given ports are checked up front: the JVM would take seconds to fail on them, with the
 * reason buried in its log.
 */
async function choosePorts(...wanted: { port: number | undefined; why: string }[]): Promise<{ value: number; picked: boolean }[]> {
  const given: number[] = [];
  for (const { port, why } of wanted) {
    if (port === undefined) continue;
    if (!(await portFree(port))) throw new Error(`127.0.0.1:${port} (${why}) is already in use; cannot start the Kafka broker on it`);
    given.push(port);
  }
  const free = await freePorts(wanted.length - given.length, given);
  return wanted.map(({ port }) => (port === undefined ? { value: free.shift()!, picked: true } : { value: port, picked: false }));
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Binds port 0 on 127.0.0.1 n times at once (so the ports differ), reads them, closes. */
async function freePorts(n: number, avoid: number[]): Promise<number[]> {
  const servers: net.Server[] = [];
  const ports: number[] = [];
  try {
    while (ports.length < n) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      const port = (server.address() as net.AddressInfo).port;
      if (!avoid.includes(port)) ports.push(port);
    }
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
  return ports;
}

// ---------------------------------------------------------------------------------------------
// Process lifetime: one set of handlers for all live brokers, installed while any exists.

interface Running {
  stop(): Promise<void>;
  killNow(): void;
}

const live = new Set<Running>();

function register(r: Running): void {
  if (live.size === 0) {
    process.on('exit', onProcessExit);
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
  }
  live.add(r);
}

function unregister(r: Running): void {
  if (!live.delete(r) || live.size > 0) return;
  process.off('exit', onProcessExit);
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigterm);
}

function onProcessExit(): void {
  for (const r of live) r.killNow();
}

function onSigint(): void {
  onSignal('SIGINT');
}

function onSigterm(): void {
  onSignal('SIGTERM');
}

/**
 * Stops every broker. A listener for a signal replaces Node's default of terminating, so if
 * ours is the only one, the signal is re-raised once the brokers are down and the process
 * ends as it would have. If the application listens too, ending the process is its call.
 */
function onSignal(signal: NodeJS.Signals): void {
  const othersDecide = process.listenerCount(signal) > 1;
  const stops = [...live].map((r) => r.stop()); // unregisters, removing our handlers when the last goes
  if (othersDecide) return;
  void Promise.allSettled(stops).then(() => process.kill(process.pid, signal));
}

// ---------------------------------------------------------------------------------------------
// Small helpers

let javaFound: string | undefined;

function javaCommand(): string {
  if (javaFound) return javaFound;
  const fromHome = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : undefined;
  const java = fromHome && spawnSync(fromHome, ['-version']).error === undefined ? fromHome : 'java';
  requireCommand(java, ['-version'], `Java (17 or newer) is needed to run the local Kafka broker, but \`java\` was not found; install a JDK/JRE (e.g. openjdk-17-jre-headless) or set JAVA_HOME.`);
  javaFound = java;
  return java;
}

function requireCommand(cmd: string, args: string[], message: string): void {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  if (r.error && errorCode(r.error) === 'ENOENT') throw new Error(message);
}

/**
 * Runs a command to completion; rejects with the tail of its output if it fails. It runs under
 * the watchdog too, so a download or format does not carry on after we are SIGKILLed, and
 * `cleanupDir` (a half-filled download) is removed if that happens.
 */
function runToCompletion(cmd: string, args: string[], failure: string, cleanupDir = ''): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [WATCHDOG, String(process.pid), cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUN_BROKER_CLEANUP_DIR: cleanupDir },
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-8_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.once('error', (err) => reject(new Error(`${failure}: could not run bash: ${err.message}`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${failure} (\`${cmd}\` exited with ${signal ?? code}):\n${output.trim().split('\n').slice(-30).join('\n')}`));
    });
  });
}

/** Linux: process state and command lines can be read under /proc. */
const HAVE_PROC = existsSync('/proc/self/stat');

/** Whether pid is a live process; a zombie (exited, not yet reaped) counts as gone. */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
  if (!HAVE_PROC) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false; // exited in between
  }
}

function signalPid(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
