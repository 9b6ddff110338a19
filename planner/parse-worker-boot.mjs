// Entry of the SQL parser's thread: tsx is registered in the worker itself (loaders given with
// `--import tsx` on the main thread do not reach worker threads on Node 20), then the module loads.
import { register } from 'tsx/esm/api';

register();
await import('./parse-worker.ts');
