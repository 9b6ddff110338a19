/**
 * The benchmark harness (`npm run bench`): one local Kafka broker, one topic of Nexmark bids, and on
 * that same topic, one after another: kcat (the limit), bare consumers (kafkajs, our native reader,
 * @platformatic/kafka when installed), client + decoder on one thread, our engine end to end through
 * the service path (tumbling COUNT/MAX, Nexmark q0, q1, q2, q5's counting stage, q5 as written, q18, q19; the tumbling query
 * again per reader: kafkajs, native inline, native in read workers), and Spark Structured Streaming
 * running the same tumbling query. Then the join rows: a topic set of Nexmark persons, auctions and bids
 * (1:3:46), Nexmark q3, q4, q7, q8 and q9 as Flink's Nexmark SQL writes them, beside Flink's published
 * per-core figures, and Spark running q8's stream-stream join on the same topics. Prints a table with
 * ratios, writes JSON + SVG to --out. Modes: --latency, --memory.
 *
 *   npm run bench -- [--events 2000000] [--partitions 4] [--compression none|gzip]
 *                    [--skip spark,kcat,kafkajs,platformatic,native,decode,engine]
 *                    [--queries tumble,q0,q1,q2,q5,q5full,q18,q19] [--variants kafkajs,workers,inline] [--workers N] [--out bench/results]
 *                    [--latency [--rate R] [--seconds 30]] [--memory [--minutes 10] [--rate R]]
 *                    [--repeat 2]   (runs per measurement, best counts) [--no-warmup] (skip the unmeasured first engine run)
 *                    [--cpu-prof] (engine .cpuprofile files to --out)
 *                    [--joins q3,q4,q7,q8,q9] [--join-events 1000000] (--skip joins: none; --skip spark-tumble: Spark's q8 only)
 *   npm run bench -- --instances 1,2,3 [--events 1000000] [--scale-queries key,rekey] [--idle-seconds 5] [--repeat 3] (rounds; median round) [--no-warmup | --warmups K]
 *                    (scale-out: N service processes in one cluster, events per CPU-second; bench/instances.ts)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createBatchGenerator } from '../connectors/demo/generator.ts';
import { createDecoder } from '../connectors/formats/decode.ts';
import { createFastJsonDecoder } from '../connectors/formats/fast-json.ts';
import { consumeAll, createBenchProducer } from '../connectors/kafka/bench-consumer.ts';
import { consumeAllPlatformatic } from '../connectors/kafka/bench-platformatic.ts';
import { clusterMetadata, createTopic } from '../connectors/kafka/admin.ts';
import { createNativeReader } from '../connectors/kafka/wire/reader.ts';
import { isPacked } from '../connectors/formats/packed.ts';
import { startLocalBroker, type LocalBroker } from '../connectors/kafka/local-broker.ts';
import { createEngine, type Engine } from '../queries/engine.ts';
import { flag, flags } from './lib/args.ts';
import { JOIN_QUERIES, joinWork, loadNexmarkTopics, NEXMARK_KINDS, nexmarkSourcesSql, type NexmarkCounts, type NexmarkTopics } from './lib/nexmark-topics.ts';
import { bidSourceSql, sourceDef } from './lib/sources.ts';
import { barChart, lineChart } from './lib/svg.ts';
import { measureInstances, printScaling } from './instances.ts';

const SPARK_VERSION = '3.5.7';
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

interface Result {
  readonly name: string;
  readonly group: 'limit' | 'client' | 'decode' | 'engine' | 'peer';
  readonly events: number;
  readonly ms: number;
  readonly eventsPerSec: number;
  readonly note?: string;
}

const opt = {
  events: Number(flag('events') ?? 2_000_000),
  partitions: Number(flag('partitions') ?? 4),
  compression: (flag('compression') ?? 'none') as 'none' | 'gzip',
  skip: new Set(flags('skip')),
  queries: flags('queries').length ? flags('queries') : ['tumble', 'q0', 'q1', 'q2', 'q5', 'q5full', 'q18', 'q19'],
  out: path.resolve(flag('out') ?? path.join(ROOT, 'bench/results')),
  workers: Number(flag('workers') ?? availableParallelism()),
  latency: flag('latency') !== undefined,
  memory: flag('memory') !== undefined,
  minutes: Number(flag('minutes') ?? 10),
  seconds: Number(flag('seconds') ?? 30),
  rate: flag('rate') === undefined ? null : Number(flag('rate')),
  cpuProf: flag('cpu-prof') !== undefined,
  heapProf: flag('heap-prof') !== undefined,
  gcSamples: flag('gc-samples') !== undefined,
  repeat: Math.max(1, Number(flag('repeat') ?? 2)),
  /** The tumbling query again on sources read differently: 'kafkajs' (its consumer), 'workers' (N read workers), 'inline'. */
  warmup: flag('no-warmup') === undefined,
  variants: flag('variants') === undefined ? ['kafkajs', 'workers', 'inline'] : flags('variants'),
  /** Join rows over the persons/auctions/bids topic set (Nexmark proportions). */
  joins: flags('joins').length ? flags('joins') : ['q3', 'q4', 'q7', 'q8', 'q9'],
  joinEvents: Number(flag('join-events') ?? 1_000_000),
  /** Scale-out mode (bench/instances.ts): instance counts to measure, e.g. 1,2,3. */
  instances: flags('instances').map(Number),
  scaleQueries: flags('scale-queries').length ? flags('scale-queries') : ['key', 'rekey'],
  idleSeconds: Number(flag('idle-seconds') ?? 5),
  warmups: Number(flag('warmups') ?? 1),
};
if (opt.instances.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--instances lists instance counts, e.g. 1,2,3');
if (!['none', 'gzip'].includes(opt.compression)) throw new Error('--compression is none or gzip');

const log = (s: string) => console.log(s);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- lifecycle: stop the broker and child processes also on Ctrl-C ------------------------------
let broker: LocalBroker | null = null;
let engine: Engine | null = null;
const children = new Set<ChildProcess>();
const tmpDirs: string[] = [];
let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of children) c.kill('SIGTERM');
    await engine?.close().catch(() => undefined);
    await broker?.stop().catch(() => undefined);
    for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
  })();
  return cleaning;
}
process.on('unhandledRejection', (e) => { console.error('unhandled rejection:', e); void cleanup().finally(() => process.exit(1)); });
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => { log(`\n${sig}: stopping the broker and child processes…`); void cleanup().finally(() => process.exit(130)); });
}

