/**
 * The same bare consumer as bench-consumer.ts's, on @platformatic/kafka (1.x supports Node 20), to
 * see whether another client lifts the per-process ceiling. The package is optional and not a
 * dependency: `npm install --no-save @platformatic/kafka@1` before the bench; without it this
 * returns null and the harness prints a note.
 */
import type { ConsumeResult } from './bench-consumer.ts';

interface PlatformaticStream { on(ev: 'data', f: (m: { value?: Buffer | null }) => void): void; on(ev: 'error', f: (e: Error) => void): void; close(): Promise<void> }
interface PlatformaticConsumer { consume(o: Record<string, unknown>): Promise<PlatformaticStream>; close(force?: boolean): Promise<void> }
interface PlatformaticModule { Consumer: new (o: Record<string, unknown>) => PlatformaticConsumer }

export async function consumeAllPlatformatic(brokers: readonly string[], topic: string, total: number, timeoutMs = 600_000): Promise<ConsumeResult | null> {
  const spec = '@platformatic/kafka';
  let mod: PlatformaticModule;
  try { mod = (await import(spec)) as PlatformaticModule; } catch { return null; }
  const t0 = performance.now();
  const consumer = new mod.Consumer({
    groupId: `streamsql-bench-pk-${Date.now()}-${Math.random().toString(36).slice(2)}`, clientId: 'streamsql-bench-pk',
    bootstrapBrokers: [...brokers], maxWaitTime: 100, sessionTimeout: 6000, heartbeatInterval: 1000,
  });
  let first = 0; let messages = 0; let bytes = 0;
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${messages}/${total} before the timeout`)), timeoutMs);
      stream.on('error', (e) => { clearTimeout(timer); reject(e); });
      stream.on('data', (m) => {
        if (first === 0) first = performance.now();
        messages++; bytes += m.value?.length ?? 0;
        if (messages === total) { clearTimeout(timer); resolve(); }
      });
    });
    const end = performance.now();
    await stream.close().catch(() => undefined);
    return { messages, bytes, ms: end - t0, steadyMs: end - first };
  } finally {
    await consumer.close(true).catch(() => undefined);
  }
}
