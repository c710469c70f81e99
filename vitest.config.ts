// Two projects: `unit` (tests beside the code, pure logic, no servers) and `integration`
// (test/**, sharing one real control plane and one real Redis started by the global setup).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [
            'api/**/*.test.ts',
            'operator/**/*.test.ts',
            'sidecar/**/*.test.ts',
            'common/**/*.test.ts',
          ],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/setup/global.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