function run(cmd: string, args: readonly string[], opts: { stdout?: 'ignore' | 'pipe'; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', opts.stdout ?? 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
    children.add(c);
    let out = ''; let err = '';
    c.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr?.on('data', (d: Buffer) => { err += d.toString(); if (err.length > 200_000) err = err.slice(-100_000); });
    c.on('error', (e) => { children.delete(c); reject(e); });
    c.on('exit', (code) => { children.delete(c); resolve({ code, out, err }); });
  });
}

const has = (cmd: string) => { try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; } };

// ---- setup steps -------------------------------------------------------------------------------
async function ensureKcat(): Promise<string | null> {
  if (has('kcat')) return null;
  if (has('apt-get') && process.getuid?.() === 0) {
    log('setup: installing kcat (apt-get install -y kcat)…');
    const r = await run('apt-get', ['install', '-y', '-q', 'kcat']);
    if (r.code === 0 && has('kcat')) return null;
  }
  return 'kcat is not installed (Debian: apt-get install kcat)';
}

async function ensureSpark(): Promise<{ submit: string } | { skip: string }> {
  const venv = path.join(ROOT, '.cache/spark-venv');
  const submit = path.join(venv, 'bin/spark-submit');
  if (!existsSync(submit)) {
    if (!has('python3')) return { skip: 'python3 not found' };
    if (!has('java')) return { skip: 'java not found (Spark needs a JDK 17)' };
    log(`setup: pip install pyspark==${SPARK_VERSION} into .cache/spark-venv (one time, ~320 MB)…`);
    const v = await run('python3', ['-m', 'venv', venv]);
    if (v.code !== 0) return { skip: `python3 -m venv failed: ${v.err.trim().split('\n').pop()}` };
    const p = await run(path.join(venv, 'bin/pip'), ['install', '-q', `pyspark==${SPARK_VERSION}`]);
    if (p.code !== 0 || !existsSync(submit)) return { skip: `pip install pyspark failed: ${p.err.trim().split('\n').pop()}` };
  }
  return { submit };
}

// ---- load ---------------------------------------------------------------------------------------
/**
 * Loads with one `kcat -P` per partition (librdkafka batches and compresses in C): measured ~25k
 * messages/s through a kafkajs producer on this machine (its record encoding runs in JS), which
 * would make loading the slowest step. Falls back to kafkajs when kcat is missing.
 */
async function loadWithKcat(bootstrap: string, topic: string): Promise<{ ms: number; bytes: number }> {
  const gen = createBatchGenerator('bid', { seed: 1 });
  const procs = Array.from({ length: opt.partitions }, (_, p) => {
    const c = spawn('kcat', ['-P', '-b', bootstrap, '-t', topic, '-p', String(p), '-z', opt.compression === 'gzip' ? 'gzip' : 'none',
      '-X', 'linger.ms=20', '-X', 'batch.num.messages=10000', '-X', 'queue.buffering.max.kbytes=262144'], { stdio: ['pipe', 'ignore', 'pipe'] });
    children.add(c);
    let err = '';
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const done = new Promise<void>((resolve, reject) => c.on('exit', (code) => { children.delete(c); if (code === 0) resolve(); else reject(new Error(`kcat -P exited ${code}: ${err.slice(-300)}`)); }));
    return { c, done };
  });
  const t0 = performance.now();
  const chunk = 5_000;
  let bytes = 0; let sent = 0; let chunkNo = 0;
  while (sent < opt.events) {
    const n = Math.min(chunk, opt.events - sent);
    const msgs = gen.next(n);
    // Contiguous chunks per partition keep event time increasing within each partition.
    const { c } = procs[chunkNo++ % opt.partitions]!;
    const buf = Buffer.concat(msgs.flatMap((m) => [m.value as Buffer, NL]));
    bytes += buf.length - n;
    if (!c.stdin!.write(buf)) await new Promise((r) => c.stdin!.once('drain', r));
    sent += n;
    if (chunkNo % 40 === 0) process.stdout.write(`\rloading: ${fmt(sent)} / ${fmt(opt.events)}`);
  }
  for (const { c } of procs) c.stdin!.end();
  await Promise.all(procs.map((p) => p.done));
  process.stdout.write('\r');
  return { ms: performance.now() - t0, bytes };
}
const NL = Buffer.from('\n');

async function load(brokers: string[], topic: string, useKcat: boolean): Promise<{ ms: number; bytes: number; via: string }> {
  await createTopic(brokers, topic, opt.partitions);
  if (useKcat) return { ...(await loadWithKcat(brokers[0]!, topic)), via: 'kcat -P' };
  const producer = await createBenchProducer(brokers, { compression: opt.compression, connections: 4 });
  const gen = createBatchGenerator('bid', { seed: 1 });
  // ~100-byte bids: 5,000 a request stays under the broker's 1 MB message.max.bytes.
  const chunk = 5_000;
  let failed: Error | null = null;
  const t0 = performance.now();
  let bytes = 0; let sent = 0; let chunkNo = 0;
  const inflight = new Set<Promise<void>>();
  while (sent < opt.events) {
    const n = Math.min(chunk, opt.events - sent);
    const msgs = gen.next(n);
    for (const m of msgs) bytes += (m.value as Buffer).length;
    // Contiguous chunks per partition keep event time increasing within each partition.
    const p: Promise<void> = producer.send(topic, chunkNo++ % opt.partitions, msgs as { value: Buffer; timestamp: number }[])
      .catch((e: Error) => { failed ??= e; }).finally(() => inflight.delete(p));
    inflight.add(p);
    sent += n;
    if (inflight.size >= 8) await Promise.race(inflight);
    if (failed) throw failed;
    if (chunkNo % 50 === 0) process.stdout.write(`\rloading: ${fmt(sent)} / ${fmt(opt.events)}`);
  }
  await Promise.all(inflight);
  await producer.close();
  if (failed) throw failed;
  const ms = performance.now() - t0;
  process.stdout.write('\r');
  return { ms, bytes, via: 'kafkajs' };
}

