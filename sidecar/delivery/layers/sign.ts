// Signing layer: each attempt is signed afresh (a new timestamp, so receivers' replay windows hold
// for late retries) with the delivery's stable id, so receivers can de-duplicate retries.
import type { Signer } from '../../signing/index.ts';
import type { Clock, Layer } from '../delivery.ts';

/**
 * Adds the signature headers of the signer in force at the attempt's time (rotated-out secrets
 * stop signing at their expiry); `undefined` from `signerAt` sends unsigned (scheme none), with the
 * delivery id in `webhook-id` all the same.
 */
export function signLayer(signerAt: (now: number) => Signer | undefined, clock: Clock): Layer {
  return (next) => (delivery, attempt) => {
    const now = clock.now();
    const signer = signerAt(now);
    // Unsigned (scheme none) still names the delivery, so receivers can de-duplicate retries.
    if (signer === undefined)
      return next(
        { ...delivery, headers: { ...delivery.headers, 'webhook-id': delivery.deliveryId } },
        attempt,
      );
    const signature = signer({
      deliveryId: delivery.deliveryId,
      timestamp: Math.floor(now / 1000),
      body: delivery.body,
    });
    return next({ ...delivery, headers: { ...delivery.headers, ...signature } }, attempt);
  };
}
