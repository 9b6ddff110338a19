/**
 * The data-loss rule (connectors/kafka/source/data-loss.ts) as a table: a position the source means
 * to read (checkpointed, or reached), the partition's log start and end, failOnDataLoss → what the
 * source does. Restore, the native reader's OFFSET_OUT_OF_RANGE and the kafkajs gap check all ask
 * this one function; the broker-backed tests (test/checkpoint/data-loss.test.ts) show it end to end.
 */
import { describe, expect, it } from 'vitest';
import { createLossLedger, DataLossError, decideOffset, type OffsetDecision } from '../../connectors/kafka/source/data-loss.ts';

type Row = [offset: number, logStart: number, logEnd: number, failOnDataLoss: boolean, expected: OffsetDecision];

const table: Row[] = [
  // In the log: read on, whatever the option.
  [100, 0, 200, true, { kind: 'read', from: 100 }],
  [100, 0, 200, false, { kind: 'read', from: 100 }],
  [150, 150, 200, true, { kind: 'read', from: 150 }], // exactly the log start
  [200, 150, 200, true, { kind: 'read', from: 200 }], // exactly the log end: waits for new records
  [0, 0, 0, true, { kind: 'read', from: 0 }], // empty topic
  // Below the log start (retention deleted them): fail, or skip to the log start.
  [100, 150, 200, true, { kind: 'fail', lostFrom: 100, lostTo: 149 }],
  [100, 150, 200, false, { kind: 'skip', from: 150, lostFrom: 100, lostTo: 149 }],
  [149, 150, 200, true, { kind: 'fail', lostFrom: 149, lostTo: 149 }], // one record lost
  [149, 150, 200, false, { kind: 'skip', from: 150, lostFrom: 149, lostTo: 149 }],
  [3, 5, 5, false, { kind: 'skip', from: 5, lostFrom: 3, lostTo: 4 }], // all deleted: log start = end
  [3, 5, 5, true, { kind: 'fail', lostFrom: 3, lostTo: 4 }],
  // Past the log end (truncated or recreated topic): nothing known lost, read on from the end.
  [300, 0, 200, true, { kind: 'past-end', from: 200 }],
  [300, 0, 200, false, { kind: 'past-end', from: 200 }],
  [7, 0, 0, true, { kind: 'past-end', from: 0 }], // recreated, empty
];

describe('the data-loss rule', () => {
  it.each(table)('offset %i, log %i..%i, failOnDataLoss %s', (offset, logStart, logEnd, failOnDataLoss, expected) => {
    expect(decideOffset({ offset, logStart, logEnd, failOnDataLoss })).toEqual(expected);
  });

  it('the ledger fails with the lost range, or counts the skip and tells the runner', () => {
    const told: [number, number][] = [];
    const ledger = createLossLedger((p, earliest) => told.push([p.offset, earliest]));
    const fail = decideOffset({ offset: 100, logStart: 150, logEnd: 200, failOnDataLoss: true });
    expect(() => ledger.apply('t', 0, fail, 'restore')).toThrow(DataLossError);
    expect(() => ledger.apply('t', 0, fail, 'restore')).toThrow(/offsets 100\.\.149 of t\[0\] are gone from the broker \(retention\); set 'failOnDataLoss' = 'false'/);
    expect(() => ledger.apply('t', 2, fail, 'reading')).toThrow(/offsets 100\.\.149 of t\[2\] were deleted from the broker \(retention\) before they were read/);
    expect(ledger.totals()).toEqual({ events: 0, offsets: 0 });

    expect(ledger.apply('t', 0, decideOffset({ offset: 100, logStart: 150, logEnd: 200, failOnDataLoss: false }), 'reading')).toBe(150);
    expect(ledger.apply('t', 1, decideOffset({ offset: 3, logStart: 5, logEnd: 5, failOnDataLoss: false }), 'restore')).toBe(5);
    expect(ledger.apply('t', 1, decideOffset({ offset: 9, logStart: 5, logEnd: 20, failOnDataLoss: false }), 'restore')).toBe(9);
    expect(ledger.apply('t', 1, decideOffset({ offset: 90, logStart: 5, logEnd: 20, failOnDataLoss: true }), 'reading')).toBe(20);
    expect(told).toEqual([[100, 150], [3, 5]]);
    expect(ledger.totals()).toEqual({ events: 2, offsets: 52 });
  });
});
