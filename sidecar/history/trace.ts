// Traces: with an OTLP endpoint configured (the OpenTelemetry variables
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces), a delivery
// observer exports one span per delivery and one per attempt, children of the app's own
// `traceparent` (which the receiver gets unchanged on every attempt: it is an end-to-end header).
// Off by default; the SDK is loaded only when an endpoint is set, so tracing off costs nothing.
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { AttemptObservation, DeliveryEnd, DeliveryObserver } from '../delivery/observe.ts';
import { resultReason } from '../delivery/observe.ts';

/** Deliveries whose span is open at once at most; the oldest is ended past it. */
const MAX_OPEN = 10_000;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The OTLP/HTTP traces URL the environment names, or undefined (tracing off). */
export function otlpTracesUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const traces = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
  if (traces !== undefined && traces !== '') return traces;
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  if (base !== undefined && base !== '') return `${base.replace(/\/$/, '')}/v1/traces`;
  return undefined;
}

/** The app's trace as a parent context; the root when it sent none (or a malformed one). */
function parentOf(traceparent: string | undefined): Context {
  const m = traceparent === undefined ? null : TRACEPARENT.exec(traceparent.trim());
  if (m === null) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: m[1]!,
    spanId: m[2]!,
    traceFlags: Number.parseInt(m[3]!, 16),
    isRemote: true,
  });
}

/** Spans for deliveries and attempts. */
export class DeliveryTracer implements DeliveryObserver {
  readonly #tracer: Tracer;
  readonly #open = new Map<string, Span>();
  readonly #shutdown: () => Promise<void>;

  constructor(tracer: Tracer, shutdown: () => Promise<void>) {
    this.#tracer = tracer;
    this.#shutdown = shutdown;
  }

  onAttempt(o: AttemptObservation): void {
    const d = o.delivery;
    let delivery = this.#open.get(d.deliveryId);
    if (delivery === undefined) {
      delivery = this.#tracer.startSpan(
        `deliver ${d.endpointName}`,
        {
          kind: SpanKind.PRODUCER,
          startTime: o.startedAt,
          attributes: {
            'hookgate.delivery_id': d.deliveryId,
            'hookgate.endpoint': d.endpointName,
            'hookgate.mode': d.mode ?? 'sync',
          },
        },
        parentOf(d.headers['traceparent']),
      );
      this.#open.set(d.deliveryId, delivery);
      if (this.#open.size > MAX_OPEN) {
        const [oldest, span] = this.#open.entries().next().value!;
        this.#open.delete(oldest);
        span.end();
      }
    }
    const reason = resultReason(o.result);
    const attempt = this.#tracer.startSpan(
      `${d.method} ${d.endpointName}`,
      {
        kind: SpanKind.CLIENT,
        startTime: o.startedAt,
        attributes: {
          'hookgate.delivery_id': d.deliveryId,
          'hookgate.endpoint': d.endpointName,
          'hookgate.attempt': o.attempt,
          'http.request.method': d.method,
          ...(o.result.kind === 'response' ? { 'http.response.status_code': o.result.status } : {}),
          ...(reason !== undefined ? { 'error.type': reason } : {}),
        },
      },
      trace.setSpan(ROOT_CONTEXT, delivery),
    );
    if (reason !== undefined) attempt.setStatus({ code: SpanStatusCode.ERROR, message: reason });
    attempt.end();
    // A delivered attempt ends its delivery; failures end it when the loop says so.
    if (reason === undefined) this.#end(d.deliveryId, undefined);
  }

  onDeliveryEnd(end: DeliveryEnd): void {
    this.#end(end.delivery.deliveryId, end.outcome === 'delivered' ? undefined : end.outcome);
  }

  #end(deliveryId: string, failure: string | undefined): void {
    const span = this.#open.get(deliveryId);
    if (span === undefined) return;
    this.#open.delete(deliveryId);
    if (failure !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
    span.end();
  }

  /** Ends open spans and exports what is buffered. */
  async close(): Promise<void> {
    for (const span of this.#open.values()) span.end();
    this.#open.clear();
    await this.#shutdown();
  }
}

/** Loads the SDK and exports to `url` over OTLP/HTTP (JSON), batched. */
export async function startTracing(url: string, serviceName: string): Promise<DeliveryTracer> {
  const [{ TracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }] = await Promise.all([
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
  ]);
  // The SDK's default resource reads the service name from the environment.
  process.env['OTEL_SERVICE_NAME'] ??= serviceName;
  const provider = new TracerProvider({
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url }) })],
  });
  return new DeliveryTracer(provider.getTracer('hookgate-sidecar'), () => provider.shutdown());
}
