/**
 * The soaks' verdict: did each series stay flat? Compares the mean over the last third of the samples
 * with the mean over the middle third (the first third is warm-up), within a tolerance, and prints one
 * line per series. Used by bench/soak.ts and bench/join-soak.ts.
 */
export interface FlatSeries<S> {
  readonly label: string;
  readonly value: (s: S) => number;
  readonly format: (x: number) => string;
  /** Allowed growth, e.g. 0.1 for 10 %. */
  readonly tolerance: number;
}

/** Prints the verdict and returns whether every series stayed flat (false with fewer than 6 samples). */
export function flatVerdict<S>(samples: readonly S[], series: readonly FlatSeries<S>[]): boolean {
  const n = samples.length;
  if (n < 6) { console.log('too few samples for a verdict (run at least 1 minute)'); return false; }
  const mid = samples.slice(Math.floor(n / 3), Math.floor((2 * n) / 3));
  const last = samples.slice(Math.floor((2 * n) / 3));
  const mean = (xs: readonly S[], f: (s: S) => number) => xs.reduce((a, s) => a + f(s), 0) / xs.length;
  let ok = true;
  for (const x of series) {
    const a = mean(mid, x.value); const b = mean(last, x.value);
    const flat = b <= a * (1 + x.tolerance);
    console.log(`${x.label.padEnd(24)} middle third ${x.format(a).padStart(10)}  last third ${x.format(b).padStart(10)}  ${flat ? 'FLAT' : 'GROWING'} (${((b / a - 1) * 100).toFixed(1)}%, tolerance ${x.tolerance * 100}%)`);
    ok = flat && ok;
  }
  console.log(ok ? 'state rows and RSS stayed flat' : 'state rows or RSS grew');
  return ok;
}
