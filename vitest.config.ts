import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'planner/**/*.test.ts', 'executor/**/*.test.ts', 'connectors/**/*.test.ts', 'queries/**/*.test.ts', 'server/**/*.test.ts'],
    // One real Kafka broker for the whole run; tests that need to stop a broker start their own.
    globalSetup: ['test/setup/kafka-global.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Two test files at a time (vitest's default on 2 cores is one): most files wait on Kafka, not the CPU,
    // and one at a time put the suite at its 15-minute budget.
    maxWorkers: 2,
    minWorkers: 1,
    reporters: ['default'],
  },
});
