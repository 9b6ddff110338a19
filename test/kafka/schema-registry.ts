/**
 * A STAND-IN for Confluent Schema Registry in tests: the REST subset that 'avro-confluent' and
 * @kafkajs/confluent-schema-registry use (register a subject version, a schema by id, a subject's
 * config), in memory on node:http. No real registry can run on this machine (see the README's
 * "Connecting to a secured Kafka"/Avro notes: Karapace is not on PyPI, Apicurio's Quarkus build needs
 * artifacts missing from Maven Central here), so the wire format is checked against a maintained
 * Confluent-format serializer (@kafkajs/confluent-schema-registry) talking to this stand-in.
 *
 * `stop()`/`start()` take it away and bring it back on the same port (a registry outage).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';

export interface StandInRegistry {
  readonly url: string;
  /** Registered schemas by id (the schema text), and each subject's ids in version order. */
  readonly schemas: Map<number, string>;
  readonly subjects: Map<string, number[]>;
  /** Requests answered, by "METHOD path-pattern". */
  readonly requests: Map<string, number>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startStandInRegistry(opts: { userInfo?: string } = {}): Promise<StandInRegistry> {
  const schemas = new Map<number, string>();
  const subjects = new Map<string, number[]>();
  const configs = new Map<string, string>();
  const requests = new Map<string, number>();
  let nextId = 1;
  const count = (k: string) => requests.set(k, (requests.get(k) ?? 0) + 1);
  const canonical = (s: string) => { try { return JSON.stringify(JSON.parse(s)); } catch { return s; } };

  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    let data = '';
    req.on('data', (c: Buffer) => { data += c.toString('utf8'); });
    req.on('end', () => {
      const send = (status: number, body: unknown) => { res.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' }); res.end(JSON.stringify(body)); };
      if (opts.userInfo && req.headers.authorization !== `Basic ${Buffer.from(opts.userInfo).toString('base64')}`) { send(401, { error_code: 401, message: 'Unauthorized' }); return; }
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      let m: RegExpExecArray | null;
      if (req.method === 'GET' && (m = /^\/schemas\/ids\/(\d+)$/.exec(path))) {
        count('GET /schemas/ids');
        const s = schemas.get(Number(m[1]));
        if (s === undefined) send(404, { error_code: 40403, message: `Schema ${m[1]} not found` });
        else send(200, { schema: s });
      } else if (req.method === 'POST' && (m = /^\/subjects\/([^/]+)\/versions$/.exec(path))) {
        count('POST /subjects/versions');
        let body: { schema?: unknown; schemaType?: unknown };
        try { body = JSON.parse(data) as typeof body; } catch { send(422, { error_code: 42201, message: 'Invalid JSON' }); return; }
        if (typeof body.schema !== 'string') { send(422, { error_code: 42201, message: 'Invalid schema' }); return; }
        const text = canonical(body.schema);
        let id = [...schemas].find(([, s]) => canonical(s) === text)?.[0];
        if (id === undefined) { id = nextId++; schemas.set(id, body.schema); }
        const versions = subjects.get(m[1]!) ?? [];
        if (!versions.includes(id)) versions.push(id);
        subjects.set(m[1]!, versions);
        send(200, { id });
      } else if ((m = /^\/config\/([^/]+)$/.exec(path))) {
        count(`${req.method} /config`);
        if (req.method === 'PUT') { configs.set(m[1]!, (JSON.parse(data) as { compatibility: string }).compatibility); send(200, { compatibility: configs.get(m[1]!) }); }
        else if (configs.has(m[1]!)) send(200, { compatibilityLevel: configs.get(m[1]!) });
        else send(404, { error_code: 40401, message: `Subject '${m[1]}' not found.` });
      } else if (req.method === 'GET' && (m = /^\/subjects\/([^/]+)\/versions\/latest$/.exec(path))) {
        const v = subjects.get(m[1]!);
        if (!v?.length) send(404, { error_code: 40401, message: `Subject '${m[1]}' not found.` });
        else send(200, { subject: m[1], version: v.length, id: v[v.length - 1], schema: schemas.get(v[v.length - 1]!) });
      } else send(404, { error_code: 404, message: 'HTTP 404 Not Found' });
    });
  };

  let server: Server | null = null;
  const sockets = new Set<Socket>();
  let port = 0;
  const start = async () => {
    const s = createServer(handler);
    s.on('connection', (c) => { sockets.add(c); c.on('close', () => sockets.delete(c)); });
    await new Promise<void>((r) => s.listen(port, '127.0.0.1', r));
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  await start();
  return {
    url: `http://127.0.0.1:${port}`, schemas, subjects, requests,
    start,
    async stop() {
      const s = server; server = null;
      for (const c of sockets) c.destroy();
      await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
    },
  };
}
