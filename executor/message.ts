/**
 * What flows between operators: data batches, watermarks, checkpoint barriers and end of input.
 *
 * A batch may be a changelog: `ops[i]` is +1 for an upsert (or insert) of row i and -1 for a delete of
 * the row with row i's key. `ops === null` means every row is an insert (an append-only stream).
 */
import type { RecordBatch } from 'apache-arrow';

export const UPSERT = 1;
export const DELETE = -1;

export type Message =
  | { readonly kind: 'batch'; readonly batch: RecordBatch; readonly ops: Int8Array | null }
  | { readonly kind: 'watermark'; readonly time: number }
  | { readonly kind: 'barrier'; readonly epoch: number }
  | { readonly kind: 'end' };

export type MessageKind = Message['kind'];
