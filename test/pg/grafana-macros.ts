/**
 * Grafana's PostgreSQL macros, expanded as its data source does before sending a query
 * ($__time, $__timeFilter, $__timeGroup[Alias], $__timeFrom/$__timeTo), for the dashboard test.
 */
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

function seconds(interval: string): number {
  const m = /^'?(\d+)([smhd])'?$/.exec(interval.trim());
  if (!m) throw new Error(`interval ${interval}`);
  return Number(m[1]) * UNITS[m[2]!]!;
}

const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');

export function expandGrafanaMacros(sql: string, from: number, to: number): string {
  return sql
    .replace(/\$__timeGroupAlias\(([^,]+),([^)]+)\)/g, (_m, c: string, i: string) => `floor(extract(epoch from ${c.trim()})/${seconds(i)})*${seconds(i)} AS "time"`)
    .replace(/\$__timeGroup\(([^,]+),([^)]+)\)/g, (_m, c: string, i: string) => `floor(extract(epoch from ${c.trim()})/${seconds(i)})*${seconds(i)}`)
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_m, c: string) => `${c.trim()} BETWEEN '${rfc3339(from)}' AND '${rfc3339(to)}'`)
    .replace(/\$__time\(([^)]+)\)/g, (_m, c: string) => `${c.trim()} AS "time"`)
    .replace(/\$__timeFrom\(\)/g, `'${rfc3339(from)}'`)
    .replace(/\$__timeTo\(\)/g, `'${rfc3339(to)}'`);
}
