// The HTTPS server the API server calls: POST /inject with an AdmissionReview v1. HTTP/2 (with
// HTTP/1.1 for other clients): the API server's client speaks h2, so a burst of pod creations
// becomes streams on a few connections instead of a TLS handshake per concurrent review. The
// serving certificate is swapped in place (setSecureContext): new connections get the new one,
// open connections continue on the old one, nothing is dropped and nothing restarts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createSecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
} from 'node:http2';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../common/log.ts';
import type { ServingCertificate } from '../certs/manager.ts';
import type { WebhookMetrics } from './metrics.ts';
import type { AdmissionRequest, Reviewer } from './review.ts';
import { readBody } from '../read-body.ts';

/** Path the webhook configuration points at (contracts.md). */
export const INJECT_PATH = '/inject';
/** Largest AdmissionReview read (a pod object is at most ~1.5 MiB in etcd; reviews carry one). */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Options for {@link startWebhookServer}. */
export interface WebhookServerOptions {
  readonly host: string;
  readonly port: number;
  readonly certificate: ServingCertificate;
  readonly reviewer: Reviewer;
  readonly metrics: WebhookMetrics;
  readonly log: Logger;
}

/** A running webhook server. */
export interface WebhookServer {
  readonly port: number;
  /** Serves `certificate` to every new connection from now on. */
  setCertificate(certificate: ServingCertificate): void;
  /** Stops accepting, lets in-flight reviews finish, closes idle connections. */
  close(): Promise<void>;
}

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

function send(res: Response, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

/** Starts the HTTPS admission server. */
export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const { reviewer, metrics, log } = options;
  const tls = (c: ServingCertificate): { cert: string; key: string; minVersion: 'TLSv1.2' } => ({
    cert: c.certPem,
    key: c.keyPem,
    minVersion: 'TLSv1.2',
  });

  const handle = async (req: Request, res: Response): Promise<void> => {
    const end = metrics.duration.startTimer();
    let outcome = 'error';
    let reason = 'BadRequest';
    res.on('finish', () => {
      end({ outcome });
      metrics.reviews.inc({ outcome, reason });
    });
    const path = (req.url ?? '').split('?')[0];
    if (path !== INJECT_PATH || req.method !== 'POST') {
      reason = 'NotFound';
      send(res, 404, { error: `only POST ${INJECT_PATH} is served here` });
      return;
    }
    const body = await readBody(req, MAX_BODY_BYTES);
    // The injector's own work, timed apart: from the whole body in hand to the answer handed to
    // the connection (under a burst, `duration` adds the wait behind other requests).
    const endReview = metrics.reviewDuration.startTimer();
    try {
      answer(body, res, (o, r) => {
        outcome = o;
        reason = r;
      });
    } finally {
      endReview({ outcome });
    }
  };

  const answer = (
    body: Buffer | undefined,
    res: Response,
    verdict: (outcome: string, reason: string) => void,
  ): void => {
    if (body === undefined) {
      verdict('error', 'TooLarge');
      send(res, 413, { error: `AdmissionReview larger than ${MAX_BODY_BYTES} bytes` });
      return;
    }
    let review: { apiVersion?: string; kind?: string; request?: AdmissionRequest };
    try {
      review = JSON.parse(body.toString('utf8')) as typeof review;
    } catch {
      send(res, 400, { error: 'the body is not JSON' });
      return;
    }
    if (
      review.apiVersion !== 'admission.k8s.io/v1' ||
      review.kind !== 'AdmissionReview' ||
      typeof review.request?.uid !== 'string'
    ) {
      send(res, 400, { error: 'expected an admission.k8s.io/v1 AdmissionReview with request.uid' });
      return;
    }
    try {
      const result = reviewer.review(review.request);
      verdict(result.outcome, result.reason);
      send(res, 200, {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: result.response,
      });
    } catch (err) {
      // A bug must not read as a verdict: answer with an error the API server reports as such.
      verdict('error', 'InternalError');
      log.error('admission review failed', { error: (err as Error).message });
      send(res, 500, { error: 'internal error in the hookgate injector' });
    }
  };

  const server = createSecureServer(
    {
      ...tls(options.certificate),
      allowHTTP1: true,
      // Flow-control windows large enough for a burst of reviews (a few KiB each) to arrive
      // without waiting for WINDOW_UPDATEs; the default 64 KiB holds about twenty.
      settings: { initialWindowSize: 1 << 20 },
    },
    (req, res) => {
      // A client that goes away mid-body ends the read with an error: nothing to answer.
      handle(req, res).catch((err: unknown) => {
        log.debug('admission request aborted', { error: (err as Error).message });
        if (!res.headersSent) res.destroy?.();
      });
    },
  );
  server.on('sessionError', (err: Error) =>
    log.debug('admission connection error', { error: err.message }),
  );
  // Open connections, so close() can end them: h2 sessions gracefully (GOAWAY, streams in
  // flight finish), HTTP/1.1 sockets once idle.
  const sessions = new Set<Http2Session>();
  const sockets = new Set<Socket>();
  server.on('session', (session: Http2Session) => {
    session.setLocalWindowSize(16 << 20);
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // Idle connections close after a minute; the API server opens new ones as needed.
  server.setTimeout(60_000);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info('admission webhook listening', { host: options.host, port, path: INJECT_PATH });
  return {
    port,
    setCertificate(certificate: ServingCertificate): void {
      server.setSecureContext(tls(certificate));
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      // HTTP/1.1 connections: a moment for a review in flight, then they go.
      const grace = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, 1_000);
      await closed;
      clearTimeout(grace);
    },
  };
}
