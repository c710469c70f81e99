// The console in headless Chromium against the real API server and real sidecars: RBAC decides
// what a user sees and may replay, a failing delivery shows its attempts and the receiver's
// answers, replay from the page reaches the receiver with the same webhook-id, and no secret or
// signature is ever on a page.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS_DIR, launchChromium, type TestBrowser } from './browser.ts';
import {
  ADMIN_TOKEN,
  APP_SECRET,
  SIGNING_SECRET,
  seedDeadLetters,
  sendWebhook,
  startConsoleGround,
  type ConsoleGround,
} from './harness.ts';

let ground: ConsoleGround;
let chromium: TestBrowser;
let page: Page;
let deadIds: string[];
let hiddenId: string;

/** Signs in through the login page with `token`, starting from no session. */
async function signIn(token: string): Promise<void> {
  await chromium.context.clearCookies();
  await page.goto(`${ground.url}/deliveries`);
  expect(new URL(page.url()).pathname).toBe('/login');
  await page.fill('input[name=token]', token);
  await page.click('#login button[type=submit]');
  await page.waitForURL((u) => u.pathname === '/endpoints');
}

/** Fails when the page shows anything secret. */
async function expectNoSecrets(): Promise<void> {
  const content = await page.content();
  for (const secret of [
    APP_SECRET,
    SIGNING_SECRET,
    SIGNING_SECRET.slice(6),
    ADMIN_TOKEN,
    ground.operatorToken,
    ground.viewerToken,
    ...ground.tenants.visible.receiver.signatures.flatMap((s) => s.split(' ')),
  ])
    expect(content).not.toContain(secret);
}

beforeAll(async () => {
  ground = await startConsoleGround();
  ({ deadIds, hiddenId } = await seedDeadLetters(ground));
  chromium = await launchChromium();
  page = await chromium.context.newPage();
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await ground?.stop();
});

