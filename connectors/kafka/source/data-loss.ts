/**
 * The data-loss rule, in one place: what a source does when the offset it means to read next is no
 * longer in the partition's log. Kafka deletes records by retention (or `DeleteRecords`) whether or
 * not anyone read them, so a checkpointed position can point below the log start; a topic that was
 * truncated or recreated can leave it past the log end. The question comes up at three moments: a
 * restore from a checkpoint (startup.ts), a native fetch answered `OFFSET_OUT_OF_RANGE`
 * (native-reading.ts), and a gap in what kafkajs' consumer returns, since kafkajs resets an
 * out-of-range position by itself (kafkajs-reader.ts). All three ask {@link decideOffset}.
 *
 * The rule (the option is Spark's `failOnDataLoss`; true by default, as there):
 * - inside [log start, log end]: read on from the offset;
 * - below the log start: with failOnDataLoss (the default) the query fails with a message naming
 *   the lost range; without it the source skips to the log start, counts the event and the offsets
 *   (`dataLoss()` in the status) and tells the runner (`onDataLoss`);
 * - past the log end: nothing was lost that we know of; read on from the log end.
 */
import type { SourcePosition } from '../../source.ts';

/** Raised when restored offsets are no longer on the broker and failOnDataLoss is true. */
export class DataLossError extends Error { override name = 'DataLossError'; }

export interface OffsetCheck {
  /** The offset the source means to read next (checkpointed, or reached). */
  readonly offset: number;
  /** The partition's log start (earliest offset still held) and end (high watermark). */
  readonly logStart: number;
  readonly logEnd: number;
  readonly failOnDataLoss: boolean;
}

export type OffsetDecision =
  /** The offset is in the log: read from it. */
  | { readonly kind: 'read'; readonly from: number }
  /** Records [lostFrom, lostTo] are gone and failOnDataLoss: the query fails. */
  | { readonly kind: 'fail'; readonly lostFrom: number; readonly lostTo: number }
  /** Records [lostFrom, lostTo] are gone, failOnDataLoss is false: skip to `from` (the log start) and count. */
  | { readonly kind: 'skip'; readonly from: number; readonly lostFrom: number; readonly lostTo: number }
  /** The offset is past the log end (truncated or recreated topic): read on from the end. */
  | { readonly kind: 'past-end'; readonly from: number };

/** The rule itself (see the file comment). Pure: the table in test/kafka/data-loss-rule.test.ts pins it. */
export function decideOffset(c: OffsetCheck): OffsetDecision {
  if (c.offset < c.logStart) {
    const lost = { lostFrom: c.offset, lostTo: c.logStart - 1 };
    return c.failOnDataLoss ? { kind: 'fail', ...lost } : { kind: 'skip', from: c.logStart, ...lost };
  }
  if (c.offset > c.logEnd) return { kind: 'past-end', from: c.logEnd };
  return { kind: 'read', from: c.offset };
}

/** When the loss is noticed: at a restore ("are gone") or while reading ("were deleted … before they were read"). */
export type LossMoment = 'restore' | 'reading';

export function dataLossError(topic: string, partition: number, d: { lostFrom: number; lostTo: number }, at: LossMoment): DataLossError {
  const what = at === 'restore' ? 'are gone from the broker (retention)' : 'were deleted from the broker (retention) before they were read';
  return new DataLossError(`offsets ${d.lostFrom}..${d.lostTo} of ${topic}[${partition}] ${what}; set 'failOnDataLoss' = 'false' to skip ahead`);
}

/**
 * Carries out a decision's side of the rule for one source: throws for `fail`, counts and reports a
 * `skip`; returns the offset to read from. The counters are the source's `dataLoss()`.
 */
export interface LossLedger {
  apply(topic: string, partition: number, d: OffsetDecision, at: LossMoment): number;
  totals(): { readonly events: number; readonly offsets: number };
}

export function createLossLedger(onDataLoss?: (p: SourcePosition, earliest: number) => void): LossLedger {
  let events = 0; let offsets = 0;
  return {
    apply(topic, partition, d, at) {
      switch (d.kind) {
        case 'read': case 'past-end': return d.from;
        case 'fail': throw dataLossError(topic, partition, d, at);
        case 'skip':
          onDataLoss?.({ topic, partition, offset: d.lostFrom }, d.from);
          events++; offsets += d.lostTo - d.lostFrom + 1;
          return d.from;
      }
    },
    totals: () => ({ events, offsets }),
  };
}
