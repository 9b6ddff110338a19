/** The planner's public surface: SQL text in, checked plans out. */
export { planRequest, type Planned, type PlannedStatement, type PlanOptions } from './planner.ts';
export { planExchanges, printExchangePlan, sourcePartitioning, repartitionTopic, type ExchangePlan, type ExchangeNode, type InputPartitioning } from './exchange.ts';
export { SqlError, type SqlErrorKind } from './errors.ts';
export { preparseRequest, warmParser, stopParser, type Preparsed } from './sql-parse.ts';
export * as limits from './limits.ts';
export { redactSql } from './options.ts';
export { createCatalog, kindLabel, type Catalog, type CatalogObject, type SourceDef, type ViewDef, type MaterializedViewDef, type SinkDef, type KafkaSourceOptions, type QueryOptions, type SinkOptions } from './catalog.ts';
export { printLogical, type LogicalPlan } from './logical.ts';
export { printPhysical, type PhysicalPlan, type PhysicalOp, type PhysicalSink, type PhysicalSource } from './physical.ts';
export * from './types.ts';
