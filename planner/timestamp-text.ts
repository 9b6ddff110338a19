/**
 * Timestamp literals as SQL and JSON write them ('2024-05-01 12:00:00.123', ISO-8601 with a zone).
 * A leaf module: the binder reads literals with it and the decoders read JSON values with it, so a
 * decoder never imports the SQL binder.
 */
/** Parses an ISO-8601 or 'YYYY-MM-DD HH:MM:SS[.fff]' timestamp as UTC. */
export function parseTimestampText(s: string): number | null {
  const t = s.trim();
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(t);
  if (!m) return null;
  const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4] ?? '00'}:${m[5] ?? '00'}:${m[6] ?? '00'}${m[7] ? m[7].slice(0, 4).padEnd(4, '0') : '.000'}${m[8] ?? 'Z'}`;
  const v = Date.parse(iso);
  return Number.isNaN(v) ? null : v;
}
