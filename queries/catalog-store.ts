/**
 * The catalog store: the one place the engine's catalog lives, in memory (the planner's `Catalog` of
 * definitions) and on disk (`DATA_DIR/catalog.json`: the statement that created each object, in
 * creation order, replayed at start). Every change goes through here, so the two never disagree and
 * the file is always written the same way: whole, atomically (temp file, fsync, rename, fsync of the
 * directory), owner-only (0600: the SQL may hold Kafka credentials, 'properties.sasl.jaas.config').
 *
 * Loading validates the file before anything is replayed: a file that is not what this store writes
 * is refused with its path and the reason, never taken as empty (the next write would erase it).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createCatalog, type Catalog, type CatalogObject } from '../planner/index.ts';
import { atomicWrite } from './checkpoint-log.ts';

/** One created object as stored: its kind, name, statement, and the query that feeds it (views, sinks). */
export interface StoredObject { readonly kind: CatalogObject['kind']; readonly name: string; readonly sql: string; readonly queryId?: string }

const VERSION = 1;
const KINDS: readonly string[] = ['source', 'view', 'materialized_view', 'sink'];
/** A query id names its checkpoint directory: it must stay one plain path component. */
const QUERY_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** catalog.json cannot be read as a catalog: nothing was loaded. */
export class CatalogFileError extends Error {}

export interface CatalogStore {
  /** The definitions the planner checks statements against. */
  readonly catalog: Catalog;
  readonly file: string;
  /** Reads and validates the file: the objects to replay, in creation order ([] when there is no file yet). */
  load(): Promise<StoredObject[]>;
  /** Takes in a replayed object at start (the file already holds it: nothing is written). */
  restore(def: CatalogObject, stored: StoredObject): void;
  /** Adds a created object and writes the file. */
  add(def: CatalogObject, sql: string, queryId?: string): Promise<void>;
  /** Removes an object (definition and statement) and writes the file; false when there was none. */
  remove(name: string): Promise<boolean>;
  get(name: string): CatalogObject | undefined;
  all(): CatalogObject[];
  /** The query feeding a materialized view or sink. */
  queryIdOf(name: string): string | undefined;
  /** The object a query feeds. */
  objectOfQuery(queryId: string): StoredObject | undefined;
  /** The stored objects in creation order. */
  stored(): readonly StoredObject[];
  /**
   * Holds file writes until `release` (cluster mode replays the command log into the store: one write at
   * the end, not one per command). `release` writes the file whole, changed or not: with a cluster the
   * file is a cache of the log and must say what the log says.
   */
  hold(): void;
  release(): Promise<void>;
}

export function createCatalogStore(dataDir: string): CatalogStore {
  const catalog = createCatalog();
  const stored: StoredObject[] = [];
  const file = path.join(dataDir, 'catalog.json');
  const indexOf = (name: string) => stored.findIndex((x) => x.name.toLowerCase() === name.toLowerCase());
  let held = false;
  const write = () => atomicWrite(file, JSON.stringify({ version: VERSION, objects: stored }, null, 2), 0o600);
  const persist = () => (held ? Promise.resolve() : write());

  return {
    catalog, file,
    async load() {
      let text: string;
      try { text = await fs.readFile(file, 'utf8'); } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw new CatalogFileError(`cannot read ${file}: ${(e as Error).message}`);
      }
      return parseCatalogFile(text, file);
    },
    restore(def, s) {
      catalog.put(def);
      stored.push(s);
    },
    async add(def, sql, queryId) {
      catalog.put(def);
      stored.push({ kind: def.kind, name: def.name, sql, ...(queryId ? { queryId } : {}) });
      await persist();
    },
    async remove(name) {
      const i = indexOf(name);
      const had = i >= 0 || catalog.get(name) !== undefined;
      catalog.remove(name);
      if (i >= 0) stored.splice(i, 1);
      if (had) await persist();
      return had;
    },
    get: (name) => catalog.get(name),
    all: () => catalog.all(),
    queryIdOf: (name) => stored[indexOf(name)]?.queryId,
    objectOfQuery: (queryId) => stored.find((x) => x.queryId === queryId),
    stored: () => stored,
    hold() { held = true; },
    async release() { held = false; await write(); },
  };
}

/** The objects of a catalog file, checked field by field; CatalogFileError names what is wrong. */
export function parseCatalogFile(text: string, file = 'catalog.json'): StoredObject[] {
  const bad = (why: string): never => { throw new CatalogFileError(`${file} is not a catalog this service wrote (${why}); fix or move it away, nothing was loaded`); };
  let doc: unknown;
  try { doc = JSON.parse(text); } catch (e) { return bad(`not JSON: ${(e as Error).message}`); }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return bad('not an object');
  const { version, objects } = doc as { version?: unknown; objects?: unknown };
  if (version !== VERSION) return bad(`version ${JSON.stringify(version)}, expected ${VERSION}`);
  if (!Array.isArray(objects)) return bad('"objects" is not a list');
  const names = new Set<string>();
  const ids = new Set<string>();
  return objects.map((o: unknown, i): StoredObject => {
    if (typeof o !== 'object' || o === null) return bad(`object ${i} is not an object`);
    const { kind, name, sql, queryId } = o as Record<string, unknown>;
    if (typeof kind !== 'string' || !KINDS.includes(kind)) return bad(`object ${i} has kind ${JSON.stringify(kind)}`);
    if (typeof name !== 'string' || name === '') return bad(`object ${i} has no name`);
    if (typeof sql !== 'string' || sql.trim() === '') return bad(`object ${i} (${name}) has no SQL`);
    if (names.has(name.toLowerCase())) return bad(`'${name}' is stored twice`);
    names.add(name.toLowerCase());
    if (queryId !== undefined) {
      if (typeof queryId !== 'string' || !QUERY_ID.test(queryId)) return bad(`object ${i} (${name}) has query id ${JSON.stringify(queryId)}`);
      if (kind !== 'materialized_view' && kind !== 'sink') return bad(`object ${i} (${name}) is a ${kind} and has a query id`);
      if (ids.has(queryId)) return bad(`query id ${queryId} is stored twice`);
      ids.add(queryId);
    }
    return { kind: kind as StoredObject['kind'], name, sql, ...(queryId !== undefined ? { queryId } : {}) };
  });
}