// ---- measurements -------------------------------------------------------------------------------
async function measureKcat(bootstrap: string, topic: string): Promise<Result> {
  const t0 = performance.now();
  const r = await run('kcat', ['-C', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-e', '-q'], { stdout: 'ignore' });
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`kcat failed: ${r.err.slice(-500)}`);
  return { name: 'kcat -C (the limit)', group: 'limit', events: opt.events, ms, eventsPerSec: opt.events / (ms / 1000) };
}

async function measureConsumer(name: string, group: Result['group'], brokers: string[], topic: string, o: Parameters<typeof consumeAll>[3] = {}, note?: string): Promise<Result> {
  const r = await consumeAll(brokers, topic, opt.events, o);
  return { name, group, events: r.messages, ms: r.ms, eventsPerSec: r.messages / (r.ms / 1000), note: note ?? `steady ${fmt(r.messages / (r.steadyMs / 1000))}/s after the first fetch` };
}

/** The native reader (connectors/kafka/wire) on this thread over every partition: bare, or with the fast JSON decoder. */
async function measureNative(brokers: string[], topic: string, decode: boolean): Promise<Result> {
  const meta = await clusterMetadata(brokers, [topic]);
  const fast = decode ? createFastJsonDecoder(sourceDef(bidSourceSql(topic)))! : null;
  let n = 0; let firstAt = 0; let done!: () => void;
  const finished = new Promise<void>((r) => { done = r; });
  const t0 = performance.now();
  const reader = createNativeReader({
    clientId: 'streamsql-bench', readCommitted: true, headers: false, maxWaitMs: 100,
    metadata: async () => meta,
    onMessages: async (m) => {
      if (!isPacked(m)) return;
      if (fast) fast.decodePacked(m);
      if (firstAt === 0) firstAt = performance.now();
      n += m.count;
      if (n >= opt.events) done();
    },
    onSkip: () => undefined,
    outOfRange: async () => { throw new Error('offsets out of range'); },
    onState: () => undefined,
    onFatal: (e) => { throw e; },
  });
  reader.start(Array.from({ length: opt.partitions }, (_, p) => ({ topic, partition: p, offset: 0 })));
  await finished;
  const ms = performance.now() - t0;
  await reader.stop();
  return {
    name: decode ? 'native reader + fast-JSON decode, main thread' : 'native reader bare (Fetch v4, no decoding)', group: decode ? 'decode' : 'client',
    events: n, ms, eventsPerSec: n / (ms / 1000), note: `steady ${fmt((n) / ((performance.now() - firstAt) / 1000))}/s after the first fetch; connectors/kafka/wire`,
  };
}

const QUERIES: Record<string, { label: string; sql: string }> = {
  tumble: {
    label: 'engine: 1 s tumbling COUNT/MAX per auction',
    sql: `SELECT window_start, window_end, auction, COUNT(*) AS bids, MAX(price) AS max_price
          FROM TUMBLE(bids, dateTime, INTERVAL '1' SECOND) GROUP BY window_start, window_end, auction`,
  },
  q0: { label: 'engine: Nexmark q0 pass-through', sql: `SELECT auction, bidder, price, dateTime FROM bids` },
  q1: { label: 'engine: Nexmark q1 currency', sql: `SELECT auction, bidder, price * 0.908 AS price, dateTime FROM bids` },
  q2: { label: 'engine: Nexmark q2 selection', sql: `SELECT auction, price FROM bids WHERE auction % 123 = 0` },
  q5: {
    label: 'engine: Nexmark q5 (HOP 10 s/2 s count)',
    sql: `SELECT window_start, window_end, auction, COUNT(*) AS num
          FROM HOP(bids, dateTime, INTERVAL '2' SECOND, INTERVAL '10' SECOND) GROUP BY window_start, window_end, auction`,
  },
  q5full: {
    label: 'engine: Nexmark q5 as written (window Top-N over the HOP counts)',
    sql: `SELECT auction, num, window_start, window_end FROM (
            SELECT *, RANK() OVER (PARTITION BY window_start, window_end ORDER BY num DESC) AS rank_number
            FROM (SELECT auction, COUNT(*) AS num, window_start, window_end
                  FROM HOP(bids, dateTime, INTERVAL '2' SECOND, INTERVAL '10' SECOND) GROUP BY auction, window_start, window_end)
          ) WHERE rank_number <= 1`,
  },
  q18: {
    label: 'engine: Nexmark q18 last bid per bidder and auction (dedup)',
    sql: `SELECT auction, bidder, price, dateTime FROM (
            SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY dateTime DESC) AS rank_number FROM bids
          ) WHERE rank_number <= 1`,
  },
  q19: {
    label: 'engine: Nexmark q19 top 10 bids per auction (Top-N)',
    sql: `SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number FROM bids) WHERE rank_number <= 10`,
  },
};

async function startEngine(brokers: string[]): Promise<Engine> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'streamsql-bench-'));
  tmpDirs.push(dataDir);
  const e = createEngine({ brokers, dataDir, log: (level, msg) => { if (level === 'error') console.error(`engine: ${msg}`); } });
  await e.start();
  return e;
}

/** Creates the view, polls progress until every event is in, drops the view. */
/** Jiffies of the whole machine so far (/proc/stat): busy (not idle, not iowait), steal, total. */
function machineTicks(): { busy: number; steal: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - f[3]! - (f[4] ?? 0), steal: f[7] ?? 0, total };
  } catch { return null; }
}

/** Machine CPU between two readings, in % of one core (200% = both cores of this machine). */
function machineCpu(a: ReturnType<typeof machineTicks>, b: ReturnType<typeof machineTicks>): string {
  if (!a || !b || b.total <= a.total) return '';
  const cores = cpus().length;
  const pct = (x: number) => Math.round((x / (b.total - a.total)) * 100 * cores);
  return `; machine CPU ${pct(b.busy - a.busy)}% (steal ${pct(b.steal - a.steal)}%)`;
}

async function measureQuery(e: Engine, key: string, viewOpts: string, expected: number, profileTo?: string, source = 'bids', query?: { label: string; sql: string }): Promise<Result> {
  const base = query ?? QUERIES[key]!;
  const q = { ...base, sql: query ? base.sql : base.sql.replace(/\bbids\b/g, source) };
  const name = `bench_${key}_${Date.now().toString(36)}`;
  const session = profileTo ? new Session() : null;
  if (session) { session.connect(); await session.post('Profiler.enable'); await session.post('Profiler.start'); }
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const m0 = machineTicks();
  const [res] = await e.execute(`CREATE MATERIALIZED VIEW ${name} WITH (${viewOpts}) AS ${q.sql}`);
  const id = res!.queryId!;
  let last = 0; let firstAt = 0; let firstRows = 0;
  for (;;) {
    await sleep(50);
    const p = await e.progress(id);
    if (!p) throw new Error(`query ${name} vanished`);
    const info = e.query(id);
    if (info?.status === 'failed') throw new Error(`query ${name} failed: ${info.error}`);
    last = p.inputRows + p.malformedRows;
    if (firstAt === 0 && last > 0) { firstAt = performance.now(); firstRows = last; }
    if (last >= expected) break;
  }
  const end = performance.now();
  const ms = end - t0;
  const cpu = process.cpuUsage(cpu0);
  const machine = machineCpu(m0, machineTicks());
  // Every event exactly once: more would mean a reader delivered some twice (and flatter the rate).
  await sleep(300);
  const after = await e.progress(id);
  const total = (after?.inputRows ?? 0) + (after?.malformedRows ?? 0);
  if (total !== expected) throw new Error(`query ${name} counted ${total} events, not ${expected}`);
  const reader = after?.source?.reader ?? '?';
  const cpuPct = ((cpu.user + cpu.system) / 1000) / ms * 100;
  const steady = firstAt && end > firstAt ? (last - firstRows) / ((end - firstAt) / 1000) : NaN;
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(profileTo!, JSON.stringify(profile));
    session.disconnect();
  }
  await e.stopQuery(id);
  return { name: q.label, group: 'engine', events: last, ms, eventsPerSec: last / (ms / 1000), note: `steady ${fmt(steady)}/s after the first rows; start ${fmt(firstAt - t0)} ms; process CPU ${cpuPct.toFixed(0)}%${machine}; reader ${reader}` };
}

