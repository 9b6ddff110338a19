/**
 * Decompression of record-batch payloads for the codecs Node has no built-in for: snappy and lz4,
 * written here from their format descriptions (both are small), and zstd through `fzstd` (a
 * pure-JS decoder; Node 20's zlib has no zstd). gzip stays with node:zlib in record-set.ts.
 *
 * What Kafka producers write:
 * - snappy: the Java client frames it the xerial way (an 8-byte magic, two int32 versions, then
 *   blocks of [int32 big-endian length][raw snappy]); librdkafka writes the same framing. A payload
 *   without the magic is one raw snappy block.
 * - lz4: the LZ4 frame format (magic 0x184D2204), as fixed for record batches v2 (KIP-57).
 * - zstd: a zstd frame.
 */
import { decompress as zstdDecompress } from 'fzstd';

export class CodecError extends Error {}

const XERIAL_MAGIC = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00];

/** A snappy payload as Kafka producers write it (xerial-framed or one raw block). */
export function snappyDecompress(src: Uint8Array): Uint8Array {
  if (src.length >= 16 && XERIAL_MAGIC.every((b, i) => src[i] === b)) {
    const parts: Uint8Array[] = [];
    let total = 0;
    const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
    for (let p = 16; p < src.length;) {
      if (p + 4 > src.length) throw new CodecError('snappy: cut-off xerial block length');
      const n = dv.getInt32(p);
      p += 4;
      if (n < 0 || p + n > src.length) throw new CodecError('snappy: xerial block runs past the payload');
      const out = snappyRaw(src.subarray(p, p + n));
      parts.push(out); total += out.length;
      p += n;
    }
    return join(parts, total);
  }
  return snappyRaw(src);
}

/** One raw snappy block: a varint length, then literals and back-references. */
export function snappyRaw(src: Uint8Array): Uint8Array {
  let p = 0; let len = 0; let shift = 0;
  for (;;) {
    if (p >= src.length || shift > 28) throw new CodecError('snappy: bad length preamble');
    const b = src[p++]!;
    len += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
    shift += 7;
  }
  const out = new Uint8Array(len);
  let o = 0;
  while (p < src.length) {
    const tag = src[p++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let n = tag >>> 2;
      if (n >= 60) {
        const bytes = n - 59;
        if (p + bytes > src.length) throw new CodecError('snappy: cut-off literal length');
        n = 0;
        for (let i = 0; i < bytes; i++) n += src[p + i]! * 2 ** (8 * i);
        p += bytes;
      }
      n += 1;
      if (p + n > src.length || o + n > len) throw new CodecError('snappy: literal runs past its bounds');
      out.set(src.subarray(p, p + n), o);
      p += n; o += n;
      continue;
    }
    let n: number; let off: number;
    if (kind === 1) {
      if (p >= src.length) throw new CodecError('snappy: cut-off copy');
      n = ((tag >>> 2) & 7) + 4;
      off = ((tag >>> 5) << 8) | src[p++]!;
    } else if (kind === 2) {
      if (p + 2 > src.length) throw new CodecError('snappy: cut-off copy');
      n = (tag >>> 2) + 1;
      off = src[p]! | (src[p + 1]! << 8);
      p += 2;
    } else {
      if (p + 4 > src.length) throw new CodecError('snappy: cut-off copy');
      n = (tag >>> 2) + 1;
      off = (src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16)) + src[p + 3]! * 2 ** 24;
      p += 4;
    }
    if (off === 0 || off > o || o + n > len) throw new CodecError('snappy: copy out of bounds');
    // Byte by byte: a copy may overlap its own output (a run).
    for (let i = 0; i < n; i++, o++) out[o] = out[o - off]!;
  }
  if (o !== len) throw new CodecError(`snappy: ${o} bytes decoded, ${len} announced`);
  return out;
}

/** An LZ4 frame (possibly several back to back, as the format allows). */
export function lz4Decompress(src: Uint8Array): Uint8Array {
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const parts: Uint8Array[] = [];
  let total = 0;
  let p = 0;
  while (p < src.length) {
    if (p + 7 > src.length || dv.getUint32(p, true) !== 0x184d2204) throw new CodecError('lz4: not an LZ4 frame');
    const flg = src[p + 4]!;
    if ((flg >>> 6) !== 1) throw new CodecError(`lz4: frame version ${flg >>> 6}`);
    const blockChecksum = (flg & 0x10) !== 0;
    const contentSize = (flg & 0x08) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    const dictId = (flg & 0x01) !== 0;
    const maxBlock = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20][(src[p + 5]! >>> 4) & 7]!;
    if (maxBlock === 0) throw new CodecError('lz4: bad block size code');
    p += 6 + (contentSize ? 8 : 0) + (dictId ? 4 : 0) + 1; // descriptor, then its checksum byte
    for (;;) {
      if (p + 4 > src.length) throw new CodecError('lz4: cut-off block size');
      const word = dv.getUint32(p, true);
      p += 4;
      if (word === 0) break; // end mark
      const n = word & 0x7fffffff;
      if (p + n > src.length) throw new CodecError('lz4: block runs past the payload');
      const block = src.subarray(p, p + n);
      const out = (word & 0x80000000) !== 0 ? block.slice() : lz4Block(block, maxBlock);
      parts.push(out); total += out.length;
      p += n + (blockChecksum ? 4 : 0);
    }
    p += contentChecksum ? 4 : 0;
  }
  return join(parts, total);
}

/** Decoded blocks as one buffer (no copy for a single block). */
function join(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const all = new Uint8Array(total);
  let at = 0;
  for (const x of parts) { all.set(x, at); at += x.length; }
  return all;
}

/** One LZ4 block: sequences of literals and matches, the last with literals only. */
export function lz4Block(src: Uint8Array, maxOut: number): Uint8Array {
  const out = new Uint8Array(maxOut);
  let p = 0; let o = 0;
  for (;;) {
    if (p >= src.length) throw new CodecError('lz4: cut-off sequence');
    const token = src[p++]!;
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do { if (p >= src.length) throw new CodecError('lz4: cut-off literal length'); b = src[p++]!; lit += b; } while (b === 255);
    }
    if (p + lit > src.length || o + lit > maxOut) throw new CodecError('lz4: literals run past their bounds');
    out.set(src.subarray(p, p + lit), o);
    p += lit; o += lit;
    if (p === src.length) break; // the last sequence has no match
    if (p + 2 > src.length) throw new CodecError('lz4: cut-off match offset');
    const off = src[p]! | (src[p + 1]! << 8);
    p += 2;
    let n = token & 15;
    if (n === 15) {
      let b: number;
      do { if (p >= src.length) throw new CodecError('lz4: cut-off match length'); b = src[p++]!; n += b; } while (b === 255);
    }
    n += 4;
    if (off === 0 || off > o || o + n > maxOut) throw new CodecError('lz4: match out of bounds');
    for (let i = 0; i < n; i++, o++) out[o] = out[o - off]!;
  }
  return out.subarray(0, o);
}

/** A zstd frame. */
export function zstdDecompressFrame(src: Uint8Array): Uint8Array {
  try { return zstdDecompress(src); } catch (e) { throw new CodecError(`zstd: ${(e as Error).message}`); }
}
