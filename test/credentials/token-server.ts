// A small OAuth2 authorization server for the tests (client credentials only, RFC 6749 section
// 4.4) and a receiver that accepts exactly the tokens it issued, unexpired and unrevoked.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One issued token. */
export interface Issued {
  readonly value: string;
  readonly clientSecret: string;
  readonly expiresAt: number;
  readonly form: URLSearchParams;
  revoked: boolean;
}

/** The authorization server and its state, changed by the tests. */
export interface TokenServer {
  readonly url: string;
  readonly issued: Issued[];
  /** Token requests received, refused ones included. */
  requests: number;
  /** Client secrets accepted for client id `orders`. */
  readonly secrets: Set<string>;
  /** Lifetime of new tokens, seconds. */
  expiresIn: number;
  /** Answer every token request with 503. */
  down: boolean;
  /** Whether `authorization` carries a token this server issued that is still good. */
  valid(authorization: string | undefined): boolean;
  close(): Promise<void>;
}

function clientOf(req: IncomingMessage): { id: string; secret: string } | undefined {
  const header = req.headers['authorization'] ?? '';
  if (!header.startsWith('Basic ')) return undefined;
  const [id, secret] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':');
  if (id === undefined || secret === undefined) return undefined;
  const decode = (v: string): string => decodeURIComponent(v.replaceAll('+', ' '));
  return { id: decode(id), secret: decode(secret) };
}

/** Starts the token server on loopback. */
export async function startTokenServer(secrets: readonly string[]): Promise<TokenServer> {
  let counter = 0;
  const state: Omit<TokenServer, 'url' | 'close'> = {
    issued: [],
    requests: 0,
    secrets: new Set(secrets),
    expiresIn: 3600,
    down: false,
    valid: (authorization) => {
      if (authorization === undefined || !authorization.startsWith('Bearer ')) return false;
      const token = state.issued.find((t) => t.value === authorization.slice(7));
      return token !== undefined && !token.revoked && Date.now() < token.expiresAt;
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
      res.setHeader('content-type', 'application/json');
      if (state.down) {
        res.statusCode = 503;
        res.end('{"error":"temporarily_unavailable"}');
        return;
      }
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const client = clientOf(req);
      if (client?.id !== 'orders' || !state.secrets.has(client.secret)) {
        res.statusCode = 401;
        res.end('{"error":"invalid_client"}');
        return;
      }
      if (form.get('grant_type') !== 'client_credentials') {
        res.statusCode = 400;
        res.end('{"error":"unsupported_grant_type"}');
        return;
      }
      const value = `tok-${++counter}-${Math.random().toString(36).slice(2)}`;
      state.issued.push({
        value,
        clientSecret: client.secret,
        expiresAt: Date.now() + state.expiresIn * 1000,
        form,
        revoked: false,
      });
      res.end(
        JSON.stringify({ access_token: value, token_type: 'Bearer', expires_in: state.expiresIn }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/oauth/token`,
    close: (): Promise<void> => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
