// Traces on a real OTLP/HTTP receiver: a synchronous delivery retried once exports one delivery
// span and two attempt spans, in the app's own trace (its traceparent is the delivery's parent),
// with the delivery id and endpoint as attributes; the receiver gets the app's traceparent on
// every attempt. Without an OTLP endpoint tracing is off.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.ts';
import { parseConfig } from '../../sidecar/config/load.ts';
import { systemClock } from '../../sidecar/delivery/delivery.ts';
import { DeliveryObservers } from '../../sidecar/delivery/observe.ts';
import { startEgressServer, type EgressServer } from '../../sidecar/egress/server.ts';
import { otlpTracesUrl, startTracing, type DeliveryTracer } from '../../sidecar/history/trace.ts';
import { LOOPBACK_ALLOWED, secretsDir, startReceiver, type Receiver } from '../egress/harness.ts';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  status?: { code?: number };
  attributes: { key: string; value: Record<string, unknown> }[];
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const APP_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${APP_SPAN}-01`;

let collector: Server;
const spans: OtlpSpan[] = [];
let receiver: Receiver;
let egress: EgressServer;
let tracer: DeliveryTracer;

const attribute = (s: OtlpSpan, key: string): unknown =>
  Object.values(s.attributes.find((a) => a.key === key)?.value ?? {})[0];

beforeAll(async () => {
  // The OTLP receiver: POST /v1/traces, JSON (the OTLP/HTTP exporter's default encoding).
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
      };
      for (const r of body.resourceSpans) for (const s of r.scopeSpans) spans.push(...s.spans);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  tracer = await startTracing(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: url })!, 'test');
  const observers = new DeliveryObservers();
  observers.add(tracer);
  receiver = await startReceiver((n, _req, res) => {
    res.statusCode = n === 0 ? 503 : 200;
    res.end(n === 0 ? 'busy' : 'ok');
  });
  const loaded = await parseConfig(
    `endpoints:\n  - name: orders\n    url: ${receiver.url}\n    policy: { ${LOOPBACK_ALLOWED}, retry: { backoff: { initial: 1ms, max: 2ms } } }\n`,
    'test.yaml',
    secretsDir,
    {},
  );
  egress = await startEgressServer('127.0.0.1', 0, {
    config: () => loaded,
    registry: new Registry(),
    log: createLogger({ test: 'trace' }, 'error'),
    clock: systemClock,
    observers,
  });
});

afterAll(async () => {
  await egress?.close(1000);
  await receiver?.close();
  collector?.close();
});

describe('delivery traces over OTLP', () => {
  it('exports a delivery span and a span per attempt in the app trace', async () => {
    const res = await fetch(`http://127.0.0.1:${egress.port}/orders`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json', traceparent: TRACEPARENT },
    });
    expect(res.status).toBe(200);
    const id = res.headers.get('hookgate-delivery-id')!;
    // The receiver got the app's traceparent on both attempts.
    expect(receiver.received.map((r) => r.headers['traceparent'])).toEqual([
      TRACEPARENT,
      TRACEPARENT,
    ]);
    await tracer.close(); // flushes the batch to the collector

    const delivery = spans.find((s) => s.name === 'deliver orders')!;
    const attempts = spans.filter((s) => s.name === 'POST orders');
    expect(delivery).toMatchObject({ traceId: TRACE_ID, parentSpanId: APP_SPAN });
    expect(attribute(delivery, 'hookgate.delivery_id')).toBe(id);
    expect(attribute(delivery, 'hookgate.endpoint')).toBe('orders');
    expect(attempts).toHaveLength(2);
    for (const a of attempts)
      expect(a).toMatchObject({ traceId: TRACE_ID, parentSpanId: delivery.spanId });
    const byNumber = attempts.sort(
      (x, y) => Number(attribute(x, 'hookgate.attempt')) - Number(attribute(y, 'hookgate.attempt')),
    );
    expect(byNumber.map((a) => Number(attribute(a, 'http.response.status_code')))).toEqual([
      503, 200,
    ]);
    expect(attribute(byNumber[0]!, 'error.type')).toBe('http-503');
    expect(byNumber[0]!.status?.code).toBe(2); // ERROR
  });

  it('is off without an OTLP endpoint', () => {
    expect(otlpTracesUrl({})).toBeUndefined();
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/x' })).toBe(
      'http://c:4318/x',
    );
  });
});
