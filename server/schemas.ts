/**
 * JSON schemas of the HTTP API: fastify validates requests with them and @fastify/swagger publishes
 * them at /docs. Free-form parts (result rows, progress) are objects with additionalProperties, so
 * response serialization never drops a field.
 */

export const errorBody = {
  type: 'object',
  description: 'The one error shape of the API',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['message'],
      properties: {
        message: { type: 'string' },
        line: { type: 'integer', description: 'SQL errors: line of the offending token (1-based)' },
        column: { type: 'integer', description: 'SQL errors: column of the offending token (1-based)' },
      },
    },
  },
} as const;

export const errors = { '4xx': errorBody, '5xx': errorBody } as const;

const freeObject = { type: 'object', additionalProperties: true } as const;

export const column = { type: 'object', required: ['name', 'type'], properties: { name: { type: 'string' }, type: { type: 'string' } } } as const;
const columns = { type: 'array', items: column } as const;

export const health = { type: 'object', properties: { status: { type: 'string' } } } as const;

export const info = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    version: { type: 'string' },
    kafka: { type: 'object', properties: { bootstrap: { type: 'string' }, embedded: { type: 'boolean' } } },
    postgres: { type: 'object', description: 'The PostgreSQL wire-protocol listener (PG_PORT)', properties: { host: { type: 'string' }, port: { type: 'integer' } } },
  },
} as const;

export const sqlBody = {
  type: 'object',
  required: ['sql'],
  properties: { sql: { type: 'string', minLength: 1, description: 'One or more statements separated by ;' } },
  additionalProperties: false,
} as const;

export const pushBody = {
  type: 'object',
  required: ['sql'],
  properties: {
    sql: { type: 'string', minLength: 1, description: 'SELECT … FROM <source> … EMIT CHANGES' },
    startFrom: { type: 'string', enum: ['latest', 'earliest'], description: "Where to start reading; default latest, or the source's own 'scan.startup.mode'" },
  },
  additionalProperties: false,
} as const;

export const sqlResults = {
  type: 'object',
  properties: {
    results: {
      type: 'array',
      description: 'One entry per statement: `{statement, name?, queryId?, message?, columns?, rows?, plan?}`',
      items: freeObject,
    },
  },
} as const;

const queryInfoProps = {
  id: { type: 'string' },
  name: { type: 'string' },
  kind: { type: 'string', enum: ['materialized_view', 'sink'] },
  sql: { type: 'string' },
  status: { type: 'string', enum: ['starting', 'running', 'recovering', 'failed', 'stopped'] },
  error: { type: ['string', 'null'] },
  placement: { type: 'string', description: 'With CLUSTER_ID: where the query runs (as tasks or as one task, and which of them run here)' },
} as const;

export const queryInfo = { type: 'object', properties: queryInfoProps } as const;
export const queryList = { type: 'object', properties: { queries: { type: 'array', items: queryInfo } } } as const;
export const queryWithProgress = {
  type: 'object',
  properties: {
    ...queryInfoProps,
    progress: { ...freeObject, description: 'inputRows, inputRowsPerSecond, processedRowsPerSecond, watermark, watermarkDelayMs, lateRowsDropped, malformedRows, epoch, lastCheckpoint, operators, partitions [{topic, partition, offset, endOffset, lag}], …' },
  },
} as const;

export const stopped = { type: 'object', properties: { id: { type: 'string' }, status: { type: 'string' } } } as const;

export const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } } as const;
export const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } } as const;

export const limitQuery = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 0, maximum: 100_000, default: 1000, description: 'At most this many rows, the newest' }, access_token: { type: 'string' },
    local: { type: 'boolean', description: 'With CLUSTER_ID, a view run as tasks: only this instance\'s share, task by task (what instances ask each other when they gather a view)' },
    raw: { type: 'boolean', description: 'With `local`: also `raw`, the rows as the tables hold them (what a SQL pull query on another instance gathers)' },
  },
  additionalProperties: false,
} as const;

