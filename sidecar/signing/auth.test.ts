import { describe, expect, it } from 'vitest';
import { createBasicAuthVerifier, createBearerTokenVerifier } from './auth.ts';

const basic = (user: string, pass: string): string =>
  `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const BODY = Buffer.from('{}');

describe('createBasicAuthVerifier', () => {
  const verifier = createBasicAuthVerifier({
    scheme: 'basic-auth',
    credentials: [
      { username: 'provider', password: 'correct horse' },
      { username: 'provider', password: 'p:a:s:s' },
    ],
    idHeader: 'X-Request-Id',
  });

  it.each([
    // the first credential
    { name: 'valid', authorization: basic('provider', 'correct horse') },
    // the second credential, during a rotation; a password may contain ":"
    { name: 'second credential with colons', authorization: basic('provider', 'p:a:s:s') },
    // the auth-scheme token is case-insensitive
    {
      name: 'lower-case scheme',
      authorization: basic('provider', 'correct horse').replace('Basic', 'basic'),
    },
  ])('accepts: $name', ({ authorization }) => {
    expect(verifier({ authorization, 'x-request-id': 'r-1' }, BODY, 0)).toEqual({
      ok: true,
      scheme: 'basic-auth',
      deliveryId: 'r-1',
    });
  });

  it.each([
    // right user, wrong password
    {
      name: 'wrong password',
      authorization: basic('provider', 'battery staple'),
      code: 'credentials_invalid',
      status: 401,
    },
    // wrong user, right password
    {
      name: 'wrong username',
      authorization: basic('intruder', 'correct horse'),
      code: 'credentials_invalid',
      status: 401,
    },
    // a prefix of a valid password
    {
      name: 'password prefix',
      authorization: basic('provider', 'p'),
      code: 'credentials_invalid',
      status: 401,
    },
    // no Authorization header
    { name: 'missing', authorization: undefined, code: 'credentials_missing', status: 401 },
    // credentials for another auth scheme
    {
      name: 'bearer instead',
      authorization: 'Bearer abc',
      code: 'credentials_missing',
      status: 401,
    },
    // the scheme with nothing after it
    { name: 'empty credentials', authorization: 'Basic', code: 'header_malformed', status: 400 },
    // not base64
    {
      name: 'not base64',
      authorization: 'Basic provider:correct horse',
      code: 'header_malformed',
      status: 400,
    },
    // base64 without the user:password separator
    {
      name: 'no colon',
      authorization: `Basic ${Buffer.from('provider').toString('base64')}`,
      code: 'header_malformed',
      status: 400,
    },
  ])('refuses: $name', ({ authorization, code, status }) => {
    const result = verifier(authorization === undefined ? {} : { authorization }, BODY, 0);
    expect(result).toMatchObject({ ok: false, scheme: 'basic-auth', code, statusCode: status });
    const reason = result.ok ? '' : result.reason;
    expect(reason).toContain('Authorization');
    expect(reason).not.toMatch(/correct horse|battery|provider/);
  });

  it.each([
    // nothing to accept
    [[]],
    // an empty password would accept "user:"
    [[{ username: 'provider', password: '' }]],
    // a username with ":" can never match, since the first ":" ends the username
    [[{ username: 'pro:vider', password: 'x' }]],
  ])('rejects the credentials %o at construction', (credentials) => {
    expect(() => createBasicAuthVerifier({ scheme: 'basic-auth', credentials })).toThrow(
      expect.objectContaining({ code: 'ERR_SECRET_INVALID' }),
    );
  });
});

describe('createBearerTokenVerifier', () => {
  const verifier = createBearerTokenVerifier({
    scheme: 'bearer-token',
    tokens: ['tok-new-0123456789', 'tok-old'],
  });

  it.each([
    // the current token
    { name: 'valid', authorization: 'Bearer tok-new-0123456789' },
    // the previous token during a rotation (and a different length: no length assumption)
    { name: 'second token', authorization: 'Bearer tok-old' },
    // scheme token in another case
    { name: 'upper-case scheme', authorization: 'BEARER tok-old' },
  ])('accepts: $name', ({ authorization }) => {
    expect(verifier({ authorization }, BODY, 0)).toEqual({ ok: true, scheme: 'bearer-token' });
  });

  it.each([
    // a token nobody issued
    {
      name: 'wrong token',
      authorization: 'Bearer tok-guess',
      code: 'credentials_invalid',
      status: 401,
    },
    // a prefix of a valid token
    {
      name: 'token prefix',
      authorization: 'Bearer tok-new',
      code: 'credentials_invalid',
      status: 401,
    },
    // no Authorization header
    { name: 'missing', authorization: undefined, code: 'credentials_missing', status: 401 },
    // Basic credentials where a token is expected
    {
      name: 'basic instead',
      authorization: basic('a', 'b'),
      code: 'credentials_missing',
      status: 401,
    },
    // the scheme with nothing after it
    { name: 'empty token', authorization: 'Bearer ', code: 'header_malformed', status: 400 },
  ])('refuses: $name', ({ authorization, code, status }) => {
    const result = verifier(authorization === undefined ? {} : { authorization }, BODY, 0);
    expect(result).toMatchObject({ ok: false, scheme: 'bearer-token', code, statusCode: status });
    expect(result.ok ? '' : result.reason).not.toMatch(/tok-/);
  });

  it('rejects an empty token, naming it by index only', () => {
    expect(() => createBearerTokenVerifier({ scheme: 'bearer-token', tokens: ['ok', ''] })).toThrow(
      expect.objectContaining({
        code: 'ERR_SECRET_INVALID',
        message: 'tokens[1]: must be non-empty strings',
      }),
    );
  });
});