async function measureSpark(submit: string, bootstrap: string, topic: string): Promise<Result> {
  const script = path.join(ROOT, 'bench/spark-tumble.py');
  const env = { ...process.env, PYSPARK_PYTHON: path.join(ROOT, '.cache/spark-venv/bin/python'), SPARK_LOCAL_IP: '127.0.0.1' };
  const ivy = path.join(ROOT, '.cache/ivy');
  const t0 = performance.now();
  const r = await run(submit, [
    '--master', 'local[2]', '--driver-memory', '2g', '--conf', `spark.jars.ivy=${ivy}`,
    '--packages', `org.apache.spark:spark-sql-kafka-0-10_2.12:${SPARK_VERSION}`, script, bootstrap, topic, String(opt.events),
  ], { env });
  const wall = performance.now() - t0;
  const line = r.out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (r.code !== 0 || !line) throw new Error(`spark-submit exited ${r.code}: ${r.err.trim().split('\n').slice(-5).join(' | ')}`);
  const j = JSON.parse(line) as { events: number; query_ms: number; startup_ms: number };
  return {
    name: SPARK_TUMBLE_NAME, group: 'peer', events: j.events, ms: j.query_ms,
    eventsPerSec: j.events / (j.query_ms / 1000),
    note: `query time only; JVM + session start ${fmt(j.startup_ms)} ms, spark-submit wall ${fmt(wall)} ms`,
  };
}

const SPARK_TUMBLE_NAME = 'Spark 3.5 local[2]: same tumbling query';
const SPARK_Q8_NAME = 'Spark 3.5 local[2]: Nexmark q8 stream-stream join';

/** Spark Structured Streaming running q8's window join over the persons and auctions topics (bench/spark-q8.py). */
async function measureSparkQ8(submit: string, bootstrap: string, topics: NexmarkTopics, expected: number): Promise<Result> {
  const env = { ...process.env, PYSPARK_PYTHON: path.join(ROOT, '.cache/spark-venv/bin/python'), SPARK_LOCAL_IP: '127.0.0.1' };
  const t0 = performance.now();
  const r = await run(submit, [
    '--master', 'local[2]', '--driver-memory', '2g', '--conf', `spark.jars.ivy=${path.join(ROOT, '.cache/ivy')}`,
    '--packages', `org.apache.spark:spark-sql-kafka-0-10_2.12:${SPARK_VERSION}`, path.join(ROOT, 'bench/spark-q8.py'), bootstrap, topics.person, topics.auction,
  ], { env });
  const wall = performance.now() - t0;
  const line = r.out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (r.code !== 0 || !line) throw new Error(`spark-submit exited ${r.code}: ${r.err.trim().split('\n').slice(-5).join(' | ')}`);
  const j = JSON.parse(line) as { events: number; query_ms: number; startup_ms: number };
  if (j.events !== expected) throw new Error(`Spark read ${j.events} events, not ${expected}`);
  return {
    name: SPARK_Q8_NAME, group: 'peer', events: j.events, ms: j.query_ms, eventsPerSec: j.events / (j.query_ms / 1000),
    note: `persons + auctions; query time only; JVM + session start ${fmt(j.startup_ms)} ms, spark-submit wall ${fmt(wall)} ms`,
  };
}

/** A join row: measured like the other engine rows, rated by the distinct Nexmark events of the topics it reads. */
async function measureJoin(e: Engine, key: string, counts: NexmarkCounts, profileTo?: string): Promise<Result> {
  const q = JOIN_QUERIES[key]!;
  const { events, inputRows } = joinWork(q, counts);
  const viewOpts = key === 'q9' ? `'checkpoint.interval' = '1 s', 'retention.rows' = '1000000'` : `'checkpoint.interval' = '1 s'`;
  const r = await measureQuery(e, key, viewOpts, inputRows, profileTo, undefined, q);
  const eventsPerSec = events / (r.ms / 1000);
  return { ...r, events, eventsPerSec, note: `${q.inputs.join(' + ')}: ${fmt(inputRows)} input rows; ${r.note ?? ''}` };
}

/** The join rows beside Flink's published per-core figures, and the q8 ratio to Spark. */
function printJoins(results: readonly Result[], counts: NexmarkCounts | null): Record<string, number | null> {
  const cores = cpus().length;
  const rows = opt.joins.map((k) => ({ k, r: results.find((x) => x.name === JOIN_QUERIES[k]?.label) })).filter((x) => x.r);
  if (rows.length === 0) return {};
  log('');
  log(`Nexmark joins (events/s = distinct Nexmark events of the topics read ÷ time until every input is read; per core = ÷ ${cores} cores of this machine):`);
  // Flink's Nexmark source emits all three kinds from one generator and each query filters what it
  // needs, so its events/s counts every generated event; ours reads only the topics the query names.
  // "all kinds" rates ours the same way: every Nexmark event of the event-time span the query covered.
  const total = counts ? counts.person + counts.auction + counts.bid : 0;
  log(`("all kinds" = as Flink counts: every generated event of the span, ${fmt(total)} here, ÷ the same time)`);
  log(`${'query'.padEnd(6)} ${'events/s'.padStart(11)} ${'per core'.padStart(10)} ${'all kinds/core'.padStart(15)} ${'Flink 1.13/core'.padStart(16)}  ours/Flink (per core, per core all kinds)`);
  for (const { k, r } of rows) {
    const flink = JOIN_QUERIES[k]!.flinkPerCore;
    const perCore = r!.eventsPerSec / cores;
    const allKinds = total > 0 ? (total / (r!.ms / 1000)) / cores : NaN;
    log(`${k.padEnd(6)} ${fmt(r!.eventsPerSec).padStart(11)} ${fmt(perCore).padStart(10)} ${fmt(allKinds).padStart(15)} ${(flink ? fmt(flink) : '—').padStart(16)}  ${flink ? `${(perCore / flink).toFixed(2)}, ${(allKinds / flink).toFixed(2)}` : ''}`);
  }
  const q8 = results.find((x) => x.name === JOIN_QUERIES.q8!.label);
  const spark = results.find((x) => x.name === SPARK_Q8_NAME);
  const ratio = q8 && spark ? q8.eventsPerSec / spark.eventsPerSec : null;
  log(`q8 ours/Spark (same topics, persons + auctions) = ${ratio?.toFixed(2) ?? 'n/a'}${spark ? ` (Spark ${fmt(spark.eventsPerSec)}/s)` : ''}`);
  return { 'q8/spark-q8': ratio };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function producerChild(bootstrap: string, topic: string, rate: number, seconds: number, keys: number): Promise<{ code: number | null; out: string; err: string }> {
  return run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/lib/produce-at-rate.ts'),
    '--brokers', bootstrap, '--topic', topic, '--rate', String(Math.round(rate)), '--seconds', String(seconds),
    '--partitions', String(opt.partitions), '--keys', String(keys)], { cwd: ROOT });
}

