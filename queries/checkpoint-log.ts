/**
 * The checkpoint log of one query, in Spark's layout:
 *
 *   metadata              query id, name, SQL, format version
 *   offsets/<epoch>       written ahead: each partition's offset range for the epoch, and the watermark
 *   state/<epoch>/…       operator snapshots as Arrow IPC, plus their scalar state as JSON, and
 *                         manifest.json (written after them: the checksums; the state is complete)
 *   commits/<epoch>       written last, with a checksum of every state file
 *
 * An epoch whose state is complete but whose commit marker is missing is "pending": the process died
 * between the sink transaction and the marker, or before the transaction. The runner decides which
 * (two-phase commit: see {@link CheckpointLog.pending}) and either rolls it forward or discards it.
 *
 * Every write is atomic (temp file, fsync, rename, fsync of the directory). An epoch counts only when
 * its commit marker exists and every file it names has the recorded checksum; a torn or corrupt epoch
 * is reported and the previous good one is used.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RecordBatch, Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import type { SourcePosition } from '../connectors/source.ts';

export const FORMAT_VERSION = 1;

export interface OffsetsEntry {
  readonly epoch: number;
  /** Where the epoch started and ended, per partition. */
  /** Offsets read per partition in the epoch; `input`: which query input (absent: 0). */
  readonly ranges: readonly { input?: number; topic: string; partition: number; from: number; to: number }[];
  readonly watermark: number | null;
  readonly time: number;
}

export interface EpochState {
  /** Operator snapshots, by name (op-0, op-1, …, table). */
  readonly batches: Record<string, RecordBatch | null>;
  /** Scalar state: operator metas, watermark tracker, counters. */
  readonly meta: Record<string, unknown>;
}

export interface RestoredEpoch {
  readonly epoch: number;
  readonly offsets: OffsetsEntry;
  readonly state: EpochState;
  /**
   * Incremental state files (see {@link ChainMeta}), read back whole: the full file of the chain's base
   * epoch and the deltas of the epochs after it up to this one, oldest first.
   */
  readonly chains: Record<string, { readonly base: RecordBatch | null; readonly deltas: readonly { epoch: number; batch: RecordBatch }[] }>;
}

/**
 * A state file written incrementally: in `meta.chains[name] = { base }` an epoch says that file `name`
 * was written whole at epoch `base` (this one, or an earlier one) and that every epoch after the base
 * up to this one wrote only its changes as `<name>-delta` (absent: no change). Reading the epoch reads
 * the chain; pruning keeps every epoch back to the oldest kept epoch's bases. A view's table is written
 * this way: its size grows with every window kept, its changes per epoch do not.
 */
export interface ChainMeta { readonly base: number }

export interface LatestEpoch {
  /** The newest committed and intact epoch, or null when there is none. */
  readonly restored: RestoredEpoch | null;
  /** Newer epochs found broken on the way, with why. */
  readonly skipped: readonly { epoch: number; reason: string }[];
}

export async function atomicWrite(file: string, data: Uint8Array | string, mode?: number): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const h = await fs.open(tmp, 'w', mode);
  try {
    await h.writeFile(data);
    await h.sync();
  } finally {
    await h.close();
  }
  await fs.rename(tmp, file);
  await fsyncDir(dir);
}

async function fsyncDir(dir: string): Promise<void> {
  const d = await fs.open(dir, 'r');
  try { await d.sync(); } catch { /* some filesystems refuse fsync on directories */ } finally { await d.close(); }
}

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** An epoch with complete, intact state and offsets but no commit marker. */
export interface PendingEpoch {
  readonly epoch: number;
  readonly offsets: OffsetsEntry;
  readonly checksums: Record<string, string>;
}

/** Test hooks: called at points inside a checkpoint, so fault tests can kill the process there. */
export interface CheckpointLogHooks {
  /** After each state file of an epoch is durable (before the next one). */
  afterStateFile?(epoch: number, file: string): void;
}

