/**
 * The cluster's shared catalog as an ordered log of DDL statements (issue 17), as ksqlDB's command
 * topic: any instance accepts a statement, proposes it, and every instance applies the log in offset
 * order, so all reach the same catalog; a new instance replays the log from the start and joins in.
 *
 * propose → append → apply. A proposal is validated against the state at the offset it was planned
 * at: inside one exclusive append (connectors/kafka/command-topic.ts: the append fences every other
 * instance's, then reads the log's end) the log is first applied up to that end, then the statement is
 * checked; only then is it appended. If another instance appended meanwhile, ours is fenced and the
 * whole step is retried: read to the new end, check again (so of two `CREATE x` one wins, the other is
 * refused with the state's reason). A committed command is applied by every instance, the proposer
 * included, which answers its caller once it has applied it (read-your-writes).
 *
 * Apply is deterministic: every record is checked again against the state before it (a record
 * written without the fence, say by an old version, gets the same verdict everywhere) and a repeated
 * command id (a commit whose answer was lost, retried) is applied once. Nothing here knows Kafka:
 * the transport is an interface, which command-topic.ts implements. Not used without CLUSTER_ID.
 */
import { randomUUID } from 'node:crypto';

/** The catalog the log drives. Both calls must be deterministic functions of the statements applied so far. */
export interface CommandState {
  /**
   * Why `statement` cannot be applied to the current state, or null when it can. An Error is a refusal
   * whose reason is its message; the proposer gets it as the `cause` of its CommandRejectedError (the
   * engine's SqlError with line:column).
   */
  check(statement: string): string | Error | null;
  /**
   * Applies a checked statement; awaited before the next record (the log's position moves after it).
   * `mine`: this instance proposed it and waits for it; what apply returns is then handed to the proposer
   * (`propose()`'s `result`). Whatever else apply does must not depend on `mine`. A throw is logged and
   * handed to the proposer; the command still counts as applied (the state must stay consistent).
   */
  apply(statement: string, command: AppliedCommand, mine: boolean): unknown;
}

/** What is stored per command (JSON, one record, key = id). */
export interface CommandEnvelope {
  readonly v: 1;
  readonly id: string;
  /** The instance that proposed it. */
  readonly origin: string;
  /** The log's end when it was validated: the state it was checked against is every command below it. */
  readonly plannedAt: number;
  readonly statement: string;
}

export interface AppliedCommand extends CommandEnvelope { readonly offset: number }

export interface SkippedCommand { readonly offset: number; readonly id: string | null; readonly reason: string; readonly error?: Error }

/** What propose() resolves with: the command as applied here, and what the state's apply returned for it. */
export interface ProposedCommand extends AppliedCommand { readonly result: unknown }

/** What the log needs from the command topic (connectors/kafka/command-topic.ts). */
export interface CommandTransport {
  endOffset(): Promise<number>;
  follow(from: number, follower: {
    onRecords(records: readonly { offset: number; key: string | null; value: Buffer }[]): void | Promise<void>;
    onPosition(next: number): void;
    onError(e: Error): void;
  }): void;
  appendExclusive(prepare: (end: number) => Promise<{ key: string; value: Buffer } | null>): Promise<number | null>;
  close(): Promise<void>;
}

/** The statement is invalid against the catalog at the log's end: a 4xx for the caller, never retried. */
export class CommandRejectedError extends Error {
  override name = 'CommandRejectedError';
  constructor(readonly reason: string, readonly statement: string, override readonly cause?: Error) { super(reason); }
}