/** p50/p99 from produce time (stamped in dateTime) to the row being committed visible in the view. */
interface Latency { rate: number; achieved: number; samples: number; p50: number; p95: number; p99: number; max: number; engineCpuPct: number; reader: string }

async function measureLatency(e: Engine, brokers: string[], bootstrap: string, rate: number): Promise<Latency> {
  const topic = `bench-latency-${Date.now().toString(36)}`;
  await createTopic(brokers, topic, opt.partitions);
  const extra = process.env.BENCH_SOURCE_WITH ? `, ${process.env.BENCH_SOURCE_WITH}` : '';
  // The produce timestamp is the Kafka record's (CreateTime, set by the producing client when it
  // sends), read through a metadata column: a producer that falls behind the target rate does not
  // count against the engine, and the rate reported is the one achieved.
  await e.execute(`${bidSourceSql(topic, 'bids_lat')
    .replace('WATERMARK FOR', "kts TIMESTAMP(3) METADATA FROM 'timestamp', WATERMARK FOR")
    .replace("'scan.startup.mode' = 'earliest'", `'scan.startup.mode' = 'latest'${extra}`)}`);
  const [res] = await e.execute(`CREATE MATERIALIZED VIEW bench_latency WITH ('checkpoint.interval' = '100 ms', 'retention.rows' = '1000') AS SELECT bidder, kts FROM bids_lat`);
  const table = e.table('bench_latency')!;
  let lat = new Float64Array(1 << 20); let n = 0;
  // Rows of the first 5 s after the producer starts are not counted: JIT warm-up and the first
  // fetches are a one-time start cost that would otherwise dominate p99.
  let warmupUntil = Infinity; let firstAt = 0; let lastAt = 0;
  const unsub = table.subscribe((_epoch, changes) => {
    const now = Date.now();
    if (now < warmupUntil) return;
    if (firstAt === 0) firstAt = now;
    lastAt = now;
    for (const c of changes) {
      const ts = c.row[1] as number;
      if (n === lat.length) { const b = new Float64Array(lat.length * 2); b.set(lat); lat = b; }
      lat[n++] = now - ts;
    }
  });
  await sleep(1500); // the query positions itself at the end before the producer starts ('latest')
  log(`latency: producing ${fmt(rate)} events/s for ${opt.seconds} s (kcat -P, separate processes) into a pass-through view, checkpoint.interval 100 ms`);
  warmupUntil = Date.now() + 5000;
  const cpu0 = process.cpuUsage(); const t0 = performance.now();
  const r = await producerChild(bootstrap, topic, rate, opt.seconds, 1000);
  if (r.code !== 0) throw new Error(`producer failed: ${r.err.slice(-500)}`);
  const cpu = process.cpuUsage(cpu0); const wall = performance.now() - t0;
  await sleep(2000);
  unsub();
  const q = await e.progress(res!.queryId!);
  await e.stopQuery(res!.queryId!);
  const s = lat.slice(0, n).sort();
  const achieved = lastAt > firstAt ? n / ((lastAt - firstAt) / 1000) : NaN;
  return {
    rate, achieved: Math.round(achieved), samples: n, p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), max: s[n - 1] ?? NaN,
    engineCpuPct: Math.round(((cpu.user + cpu.system) / 1000) / wall * 100), reader: q?.source?.reader ?? '?',
  };
}

/** RSS every 5 s while moving windows over 100k keys run for `minutes`. */
/** Retention of each of the memory mode's two views. */
const MEMORY_VIEW_ROWS = 100_000;

interface MemorySample { s: number; rssMb: number; heapMb: number; heapTotalMb: number; arrayBuffersMb: number; rssAnonMb: number; rssFileMb: number; inputRows: number; tableRows: number }
interface MemoryRun {
  samples: MemorySample[];
  steady?: { fromS: number; rssFirstThirdMb: number; rssLastThirdMb: number; rssMaxMb: number; rssSlopeMbPerMin: number; heapSlopeMbPerMin: number };
}

