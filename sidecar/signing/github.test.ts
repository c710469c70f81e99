import { describe, expect, it } from 'vitest';
import { sign, verify } from '@octokit/webhooks-methods';
import { createGitHubSigner, createGitHubVerifier } from './github.ts';

// GitHub's documented example ("Validating webhook deliveries").
const DOC_SECRET = "It's a Secret to Everybody";
const DOC_BODY = Buffer.from('Hello, World!');
const DOC_SIGNATURE = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';

const SECRET = 'gh-webhook-secret-1';
const OLD_SECRET = 'gh-webhook-secret-0';
const BODY = Buffer.from('{"action":"opened","number":42,"title":"caf\u00e9 \u2615"}');
const DELIVERY = '72d3162e-cc78-11e3-81ab-4c9367dc0958';
const input = { deliveryId: 'msg_1', timestamp: 1_700_000_000, body: BODY };

describe('createGitHubSigner', () => {
  it("reproduces GitHub's documented example", () => {
    const signer = createGitHubSigner({ scheme: 'github', secret: DOC_SECRET });
    expect(signer({ ...input, body: DOC_BODY })).toEqual({ 'x-hub-signature-256': DOC_SIGNATURE });
  });

  it('produces a signature Octokit accepts, over the exact UTF-8 body', async () => {
    const headers = createGitHubSigner({ scheme: 'github', secret: SECRET })(input);
    const signature = headers['x-hub-signature-256'] ?? '';
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(await verify(SECRET, BODY.toString('utf8'), signature)).toBe(true);
    // The judge can refuse: another secret or another body does not verify.
    expect(await verify(OLD_SECRET, BODY.toString('utf8'), signature)).toBe(false);
    expect(await verify(SECRET, `${BODY.toString('utf8')}\n`, signature)).toBe(false);
  });

  it('rejects an empty secret at construction', () => {
    expect(() => createGitHubSigner({ scheme: 'github', secret: '' })).toThrow(
      expect.objectContaining({
        code: 'ERR_SECRET_INVALID',
        message: 'secret must be a non-empty string',
      }),
    );
  });
});

describe('createGitHubVerifier', () => {
  const verifier = createGitHubVerifier({ scheme: 'github', secrets: [SECRET, OLD_SECRET] });
  const headersFor = async (
    secret: string,
    body: Buffer = BODY,
  ): Promise<Record<string, string>> => ({
    'x-hub-signature-256': await sign(secret, body.toString('utf8')),
    'x-github-delivery': DELIVERY,
  });

  it.each([
    // Octokit's signature with the first secret
    { name: 'valid', make: () => headersFor(SECRET) },
    // a hook still signing with the previous secret during a rotation
    { name: 'second secret', make: () => headersFor(OLD_SECRET) },
  ])('accepts: $name, reporting X-GitHub-Delivery', async ({ make }) => {
    expect(verifier(await make(), BODY, 0)).toEqual({
      ok: true,
      scheme: 'github',
      deliveryId: DELIVERY,
    });
  });

  it('accepts without a delivery header, reporting no id', async () => {
    const headers = { 'x-hub-signature-256': await sign(SECRET, BODY.toString('utf8')) };
    expect(verifier(headers, BODY, 0)).toEqual({ ok: true, scheme: 'github' });
  });

  it('accepts the documented example', () => {
    const doc = createGitHubVerifier({ scheme: 'github', secrets: [DOC_SECRET] });
    expect(doc({ 'x-hub-signature-256': DOC_SIGNATURE }, DOC_BODY, 0).ok).toBe(true);
  });

  it.each([
    // the body changed after signing
    {
      name: 'tampered body',
      make: () => headersFor(SECRET, Buffer.from('{"action":"closed"}')),
      code: 'signature_mismatch',
      status: 401,
    },
    // a secret the verifier does not hold
    {
      name: 'wrong secret',
      make: () => headersFor('someone-else'),
      code: 'signature_mismatch',
      status: 401,
    },
    // no signature at all
    {
      name: 'missing header',
      make: () => Promise.resolve({ 'x-github-delivery': DELIVERY }),
      code: 'header_missing',
      status: 401,
    },
    // the legacy SHA-1 header form is not accepted in the SHA-256 header
    {
      name: 'sha1 prefix',
      make: async () => ({
        'x-hub-signature-256': (await sign(SECRET, BODY.toString())).replace('sha256=', 'sha1='),
      }),
      code: 'header_malformed',
      status: 400,
    },
    // the hex without its prefix
    {
      name: 'no prefix',
      make: async () => ({ 'x-hub-signature-256': (await sign(SECRET, BODY.toString())).slice(7) }),
      code: 'header_malformed',
      status: 400,
    },
    // a truncated signature: length differs, compared without throwing
    {
      name: 'truncated',
      make: async () => ({
        'x-hub-signature-256': (await sign(SECRET, BODY.toString())).slice(0, -2),
      }),
      code: 'signature_mismatch',
      status: 401,
    },
  ])('refuses: $name', async ({ make, code, status }) => {
    const headers: Record<string, string> = await make();
    const result = verifier(headers, BODY, 0);
    expect(result).toMatchObject({ ok: false, scheme: 'github', code, statusCode: status });
    const reason = result.ok ? '' : result.reason;
    expect(reason).toContain('X-Hub-Signature-256');
    const received = headers['x-hub-signature-256'];
    if (received !== undefined) expect(reason).not.toContain(received.slice(7, 20));
  });

  it('requires at least one secret', () => {
    expect(() => createGitHubVerifier({ scheme: 'github', secrets: [] })).toThrow(
      expect.objectContaining({ code: 'ERR_SECRET_INVALID' }),
    );
  });
});
