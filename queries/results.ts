/**
 * Rows handed back to clients: column lists, and the budget that bounds a result before it is
 * serialised (past ~512 MB a JSON string cannot even be made, and long before that one request would
 * hold the event loop). Shared by pull queries and GET /v1/views/:name.
 */
import { limits, SqlError, typeToString, type Schema } from '../planner/index.ts';
import type { ColumnInfo } from './engine-api.ts';

export function columnsOf(schema: Schema, visible = schema.fields.length): ColumnInfo[] {
  return schema.fields.slice(0, visible).map((f) => ({ name: f.name, type: typeToString(f.type) }));
}

/**
 * Counts the JSON bytes of result rows as they are built and refuses a result over
 * MAX_PULL_RESULT_BYTES with a SqlError of kind 'limit' naming the limit (server/errors.ts maps kinds to statuses).
 */
export function resultBudget(what: string, hint = 'add a LIMIT or a WHERE clause'): { add<T>(row: T): T } {
  let bytes = 0;
  return {
    add(row) {
      bytes += jsonSize(row);
      if (bytes > limits.MAX_PULL_RESULT_BYTES) {
        throw new SqlError(`${what} is larger than ${limits.MAX_PULL_RESULT_BYTES / 1048576} MiB of JSON (limit MAX_PULL_RESULT_BYTES): ${hint}`, 1, 1, 'limit');
      }
      return row;
    },
  };
}

/** About the length of `v` as JSON (strings by their length; escapes not counted). */
export function jsonSize(v: unknown): number {
  if (v === null || v === undefined) return 4;
  switch (typeof v) {
    case 'string': return v.length + 2;
    case 'number': return 24;
    case 'boolean': return 5;
    case 'object': {
      let n = 2;
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) n += k.length + 4 + jsonSize(x);
      return n;
    }
    default: return 8;
  }
}
