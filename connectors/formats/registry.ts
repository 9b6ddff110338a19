/**
 * A Confluent Schema Registry client (the REST subset 'avro-confluent' needs: `GET /schemas/ids/{id}`,
 * `POST /subjects/{subject}/versions`), with per-thread caches: a writer schema is fetched once per
 * registry and id, a sink's schema registered once per subject.
 *
 * Decoding is synchronous (decoders run inline or in read workers), fetching is not: before a fetch
 * is decoded, {@link createSchemaPreparer} loads the schema ids its messages name into the cache, and
 * {@link untilPrepared} retries that with backoff while the registry is unreachable (the batch is held,
 * the source shows `recovering` with the reason), so nothing is skipped or lost. An id the registry
 * does not know (404) is remembered as unknown: its messages are malformed (skip, fail, dead-letter).
 */
import { readFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { SchemaRegistryOptions, SourceDef } from '../../planner/catalog.ts';
import { isDecoded, isPacked, type FetchedMessages } from './packed.ts';

/** The registry could not answer (network, 5xx, timeout): retried, never a malformed message. */
export class RegistryUnavailableError extends Error { override name = 'RegistryUnavailableError'; }
/** The registry answered with a refusal that retrying will not change (401, 403, 409, 422). */
export class RegistryRefusedError extends Error { override name = 'RegistryRefusedError'; }

/** Confluent wire format: magic byte 0, the schema id (int32 big-endian), then the Avro body. */
export const CONFLUENT_MAGIC = 0;
export const CONFLUENT_HEADER = 5;

const REQUEST_TIMEOUT_MS = 10_000;

/** Writer schemas by registry URL and id: the parsed JSON, or null when the registry does not know the id. */
const schemas = new Map<string, object | null>();
/** Registered ids by registry URL, subject and schema text. */
const registered = new Map<string, number>();

const idKey = (url: string, id: number) => `${url}#${id}`;

/** The cached writer schema of `id` (undefined: not fetched yet; null: the registry does not know it). */
export function cachedSchema(reg: SchemaRegistryOptions, id: number): object | null | undefined {
  return schemas.get(idKey(reg.url, id));
}

/** `${NAME}` → the environment variable (registry credentials need not be in SQL); a missing one names it. */
function resolveEnv(key: string, value: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const v = process.env[name];
    if (v === undefined) throw new RegistryRefusedError(`'${key}' refers to environment variable ${name}, which is not set`);
    return v;
  });
}

interface Resolved { readonly url: URL; readonly headers: Record<string, string>; readonly ca?: string }

