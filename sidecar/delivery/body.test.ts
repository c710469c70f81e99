import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PayloadTooLargeError, readBody } from './body.ts';

describe('readBody', () => {
  it('returns the exact bytes, across chunks', async () => {
    const chunks = [Buffer.from([0xff, 0x00]), Buffer.from('caf\u00e9'), Buffer.from([0x80])];
    const body = await readBody(Readable.from(chunks), 100);
    expect(body.equals(Buffer.concat(chunks))).toBe(true);
  });

  it('returns an empty buffer for an empty body', async () => {
    expect((await readBody(Readable.from([]), 10)).length).toBe(0);
  });

  it.each([
    // exactly at the cap is allowed
    { size: 16, ok: true },
    // one byte over is not
    { size: 17, ok: false },
  ])('applies the cap to the bytes received: $size bytes against 16', async ({ size, ok }) => {
    const read = readBody(Readable.from([Buffer.alloc(size - 1), Buffer.alloc(1)]), 16);
    if (ok) expect((await read).length).toBe(size);
    else await expect(read).rejects.toBeInstanceOf(PayloadTooLargeError);
  });

  it('refuses a declared Content-Length over the cap without reading', async () => {
    const stream = new PassThrough();
    const err = await readBody(stream, 1024, '1025').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect(err).toMatchObject({ code: 'ERR_PAYLOAD_TOO_LARGE', statusCode: 413, limitBytes: 1024 });
    // nothing consumed the stream
    expect(stream.listenerCount('data')).toBe(0);
  });

  it('stops at the cap even when the declared length lied', async () => {
    const stream = new PassThrough();
    const read = readBody(stream, 8, '4');
    stream.write(Buffer.alloc(9));
    await expect(read).rejects.toMatchObject({ code: 'ERR_PAYLOAD_TOO_LARGE' });
  });

  it('rejects when the sender hangs up mid-body', async () => {
    const stream = new PassThrough();
    const read = readBody(stream, 100);
    stream.write('partial');
    stream.destroy();
    await expect(read).rejects.toThrow('closed the connection');
  });
});
