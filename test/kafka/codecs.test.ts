/**
 * The snappy and lz4 decoders on hand-built blocks (each kind of element, overlapping copies, the
 * xerial framing) and on corrupt input; the real-broker test (native-reader.test.ts) reads what
 * librdkafka writes with each codec.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CodecError, lz4Block, lz4Decompress, snappyDecompress, snappyRaw, zstdDecompressFrame } from '../../connectors/kafka/wire/codecs.ts';

const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

describe('snappy', () => {
  it('decodes literals and the three copy forms, overlapping copies included', () => {
    // length 20: literal "abcd"; copy-1 (len 8, offset 4) → "abcdabcd"; copy-2 (len 3, offset 2) → "cdc";
    // copy-4 (len 5, offset 15) → "abcda".
    const block = Uint8Array.from([20, (4 - 1) << 2, 97, 98, 99, 100, ((8 - 4) << 2) | 1, 4, ((3 - 1) << 2) | 2, 2, 0, ((5 - 1) << 2) | 3, 15, 0, 0, 0]);
    expect(text(snappyRaw(block))).toBe('abcdabcdabcdcdcabcda');
  });

  it('reads long literals (1-byte length) and xerial-framed payloads of several blocks', () => {
    const lit = 'x'.repeat(100);
    const block = Uint8Array.from([100, 60 << 2, 99, ...Buffer.from(lit)]);
    expect(text(snappyRaw(block))).toBe(lit);
    const small = Uint8Array.from([3, 2 << 2, 65, 66, 67]);
    const frame = Buffer.concat([Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]),
      Buffer.from([0, 0, 0, block.length]), block, Buffer.from([0, 0, 0, small.length]), small]);
    expect(text(snappyDecompress(frame))).toBe(lit + 'ABC');
  });

  it('rejects copies before the start and lengths that do not add up', () => {
    expect(() => snappyRaw(Uint8Array.from([8, ((8 - 4) << 2) | 1, 4]))).toThrow(CodecError);
    expect(() => snappyRaw(Uint8Array.from([9, (4 - 1) << 2, 97, 98, 99, 100]))).toThrow(/4 bytes decoded, 9 announced/);
  });
});

describe('lz4', () => {
  it('decodes sequences with extended literal and match lengths', () => {
    // "abc" + match(offset 3, len 4+15+2=21) + literals "xyz" (last sequence).
    const block = Uint8Array.from([(3 << 4) | 15, 97, 98, 99, 3, 0, 2, (3 << 4), 120, 121, 122]);
    expect(text(lz4Block(block, 1 << 16))).toBe('abc'.repeat(8) + 'xyz');
    const lit = 'q'.repeat(300); // literal length 15 + 255 + 30
    expect(text(lz4Block(Uint8Array.from([15 << 4, 255, 30, ...Buffer.from(lit)]), 1 << 16))).toBe(lit);
  });

  it('reads frames the lz4 tool writes, with and without checksums, and rejects what is not a frame', () => {
    const input = Buffer.from(Array.from({ length: 5000 }, (_, i) => `line ${i % 97} ${'z'.repeat(i % 13)}\n`).join(''));
    for (const args of [['-c'], ['-c', '--content-size', '-BX', '-B4']]) {
      const r = spawnSync('lz4', [...args, '-'], { input });
      expect(r.status, r.stderr?.toString()).toBe(0);
      expect(Buffer.from(lz4Decompress(r.stdout)).equals(input)).toBe(true);
    }
    expect(() => lz4Decompress(Buffer.from('not lz4 at all'))).toThrow(CodecError);
  });
});

describe('zstd', () => {
  it('reads frames the zstd tool writes', () => {
    const input = Buffer.from(Array.from({ length: 5000 }, (_, i) => `{"i":${i},"s":"${'k'.repeat(i % 17)}"}\n`).join(''));
    const r = spawnSync('zstd', ['-c', '-q', '-'], { input });
    expect(r.status, r.stderr?.toString()).toBe(0);
    expect(Buffer.from(zstdDecompressFrame(r.stdout)).equals(input)).toBe(true);
    expect(() => zstdDecompressFrame(Buffer.from('nope'))).toThrow(CodecError);
  });
});
