/**
 * Statement ASTs produced by the front end. Standard SELECT bodies are carried as text rewritten for
 * node-sql-parser (same length, same line breaks, so its positions map back 1:1 to the user's text)
 * plus the streaming pieces the front end took out of them.
 */
import type { SqlType } from './types.ts';

/** A name as written: `value` is the spelling used for lookup, `start` its offset in the request. */
export interface Ident {
  readonly value: string;
  readonly quoted: boolean;
  readonly start: number;
}

export interface OptionDecl {
  readonly key: string;
  readonly value: string;
  readonly start: number;
  readonly valueStart: number;
}

export type MetadataKey = 'timestamp' | 'partition' | 'offset' | 'key' | 'headers' | 'topic';

export interface ColumnDecl {
  readonly name: Ident;
  readonly type: SqlType;
  readonly notNull: boolean;
  /** Kafka metadata column: `ts TIMESTAMP(3) METADATA FROM 'timestamp'` or RisingWave's INCLUDE. */
  readonly metadata: MetadataKey | null;
  readonly typeStart: number;
}

export interface WatermarkDecl {
  readonly column: Ident;
  readonly delayMs: number;
  readonly start: number;
}

export interface IntervalArg {
  readonly ms: number;
  readonly start: number;
}

/** A window table function found in a FROM clause (RisingWave or Flink form). */
export interface WindowTvf {
  readonly placeholder: string;
  readonly kind: 'tumble' | 'hop' | 'cumulate' | 'session';
  readonly form: 'risingwave' | 'flink';
  readonly source: Ident;
  readonly timeCol: Ident;
  readonly args: readonly IntervalArg[];
  readonly partitionBy: readonly Ident[];
  readonly start: number;
  readonly end: number;
}

export type EmitMode = 'changes' | 'window_close';

export interface QueryText {
  /** The SELECT text rewritten for node-sql-parser; same length and line breaks as the original span. */
  readonly text: string;
  /** Offset of `text` in the request. */
  readonly start: number;
  readonly original: string;
  readonly windows: readonly WindowTvf[];
  readonly emit: EmitMode | null;
  readonly emitStart: number;
  /** `JOIN t FOR SYSTEM_TIME AS OF …` clauses (blanked in `text`), in order of appearance. */
  readonly asOf?: readonly AsOfClause[];
}

/** A temporal join's `FOR SYSTEM_TIME AS OF <column> | PROCTIME()` after the table `table`. */
export interface AsOfClause {
  readonly table: string;
  /** The left column the version is looked up at; null for PROCTIME() (the current version). */
  readonly column: { readonly qualifier: string | null; readonly name: string } | null;
  readonly start: number;
}

export type ObjectKind = 'source' | 'view' | 'materialized_view' | 'sink';

export type Statement =
  | {
      readonly kind: 'create_source';
      readonly name: Ident;
      readonly ifNotExists: boolean;
      readonly orReplace: boolean;
      readonly columns: readonly ColumnDecl[];
      readonly watermark: WatermarkDecl | null;
      readonly options: readonly OptionDecl[];
      readonly keyword: 'SOURCE' | 'TABLE';
      /** PRIMARY KEY (…) NOT ENFORCED (Flink): the key of an upsert-kafka table. */
      readonly primaryKey?: readonly Ident[];
      readonly start: number;
      readonly end: number;
    }
  | {
      readonly kind: 'create_materialized_view';
      readonly name: Ident;
      readonly ifNotExists: boolean;
      readonly query: QueryText;
      readonly options: readonly OptionDecl[];
      readonly start: number;
      readonly end: number;
    }
  | { readonly kind: 'create_view'; readonly name: Ident; readonly ifNotExists: boolean; readonly query: QueryText; readonly start: number; readonly end: number }
  | {
      readonly kind: 'create_sink';
      readonly name: Ident;
      readonly ifNotExists: boolean;
      readonly from: Ident | null;
      readonly query: QueryText | null;
      readonly options: readonly OptionDecl[];
      readonly start: number;
      readonly end: number;
    }
  | { readonly kind: 'insert_into'; readonly target: Ident; readonly query: QueryText; readonly options: readonly OptionDecl[]; readonly start: number; readonly end: number }
  | { readonly kind: 'drop'; readonly object: ObjectKind; readonly name: Ident; readonly ifExists: boolean; readonly start: number; readonly end: number }
  | { readonly kind: 'show'; readonly what: 'sources' | 'views' | 'materialized_views' | 'sinks' | 'queries'; readonly start: number; readonly end: number }
  | { readonly kind: 'describe'; readonly name: Ident; readonly start: number; readonly end: number }
  | { readonly kind: 'explain'; readonly statement: Statement; readonly start: number; readonly end: number }
  | { readonly kind: 'select'; readonly query: QueryText; readonly start: number; readonly end: number };

export type StatementKind = Statement['kind'];
