import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import './kafkajs-patches.ts'; // before kafkajs: its read_committed filter, corrected
import { Kafka, logLevel, Partitioners, type Message } from 'kafkajs';
import { afterEach, describe, expect, test } from 'vitest';
import { startLocalBroker, type LocalBroker } from './local-broker.ts';
import { brokerList, uniqueTopic } from '../../test/helpers/kafka.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function client(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'local-broker-test', brokers, logLevel: logLevel.NOTHING });
}

async function produce(kafka: Kafka, topic: string, messages: Message[]): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({ topic, messages });
  } finally {
    await producer.disconnect();
  }
}

interface Consumed {
  partition: number;
  key: string;
  value: string;
}

/** Reads a topic from the beginning with a fresh consumer group until `count` messages arrived. */
async function consume(kafka: Kafka, topic: string, count: number, timeoutMs = 30_000): Promise<Consumed[]> {
  const consumer = kafka.consumer({ groupId: uniqueTopic('group') });
  const got: Consumed[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${got.length}/${count} messages after ${timeoutMs} ms`)), timeoutMs);
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            got.push({ partition, key: message.key?.toString() ?? '', value: message.value?.toString() ?? '' });
            if (got.length >= count) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return got;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!(await cond())) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - started;
}

const exists = (p: string) => stat(p).then(() => true, () => false);

describe('local Kafka broker', () => {
  const cleanups: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  test('the shared broker takes a 3-partition topic and returns what was produced', async () => {
    const kafka = client(brokerList());
    const topic = uniqueTopic('shared');
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect(await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true })).toBe(true);
      const [meta] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
      expect(meta.partitions).toHaveLength(3);
    } finally {
      await admin.disconnect();
    }

    const sent = Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: i % 3 }));
    await produce(kafka, topic, sent);
    const got = await consume(kafka, topic, sent.length);

    expect(got.map((m) => m.value).sort()).toEqual(sent.map((m) => m.value).sort());
    for (const m of got) expect(m.partition).toBe(Number(m.key.slice(1)) % 3);
    // Order is kept within a partition.
    for (const p of [0, 1, 2]) {
      const values = got.filter((m) => m.partition === p).map((m) => Number(m.value.slice(1)));
      expect(values).toEqual([...values].sort((a, b) => a - b));
    }
  });

  test('a broker restarted on the same dir and ports still has its data', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'streamsql-kafka-restart-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    let broker: LocalBroker = await startLocalBroker({ dir, heapMb: 256 });
    cleanups.push(() => broker.stop());
    const { port, controllerPort, bootstrap } = broker;

    const topic = uniqueTopic('restart');
    const sent = Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `before-${i}` }));
    await produce(client([bootstrap]), topic, sent); // auto-created, 1 partition

    const firstPid = broker.pid;
    await broker.stop();
    expect(pidExists(firstPid)).toBe(false);
    await broker.stop(); // idempotent
    expect(await exists(path.join(dir, 'data', 'meta.properties'))).toBe(true); // a given dir is kept

    broker = await startLocalBroker({ dir, port, controllerPort, heapMb: 256 });
    expect(broker.bootstrap).toBe(bootstrap);
    expect(broker.pid).not.toBe(firstPid);

    const got = await consume(client([bootstrap]), topic, sent.length);
    expect(got.map((m) => m.value)).toEqual(sent.map((m) => m.value));

    const secondPid = broker.pid;
    await broker.stop();
    expect(pidExists(secondPid)).toBe(false);
  });

  test('the JVM dies with its owner when the owner is killed with SIGKILL', async () => {
    const owner: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/fixtures/broker-owner.ts')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(() => void owner.kill('SIGKILL'));
    let stderr = '';
    owner.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));

    const info = await new Promise<{ pid: number; dir: string; bootstrap: string }>((resolve, reject) => {
      let out = '';
      owner.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line));
      });
      owner.once('exit', (code) => reject(new Error(`broker owner exited (${code}) before the broker was ready:\n${stderr}`)));
    });
    expect(pidExists(info.pid)).toBe(true);
    if (process.platform === 'linux') expect(readFileSync(`/proc/${info.pid}/cmdline`, 'utf8')).toContain('kafka.Kafka');

    const ownerExit = new Promise((r) => owner.once('exit', r));
    owner.kill('SIGKILL');
    await ownerExit;

    await waitUntil(() => !pidExists(info.pid), 15_000);
    // The broker's temp dir was the owner's to remove; the watchdog does it instead.
    await waitUntil(async () => !(await exists(info.dir)), 5_000);
  });
});
