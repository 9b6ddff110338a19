/**
 * The malformed-message policy of a source (`'on.error'`: fail, skip or dead-letter), as the driver's
 * malformed hook. The driver has counted the messages already; this decides what else happens. A
 * transient query (push) passes no dead-letter sender: the source's continuous queries do that.
 */
import type { Decoded } from '../connectors/formats/decode.ts';
import type { FetchedMessages } from '../connectors/formats/packed.ts';
import type { SourceDef } from '../planner/catalog.ts';
import type { DriverInput } from './driver.ts';

export type DeadLetterSender = (def: SourceDef, fetched: FetchedMessages, d: Decoded) => Promise<void>;

export function malformedPolicy(deadLetter?: DeadLetterSender): (input: DriverInput, fetched: FetchedMessages, d: Decoded) => void | Promise<void> {
  return (input, fetched, d) => {
    const def = input.def!;
    switch (def.options.onError) {
      case 'fail': {
        const m = d.malformed[0]!;
        throw new Error(`malformed message at ${fetched.topic}[${fetched.partition}] offset ${m.offset}: ${m.error}`);
      }
      case 'dead-letter': return deadLetter?.(def, fetched, d);
      case 'skip': return undefined;
    }
  };
}
