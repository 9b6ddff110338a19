// Entry of a decode worker thread. Loaders given with `--import tsx` on the main thread do not reach
// worker threads on Node 20 (checked: "Unknown file extension .ts"), so tsx is registered here, in
// the worker itself, before the TypeScript worker module is imported. Works under `node --import
// tsx`, plain node and vitest alike.
import { register } from 'tsx/esm/api';

register();
await import('./decode-worker.ts');
