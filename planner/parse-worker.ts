/**
 * The SQL parser's thread. node-sql-parser backtracks exponentially on some broken inputs (a syntax
 * error inside 20 nested parentheses ran for minutes and exhausted the heap), and its work cannot be
 * interrupted on the thread that runs it. Here it runs on a thread of its own that the main thread
 * terminates when a parse overruns its deadline (planner/sql-parse.ts), so the service keeps answering.
 */
import { parentPort } from 'node:worker_threads';
import { parseSqlText, type ParseOutcome } from './sql-parse-core.ts';

export interface ParseJob { readonly id: number; readonly texts: readonly string[] }
export interface ParseReply { readonly id: number; readonly results: readonly ParseOutcome[] }

parentPort!.on('message', (job: ParseJob) => {
  const results = job.texts.map(parseSqlText);
  parentPort!.postMessage({ id: job.id, results } satisfies ParseReply);
});
