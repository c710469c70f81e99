// Three projects: `unit` (tests beside the code, pure logic, no servers), `integration` (test/**,
// sharing one real control plane and one real Redis started by its global setup) and `node`
// (test/node/**, a control plane with a real kubelet, containerd and the Helm chart installed from
// images built here; its own global setup, so unit and integration runs stay as fast as before).
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
          exclude: ['test/node/**'],
          globalSetup: ['test/setup/global.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'node',
          include: ['test/node/**/*.test.ts'],
          globalSetup: ['test/node/setup.ts'],
          // One node with two cores: its files take turns rather than starve each other's pods.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 240_000,
        },
      },
    ],
  },
});
