/**
 * Column builders: decoders write each message's fields straight into typed arrays, and the finished
 * columns become Arrow data without another copy. A row that fails to decode is rolled back by not
 * advancing the row count, so its half-written values are simply overwritten.
 */
import type { SqlType } from '../../planner/types.ts';
import type { Vector } from '../../executor/vector.ts';
import { parseTimestampText } from '../../planner/timestamp-text.ts';

/**
 * The TIMESTAMP range a source accepts, as epoch ms: years 0000 to 9999 (UTC), what ISO-8601 text
 * with a four-digit year spells, as in Flink and the SQL standard. A number beyond it (`{"ts": 9e15}`)
 * makes the message malformed at decode: JavaScript dates end at ±8.64e15 ms and ISO formatting
 * throws past them, and the margin keeps window arithmetic (`ts + size`) representable.
 */
export const TIMESTAMP_MIN_MS = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
export const TIMESTAMP_MAX_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

/** Thrown by a builder for a value of the wrong type: the message counts as malformed. */
export class DecodeError extends Error {}

export interface ColumnBuilder {
  /** Writes row `i`'s value (undefined or null for NULL). Throws DecodeError for a wrong type. */
  set(i: number, v: unknown): void;
  finish(n: number): Vector;
}

export function createBuilder(type: SqlType, cap: number, path: string): ColumnBuilder {
  switch (type.kind) {
    case 'bigint': case 'double': case 'timestamp': case 'interval': case 'null': {
      const values = new Float64Array(cap); let valid: Uint8Array | null = null;
      const isTs = type.kind === 'timestamp';
      const isInt = type.kind === 'bigint';
      return {
        set(i, v) {
          let x: number;
          if (v === null || v === undefined) { (valid ??= new Uint8Array(cap).fill(1))[i] = 0; values[i] = 0; return; }
          if (typeof v === 'number') x = v;
          else if (typeof v === 'string') {
            if (isTs) { const p = parseTimestampText(v); if (p === null) throw new DecodeError(`'${path}': cannot read '${v.slice(0, 40)}' as a TIMESTAMP`); x = p; }
            else { x = v.trim() === '' ? NaN : Number(v); if (Number.isNaN(x)) throw new DecodeError(`'${path}': '${v.slice(0, 40)}' is not a number`); }
          } else throw new DecodeError(`'${path}': expected a ${isTs ? 'timestamp' : 'number'}, got ${typeof v}`);
          if (isInt && !Number.isInteger(x)) throw new DecodeError(`'${path}': ${x} is not an integer`);
          if (isTs && !(x >= TIMESTAMP_MIN_MS && x <= TIMESTAMP_MAX_MS)) throw new DecodeError(`'${path}': ${x} is outside the TIMESTAMP range (years 0000 to 9999)`);
          // 1e999 parses as Infinity: out of range for a DOUBLE as for the others (JSON cannot write it back).
          if (!Number.isFinite(x)) throw new DecodeError(`'${path}': ${x} is out of range`);
          values[i] = x;
          if (valid) valid[i] = 1;
        },
        finish: (n) => ({ kind: 'f64', type, length: n, values: values.subarray(0, n), valid: valid ? valid.subarray(0, n) : null }),
      };
    }
    case 'int': {
      const values = new Int32Array(cap); let valid: Uint8Array | null = null;
      return {
        set(i, v) {
          if (v === null || v === undefined) { (valid ??= new Uint8Array(cap).fill(1))[i] = 0; values[i] = 0; return; }
          const x = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
          if (!Number.isInteger(x) || x > 2147483647 || x < -2147483648) throw new DecodeError(`'${path}': expected an INT, got ${JSON.stringify(v)?.slice(0, 40)}`);
          values[i] = x;
          if (valid) valid[i] = 1;
        },
        finish: (n) => ({ kind: 'i32', type, length: n, values: values.subarray(0, n), valid: valid ? valid.subarray(0, n) : null }),
      };
    }
    case 'boolean': {
      const values = new Uint8Array(cap); let valid: Uint8Array | null = null;
      return {
        set(i, v) {
          if (v === null || v === undefined) { (valid ??= new Uint8Array(cap).fill(1))[i] = 0; values[i] = 0; return; }
          if (v === true || v === 'true') values[i] = 1;
          else if (v === false || v === 'false') values[i] = 0;
          else throw new DecodeError(`'${path}': expected a boolean, got ${JSON.stringify(v)?.slice(0, 40)}`);
          if (valid) valid[i] = 1;
        },
        finish: (n) => ({ kind: 'bool', type, length: n, values: values.subarray(0, n), valid: valid ? valid.subarray(0, n) : null }),
      };
    }
    case 'varchar': {
      const values = new Array<string>(cap); let valid: Uint8Array | null = null;
      return {
        set(i, v) {
          if (v === null || v === undefined) { (valid ??= new Uint8Array(cap).fill(1))[i] = 0; values[i] = ''; return; }
          if (typeof v === 'string') values[i] = v;
          else if (typeof v === 'number' || typeof v === 'boolean') values[i] = String(v);
          else throw new DecodeError(`'${path}': expected a string, got ${Array.isArray(v) ? 'an array' : 'an object'}`);
          if (valid) valid[i] = 1;
        },
        finish: (n) => ({ kind: 'str', type, length: n, values: values.length === n ? values : values.slice(0, n), valid: valid ? valid.subarray(0, n) : null }),
      };
    }
    case 'struct': {
      const children = type.fields.map((f) => createBuilder(f.type, cap, `${path}.${f.name}`));
      let valid: Uint8Array | null = null;
      return {
        set(i, v) {
          if (v === null || v === undefined) {
            (valid ??= new Uint8Array(cap).fill(1))[i] = 0;
            for (const c of children) c.set(i, null);
            return;
          }
          if (typeof v !== 'object' || Array.isArray(v)) throw new DecodeError(`'${path}': expected an object`);
          const o = v as Record<string, unknown>;
          type.fields.forEach((f, j) => children[j]!.set(i, o[f.name]));
          if (valid) valid[i] = 1;
        },
        finish: (n) => ({ kind: 'struct', type, length: n, children: children.map((c) => c.finish(n)), valid: valid ? valid.subarray(0, n) : null }),
      };
    }
  }
}