export const changesQuery = {
  type: 'object',
  properties: {
    lastEventId: { type: 'string', pattern: '^[0-9]*$', description: 'Resume after this epoch (as the Last-Event-ID header does)' },
    access_token: { type: 'string', description: 'The API token, for EventSource clients that cannot send headers' },
    local: { type: 'boolean', description: 'With CLUSTER_ID, a view run as tasks: only this instance\'s share (events snapshot/task/untask/change per task; what instances ask each other)' },
  },
  additionalProperties: false,
} as const;

export const lastEventIdHeader = {
  type: 'object',
  properties: { 'last-event-id': { type: 'string', description: 'The last epoch the client received' } },
} as const;

export const catalog = {
  type: 'object',
  properties: {
    sources: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' }, columns, topics: { type: 'array', items: { type: 'string' } }, topicPattern: { type: ['string', 'null'] },
          format: { type: 'string' },
          watermark: { type: ['object', 'null'], properties: { column: { type: 'string' }, delayMs: { type: 'number' } } },
        },
      },
    },
    views: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' }, kind: { type: 'string', enum: ['view', 'materialized_view'] }, columns, queryId: { type: 'string' },
          keyColumns: { type: ['array', 'null'], items: { type: 'string' } }, emit: { type: 'string', enum: ['changes', 'window_close'] },
        },
      },
    },
    sinks: {
      type: 'array',
      items: { type: 'object', properties: { name: { type: 'string' }, topic: { type: 'string' }, queryId: { type: 'string' }, columns } },
    },
  },
} as const;

export const viewRows = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    epoch: { type: 'integer', description: 'The committed epoch the rows are as of' },
    total: { type: 'integer', description: 'Rows in the view (rows holds the newest `limit`)' },
    columns,
    rows: { type: 'array', items: freeObject },
    partial: { type: 'boolean', description: 'With CLUSTER_ID, a view run as tasks: some of its tasks did not answer (`missing`), or `local=true` was asked' },
    missing: { type: 'array', items: { type: 'string' }, description: 'With `partial`: the tasks whose rows are not in `rows` (their instance did not answer in time, or the task is moving)' },
    unreachable: {
      type: 'array', description: 'Instances that did not answer, and why',
      items: { type: 'object', properties: { instance: { type: 'string' }, address: { type: 'string', nullable: true }, error: { type: 'string' } } },
    },
    raw: { type: 'array', items: { type: 'array', items: {} }, description: 'With `local=true&raw=true` (`rows` then empty): the rows as the tables hold them, every column, task by task' },
    tasks: {
      type: 'array', description: 'With `local=true`: this instance\'s tasks of the view, in the order of `rows` (`count` rows each)',
      items: { type: 'object', properties: { task: { type: 'string' }, epoch: { type: 'integer' }, total: { type: 'integer' }, count: { type: 'integer' } } },
    },
  },
} as const;

export const cluster = {
  type: 'object',
  description: 'The cluster this instance belongs to (CLUSTER_ID): its instances from the task group, their tasks, and every continuous query\'s lag',
  required: ['clusterId', 'instance', 'members', 'queries'],
  properties: {
    clusterId: { type: 'string' },
    instance: { type: 'string', description: 'The instance that answered' },
    members: {
      type: 'array',
      description: 'Instances seen in the task group; alive = in its current generation',
      items: {
        type: 'object',
        required: ['id', 'address', 'alive', 'tasks'],
        properties: {
          id: { type: 'string' },
          address: { type: 'string', nullable: true, description: 'Its advertised HTTP address (ADVERTISED_URL, else where it listens)' },
          alive: { type: 'boolean' },
          tasks: { type: 'array', items: { type: 'string' }, description: 'Task ids `<query>#<partition>`' },
        },
      },
    },
    queries: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'id', 'lag'],
        properties: {
          name: { type: 'string' },
          id: { type: 'string' },
          lag: { type: 'integer', nullable: true, description: 'Sum over its consumer groups of end offset − committed offset (null: nothing committed yet)' },
        },
      },
    },
  },
} as const;
