/**
 * Which regular expressions a query may run. JavaScript's RegExp backtracks, so a pattern with nested
 * quantifiers (`(a+)+$`) can take exponential time on one row and hold the query thread for good; no
 * timeout can stop it. Patterns are checked with fastify's safe-regex2 (star height at most 1) and
 * bounded in length. A constant pattern is checked when the query is planned (an error at its
 * position); a pattern that comes from the data is checked per distinct value and matches nothing
 * (NULL) when refused. Ambiguous alternations (`(x|x)*y`) are not detected: a known residual risk.
 */
import safeRegex from 'safe-regex2';

export const MAX_PATTERN_LENGTH = 1_000;

/** Compiles `pattern`, or says why it is refused. */
export function compileSafeRegex(pattern: string, flags: string): { re: RegExp } | { error: string } {
  if (pattern.length > MAX_PATTERN_LENGTH) return { error: `a regular expression may be at most ${MAX_PATTERN_LENGTH} characters long` };
  let re: RegExp;
  try { re = new RegExp(pattern, flags); } catch (e) {
    return { error: `invalid regular expression '${pattern}': ${(e as Error).message.replace(/^Invalid regular expression: /, '')}` };
  }
  if (!safeRegex(re)) return { error: `regular expression '${pattern}' nests repetition (such as (a+)+) and could take exponential time; rewrite it without nested quantifiers` };
  return { re };
}
