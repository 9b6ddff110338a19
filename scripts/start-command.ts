/**
 * `npm start`'s command line, read from package.json's `start` script (`node <flags> <entry>.ts`): what a
 * process must run to be exactly the service a user starts, heap flags included. The scale-out bench
 * (bench/instances.ts) and the `npm start` e2e test spawn their instances with it, so a flag added to the
 * script is measured and tested without a second copy of it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** Node's arguments for `start` (`node <these>`), the entry as an absolute path. */
export function startArgs(start: string): string[] {
  const words = start.trim().split(/\s+/);
  if (words[0] !== 'node' || !words.at(-1)!.endsWith('.ts')) throw new Error(`package.json's start script is not "node … <entry>.ts": ${start}`);
  return [...words.slice(1, -1), path.join(ROOT, words.at(-1)!)];
}

export const START_ARGS: readonly string[] = startArgs(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts.start);
