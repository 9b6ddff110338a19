/**
 * The limits on what one request may ask of the planner. Each bounds the time or memory a single
 * request can cost the service (fuzzing found requests that held the event loop for seconds, overflowed
 * the binder's stack or ran the SQL parser out of memory), and each is refused with a 4xx that names it.
 * README "Limits" lists them; change both together.
 */

/** Characters of SQL in one request (the HTTP body limit is 1 MiB; this is the SQL inside it). */
export const MAX_SQL_LENGTH = 256 * 1024;
/** Statements in one request. */
export const MAX_STATEMENTS = 100;
/** Characters in one identifier (a source, view, sink, column or alias name). */
export const MAX_IDENTIFIER_LENGTH = 128;
/** Parentheses open at once anywhere in a statement. */
export const MAX_PAREN_DEPTH = 32;
/**
 * Depth of a query's syntax tree. A left-deep chain such as 5,000 ORs is this deep too: a long chain of
 * alternatives belongs in `IN (…)`.
 */
export const MAX_EXPRESSION_DEPTH = 128;
/** Nodes of a query's syntax tree (its size, whatever the shape). */
export const MAX_EXPRESSION_NODES = 50_000;
/** Items of one SELECT list. */
export const MAX_SELECT_ITEMS = 1_000;
/** Time one query may take in the SQL parser, which backtracks exponentially on some broken inputs. */
export const PARSE_DEADLINE_MS = 1_000;
/** Absolute value of an interval literal: about 317 years, far inside the TIMESTAMP range. */
export const MAX_INTERVAL_MS = 10_000_000_000_000;
/** Bytes of JSON a pull query may return (estimated while its rows are built). */
export const MAX_PULL_RESULT_BYTES = 64 * 1024 * 1024;
/** Longest duration option (node timers cannot wait longer than 2^31 - 1 ms, about 24.8 days). */
export const MAX_DURATION_OPTION_MS = 7 * 24 * 3_600_000;
/** Grouping sets of one GROUP BY (GROUPING SETS, ROLLUP, CUBE combined): each input row is aggregated once per set. */
export const MAX_GROUPING_SETS = 256;
