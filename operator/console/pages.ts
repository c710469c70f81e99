// The console's pages, rendered on the server from what data.ts gathered. Every value goes
// through the escaping `html` template; request and response bodies are shown as text.
import type { DeliveryRecord } from '../../common/history.ts';
import type { DeliveryFilter, DeliveryPage, EndpointHealth } from './data.ts';
import { OUTCOMES } from './data.ts';
import { html, type Html } from './html.ts';
import type { ListedDelivery } from './sidecars.ts';

/** Which tab is lit. */
type Tab = 'endpoints' | 'deliveries' | 'dead' | 'tail' | 'login';

/** The frame around every page. */
export function layout(title: string, tab: Tab, user: string | undefined, body: Html): string {
  const link = (href: string, name: Tab, label: string): Html =>
    html`<a href="${href}" class="${tab === name ? 'on' : ''}">${label}</a>`;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · Hookgate</title>
        <link rel="stylesheet" href="/assets/console.css" />
      </head>
      <body>
        <header>
          <span class="brand">Hookgate</span>
          ${user === undefined ? '' : [link('/endpoints', 'endpoints', 'Endpoints'), link('/deliveries', 'deliveries', 'Deliveries'), link('/dead-letters', 'dead', 'Dead letters'), link('/tail', 'tail', 'Live tail')]}
          ${user === undefined ? '' : html`<span class="who">signed in as ${user}</span>`}
        </header>
        <main>${body}</main>
        <script src="/assets/console.js"></script>
      </body>
    </html>`.text;
}

/** Paste a token; the page's script posts it. */
export function loginPage(): string {
  return layout(
    'Sign in',
    'login',
    undefined,
    html`<h1>Sign in</h1>
      <p class="muted">
        The console knows you by your Kubernetes identity. Paste a bearer token (<code
          >kubectl create token &lt;service-account&gt;</code
        >, or your kubeconfig's). <code>kubectl hookgate console</code> opens this page through a
        port-forward; <code>kubectl hookgate</code> shows the same data in a terminal.
      </p>
      <form id="login">
        <label>Token <input type="password" name="token" autocomplete="off" size="60" /></label>
        <button type="submit">Sign in</button>
      </form>
      <div id="status"></div>`,
  );
}

function pill(value: string): Html {
  return html`<span class="pill ${value}">${value}</span>`;
}

function percent(ratio: number | undefined): string {
  return ratio === undefined ? '—' : `${(ratio * 100).toFixed(1)} %`;
}

function deliveryLink(d: { namespace: string; deliveryId: string }): Html {
  return html`<a
    href="/deliveries/${encodeURIComponent(d.namespace)}/${encodeURIComponent(d.deliveryId)}"
    ><code>${d.deliveryId}</code></a
  >`;
}

/** Endpoints per namespace with their health. */
export function endpointsPage(user: string, endpoints: readonly EndpointHealth[]): string {
  const namespaces = [...new Set(endpoints.map((e) => e.namespace))];
  const sections = namespaces.map(
    (ns) =>
      html`<h2>${ns}</h2>
        <table>
          <thead>
            <tr>
              <th>Endpoint</th>
              <th>Direction</th>
              <th>Health</th>
              <th>Success</th>
              <th>Deliveries</th>
              <th>Circuit</th>
              <th>Queue (pending / retrying / dead)</th>
              <th>Last failure</th>
              <th>Pods</th>
            </tr>
          </thead>
          <tbody>
            ${endpoints
              .filter((e) => e.namespace === ns)
              .map(
                (e) =>
                  html`<tr data-endpoint="${e.name}">
                    <td>
                      <a
                        href="/deliveries?namespace=${encodeURIComponent(ns)}&amp;endpoint=${encodeURIComponent(e.name)}"
                        >${e.name}</a
                      >
                      <div class="muted">${e.destination ?? ''}</div>
                    </td>
                    <td>${e.direction}</td>
                    <td>
                      ${e.healthy === undefined ? html`<span class="muted">${e.ready === undefined ? '—' : `Ready ${e.ready}`}</span>` : html`${pill(e.healthy.status)} ${e.healthy.reason ?? ''}`}
                      ${e.summary === undefined ? '' : html`<div class="muted"><code>${JSON.stringify(e.summary)}</code></div>`}
                    </td>
                    <td class="num">${percent(e.successRatio)}</td>
                    <td class="num">${e.delivered} / ${e.total}</td>
                    <td>${pill(e.circuit)}</td>
                    <td class="num">
                      <a
                        href="/dead-letters?namespace=${encodeURIComponent(ns)}&amp;endpoint=${encodeURIComponent(e.name)}"
                        >${e.queue.pending} / ${e.queue.retrying} / ${e.queue.dead}</a
                      >
                    </td>
                    <td>
                      ${
                        e.lastFailure === undefined
                          ? html`<span class="muted">none</span>`
                          : html`${e.lastFailure.reason}
                              <div class="muted">
                                ${e.lastFailure.at}
                                ${deliveryLink({ namespace: ns, deliveryId: e.lastFailure.deliveryId })}
                              </div>`
                      }
                    </td>
                    <td class="num">
                      ${e.pods}${e.unreachablePods.length > 0 ? html` <span class="bad">(${e.unreachablePods.length} unreachable)</span>` : ''}
                    </td>
                  </tr>`,
              )}
          </tbody>
        </table>`,
  );
  return layout(
    'Endpoints',
    'endpoints',
    user,
    html`<h1>Endpoints</h1>
      ${sections.length === 0 ? html`<p class="muted">No endpoints you may see.</p>` : sections}`,
  );
}

function timeInput(ms: number | undefined): string {
  return ms === undefined ? '' : new Date(ms).toISOString().slice(0, 16);
}

function filterForm(
  action: string,
  f: DeliveryFilter,
  namespaces: readonly string[],
  withOutcome: boolean,
): Html {
  return html`<form class="filters" method="get" action="${action}">
    <label
      >Namespace
      <select name="namespace">
        <option value="">all</option>
        ${namespaces.map((ns) => html`<option ${ns === f.namespace ? 'selected' : ''}>${ns}</option>`)}
      </select></label
    >
    <label>Endpoint <input name="endpoint" value="${f.endpoint ?? ''}" size="14" /></label>
    ${
      withOutcome
        ? html`<label
              >Event type <input name="eventType" value="${f.eventType ?? ''}" size="14" /></label
            ><label
              >Outcome
              <select name="outcome">
                <option value="">any</option>
                ${OUTCOMES.map((o) => html`<option ${o === f.outcome ? 'selected' : ''}>${o}</option>`)}
              </select></label
            >`
        : ''
    }
    <label
      >From (UTC) <input type="datetime-local" name="from" value="${timeInput(f.from)}"
    /></label>
    <label>To (UTC) <input type="datetime-local" name="to" value="${timeInput(f.to)}" /></label>
    <button type="submit">Filter</button>
  </form>`;
}

function query(f: DeliveryFilter, cursor: string): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries({
    namespace: f.namespace,
    endpoint: f.endpoint,
    eventType: f.eventType,
    outcome: f.outcome,
  }))
    if (v !== undefined && v !== '') p.set(k, v);
  if (f.from !== undefined) p.set('from', new Date(f.from).toISOString());
  if (f.to !== undefined) p.set('to', new Date(f.to).toISOString());
  p.set('cursor', cursor);
  return p.toString();
}

function incomplete(page: DeliveryPage): Html | string {
  return page.unreachable.length === 0
    ? ''
    : html`<div class="note">
        Not every sidecar answered (${page.unreachable.join(', ')}): the list may be incomplete.
      </div>`;
}

/** Deliveries with filters, search by id, paged. */
export function deliveriesPage(
  user: string,
  f: DeliveryFilter,
  namespaces: readonly string[],
  page: DeliveryPage,
): string {
  const rows = page.items.map(
    (d) =>
      html`<tr data-delivery="${d.deliveryId}">
        <td>${deliveryLink(d)}</td>
        <td>${d.namespace}</td>
        <td>${d.endpoint}</td>
        <td>${d.eventType ?? ''}</td>
        <td>${d.direction} · ${d.mode}</td>
        <td>${pill(d.outcome)}</td>
        <td class="num">${d.attempts}</td>
        <td class="num">${d.lastStatus ?? ''}</td>
        <td>${d.problem ?? ''}</td>
        <td>${d.firstAttemptAt}</td>
      </tr>`,
  );
  return layout(
    'Deliveries',
    'deliveries',
    user,
    html`<h1>Deliveries</h1>
      <form class="filters" method="get" action="/deliveries/search">
        <label>Delivery id <input name="id" size="36" /></label
        ><button type="submit" class="secondary">Find</button>
      </form>
      ${filterForm('/deliveries', f, namespaces, true)}${incomplete(page)}
      <table id="deliveries">
        <thead>
          <tr>
            <th>Delivery</th>
            <th>Namespace</th>
            <th>Endpoint</th>
            <th>Event type</th>
            <th>Kind</th>
            <th>Outcome</th>
            <th>Attempts</th>
            <th>Last status</th>
            <th>Problem</th>
            <th>Accepted</th>
          </tr>
        </thead>
        <tbody>
          ${
            rows.length === 0
              ? html`<tr>
                  <td colspan="10" class="muted">No deliveries match.</td>
                </tr>`
              : rows
          }
        </tbody>
      </table>
      <div class="pager">
        ${page.nextCursor === undefined ? '' : html`<a href="/deliveries?${query(f, page.nextCursor)}">Older →</a>`}
      </div>`,
  );
}

/** Dead letters with replay one, replay selected and replay a time range. */
export function deadLettersPage(
  user: string,
  f: DeliveryFilter,
  namespaces: readonly string[],
  page: DeliveryPage,
): string {
  const replayUrl = (ns: string): string => `/api/v1/namespaces/${encodeURIComponent(ns)}/replay`;
  const ns = f.namespace ?? '';
  const rows = page.items.map(
    (d: ListedDelivery) =>
      html`<tr data-delivery="${d.deliveryId}">
        <td>
          <input
            type="checkbox"
            name="pick"
            value="${d.deliveryId}"
            ${ns === '' ? 'disabled' : ''}
          />
        </td>
        <td>${deliveryLink(d)}</td>
        <td>${d.namespace}</td>
        <td>${d.endpoint}</td>
        <td class="num">${d.attempts}</td>
        <td class="num">${d.lastStatus ?? ''}</td>
        <td>${d.problem ?? ''}</td>
        <td>${d.lastAttemptAt}</td>
        <td>
          <button type="button" data-replay="${d.deliveryId}" data-url="${replayUrl(d.namespace)}">
            Replay
          </button>
        </td>
      </tr>`,
  );
  return layout(
    'Dead letters',
    'dead',
    user,
    html`<h1>Dead letters</h1>
      ${filterForm('/dead-letters', f, namespaces, false)}${incomplete(page)}
      <div id="status"></div>
      <table id="dead">
        <thead>
          <tr>
            <th></th>
            <th>Delivery</th>
            <th>Namespace</th>
            <th>Endpoint</th>
            <th>Attempts</th>
            <th>Last status</th>
            <th>Problem</th>
            <th>Died</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          ${
            rows.length === 0
              ? html`<tr>
                  <td colspan="9" class="muted">No dead letters.</td>
                </tr>`
              : rows
          }
        </tbody>
      </table>
      ${
        ns === ''
          ? html`<p class="muted">Choose a namespace to replay several at once.</p>`
          : html`<p>
                <button type="button" id="replay-selected" data-url="${replayUrl(ns)}">
                  Replay selected
                </button>
              </p>
              <h2>Replay a time range</h2>
              <form id="replay-range" class="filters" data-url="${replayUrl(ns)}">
                <label
                  >Endpoint <input name="endpoint" value="${f.endpoint ?? ''}" required
                /></label>
                <label>Accepted from (UTC) <input type="datetime-local" name="from" /></label
                ><label>to (UTC) <input type="datetime-local" name="to" /></label>
                <button type="submit">Replay range</button>
              </form>`
      }
      <div class="pager">
        ${page.nextCursor === undefined ? '' : html`<a href="/dead-letters?${query(f, page.nextCursor)}">Older →</a>`}
      </div>`,
  );
}

function headerTable(headers: Readonly<Record<string, string>> | undefined): Html {
  const entries = Object.entries(headers ?? {});
  return entries.length === 0
    ? html`<p class="muted">none recorded</p>`
    : html`<table class="headers">
        <tbody>
          ${entries.map(
            ([k, v]) =>
              html`<tr>
                <th>${k}</th>
                <td><code>${v}</code></td>
              </tr>`,
          )}
        </tbody>
      </table>`;
}

/** A delivery's attempt timeline with its request and each response. */
export function deliveryPage(user: string, d: DeliveryRecord, canReplay: boolean): string {
  const attempts = d.attemptLog.map(
    (a) =>
      html`<li
        class="${a.status !== undefined && a.status < 300 ? 'ok' : ''}"
        data-attempt="${a.attempt}"
      >
        <strong>Attempt ${a.attempt}</strong> · ${a.at} · ${a.latencyMs} ms ·
        ${a.status === undefined ? html`<span class="bad">no response</span>` : html`status <strong>${a.status}</strong>`}
        ${a.error === undefined ? '' : html` · <span class="bad">${a.error}</span>`}
        ${
          a.responseHeaders === undefined
            ? ''
            : html`<details>
                <summary>Response headers</summary>
                ${headerTable(a.responseHeaders)}
              </details>`
        }
        ${a.responseBody === undefined ? '' : html`<pre class="response">${a.responseBody}${a.responseBodyTruncated === true ? '\n… (truncated)' : ''}</pre>`}
      </li>`,
  );
  return layout(
    `Delivery ${d.deliveryId}`,
    'deliveries',
    user,
    html`<h1>Delivery <code>${d.deliveryId}</code> ${pill(d.outcome)}</h1>
      <p>
        ${d.namespace} /
        <a
          href="/deliveries?namespace=${encodeURIComponent(d.namespace)}&amp;endpoint=${encodeURIComponent(d.endpoint)}"
          >${d.endpoint}</a
        >
        · ${d.direction} · ${d.mode}${d.eventType === undefined ? '' : ` · ${d.eventType}`} · pod
        ${d.pod}${d.problem === undefined ? '' : ` · ${d.problem}`}
      </p>
      ${
        d.outcome === 'dead'
          ? canReplay
            ? html`<p>
                <button
                  type="button"
                  data-replay="${d.deliveryId}"
                  data-url="/api/v1/namespaces/${encodeURIComponent(d.namespace)}/replay"
                >
                  Replay with the same webhook-id
                </button>
              </p>`
            : html`<p class="muted">
                You may see this delivery but not replay it (that needs update on the endpoint).
              </p>`
          : ''
      }
      <div id="status"></div>
      <div class="grid">
        <section>
          <h2>Attempts</h2>
          ${
            attempts.length === 0
              ? html`<p class="muted">No attempt yet.</p>`
              : html`<ol class="timeline">
                  ${attempts}
                </ol>`
          }
        </section>
        <section>
          <h2>Request</h2>
          <p><code>${d.method} ${d.url}</code></p>
          ${headerTable(d.requestHeaders)}
          ${d.requestBody === undefined ? html`<p class="muted">Body not recorded.</p>` : html`<pre class="request">${d.requestBody}${d.requestBodyTruncated === true ? '\n… (truncated)' : ''}</pre>`}
        </section>
      </div>`,
  );
}

/** The live tail: rows arrive over server-sent events. */
export function tailPage(user: string, namespace: string | undefined): string {
  const url = `/api/v1/stream${namespace === undefined ? '' : `?namespace=${encodeURIComponent(namespace)}`}`;
  return layout(
    'Live tail',
    'tail',
    user,
    html`<h1>Live tail${namespace === undefined ? '' : ` · ${namespace}`}</h1>
      <div id="status"></div>
      <table id="tail" data-url="${url}">
        <thead>
          <tr>
            <th>Delivery</th>
            <th>Last attempt</th>
            <th>Namespace</th>
            <th>Endpoint</th>
            <th>Event type</th>
            <th>Outcome</th>
            <th>Attempts</th>
            <th>Last status</th>
          </tr>
        </thead>
        <tbody></tbody>
      </table>`,
  );
}

/** A page saying why not. */
export function messagePage(user: string | undefined, title: string, text: string): string {
  return layout(
    title,
    'deliveries',
    user,
    html`<h1>${title}</h1>
      <p>${text}</p>`,
  );
}
