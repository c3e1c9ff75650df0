import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // End-to-end tests start real servers and processes; two cores, so keep parallelism modest.
    maxWorkers: 2,
    // One temp dir for the run (TMPDIR for every worker and process the tests start), removed when the run ends.
    globalSetup: ['scripts/test-tmpdir.js'],
    projects: [
      {
        extends: true,
        test: {
          name: 'sqlite',
          include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
        },
      },
      {
        // The server's tests again, each on a fresh PostgreSQL database (see test-support/test-store.ts), on a
        // cluster started from the machine's PostgreSQL binaries for the run.
        extends: true,
        test: {
          name: 'postgres',
          include: ['packages/server/src/**/*.test.ts'],
          // What is about the SQLite file itself (WAL syncs, its locks, a second connection to the file).
          exclude: [
            'packages/server/src/core/store/open-sqlite-store.test.ts',
            'packages/server/src/core/store/sqlite-audit-writer.test.ts',
          ],
          env: { KEYBOX_TEST_STORE: 'postgres' },
          // The run's temp dir first (it runs once either way), so the cluster goes there too.
          globalSetup: ['scripts/test-tmpdir.js', 'packages/server/src/test-support/postgres-setup.ts'],
        },
      },
    ],
  },
});
