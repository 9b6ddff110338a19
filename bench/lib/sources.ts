/** Source definitions the benchmarks decode with, planned from SQL like any user source. */
import { createCatalog, planRequest, type SourceDef } from '../../planner/index.ts';

/** DDL of the Nexmark bid source (all bid fields; `extra` left out as engines' q0–q2 do not read it). */
export function bidSourceSql(topic: string, name = 'bids'): string {
  return `CREATE SOURCE ${name} (
    auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, dateTime TIMESTAMP(3),
    WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
  ) WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest')`;
}

/** Plans one CREATE SOURCE statement and returns its definition. */
export function sourceDef(sql: string): SourceDef {
  const [ps] = planRequest(sql, createCatalog());
  const p = ps!.planned;
  if (p.kind !== 'create_source') throw new Error('expected a CREATE SOURCE statement');
  return p.def;
}
