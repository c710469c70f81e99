// Headless Chromium for the console tests: Debian's chromium driven by playwright-core, with a
// fresh profile per launch and the machine's flags (no network chatter, no GPU, no sandbox).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Where screenshots go (git-ignored). */
export const ARTIFACTS_DIR = resolve(import.meta.dirname, '../../test-artifacts/console');

/** A launched browser (one persistent context: Playwright owns --user-data-dir) and its profile. */
export interface TestBrowser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** Launches /usr/bin/chromium headless. */
export async function launchChromium(): Promise<TestBrowser> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'hookgate-chromium-'));
  // A fresh profile folder per launch; Playwright passes it as --user-data-dir itself.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1360, height: 860 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
