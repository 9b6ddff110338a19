/**
 * A correction to kafkajs 2.2.4's read_committed filter, installed before kafkajs loads: import this
 * module ahead of 'kafkajs' in every file that imports kafkajs values.
 *
 * Why: with isolation READ_COMMITTED a fetch response lists the partition's aborted transactions
 * (producer id, first offset), and the consumer must drop each one's records from its first offset to
 * its abort marker. kafkajs (`src/consumer/filterAbortedMessages.js`) walks that list in the order the
 * broker sent it — the broker's transaction index, ordered by where each transaction ENDED — and starts
 * at most one transaction per record. When two transactions are aborted in the opposite order of their
 * first records (or several began before the fetched range), the earlier one's records are handed to the
 * application as if committed. Found by the scale-out task tests (a zombie's fenced output read back as
 * output); it breaks exactly-once for `'source.client' = 'kafkajs'` and for tools reading with kafkajs.
 *
 * The replacement sorts the aborted transactions by first offset and starts every one whose first
 * offset the record has reached; a producer's abort marker ends its transaction — the Java consumer's
 * rule (Fetcher: a priority queue of aborted transactions by first offset). It is put into Node's module
 * cache under kafkajs' own path, so kafkajs' `require` of it gets this one. Test:
 * test/kafka/kafkajs-aborted.test.ts.
 */
import { createRequire } from 'node:module';

interface FetchedMessage {
  readonly key: Buffer | null | undefined;
  readonly offset: string;
  readonly batchContext: { readonly producerId: string; readonly inTransaction: boolean };
}
interface AbortedTransaction { readonly producerId: string; readonly firstOffset: string }

const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

/** The records of `messages` (in offset order) outside every aborted transaction. */
export function filterAborted(messages: readonly FetchedMessage[], aborted: readonly AbortedTransaction[] | null | undefined): FetchedMessage[] {
  if (!aborted || aborted.length === 0) return [...messages];
  const pending = [...aborted].sort((a, b) => { const x = BigInt(a.firstOffset); const y = BigInt(b.firstOffset); return x < y ? -1 : x > y ? 1 : 0; });
  let next = 0;
  const open = new Set<string>();
  return messages.filter((m) => {
    const offset = BigInt(m.offset);
    while (next < pending.length && offset >= BigInt(pending[next]!.firstOffset)) open.add(String(pending[next++]!.producerId));
    const producer = String(m.batchContext.producerId);
    if (m.key && Buffer.from(m.key).equals(ABORT_MARKER_KEY)) { open.delete(producer); return true; } // control records go later
    return !(m.batchContext.inTransaction && open.has(producer));
  });
}

const require = createRequire(import.meta.url);
const target = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js');
const batchModule = require.resolve('kafkajs/src/consumer/batch.js');
const PATCHED = Symbol.for('streamsql.kafkajs.filterAborted');
const current = require.cache[target]?.exports as { [PATCHED]?: true } | undefined;
// Evaluated again (a test runner's fresh module graph in the same process): already in place.
if (!current?.[PATCHED]) {
  // kafkajs loaded before this module keeps the faulty filter: fail loudly rather than read aborted rows.
  if (require.cache[batchModule]) throw new Error('connectors/kafka/kafkajs-patches.ts must be imported before kafkajs');
  const replacement = Object.assign(
    ({ messages, abortedTransactions }: { messages: FetchedMessage[]; abortedTransactions?: AbortedTransaction[] }) => filterAborted(messages, abortedTransactions),
    { [PATCHED]: true as const },
  );
  require.cache[target] = { id: target, filename: target, loaded: true, exports: replacement, children: [], paths: [], path: target } as unknown as NodeJS.Module;
}
