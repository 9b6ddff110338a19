// Entry of a consume worker thread: registers tsx in this thread (see decode-worker-boot.mjs), then
// loads the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./consume-worker.ts');
