/**
 * A cluster instance's process for the failover tests (test/cluster/instance-process.ts starts it):
 * `npm start`'s entry, server/main.ts, preceded by loading its modules and waiting for a line on
 * stdin. Loading the modules costs seconds of CPU; a restart spawns the next process while the old one
 * still runs and says go once it has exited, so the measured restart is the service's own start, not
 * the module loading. When the test process goes away (stdin closes) the instance ends at once: no
 * orphan survives a crashed test run.
 */
let told: () => void = () => undefined;
const go = new Promise<void>((resolve) => { told = resolve; });
let buf = '';
process.stdin.on('data', (b: Buffer) => { buf += b.toString('utf8'); if (buf.includes('\n')) told(); });
process.stdin.on('end', () => process.kill(process.pid, 'SIGKILL'));
await import('../../queries/service.ts');
await import('../../server/app.ts');
await import('../../server/pg/server.ts');
process.stdout.write('streamsql-instance: modules loaded\n');
await go;
await import('../../server/main.ts');
