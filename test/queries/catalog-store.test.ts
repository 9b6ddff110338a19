/**
 * The catalog store (queries/catalog-store.ts): DATA_DIR/catalog.json written whole and owner-only,
 * read back in creation order, and a file that is not a catalog refused with its reason — never read
 * as empty (the next write would erase every object in it).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCatalog, planRequest, type CatalogObject } from '../../planner/index.ts';
import { CatalogFileError, createCatalogStore, parseCatalogFile } from '../../queries/catalog-store.ts';

const dirs: string[] = [];
const tmp = () => { const d = mkdtempSync(path.join(os.tmpdir(), 'catalog-store-')); dirs.push(d); return d; };
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

const SQL = [
  `CREATE SOURCE s (a BIGINT, b VARCHAR) WITH (connector = 'kafka', topic = 't', format = 'json')`,
  `CREATE MATERIALIZED VIEW m AS SELECT a, COUNT(*) AS n FROM s GROUP BY a`,
  `CREATE VIEW v AS SELECT b FROM s`,
];

function defs(): { def: CatalogObject; sql: string }[] {
  const c = createCatalog();
  return SQL.map((sql) => {
    const [ps] = planRequest(sql, c);
    const def = (ps!.planned as { def: CatalogObject }).def;
    c.put(def);
    return { def, sql };
  });
}

describe('catalog store', () => {
  it('writes catalog.json 0600, atomically, and loads it back in order', async () => {
    const dir = tmp();
    const store = createCatalogStore(dir);
    expect(await store.load()).toEqual([]);
    const [s, m, v] = defs();
    await store.add(s!.def, s!.sql);
    await store.add(m!.def, m!.sql, 'q-1');
    await store.add(v!.def, v!.sql);
    expect(statSync(store.file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(store.queryIdOf('M')).toBe('q-1');
    expect(await store.remove('v')).toBe(true);
    expect(await store.remove('v')).toBe(false);
    const again = createCatalogStore(dir);
    const loaded = await again.load();
    expect(loaded.map((o) => [o.kind, o.name, o.queryId ?? null])).toEqual([['source', 's', null], ['materialized_view', 'm', 'q-1']]);
    expect(again.all()).toEqual([]);
  });

  it('refuses a file that is not a catalog, naming why, and leaves it as it was', async () => {
    const dir = tmp();
    const file = path.join(dir, 'catalog.json');
    const bad: [string, RegExp][] = [
      ['{"version":1,"objects":[{"kind":"source","name":"s"', /not JSON/],
      ['[]', /not an object/],
      ['{"version":2,"objects":[]}', /version 2/],
      ['{"version":1,"objects":{}}', /not a list/],
      ['{"version":1,"objects":[{"kind":"table","name":"s","sql":"x"}]}', /kind "table"/],
      ['{"version":1,"objects":[{"kind":"source","name":"s","sql":""}]}', /no SQL/],
      ['{"version":1,"objects":[{"kind":"source","name":"s","sql":"x"},{"kind":"view","name":"S","sql":"y"}]}', /stored twice/],
      ['{"version":1,"objects":[{"kind":"materialized_view","name":"m","sql":"x","queryId":"../../etc"}]}', /query id/],
      ['{"version":1,"objects":[{"kind":"source","name":"s","sql":"x","queryId":"q1"}]}', /has a query id/],
    ];
    for (const [text, why] of bad) {
      writeFileSync(file, text);
      const err = await createCatalogStore(dir).load().catch((e: Error) => e);
      expect(err, text).toBeInstanceOf(CatalogFileError);
      expect((err as Error).message, text).toMatch(why);
      expect((err as Error).message).toContain(file);
      expect(readFileSync(file, 'utf8')).toBe(text);
    }
    expect(parseCatalogFile('{"version":1,"objects":[{"kind":"sink","name":"k","sql":"CREATE SINK …","queryId":"0b1c-2d"}]}')).toEqual([{ kind: 'sink', name: 'k', sql: 'CREATE SINK …', queryId: '0b1c-2d' }]);
  });
});