describe('the console in Chromium', () => {
  it('shows a viewer only the namespaces RBAC lets them get, and refuses their replay', async () => {
    await signIn(ground.viewerToken);
    const { visible, hidden } = ground.tenants;
    // The endpoints page: health from the sidecar's metrics and queue.
    const row = page.locator(`tr[data-endpoint="orders"]`);
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.innerText()).toContain('http-503');
    expect(await page.content()).not.toContain(hidden.namespace);

    await page.goto(`${ground.url}/deliveries`);
    const ids: string[] = [];
    for (const row of await page.locator('tr[data-delivery]').all())
      ids.push((await row.getAttribute('data-delivery')) ?? '');
    expect(ids.sort()).toEqual([...deadIds].sort());
    expect(await page.content()).not.toContain(hidden.namespace);
    expect(await page.content()).not.toContain(hiddenId);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'deliveries.png'), fullPage: true });
    await expectNoSecrets();

    // Asked for by name, the hidden namespace's delivery is not there.
    const hiddenPage = await page.goto(`${ground.url}/deliveries/${hidden.namespace}/${hiddenId}`);
    expect(hiddenPage?.status()).toBe(404);
    const search = await page.goto(`${ground.url}/deliveries/search?id=${hiddenId}`);
    expect(search?.status()).toBe(404);

    // The viewer sees a dead letter but may not replay it: not from the page, not by a request.
    await page.goto(`${ground.url}/deliveries/${visible.namespace}/${deadIds[0]}`);
    expect(await page.content()).toContain('but not replay it');
    const answers = await page.evaluate(
      async ([visibleNs, hiddenNs, ownId, otherId]) => {
        const post = async (ns: string, id: string): Promise<[number, unknown]> => {
          const res = await fetch(`/api/v1/namespaces/${ns}/replay`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'hookgate-console': '1' },
            body: JSON.stringify({ ids: [id] }),
          });
          return [res.status, await res.json()];
        };
        return [await post(visibleNs!, ownId!), await post(hiddenNs!, otherId!)];
      },
      [visible.namespace, hidden.namespace, deadIds[0], hiddenId],
    );
    expect(answers[0]).toEqual([403, { results: { [deadIds[0]!]: 'forbidden' } }]);
    expect(answers[1]).toEqual([200, { results: { [hiddenId]: 'not-found' } }]);
    await sleep(500);
    expect(visible.receiver.arrivals.filter((id) => id === deadIds[0])).toHaveLength(5);
    expect(hidden.receiver.arrivals.filter((id) => id === hiddenId)).toHaveLength(5);
  });

  it('shows a failing delivery with its attempts and the receiver answers, and replays it with the same webhook-id', async () => {
    await signIn(ground.operatorToken);
    const { visible } = ground.tenants;
    const id = deadIds[0]!;
    await page.goto(`${ground.url}/deliveries`);
    await page.click(`tr[data-delivery="${id}"] a`);
    await page.waitForURL((u) => u.pathname.endsWith(`/${id}`));
    const attempts = page.locator('.timeline li');
    expect(await attempts.count()).toBe(5);
    for (const text of await attempts.allInnerTexts()) expect(text).toContain('status 503');
    const request = await page.locator('section', { hasText: 'Request' }).innerText();
    expect(request).toContain('"customer":"acme"');
    expect(request).toContain('[redacted]'); // the app's Authorization header
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'timeline.png'), fullPage: true });
    await expectNoSecrets();

    visible.receiver.setHealthy(true);
    await page.click(`button[data-replay="${id}"]`);
    await expect.poll(() => page.locator('#status').innerText()).toContain('replayed');
    await expect
      .poll(() => visible.receiver.arrivals.filter((a) => a === id).length, { timeout: 10_000 })
      .toBe(6);
    // What reached the receiver is the same delivery: the receiver counted it by webhook-id.
    expect(visible.receiver.arrivals.at(-1)).toBe(id);
  });

  it('replays the selected dead letters and follows new deliveries on the live tail', async () => {
    const { visible } = ground.tenants;
    await page.goto(`${ground.url}/dead-letters?namespace=${visible.namespace}`);
    const second = deadIds[1]!;
    await page.check(`input[name=pick][value="${second}"]`);
    await page.click('#replay-selected');
    await expect.poll(() => page.locator('#status').innerText()).toContain(`${second}: replayed`);
    await expect
      .poll(() => visible.receiver.arrivals.includes(second) && visible.receiver.arrivals.at(-1))
      .toBe(second);

    await page.goto(`${ground.url}/tail?namespace=${visible.namespace}`);
    await expect.poll(() => page.locator('#status').innerText()).toBe('live');
    // A failing receiver keeps the new delivery in the queue, where the tail reads it.
    visible.receiver.setHealthy(false);
    const fresh = await sendWebhook(visible, { order: 4, customer: 'hooli' });
    await expect
      .poll(() => page.locator('#tail tbody').innerText(), { timeout: 15_000 })
      .toContain(fresh);
    await expectNoSecrets();
  });
  it('shows a failing synchronous delivery with its attempts and the receiver answers (the history records sync deliveries)', async () => {
    await signIn(ground.operatorToken);
    const { visible } = ground.tenants;
    const id = await ground.syncPod.send({ order: 5, customer: 'umbrella' });
    // The history is written a few milliseconds after the app has its answer: reload until then.
    await expect
      .poll(async () => {
        await page.goto(`${ground.url}/deliveries?outcome=failed`);
        return page.locator(`tr[data-delivery="${id}"]`).count();
      })
      .toBe(1);
    // Its three attempts may have been written in more than one batch.
    const attempts = page.locator('.timeline li');
    await expect
      .poll(async () => {
        await page.goto(`${ground.url}/deliveries/${visible.namespace}/${id}`);
        return attempts.count();
      })
      .toBe(3);
    for (const text of await attempts.allInnerTexts()) {
      expect(text).toContain('status 500');
      expect(text).toContain('database locked');
    }
    const request = await page.locator('section', { hasText: 'Request' }).innerText();
    expect(request).toContain('"customer":"umbrella"');
    expect(request).toContain('[redacted]');
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'sync-timeline.png'), fullPage: true });
    await expectNoSecrets();
  });
});