export interface CommandLogOptions {
  readonly instanceId: string;
  /** Proposal attempts before giving up (fenced by other instances each time). Default 30. */
  readonly maxAttempts?: number;
  /** How long to wait for the local replica to reach the log's end. Default 30 s. */
  readonly catchUpTimeoutMs?: number;
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

function rejection(reason: string | Error, statement: string): CommandRejectedError {
  return typeof reason === 'string' ? new CommandRejectedError(reason, statement) : new CommandRejectedError(reason.message, statement, reason);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class CommandLog {
  private readonly applied: AppliedCommand[] = [];
  private readonly skipped: SkippedCommand[] = [];
  private readonly ids = new Map<string, AppliedCommand | SkippedCommand>();
  /** This instance's proposals waiting for their apply: id → what apply returned (or threw). */
  private readonly own = new Map<string, { result?: unknown; error?: unknown }>();
  private pos = 0;
  private lastRecord = -1;
  private failure: Error | null = null;
  private waiters: { until: (log: CommandLog) => boolean; resolve: () => void; reject: (e: Error) => void }[] = [];
  private proposing: Promise<unknown> = Promise.resolve();
  private started = false;
  /** Proposals that had to start over because another instance appended first. */
  fencedRetries = 0;

  constructor(private readonly transport: CommandTransport, private readonly state: CommandState, private readonly opts: CommandLogOptions) {}

  /** Replays the log from offset 0 to its current end, then keeps following it. */
  async start(): Promise<void> {
    if (this.started) throw new Error('command log started already');
    this.started = true;
    this.transport.follow(0, {
      onRecords: async (records) => { for (const r of records) await this.handle(r.offset, r.value); },
      onPosition: (next) => { if (next > this.pos) { this.pos = next; this.wake(); } },
      onError: (e) => { this.failure = e; this.opts.log?.('error', `command log: ${e.message}`); this.wake(); },
    });
    await this.caughtUp(await this.transport.endOffset());
  }

  /** Resolves once every command appended before the call is applied here (read-your-writes across instances). */
  async syncToEnd(): Promise<void> { await this.caughtUp(await this.transport.endOffset()); }

  /** Commands applied, in log order. */
  commands(): readonly AppliedCommand[] { return this.applied; }
  /** Records not applied: malformed, repeated ids, refused by the state at their place in the log. */
  skippedCommands(): readonly SkippedCommand[] { return this.skipped; }
  /** The next offset to read: everything below it is applied. */
  position(): number { return this.pos; }

  /**
   * Proposes a statement. Resolves with the command once this instance has applied it; rejects with
   * CommandRejectedError when the catalog at the log's end refuses it. One proposal at a time per instance.
   */
  propose(statement: string): Promise<ProposedCommand> {
    if (!this.started) return Promise.reject(new Error('command log not started: call start() first'));
    const run = this.proposing.then(() => this.proposeNow(statement));
    this.proposing = run.catch(() => undefined);
    return run;
  }

  private async proposeNow(statement: string): Promise<ProposedCommand> {
    const id = randomUUID();
    this.own.set(id, {});
    try {
      return await this.proposeAs(id, statement);
    } finally {
      this.own.delete(id);
    }
  }

  private async proposeAs(id: string, statement: string): Promise<ProposedCommand> {
    const maxAttempts = this.opts.maxAttempts ?? 30;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.transport.appendExclusive(async (end) => {
          await this.caughtUp(end);
          if (this.ids.has(id)) return null; // an attempt whose commit answer was lost did commit
          const reason = this.state.check(statement);
          if (reason !== null) throw rejection(reason, statement);
          const env: CommandEnvelope = { v: 1, id, origin: this.opts.instanceId, plannedAt: end, statement };
          return { key: id, value: Buffer.from(JSON.stringify(env)) };
        });
        break;
      } catch (e) {
        const kind = (e as { commandAppend?: string }).commandAppend;
        if (kind === undefined || attempt >= maxAttempts) throw e;
        if (kind === 'fenced') this.fencedRetries++;
        // Jittered backoff: two instances fencing each other in lockstep would never finish.
        await sleep(Math.random() * Math.min(500, 20 * 2 ** Math.min(attempt, 5)));
      }
    }
    await this.until((log) => log.ids.has(id));
    const done = this.ids.get(id)!;
    if ('reason' in done) throw new CommandRejectedError(done.reason, statement, done.error);
    const outcome = this.own.get(id) ?? {};
    if (outcome.error !== undefined) throw outcome.error;
    return { ...done, result: outcome.result };
  }

  /** Stops following. Waiting proposals fail. */
  async close(): Promise<void> {
    this.failure ??= new Error('command log closed');
    this.wake();
    await this.transport.close();
  }

  private async handle(offset: number, value: Buffer): Promise<void> {
    if (offset <= this.lastRecord) return; // a re-read after the reader restarted
    this.lastRecord = offset;
    let env: CommandEnvelope;
    try {
      env = JSON.parse(value.toString('utf8')) as CommandEnvelope;
      if (env?.v !== 1 || typeof env.id !== 'string' || typeof env.statement !== 'string' || typeof env.plannedAt !== 'number') throw new Error('not a v1 command');
    } catch (e) {
      this.skip({ offset, id: null, reason: `malformed command: ${(e as Error).message}` });
      return;
    }
    if (this.ids.has(env.id)) {
      this.skipped.push({ offset, id: env.id, reason: 'repeated command id' });
      return;
    }
    const reason = this.state.check(env.statement);
    if (reason !== null) {
      this.skip({ offset, id: env.id, reason: typeof reason === 'string' ? reason : reason.message, ...(typeof reason === 'string' ? {} : { error: reason }) });
      return;
    }
    const cmd: AppliedCommand = { v: 1, id: env.id, origin: String(env.origin), plannedAt: env.plannedAt, statement: env.statement, offset };
    const mine = this.own.get(env.id);
    try {
      const result = await this.state.apply(env.statement, cmd, mine !== undefined);
      if (mine) mine.result = result;
    } catch (e) {
      this.opts.log?.('error', `command log: offset ${offset}: apply failed: ${(e as Error)?.message ?? String(e)}`);
      if (mine) mine.error = e;
    }
    this.applied.push(cmd);
    this.ids.set(env.id, cmd);
  }

  private skip(s: SkippedCommand): void {
    this.skipped.push(s);
    if (s.id !== null) this.ids.set(s.id, s);
    this.opts.log?.('warn', `command log: offset ${s.offset} not applied: ${s.reason}`);
  }

  private caughtUp(end: number): Promise<void> {
    return this.until((log) => log.pos >= end);
  }

  private until(cond: (log: CommandLog) => boolean): Promise<void> {
    if (cond(this)) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      const timeoutMs = this.opts.catchUpTimeoutMs ?? 30_000;
      const w = { until: cond, resolve: () => { clearTimeout(t); resolve(); }, reject: (e: Error) => { clearTimeout(t); reject(e); } };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(Object.assign(new Error(`command log did not reach the awaited position in ${timeoutMs} ms (at ${this.pos})`), { commandAppend: 'retriable' }));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  private wake(): void {
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.until(this)) w.resolve();
      else if (this.failure) w.reject(this.failure);
      else keep.push(w);
    }
    this.waiters = keep;
  }
}