export interface CheckpointLog {
  readonly dir: string;
  writeMetadata(meta: Record<string, unknown>): Promise<void>;
  readMetadata(): Promise<Record<string, unknown> | null>;
  writeOffsets(e: OffsetsEntry): Promise<void>;
  writeState(epoch: number, s: EpochState): Promise<Record<string, string>>;
  commit(epoch: number, checksums: Record<string, string>): Promise<void>;
  /** The newest epoch that is committed and intact, and the broken ones skipped to find it. */
  latest(): Promise<LatestEpoch>;
  /** Offsets written ahead for an epoch that has no commit marker (crash mid-epoch). */
  pendingOffsets(after: number): Promise<OffsetsEntry | null>;
  /** Epoch `after + 1` if its offsets and complete, intact state exist without a commit marker. */
  pending(after: number): Promise<PendingEpoch | null>;
  /** Deletes every epoch newer than `epoch` (torn, corrupt or uncommitted leftovers), so new epochs never mix with them. */
  discardAfter(epoch: number): Promise<void>;
  /** Deletes epochs older than the newest `keep` committed ones (and the chain bases they need). */
  prune(keep: number): Promise<void>;
  destroy(): Promise<void>;
}

async function listEpochs(dir: string): Promise<number[]> {
  try {
    return (await fs.readdir(dir)).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  } catch { return []; }
}

