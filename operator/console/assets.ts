// The console's only stylesheet and script, served by the operator itself (no CDN; the CSP
// allows 'self' only). The script is small vanilla JS: the replay buttons (POST with the
// `Hookgate-Console` header, which no cross-site form can send), the login form and the live tail.

/** /assets/console.css */
export const CONSOLE_CSS = `
:root { --fg:#1d2330; --muted:#5b6475; --line:#dde2ea; --bg:#f6f7f9; --ok:#17803d; --bad:#b42318; --warn:#a15c00; --accent:#2952cc; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:var(--bg); }
header { display:flex; gap:24px; align-items:center; padding:10px 24px; background:#1d2330; color:#fff; }
header a { color:#cfd8ea; text-decoration:none; } header a.on, header a:hover { color:#fff; }
header .brand { font-weight:700; color:#fff; } header .who { margin-left:auto; color:#9aa6bd; font-size:12px; }
main { padding:20px 24px; max-width:1280px; }
h1 { font-size:20px; margin:0 0 14px; } h2 { font-size:16px; margin:22px 0 8px; }
table { width:100%; border-collapse:collapse; background:#fff; border:1px solid var(--line); }
th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#eef1f5; font-weight:600; font-size:12px; text-transform:uppercase; letter-spacing:.03em; color:var(--muted); }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
code, pre { font:12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { background:#fff; border:1px solid var(--line); padding:10px; overflow:auto; max-height:320px; white-space:pre-wrap; word-break:break-all; }
.pill { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; background:#e8ebf0; }
.pill.delivered, .pill.closed, .pill.True { background:#dcf3e4; color:var(--ok); }
.pill.failed, .pill.dead, .pill.open, .pill.False, .pill.refused { background:#fde4e1; color:var(--bad); }
.pill.retrying, .pill.half-open { background:#fff1d6; color:var(--warn); }
form.filters { display:flex; flex-wrap:wrap; gap:8px; align-items:end; margin-bottom:14px; }
form.filters label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); }
input, select, button { font:inherit; padding:4px 8px; border:1px solid #c4cbd6; border-radius:4px; background:#fff; }
button { background:var(--accent); color:#fff; border-color:var(--accent); cursor:pointer; }
button.secondary { background:#fff; color:var(--accent); }
.muted { color:var(--muted); } .bad { color:var(--bad); } .note { margin:8px 0; padding:8px 12px; background:#fff7e0; border:1px solid #f0d58a; }
.timeline { list-style:none; padding:0; margin:0; border-left:3px solid var(--line); }
.timeline li { margin:0 0 14px 0; padding:0 0 0 16px; position:relative; }
.timeline li::before { content:""; position:absolute; left:-8px; top:4px; width:13px; height:13px; border-radius:50%; background:var(--bad); }
.timeline li.ok::before { background:var(--ok); }
.grid { display:grid; grid-template-columns: 1fr 1fr; gap:16px; }
#status { margin:8px 0; min-height:1.4em; }
.pager { margin-top:10px; }
`;

/** /assets/console.js */
export const CONSOLE_JS = `
'use strict';
(function () {
  const status = document.getElementById('status');
  const say = (text, bad) => { if (status) { status.textContent = text; status.className = bad ? 'bad' : ''; } };
  async function post(url, body) {
    const res = await fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'hookgate-console': '1' },
      body: JSON.stringify(body || {}),
    });
    const text = await res.text();
    let json = {}; try { json = JSON.parse(text); } catch (e) { json = { detail: text }; }
    if (!res.ok) throw new Error(json.detail || json.title || ('HTTP ' + res.status));
    return json;
  }
  function summarise(result) {
    if (typeof result.replayed === 'number') return 'replayed ' + result.replayed + ' dead letter(s)';
    const r = result.results || {};
    return Object.keys(r).map((id) => id + ': ' + r[id]).join(', ');
  }

  const login = document.getElementById('login');
  if (login) login.addEventListener('submit', async (e) => {
    e.preventDefault();
    try { await post('/login', { token: login.elements.token.value }); location.href = '/endpoints'; }
    catch (err) { say(err.message, true); }
  });

  for (const b of document.querySelectorAll('button[data-replay]')) b.addEventListener('click', async () => {
    try { say(summarise(await post(b.dataset.url, { ids: [b.dataset.replay] }))); }
    catch (err) { say(err.message, true); }
  });

  const selected = document.getElementById('replay-selected');
  if (selected) selected.addEventListener('click', async () => {
    const ids = [...document.querySelectorAll('input[name=pick]:checked')].map((c) => c.value);
    if (ids.length === 0) { say('select dead letters first', true); return; }
    try { say(summarise(await post(selected.dataset.url, { ids }))); } catch (err) { say(err.message, true); }
  });

  const range = document.getElementById('replay-range');
  if (range) range.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = range.elements;
    const body = { endpoint: f.endpoint.value };
    if (f.from.value) body.from = f.from.value;
    if (f.to.value) body.to = f.to.value;
    try { say(summarise(await post(range.dataset.url, body))); } catch (err) { say(err.message, true); }
  });

  const tail = document.getElementById('tail');
  if (tail) {
    const source = new EventSource(tail.dataset.url, { withCredentials: true });
    const body = tail.querySelector('tbody');
    source.addEventListener('delivery', (event) => {
      const d = JSON.parse(event.data);
      const tr = document.createElement('tr');
      const cells = [d.lastAttemptAt, d.namespace, d.endpoint, d.eventType || '', d.outcome, String(d.attempts), d.lastStatus == null ? '' : String(d.lastStatus)];
      cells.forEach((text, i) => {
        const td = document.createElement('td');
        if (i === 4) { const s = document.createElement('span'); s.className = 'pill ' + text; s.textContent = text; td.appendChild(s); }
        else td.textContent = text;
        tr.appendChild(td);
      });
      const link = document.createElement('td');
      const a = document.createElement('a');
      a.href = '/deliveries/' + encodeURIComponent(d.namespace) + '/' + encodeURIComponent(d.deliveryId);
      a.textContent = d.deliveryId;
      link.appendChild(a); tr.insertBefore(link, tr.firstChild);
      body.insertBefore(tr, body.firstChild);
      while (body.children.length > 200) body.removeChild(body.lastChild);
    });
    source.onerror = () => say('live tail reconnecting…', true);
    source.onopen = () => say('live');
  }
})();
`;
