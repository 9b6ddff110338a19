import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'planner/**/*.test.ts', 'executor/**/*.test.ts', 'connectors/**/*.test.ts', 'queries/**/*.test.ts', 'server/**/*.test.ts'],
    // One real Kafka broker for the whole run; tests that need to stop a broker start their own.
    globalSetup: ['test/setup/kafka-global.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