export function createCheckpointLog(dir: string, hooks: CheckpointLogHooks = {}): CheckpointLog {
  const p = (...xs: string[]) => path.join(dir, ...xs);
  return {
    dir,
    async writeMetadata(meta) { await atomicWrite(p('metadata'), JSON.stringify({ ...meta, formatVersion: FORMAT_VERSION }, null, 2)); },
    async readMetadata() {
      try { return JSON.parse(await fs.readFile(p('metadata'), 'utf8')) as Record<string, unknown>; } catch { return null; }
    },
    async writeOffsets(e) { await atomicWrite(p('offsets', String(e.epoch)), JSON.stringify(e)); },
    async writeState(epoch, s) {
      const sums: Record<string, string> = {};
      for (const [name, batch] of Object.entries(s.batches)) {
        if (!batch) continue;
        const bytes = tableToIPC(new Table([batch]), 'file');
        await atomicWrite(p('state', String(epoch), `${name}.arrow`), bytes);
        sums[`${name}.arrow`] = sha(bytes);
        hooks.afterStateFile?.(epoch, `${name}.arrow`);
      }
      const meta = JSON.stringify(s.meta);
      await atomicWrite(p('state', String(epoch), 'meta.json'), meta);
      sums['meta.json'] = sha(meta);
      hooks.afterStateFile?.(epoch, 'meta.json');
      // The manifest says the state is complete; a pending epoch is only rolled forward with one.
      await atomicWrite(p('state', String(epoch), 'manifest.json'), JSON.stringify({ epoch, checksums: sums }));
      return sums;
    },
    async commit(epoch, checksums) { await atomicWrite(p('commits', String(epoch)), JSON.stringify({ epoch, checksums, time: Date.now() })); },
    async latest() {
      const skipped: { epoch: number; reason: string }[] = [];
      const commits = (await listEpochs(p('commits'))).reverse();
      const committed = new Set(commits);
      /** A committed epoch's state files (only `only`, when given), each checked against the commit marker. */
      const readEpoch = async (epoch: number, only?: string) => {
        const marker = JSON.parse(await fs.readFile(p('commits', String(epoch)), 'utf8')) as { checksums: Record<string, string> };
        const batches: Record<string, RecordBatch | null> = {};
        let meta: Record<string, unknown> = {};
        for (const [file, sum] of Object.entries(marker.checksums)) {
          if (only !== undefined && file !== only) continue;
          const bytes = await fs.readFile(p('state', String(epoch), file));
          if (sha(bytes) !== sum) throw new Error(`state file ${file} is corrupt (checksum mismatch)`);
          if (file === 'meta.json') meta = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
          else batches[file.replace(/\.arrow$/, '')] = tableFromIPC(bytes).batches[0] ?? null;
        }
        return { batches, meta };
      };
      const inChain = (e: number) => (err: Error): never => { throw new Error(`epoch ${e}, which this one builds on: ${err.message}`); };
      for (const epoch of commits) {
        try {
          const offsets = JSON.parse(await fs.readFile(p('offsets', String(epoch)), 'utf8')) as OffsetsEntry;
          const { batches, meta } = await readEpoch(epoch);
          const chains: RestoredEpoch['chains'] = {};
          for (const [name, c] of Object.entries((meta.chains ?? {}) as Record<string, ChainMeta>)) {
            const deltas: { epoch: number; batch: RecordBatch }[] = [];
            let full = batches[name] ?? null;
            if (c.base !== epoch) {
              if (!committed.has(c.base)) throw new Error(`the base epoch ${c.base} of ${name} is gone`);
              full = (await readEpoch(c.base, `${name}.arrow`).catch(inChain(c.base))).batches[name] ?? null;
              for (let e = c.base + 1; e <= epoch; e++) {
                if (!committed.has(e)) throw new Error(`epoch ${e} of the ${name} chain from ${c.base} is missing`);
                const d = e === epoch ? batches[`${name}-delta`] : (await readEpoch(e, `${name}-delta.arrow`).catch(inChain(e))).batches[`${name}-delta`];
                if (d) deltas.push({ epoch: e, batch: d });
              }
            }
            chains[name] = { base: full, deltas };
          }
          return { restored: { epoch, offsets, state: { batches, meta }, chains }, skipped };
        } catch (e) {
          skipped.push({ epoch, reason: (e as Error).message });
        }
      }
      return { restored: null, skipped };
    },
    async pendingOffsets(after) {
      const all = await listEpochs(p('offsets'));
      const e = all.filter((x) => x > after).pop();
      if (e === undefined) return null;
      try { return JSON.parse(await fs.readFile(p('offsets', String(e)), 'utf8')) as OffsetsEntry; } catch { return null; }
    },
    async pending(after) {
      const epoch = after + 1;
      try {
        const offsets = JSON.parse(await fs.readFile(p('offsets', String(epoch)), 'utf8')) as OffsetsEntry;
        const manifest = JSON.parse(await fs.readFile(p('state', String(epoch), 'manifest.json'), 'utf8')) as { checksums: Record<string, string> };
        for (const [file, sum] of Object.entries(manifest.checksums)) {
          if (sha(await fs.readFile(p('state', String(epoch), file))) !== sum) return null;
        }
        return { epoch, offsets, checksums: manifest.checksums };
      } catch { return null; }
    },
    async discardAfter(epoch) {
      for (const sub of ['commits', 'offsets', 'state']) {
        for (const e of await listEpochs(p(sub))) {
          if (e > epoch) await fs.rm(p(sub, String(e)), { recursive: true, force: true });
        }
      }
      await fsyncDir(dir).catch(() => undefined);
    },
    async prune(keep) {
      const commits = await listEpochs(p('commits'));
      if (commits.length <= keep) return;
      let cutoff = commits[commits.length - keep]!;
      // The oldest kept epoch must stay readable: keep the bases of its incremental files too.
      try {
        const meta = JSON.parse(await fs.readFile(p('state', String(cutoff), 'meta.json'), 'utf8')) as { chains?: Record<string, ChainMeta> };
        for (const c of Object.values(meta.chains ?? {})) cutoff = Math.min(cutoff, c.base);
      } catch { return; } // unreadable: prune nothing now

      for (const sub of ['offsets', 'commits', 'state']) {
        for (const e of await listEpochs(p(sub))) {
          if (e < cutoff) await fs.rm(p(sub, String(e)), { recursive: true, force: true });
        }
      }
    },
    async destroy() { await fs.rm(dir, { recursive: true, force: true }); },
  };
}

export function positionsOf(e: OffsetsEntry): SourcePosition[] {
  return e.ranges.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.to }));
}