async function measureMemory(e: Engine, brokers: string[], bootstrap: string, rate: number): Promise<MemoryRun> {
  const topic = `bench-memory-${Date.now().toString(36)}`;
  await createTopic(brokers, topic, opt.partitions);
  await e.execute(bidSourceSql(topic, 'bids_mem').replace("'scan.startup.mode' = 'earliest'", "'scan.startup.mode' = 'latest'"));
  const [a] = await e.execute(`CREATE MATERIALIZED VIEW bench_mem_tumble WITH ('retention.rows' = '${MEMORY_VIEW_ROWS}') AS SELECT window_start, window_end, auction, COUNT(*) AS bids, MAX(price) AS max_price FROM TUMBLE(bids_mem, dateTime, INTERVAL '10' SECOND) GROUP BY window_start, window_end, auction`);
  const [b] = await e.execute(`CREATE MATERIALIZED VIEW bench_mem_hop WITH ('retention.rows' = '${MEMORY_VIEW_ROWS}') AS SELECT window_start, window_end, auction, COUNT(*) AS num FROM HOP(bids_mem, dateTime, INTERVAL '2' SECOND, INTERVAL '10' SECOND) GROUP BY window_start, window_end, auction`);
  await sleep(1500);
  log(`memory: ${opt.minutes} min at ${fmt(rate)} events/s over 100k auction keys (10 s tumble + 10 s/2 s hop), RSS every 5 s`);
  const prod = producerChild(bootstrap, topic, rate, opt.minutes * 60, 100_000);
  // --heap-prof: V8's sampling heap profiler over the run; what is still live at the end, by
  // allocation site, is what grew.
  const heapSession = opt.heapProf ? new Session() : null;
  if (heapSession) { heapSession.connect(); await heapSession.post('HeapProfiler.startSampling', { samplingInterval: 64 * 1024 }); }
  const samples: MemorySample[] = [];
  const t0 = Date.now();
  let done = false;
  void prod.finally(() => { done = true; });
  // --gc-samples: a full GC before each sample, so heapUsed is what is live, not what awaits collection.
  const gc = opt.gcSamples ? (setFlagsFromString('--expose-gc'), runInNewContext('gc') as () => void) : null;
  const tables = [e.table('bench_mem_tumble'), e.table('bench_mem_hop')];
  while (!done) {
    gc?.();
    const m = process.memoryUsage();
    const st = readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1] ?? NaN) / 1024;
    const p = await e.progress(a!.queryId!);
    samples.push({ s: Math.round((Date.now() - t0) / 1000), rssMb: m.rss / 2 ** 20, heapMb: m.heapUsed / 2 ** 20, heapTotalMb: m.heapTotal / 2 ** 20, arrayBuffersMb: m.arrayBuffers / 2 ** 20, rssAnonMb: kb('RssAnon'), rssFileMb: kb('RssFile'), inputRows: p?.inputRows ?? 0, tableRows: tables.reduce((n, t) => n + (t?.size ?? 0), 0) });
    process.stdout.write(`\rmemory: ${samples.at(-1)!.s} s  rss ${samples.at(-1)!.rssMb.toFixed(0)} MB  heap ${samples.at(-1)!.heapMb.toFixed(0)} MB  view rows ${fmt(samples.at(-1)!.tableRows)}  input ${fmt(samples.at(-1)!.inputRows)}   `);
    await Promise.race([sleep(5000), prod]);
  }
  process.stdout.write('\n');
  if (heapSession) {
    const { profile } = await heapSession.post('HeapProfiler.getSamplingProfile');
    await heapSession.post('HeapProfiler.stopSampling');
    heapSession.disconnect();
    writeFileSync(path.join(opt.out, `memory-${Date.now().toString(36)}.heapprofile`), JSON.stringify(profile));
  }
  await e.stopQuery(a!.queryId!);
  await e.stopQuery(b!.queryId!);
  return { samples };
}

// ---- report -------------------------------------------------------------------------------------
function printTable(results: readonly Result[]): Record<string, number | null> {
  const by = (g: Result['group'], pred: (r: Result) => boolean = () => true) => results.find((r) => r.group === g && pred(r));
  const kcat = by('limit'); const kjs = results.find((r) => r.name.startsWith('kafkajs bare')); const spark = results.find((r) => r.name === SPARK_TUMBLE_NAME);
  const tumble = results.find((r) => r.name === QUERIES.tumble!.label);
  log('');
  log(`${'measurement'.padEnd(52)} ${'events'.padStart(11)} ${'seconds'.padStart(8)} ${'events/s'.padStart(11)}  note`);
  log('-'.repeat(120));
  for (const r of results) log(`${r.name.padEnd(52)} ${fmt(r.events).padStart(11)} ${(r.ms / 1000).toFixed(2).padStart(8)} ${fmt(r.eventsPerSec).padStart(11)}  ${r.note ?? ''}`);
  const ratio = (x: Result | undefined, y: Result | undefined) => (x && y ? x.eventsPerSec / y.eventsPerSec : null);
  const ratios = { 'tumble/kcat': ratio(tumble, kcat), 'tumble/kafkajs': ratio(tumble, kjs), 'tumble/spark': ratio(tumble, spark) };
  log('');
  log(`ratios for the tumbling query: (c)/(a) engine/kcat = ${ratios['tumble/kcat']?.toFixed(2) ?? 'n/a'}   (c)/(b) engine/kafkajs = ${ratios['tumble/kafkajs']?.toFixed(2) ?? 'n/a'}   (c)/(d) engine/Spark = ${ratios['tumble/spark']?.toFixed(2) ?? 'n/a'}`);
  return ratios;
}

