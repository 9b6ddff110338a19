/**
 * partitioner.ts against the Java client itself (kafka-clients 3.9.1 from the broker's jars): the
 * same murmur2 and partitions on random keys (empty, binary, non-ASCII UTF-8, long), and the
 * partitions a Java producer chose on the real broker. Also records what kafkajs' own partitioners do.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import './kafkajs-patches.ts'; // before kafkajs: its read_committed filter, corrected
import { Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerList, brokers, uniqueTopic } from '../../test/helpers/kafka.ts';
import { createTopic, readTopic } from './admin.ts';
import { ensureKafkaJars } from './local-broker.ts';
import { javaSinkPartitioner, keyBytes, murmur2, partitionForKey } from './partitioner.ts';

const run = promisify(execFile);
const COUNTS = [1, 2, 3, 12, 100, 7919];
const SRC = path.join(import.meta.dirname, '../../test/kafka/java/PartitionerProbe.java');

/** xorshift32: the same keys every run, so a failure names a reproducible key. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 32; };
}

function randomKeys(n: number): Uint8Array[] {
  const r = rng(0x5eed17);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const keys: Uint8Array[] = [new Uint8Array(0), keyBytes('a'), keyBytes('ab'), keyBytes('abc'), keyBytes('abcd'), new Uint8Array([0xff, 0xff, 0xff, 0xff])];
  const ranges = [[0x20, 0x7e], [0xa0, 0x7ff], [0x800, 0xd7ff], [0xe000, 0xfffd], [0x10000, 0x10ffff]] as const;
  while (keys.length < n) {
    const kind = keys.length % 5;
    if (kind === 0) keys.push(Uint8Array.from({ length: int(0, 40) }, () => int(0, 255))); // binary, every byte value
    else if (kind === 1) { // well-formed text from every UTF-8 length class (1..4 bytes per code point)
      let s = '';
      for (let i = int(0, 24); i > 0; i--) { const [lo, hi] = ranges[int(0, ranges.length - 1)]!; s += String.fromCodePoint(int(lo, hi)); }
      keys.push(keyBytes(s));
    } else if (kind === 2) keys.push(keyBytes(`user-${int(0, 1e9)}`));
    else if (kind === 3) { const b = Buffer.alloc(8); b.writeBigInt64BE(BigInt(int(-2e9, 2e9)) * BigInt(int(1, 1e6))); keys.push(b); } // LongSerializer
    else keys.push(Uint8Array.from({ length: int(200, 5000) }, () => int(0, 255))); // long
  }
  return keys;
}

const hex = (k: Uint8Array) => Buffer.from(k).toString('hex');

describe('partitionForKey equals the Java client', () => {
  let dir = '';
  let cp = '';
  const keys = randomKeys(4000);

  beforeAll(async () => {
    const libs = await ensureKafkaJars();
    dir = await mkdtemp(path.join(tmpdir(), 'partitioner-'));
    cp = [dir, path.join(libs, 'kafka-clients-3.9.1.jar'), path.join(libs, 'slf4j-api-1.7.36.jar')].join(path.delimiter);
    await run('javac', ['-cp', cp, '-d', dir, SRC], { timeout: 120_000 });
    await writeFile(path.join(dir, 'keys'), keys.map(hex).join('\n') + '\n');
  }, 180_000);
  afterAll(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

  it('murmur2 and partitionForKey on 4000 random keys (empty, binary, non-ASCII, up to 5000 bytes)', async () => {
    const { stdout } = await run('java', ['-cp', cp, 'PartitionerProbe', 'hash', path.join(dir, 'keys')], { maxBuffer: 64 << 20, timeout: 120_000 });
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(keys.length);
    const kafkajs = Partitioners.DefaultPartitioner();
    const legacy = Partitioners.LegacyPartitioner();
    const meta = (n: number) => Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 0 }));
    const ours = javaSinkPartitioner();
    let kafkajsDiffers = 0;
    let legacyDiffers = 0;
    let sinkDiffers = 0;
    let checkedByKafkajs = 0;
    const mismatches: string[] = [];
    keys.forEach((key, i) => {
      const [hash, ...parts] = lines[i]!.split(' ').map(Number);
      if (murmur2(key) !== hash) mismatches.push(`murmur2(${hex(key)}) = ${murmur2(key)}, Java ${hash}`);
      COUNTS.forEach((n, j) => {
        if (partitionForKey(key, n) !== parts[j]) mismatches.push(`partitionForKey(${hex(key)}, ${n}) = ${partitionForKey(key, n)}, Java ${parts[j]}`);
        // The sinks' partitioner, with the key as a Buffer and (JSON keys) as a string.
        if (ours({ topic: 't', partitionMetadata: meta(n) as never, message: { key: Buffer.from(key), value: null } }) !== parts[j]) sinkDiffers++;
      });
      // kafkajs' DefaultPartitioner computes with Long objects (~1 ms per 2.6 kB key): the short keys and
      // every tenth long one, at two counts, are enough to tell.
      if (key.length > 100 && i % 10 !== 0) return;
      checkedByKafkajs++;
      const message = { key: Buffer.from(key), value: null };
      for (const j of [3, 5]) {
        if (kafkajs({ topic: 't', partitionMetadata: meta(COUNTS[j]!) as never, message }) !== parts[j]) kafkajsDiffers++;
        if (legacy({ topic: 't', partitionMetadata: meta(COUNTS[j]!) as never, message }) !== parts[j]) legacyDiffers++;
      }
    });
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(sinkDiffers).toBe(0);
    expect(ours({ topic: 't', partitionMetadata: meta(12) as never, message: { key: 'héllo', value: null } })).toBe(partitionForKey(keyBytes('héllo'), 12));
    // Keyless: round-robin over the partitions that have a leader; an explicit partition as given.
    const led = [{ partitionId: 0, leader: 0 }, { partitionId: 1, leader: -1 }, { partitionId: 2, leader: 1 }];
    const spread = Array.from({ length: 6 }, () => ours({ topic: 't', partitionMetadata: led as never, message: { key: null, value: null } }));
    expect(new Set(spread)).toEqual(new Set([0, 2]));
    expect(ours({ topic: 't', partitionMetadata: led as never, message: { key: 'k', value: null, partition: 1 } })).toBe(1);
    // kafkajs' DefaultPartitioner (= JavaCompatiblePartitioner) agrees; its LegacyPartitioner (float arithmetic) does not.
    console.log(`kafkajs DefaultPartitioner differs from Java on ${kafkajsDiffers} of ${checkedByKafkajs * 2}; LegacyPartitioner on ${legacyDiffers}`);
    expect(kafkajsDiffers).toBe(0);
    expect(legacyDiffers).toBeGreaterThan(0);
  }, 120_000);

  it('a Java producer on the real broker put every key where partitionForKey says', async () => {
    const topic = uniqueTopic('java-partitioner');
    await createTopic(brokerList(), topic, 12);
    const sample = keys.filter((k) => k.length <= 1000).slice(0, 1500);
    await writeFile(path.join(dir, 'sample'), sample.map(hex).join('\n') + '\n');
    await run('java', ['-cp', cp, 'PartitionerProbe', 'produce', brokers(), topic, path.join(dir, 'sample')], { timeout: 120_000 });
    // readTopic's idle clock starts before its group join; on a busy machine the first try can end empty.
    let records = await readTopic(brokerList(), topic, { idleMs: 3000, maxMs: 60_000 });
    for (let i = 0; i < 4 && records.length < sample.length; i++) records = await readTopic(brokerList(), topic, { idleMs: 3000, maxMs: 60_000 });
    expect(records).toHaveLength(sample.length);
    const partitions = new Set<number>();
    for (const r of records) {
      const key = sample[Number(r.value)]!;
      expect({ key: hex(key), p: r.partition }).toEqual({ key: hex(key), p: partitionForKey(key, 12) });
      partitions.add(r.partition);
    }
    expect(partitions.size).toBe(12);
  }, 120_000);

  it('refuses a partition count that is not a positive integer', () => {
    expect(() => partitionForKey(keyBytes('k'), 0)).toThrow(RangeError);
    expect(() => partitionForKey(keyBytes('k'), 1.5)).toThrow(RangeError);
  });
});
