// A request body read whole, up to a bound: both of the operator's HTTPS servers (the injection
// webhook and the config stream's reports) take small JSON bodies and refuse bigger ones. HTTP/1
// and HTTP/2 requests are both async iterables of Buffers.

/** The body, or `undefined` once it grows past `max` bytes (the caller answers 413). */
export async function readBody(
  req: AsyncIterable<unknown>,
  max: number,
): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