async function main(): Promise<void> {
  mkdirSync(opt.out, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const machine = { loadAvgAtStart: loadavg().map((x) => Math.round(x * 10) / 10), cpus: cpus().length, cpu: cpus()[0]?.model ?? '?', memGb: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}` };
  log(opt.instances.length > 0
    ? `streamsql bench --instances ${opt.instances.join(',')}: ${fmt(flag('events') === undefined ? 1_000_000 : opt.events)} keyed bids per query, 12 partitions; ${machine.cpus} × ${machine.cpu}, Node ${machine.node}, load average ${machine.loadAvgAtStart.join(' ')}`
    : `streamsql bench: ${fmt(opt.events)} bids, ${opt.partitions} partitions, compression ${opt.compression}; ${machine.cpus} × ${machine.cpu}, Node ${machine.node}, load average ${machine.loadAvgAtStart.join(' ')}`);
  const kcatSkip = opt.skip.has('kcat') ? 'skipped (--skip kcat)' : await ensureKcat();
  if (opt.instances.length > 0 && kcatSkip) throw new Error(`--instances loads its topic with kcat -P: ${kcatSkip}`);
  const spark = opt.skip.has('spark') || opt.instances.length > 0 ? { skip: 'skipped (--skip spark)' } : await ensureSpark();

  log('starting the local Kafka broker…');
  broker = await startLocalBroker({ heapMb: 1024 });
  const bootstrap = broker.bootstrap;
  const brokers = [bootstrap];
  if (opt.instances.length > 0) {
    const report = await measureInstances({
      brokers, instances: opt.instances, events: flag('events') === undefined ? 1_000_000 : opt.events, queries: opt.scaleQueries, idleSeconds: opt.idleSeconds,
      // Scale-out: 3 rounds (each N afresh per round, the median round is the row) unless --repeat says otherwise
      // (this machine's load swings the single figures by ±15 %); --no-warmup skips each instance set's unmeasured first run, --warmups K runs K of them.
      repeat: flag('repeat') === undefined ? 3 : opt.repeat, warmups: opt.warmup ? opt.warmups : 0,
      track: (c) => children.add(c), untrack: (c) => children.delete(c), log, out: opt.out,
    }, bootstrap);
    printScaling(report, log);
    const json = path.join(opt.out, `scale-${stamp}.json`);
    writeFileSync(json, JSON.stringify({ time: new Date().toISOString(), machine, loadAvgAtEnd: loadavg(), command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(), ...report }, null, 2));
    log(`\nwrote ${json}`);
    return;
  }
  const topic = `nexmark-bids-${Date.now().toString(36)}`;
  const loaded = await load(brokers, topic, !has('kcat') ? false : true);
  log(`loaded ${fmt(opt.events)} bids (${(loaded.bytes / 2 ** 20).toFixed(0)} MB of JSON) into ${topic} in ${(loaded.ms / 1000).toFixed(1)} s = ${fmt(opt.events / (loaded.ms / 1000))}/s (via ${loaded.via})`);

  const results: Result[] = [];
  const skipped: Record<string, string> = {};
  // Each measurement runs --repeat times (default 2) and the best run counts: the first run of a code
  // path in a process pays JIT warm-up (measured: the engine's first query ran at half the speed of
  // the same query run again), and this machine is shared, so single runs are noisy.
  const step = async (label: string, f: () => Promise<Result>, times = opt.repeat) => {
    log(`measuring: ${label}…`);
    const runs: Result[] = [];
    for (let i = 0; i < times; i++) {
      try { const r = await f(); runs.push(r); log(`  ${fmt(r.eventsPerSec)} events/s (${(r.ms / 1000).toFixed(2)} s)`); } catch (e) { skipped[label] = (e as Error).message; log(`  skipped: ${(e as Error).message}`); return; }
    }
    const best = runs.reduce((a, b) => (b.eventsPerSec > a.eventsPerSec ? b : a));
    results.push(runs.length > 1 ? { ...best, note: `best of ${runs.map((r) => fmt(r.eventsPerSec)).join(' / ')}; ${best.note ?? ''}` } : best);
  };

  if (kcatSkip) { skipped.kcat = kcatSkip; log(`kcat: ${kcatSkip}`); } else await step('kcat', () => measureKcat(bootstrap, topic), 1);
  if (!opt.skip.has('kafkajs')) {
    await step('kafkajs bare', () => measureConsumer('kafkajs bare consumer (eachBatch)', 'client', brokers, topic));
    if (!opt.skip.has('platformatic')) {
      await step('@platformatic/kafka bare', async () => {
        const r = await consumeAllPlatformatic(brokers, topic, opt.events);
        if (!r) throw new Error('@platformatic/kafka is not installed (npm install --no-save @platformatic/kafka@1)');
        return { name: '@platformatic/kafka 1.x bare consumer', group: 'client', events: r.messages, ms: r.ms, eventsPerSec: r.messages / (r.ms / 1000), note: `steady ${fmt(r.messages / (r.steadyMs / 1000))}/s after the first fetch` };
      });
    }
    if (!opt.skip.has('decode')) {
      const def = sourceDef(bidSourceSql(topic));
      const ref = createDecoder(def);
      await step('kafkajs + reference decode', () => measureConsumer('kafkajs + JSON.parse decode, main thread', 'decode', brokers, topic, { onBatch: (r) => { ref(r); } }));
      const fast = createFastJsonDecoder(def)!;
      await step('kafkajs + fast decode', () => measureConsumer('kafkajs + fast-JSON decode, main thread', 'decode', brokers, topic, { onBatch: (r) => { fast.decode(r); } }));
    }
  }
  if (!opt.skip.has('native')) {
    await step('native reader bare', () => measureNative(brokers, topic, false));
    if (!opt.skip.has('decode')) await step('native reader + fast decode', () => measureNative(brokers, topic, true));
  }

  if (!opt.skip.has('engine')) {
    engine = await startEngine(brokers);
    await engine.execute(bidSourceSql(topic, 'bids'));
    // One unmeasured run first: a fresh process pays JIT warm-up on the main thread and in the read
    // workers (measured: the first tumbling run at ~0.6M/s, the next ones at 1.1–1.3M/s).
    if (opt.warmup) {
      log('warm-up: the tumbling query once, not counted…');
      await measureQuery(engine, 'tumble', `'checkpoint.interval' = '1 s'`, opt.events).catch((e) => log(`  warm-up failed: ${(e as Error).message}`));
    }
    for (const [qi, key] of opt.queries.entries()) {
      if (!QUERIES[key]) { log(`unknown query ${key}`); continue; }
      const viewOpts = key === 'q0' || key === 'q1' || key === 'q2' ? `'retention.rows' = '1000'` : key === 'q18' || key === 'q19' ? `'checkpoint.interval' = '1 s', 'retention.rows' = '1000000'` : `'checkpoint.interval' = '1 s'`;
      const prof = opt.cpuProf ? path.join(opt.out, `engine-${qi + 1}-${key}-${stamp}.cpuprofile`) : undefined;
      await step(`engine ${key}`, () => measureQuery(engine!, key, viewOpts, opt.events, prof));
    }
    // The same tumbling query over the other ways of reading, side by side.
    const variants: Record<string, { label: string; with: string }> = {
      kafkajs: { label: 'kafkajs consumer', with: `'source.client' = 'kafkajs'` },
      workers: { label: `native reader, ${opt.workers} read workers`, with: `'source.workers' = '${opt.workers}'` },
      inline: { label: 'native reader on the query thread', with: `'source.workers' = '0'` },
    };
    for (const v of opt.variants) {
      const vv = variants[v];
      if (!vv) { log(`unknown variant ${v}`); continue; }
      const src = `bids_${v}`;
      await engine.execute(bidSourceSql(topic, src).replace(/\)\s*$/, `, ${vv.with})`));
      await step(`engine tumble (${v})`, async () => {
        const r = await measureQuery(engine!, 'tumble', `'checkpoint.interval' = '1 s'`, opt.events, undefined, src);
        return { ...r, name: `${r.name} [${vv.label}]` };
      });
    }
  }

  if ('skip' in spark) { skipped.spark = spark.skip; log(`spark: ${spark.skip}`); } else if (!opt.skip.has('spark-tumble')) await step('spark', () => measureSpark(spark.submit, bootstrap, topic), 1);

  // ---- joins: the persons/auctions/bids topic set, q3 q4 q7 q8 q9, and Spark's q8 ----
  let joinLoad: { counts: NexmarkCounts; bytes: number; ms: number; topics: NexmarkTopics } | null = null;
  if (!opt.skip.has('joins') && opt.joins.length > 0) {
    const suffix = Date.now().toString(36);
    const topics: NexmarkTopics = { person: `nexmark-persons-${suffix}`, auction: `nexmark-auctions-${suffix}`, bid: `nexmark-bids-${suffix}` };
    for (const k of NEXMARK_KINDS) await createTopic(brokers, topics[k], opt.partitions);
    const l = await loadNexmarkTopics(bootstrap, topics, opt.joinEvents, opt.partitions,
      (c, done) => { children.add(c); void done.catch(() => undefined).finally(() => children.delete(c)); },
      (sent) => process.stdout.write(`\rloading the join topics: ${fmt(sent)} / ${fmt(opt.joinEvents)}`));
    process.stdout.write('\r');
    joinLoad = { ...l, topics };
    log(`loaded ${fmt(opt.joinEvents)} Nexmark events (${fmt(l.counts.person)} persons, ${fmt(l.counts.auction)} auctions, ${fmt(l.counts.bid)} bids; ${(l.bytes / 2 ** 20).toFixed(0)} MB) in ${(l.ms / 1000).toFixed(1)} s (kcat -P)`);
    engine ??= await startEngine(brokers);
    await engine.execute(nexmarkSourcesSql(topics));
    // Unmeasured first: a fresh broker loads its group and transaction coordinators on the first query
    // (measured: 12 s before the first rows), and a fresh process pays JIT warm-up.
    if (opt.warmup) {
      log('warm-up: Nexmark q8 once, not counted…');
      await measureJoin(engine, 'q8', l.counts).catch((e) => log(`  warm-up failed: ${(e as Error).message}`));
    }
    for (const key of opt.joins) {
      if (!JOIN_QUERIES[key]) { log(`unknown join query ${key}`); continue; }
      const prof = opt.cpuProf ? path.join(opt.out, `engine-join-${key}-${stamp}.cpuprofile`) : undefined;
      await step(`engine join ${key}`, () => measureJoin(engine!, key, l.counts, prof));
    }
    if (!('skip' in spark) && opt.joins.includes('q8')) {
      await step('spark q8', () => measureSparkQ8(spark.submit, bootstrap, topics, l.counts.person + l.counts.auction), 1);
    }
  }

  const ratios = { ...printTable(results), ...printJoins(results, joinLoad?.counts ?? null) };
  let latency: Latency | null = null;
  let memory: MemoryRun | null = null;
  const tumble = results.find((r) => r.name === QUERIES.tumble!.label);
  const maxRate = opt.rate ?? tumble?.eventsPerSec ?? null;
  if (opt.latency || opt.memory) engine ??= await startEngine(brokers);
  if (opt.latency) {
    if (maxRate === null) log('latency: needs the tumbling throughput or --rate R');
    else {
      try {
        latency = await measureLatency(engine!, brokers, bootstrap, maxRate / 2);
        log(`latency at ${fmt(latency.rate)} events/s (half of ${fmt(maxRate)}; achieved ${fmt(latency.achieved)}/s): p50 ${latency.p50} ms, p95 ${latency.p95} ms, p99 ${latency.p99} ms, max ${latency.max} ms over ${fmt(latency.samples)} rows; engine CPU ${latency.engineCpuPct}%; reader ${latency.reader}`);
      } catch (e) { skipped.latency = (e as Error).message.slice(0, 500); log(`latency failed: ${skipped.latency}`); }
    }
  }
  if (opt.memory) try {
    memory = await measureMemory(engine!, brokers, bootstrap, opt.rate ?? 20_000);
    // The views fill up to their retention bound first (230 bytes a row measured): judge flatness
    // from when both are full, by the least-squares slope and the first and last third.
    const full = memory.samples.findIndex((s) => s.tableRows >= 2 * MEMORY_VIEW_ROWS);
    const steady = memory.samples.slice(full < 0 ? Math.floor(memory.samples.length / 3) : full);
    const rss = steady.map((s) => s.rssMb);
    const third = Math.max(1, Math.floor(rss.length / 3));
    const avg = (a: number[]) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
    const slope = (k: 'rssMb' | 'heapMb') => {
      const mx = avg(steady.map((s) => s.s)); const my = avg(steady.map((s) => s[k]));
      let num = 0; let den = 0;
      for (const s of steady) { num += (s.s - mx) * (s[k] - my); den += (s.s - mx) ** 2; }
      return den > 0 ? (num / den) * 60 : NaN;
    };
    memory.steady = { fromS: steady[0]?.s ?? 0, rssFirstThirdMb: avg(rss.slice(0, third)), rssLastThirdMb: avg(rss.slice(-third)), rssMaxMb: Math.max(...rss), rssSlopeMbPerMin: slope('rssMb'), heapSlopeMbPerMin: slope('heapMb') };
    const st = memory.steady;
    log(`memory: views full at ${full < 0 ? 'never (judged from the last two thirds)' : `${st.fromS} s`}; from there RSS first third ${st.rssFirstThirdMb.toFixed(0)} MB, last third ${st.rssLastThirdMb.toFixed(0)} MB, max ${st.rssMaxMb.toFixed(0)} MB, slope ${st.rssSlopeMbPerMin.toFixed(1)} MB/min (heap used ${st.heapSlopeMbPerMin.toFixed(1)} MB/min)`);
    writeFileSync(path.join(opt.out, `memory-${stamp}.svg`), lineChart(`RSS over ${opt.minutes} min, 100k keys, moving windows`, memory.samples.map((s) => ({ x: s.s, y: s.rssMb })), 'seconds', 'RSS MB'));
  } catch (e) { skipped.memory = (e as Error).message.slice(0, 500); log(`memory failed: ${skipped.memory}`); }

  const report = {
    time: new Date().toISOString(), machine, loadAvgAtEnd: loadavg(), command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    options: { ...opt, skip: [...opt.skip] }, load: { ms: loaded.ms, bytes: loaded.bytes }, joinLoad, results, ratios, skipped, latency, memory,
  };
  const json = path.join(opt.out, `bench-${stamp}.json`);
  writeFileSync(json, JSON.stringify(report, null, 2));
  writeFileSync(path.join(opt.out, 'latest.json'), JSON.stringify(report, null, 2));
  const svg = barChart(`streamsql bench: ${fmt(opt.events)} Nexmark bids, ${opt.partitions} partitions, ${machine.cpus} cores`, results.map((r) => ({ label: r.name, value: r.eventsPerSec, group: r.group })));
  writeFileSync(path.join(opt.out, `bench-${stamp}.svg`), svg);
  writeFileSync(path.join(opt.out, 'latest.svg'), svg);
  log(`\nwrote ${json} and ${path.join(opt.out, `bench-${stamp}.svg`)}`);
}

try {
  await main();
} finally {
  await cleanup();
}
process.exit(0);
