// Reading a webhook body into memory, never more than the endpoint's byte cap: the signature is
// computed over the whole body, so it has to be held, and a sender must not be able to make the
// sidecar hold more than the cap. A declared Content-Length over the cap is refused before any
// byte is read.
import type { Readable } from 'node:stream';
import { SidecarError } from '../errors.ts';

/** A body larger than the endpoint's `maxPayloadBytes`. */
export class PayloadTooLargeError extends SidecarError {
  /** The cap that was exceeded, in bytes. */
  readonly limitBytes: number;

  /** Creates the error for a cap of `limitBytes`. */
  constructor(limitBytes: number) {
    super('ERR_PAYLOAD_TOO_LARGE', 413, `the body is larger than ${limitBytes} bytes`);
    this.name = 'PayloadTooLargeError';
    this.limitBytes = limitBytes;
  }
}

/**
 * Reads `body` whole. Rejects with {@link PayloadTooLargeError} as soon as `declaredLength` or
 * the bytes received pass `limitBytes` (the rest is left unread: the caller closes the
 * connection), and with the stream's own error when the sender aborts.
 */
export function readBody(
  body: Readable,
  limitBytes: number,
  declaredLength?: string,
): Promise<Buffer> {
  if (declaredLength !== undefined && Number(declaredLength) > limitBytes) {
    return Promise.reject(new PayloadTooLargeError(limitBytes));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = (): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limitBytes) {
        cleanup();
        body.pause();
        reject(new PayloadTooLargeError(limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    // A sender that hangs up mid-body ends the stream with `close` and no `end`.
    const onClose = (): void => {
      cleanup();
      reject(new Error('the sender closed the connection before the body ended'));
    };
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
  });
}
