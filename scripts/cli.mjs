#!/usr/bin/env node
// The `streamsql` command: runs scripts/cli.ts with tsx (no build step), wherever it is called from.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const tsx = import.meta.resolve('tsx');
const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
const child = spawn(process.execPath, ['--import', tsx, cli, ...process.argv.slice(2)], { stdio: 'inherit' });
// Ctrl-C reaches the child through the terminal's process group; a signal sent to this process alone is passed on.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { child.kill(sig); });
child.on('exit', (code, signal) => { process.exit(code ?? (signal ? 1 : 0)); });
