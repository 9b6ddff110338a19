/** Tiny flag reader for the bench scripts: `--name value`, `--name=value`, or a bare `--switch`. */
export function flag(name: string, argv: readonly string[] = process.argv.slice(2)): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) { const v = argv[i + 1]; return v === undefined || v.startsWith('--') ? 'true' : v; }
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

export function flags(name: string, argv: readonly string[] = process.argv.slice(2)): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}` && argv[i + 1] !== undefined) out.push(...argv[++i]!.split(','));
    else if (a.startsWith(`--${name}=`)) out.push(...a.slice(name.length + 3).split(','));
  }
  return out;
}