function resolve(reg: SchemaRegistryOptions): Resolved {
  const url = new URL(resolveEnv('avro-confluent.url', reg.url));
  const headers: Record<string, string> = { accept: 'application/vnd.schemaregistry.v1+json, application/json' };
  if (reg.userInfo) headers.authorization = `Basic ${Buffer.from(resolveEnv('avro-confluent.basic-auth.user-info', reg.userInfo)).toString('base64')}`;
  else if (reg.bearerToken) headers.authorization = `Bearer ${resolveEnv('avro-confluent.bearer-auth.token', reg.bearerToken)}`;
  let ca: string | undefined;
  if (reg.caLocation) {
    const file = resolveEnv('avro-confluent.ssl.truststore.location', reg.caLocation);
    try { ca = readFileSync(file, 'utf8'); } catch (e) { throw new RegistryRefusedError(`cannot read 'avro-confluent.ssl.truststore.location' ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
  }
  return { url, headers, ...(ca ? { ca } : {}) };
}

/** One request to the registry; the answer's JSON and status. Network failures and timeouts are RegistryUnavailableError. */
function call(reg: SchemaRegistryOptions, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = resolve(reg);
  const target = new URL(r.url.pathname.replace(/\/+$/, '') + path, r.url);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const shown = `${r.url.origin}${r.url.pathname.replace(/\/+$/, '')}`;
  return new Promise((resolvePromise, reject) => {
    const opts = {
      method,
      headers: { ...r.headers, ...(payload ? { 'content-type': 'application/vnd.schemaregistry.v1+json', 'content-length': String(payload.length) } : {}) },
      timeout: REQUEST_TIMEOUT_MS,
      ...(target.protocol === 'https:' && r.ca ? { agent: new Agent({ ca: r.ca }) } : {}),
    };
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => reject(new RegistryUnavailableError(`schema registry ${shown}: ${e.message}`)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> = {};
        try { json = JSON.parse(text) as Record<string, unknown>; } catch { json = { message: text.slice(0, 200) }; }
        resolvePromise({ status: res.statusCode ?? 0, json });
      });
    };
    const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, opts, onResponse);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => reject(new RegistryUnavailableError(`schema registry ${shown} is unreachable: ${e.code ?? e.message}`)));
    req.end(payload);
  });
}

const why = (j: Record<string, unknown>) => (typeof j.message === 'string' ? j.message : JSON.stringify(j).slice(0, 200));

function refusal(reg: SchemaRegistryOptions, what: string, status: number, json: Record<string, unknown>): Error {
  const msg = `schema registry ${new URL(resolveEnv('avro-confluent.url', reg.url)).origin}: ${what}: HTTP ${status} ${why(json)}`;
  return status >= 500 || status === 429 || status === 408 ? new RegistryUnavailableError(msg) : new RegistryRefusedError(msg);
}

/** Fetches the writer schema of `id` into the cache (null when the registry answers that it does not know it). */
export async function loadSchema(reg: SchemaRegistryOptions, id: number): Promise<object | null> {
  const k = idKey(reg.url, id);
  if (schemas.has(k)) return schemas.get(k)!;
  const { status, json } = await call(reg, 'GET', `/schemas/ids/${id}`);
  if (status === 404) { schemas.set(k, null); return null; }
  if (status !== 200 || typeof json.schema !== 'string') throw refusal(reg, `schema id ${id}`, status, json);
  if (json.schemaType !== undefined && json.schemaType !== 'AVRO') { schemas.set(k, null); return null; }
  let parsed: object;
  try { parsed = JSON.parse(json.schema) as object; } catch { parsed = json.schema as unknown as object; } // a primitive's name ("string")
  schemas.set(k, parsed);
  return parsed;
}

/** Registers `schema` under `subject` (idempotent at the registry), once per process; its id. */
export async function registerSchema(reg: SchemaRegistryOptions, subject: string, schema: object): Promise<number> {
  const text = JSON.stringify(schema);
  const k = `${reg.url}#${subject}#${text}`;
  const known = registered.get(k);
  if (known !== undefined) return known;
  const { status, json } = await call(reg, 'POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema: text });
  if (status !== 200 || typeof json.id !== 'number') throw refusal(reg, `registering subject ${subject}`, status, json);
  registered.set(k, json.id);
  schemas.set(idKey(reg.url, json.id), schema);
  return json.id;
}

// ---- sources: load the ids a fetch names before it is decoded ---------------------------------------

/** The schema ids named by the messages of a fetch (values in Confluent wire format). */
function idsOf(m: FetchedMessages): Set<number> {
  const ids = new Set<number>();
  const look = (b: Uint8Array, at: number, end: number) => {
    if (end - at >= CONFLUENT_HEADER && b[at] === CONFLUENT_MAGIC) ids.add(((b[at + 1]! << 24) | (b[at + 2]! << 16) | (b[at + 3]! << 8) | b[at + 4]!) >>> 0);
  };
  if (isDecoded(m)) return ids;
  if (isPacked(m)) {
    for (let i = 0; i < m.count; i++) {
      if (m.nulls !== null && m.nulls[i] === 1) continue;
      look(m.bytes, m.starts[i]!, m.ends ? m.ends[i]! : m.starts[i + 1]!);
    }
  } else for (const v of m.values) if (v) look(v, 0, v.length);
  return ids;
}

/** For an 'avro-confluent' source: loads the writer schemas a fetch needs into this thread's cache; null for other sources. */
export function createSchemaPreparer(def: SourceDef): ((m: FetchedMessages) => Promise<void>) | null {
  const reg = def.options.valueFormat === 'avro-confluent' ? def.options.registry : undefined;
  if (!reg) return null;
  return async (m) => {
    for (const id of idsOf(m)) if (cachedSchema(reg, id) === undefined) await loadSchema(reg, id);
  };
}

/**
 * Runs `prepare(m)` until it succeeds or `stopped()`: each failure is reported (`onRetry`, for the
 * source's status) and retried after a backoff (0.2 s doubling to 5 s), `onRecovered` once it succeeds
 * after a failure. Resolves false when stopped.
 */
export async function untilPrepared(prepare: (m: FetchedMessages) => Promise<void>, m: FetchedMessages, hooks: { stopped(): boolean; onRetry(error: string): void; onRecovered(): void }): Promise<boolean> {
  for (let delay = 200, failed = false; ; delay = Math.min(delay * 2, 5000)) {
    if (hooks.stopped()) return false;
    try {
      await prepare(m);
      if (failed) hooks.onRecovered();
      return true;
    } catch (e) {
      failed = true;
      hooks.onRetry((e as Error).message);
      const until = Date.now() + delay;
      while (Date.now() < until && !hooks.stopped()) await new Promise((r) => setTimeout(r, Math.min(100, until - Date.now())));
    }
  }
}

// ---- sinks: the schema id is filled in once registered -------------------------------------------------

/** A sink value waiting for its schema's id: bytes 1..4 are written when the subject is registered. */
const PENDING = Symbol('streamsql.pendingSchema');
interface PendingValue extends Buffer { [PENDING]?: { reg: SchemaRegistryOptions; subject: string; schema: object } }

/** A Confluent-framed value whose id is filled in by {@link fillSchemaIds} before it is sent. */
export function pendingConfluentValue(body: Buffer, reg: SchemaRegistryOptions, subject: string, schema: object): Buffer {
  const out = Buffer.allocUnsafe(CONFLUENT_HEADER + body.length) as PendingValue;
  out[0] = CONFLUENT_MAGIC;
  out.writeInt32BE(0, 1);
  body.copy(out, CONFLUENT_HEADER);
  out[PENDING] = { reg, subject, schema };
  return out;
}

/** Registers the schemas of pending values (once per subject) and writes their ids; throws (to be retried) when the registry cannot. */
export async function fillSchemaIds(records: readonly { readonly value: string | Buffer | null }[]): Promise<void> {
  for (const r of records) {
    const v = r.value as PendingValue | null;
    const p = v && typeof v !== 'string' ? v[PENDING] : undefined;
    if (!p) continue;
    const id = await registerSchema(p.reg, p.subject, p.schema);
    v!.writeInt32BE(id, 1);
    delete v![PENDING];
  }
}
