// possim console: plain JavaScript, no framework, no build step. Everything goes through the admin
// API; live traffic comes from one server-sent event stream fed by the journal (bounded: a tab
// that falls behind is told how many entries it missed).
'use strict';

const MAX_ENTRIES = 5000; // summaries kept in memory
const MAX_ROWS = 1000; // rows in the table

// The admin token, when possim runs with --admin-token: opened as /?access_token=TOKEN, the page
// keeps it for this tab (and drops it from the address bar) and sends it with every request:
// as a bearer header, and as the query parameter where a header cannot go (the event stream).
const TOKEN = (() => {
  const given = new URLSearchParams(location.search).get('access_token');
  if (given) {
    sessionStorage.setItem('possim-admin-token', given);
    history.replaceState(null, '', location.pathname);
  }
  return sessionStorage.getItem('possim-admin-token');
})();
const withToken = (path) =>
  TOKEN ? `${path}${path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(TOKEN)}` : path;
const tokenHeaders = () => (TOKEN ? { authorization: `Bearer ${TOKEN}` } : {});

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
};

async function api(method, path, body) {
  const init = { method, headers: tokenHeaders() };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let value = null;
  try { value = text ? JSON.parse(text) : null; } catch { value = text; }
  if (!res.ok) throw new Error((value && value.error) || `${method} ${path}: ${res.status}`);
  return value;
}

function say(text, ok) {
  const m = $('#message');
  m.textContent = text;
  m.className = ok ? 'message ok' : 'message';
  m.hidden = !text;
  clearTimeout(say.timer);
  if (text) say.timer = setTimeout(() => { m.hidden = true; }, ok ? 3000 : 8000);
}

const attempt = (fn) => async (...args) => {
  try { return await fn(...args); } catch (e) { say(String(e.message || e)); }
};

// ---------------------------------------------------------------- traffic

const entries = new Map(); // id -> summary
let paused = false;
let pendingWhilePaused = 0;
let missed = 0;
let selected = null;

function fmtTime(ms) {
  const d = new Date(ms);
  return isNaN(d) ? '' : d.toISOString().slice(11, 23);
}

function statusClass(s) {
  if (s.transport === 'zvt') return s.direction === 'note' ? 'note' : '';
  if (s.status === null || s.status === undefined) return 'bad';
  if (s.outcome && s.outcome !== 'answered') return 'bad';
  if (s.status >= 500) return 'bad';
  if (s.status >= 400) return 'warn';
  return 'good';
}

function matches(s) {
  const provider = $('#f-provider').value;
  if (provider && s.provider !== provider) return false;
  const status = $('#f-status').value;
  if (status) {
    const st = s.status;
    if (status === 'ok' && !(st >= 200 && st < 300)) return false;
    if (status === 'client' && !(st >= 400 && st < 500)) return false;
    if (status === 'server' && !(st >= 500)) return false;
    if (status === 'nostatus' && !(s.transport !== 'zvt' && (st === null || st === undefined))) return false;
    if (status === 'fault' && !s.fault) return false;
  }
  const text = $('#f-text').value.trim().toLowerCase();
  if (text && !JSON.stringify(s).toLowerCase().includes(text)) return false;
  return true;
}

function row(s) {
  const fault = s.fault ? `${s.fault.name || 'rule ' + s.fault.rule} (${s.fault.action})` : '';
  let path = s.path || '';
  if (s.query) path += '?' + s.query;
  if (s.transport === 'zvt') path = (s.direction === 'ecr-to-pt' ? '→ ' : s.direction === 'pt-to-ecr' ? '← ' : '· ') + path;
  if (s.transport === 'outbound') path = `⇢ ${s.purpose} ${path}` + (s.attempt > 1 ? ` (attempt ${s.attempt})` : '');
  let status = s.transport === 'zvt' ? (s.direction === 'note' ? 'note' : s.link) : (s.status ?? (s.error ? 'no answer' : '…'));
  if (s.outcome === 'truncated') status += ' cut';
  if (s.outcome === 'connection-closed') status = 'closed';
  const tr = el('tr', {
    'data-id': s.id, tabindex: 0, class: (s.fault ? 'faulted ' : '') + (selected === s.id ? 'selected' : ''),
    'aria-label': `exchange ${s.id} ${s.provider} ${s.method} ${path} ${status}`,
  },
  el('td', { text: s.id }), el('td', { text: fmtTime(s.at) }), el('td', { text: s.provider }),
  el('td', { text: s.method }), el('td', { class: 'path', text: path, title: path }),
  el('td', { class: 'status ' + statusClass(s), text: String(status) }),
  el('td', { class: 'fault', text: fault }), el('td', { class: 'num', text: (s.micros / 1000).toFixed(1) }));
  return tr;
}

function renderAll() {
  const body = $('#traffic tbody');
  const rows = [];
  const ids = Array.from(entries.keys()).sort((a, b) => b - a);
  for (const id of ids) {
    const s = entries.get(id);
    if (matches(s)) rows.push(row(s));
    if (rows.length >= MAX_ROWS) break;
  }
  if (missed) rows.unshift(el('tr', { class: 'missed' }, el('td', { colspan: 8, text: `missed ${missed} entries (this tab fell behind; they are in the journal)` })));
  body.replaceChildren(...rows);
  counts();
}

function counts() {
  const shown = $$('#traffic tbody tr[data-id]').length;
  let text = `${shown} shown of ${entries.size}`;
  if (paused && pendingWhilePaused) text += ` · ${pendingWhilePaused} new while paused`;
  $('#counts').textContent = text;
}

let renderQueued = false;
function scheduleRender() {
  if (paused || renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; renderIncoming(); });
}

let incoming = [];
function renderIncoming() {
  const body = $('#traffic tbody');
  const batch = incoming;
  incoming = [];
  for (const s of batch) {
    const old = body.querySelector(`tr[data-id="${s.id}"]`);
    if (!matches(s)) { if (old) old.remove(); continue; }
    const tr = row(s);
    if (old) { old.replaceWith(tr); continue; }
    // Newest first: find the first row with a smaller id.
    let before = body.firstElementChild;
    while (before && (!before.dataset.id || Number(before.dataset.id) > s.id)) before = before.nextElementSibling;
    body.insertBefore(tr, before);
  }
  while (body.rows.length > MAX_ROWS) body.lastElementChild.remove();
  counts();
}

function ingest(list) {
  for (const s of list) {
    entries.set(s.id, s);
    if (paused) pendingWhilePaused++;
    else incoming.push(s);
    if (s.provider === 'zvt') terminalSaw(s);
    if (selected === s.id) showDetail(s.id);
  }
  if (entries.size > MAX_ENTRIES) {
    const ids = Array.from(entries.keys()).sort((a, b) => a - b);
    for (const id of ids.slice(0, entries.size - MAX_ENTRIES)) entries.delete(id);
  }
  scheduleRender();
  stateSoon();
}

function pretty(body) {
  if (!body) return '';
  if (body.base64) return `(binary, ${body.length} bytes, base64)\n${body.base64}`;
  const text = body.text ?? '';
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON after all */ }
  }
  if (trimmed.startsWith('<')) return trimmed.replace(/>\s*</g, '>\n<'); // XML: one element a line
  if (/^[^=&\s]+=[^&]*(&[^=&\s]+=[^&]*)+$/.test(trimmed)) return trimmed.split('&').join('\n'); // Key=Value&…
  return text + (body.cut ? `\n… (cut; ${body.length} bytes in all)` : '');
}

function headersTable(headers) {
  if (!headers || !headers.length) return null;
  return el('table', { class: 'kv' }, headers.map(([k, v]) => el('tr', {}, el('th', { text: k }), el('td', { text: v }))));
}

function block(title, ...content) {
  return el('section', { class: 'block' }, el('h4', { text: title }), ...content);
}

const showDetail = attempt(async (id) => {
  selected = id;
  $$('#traffic tbody tr.selected').forEach((tr) => tr.classList.remove('selected'));
  const tr = $(`#traffic tbody tr[data-id="${id}"]`);
  if (tr) tr.classList.add('selected');
  const e = await api('GET', `/__admin/console/entry/${id}`);
  const parts = [];
  const where = e.transport === 'zvt' ? `${e.direction} over ${e.link}` : `connection ${e.connection}`;
  parts.push(el('p', { class: 'muted', text: `#${e.id} · ${e.provider} · ${new Date(e.at).toISOString()} · ${where} · ${(e.durationMicros / 1000).toFixed(2)} ms` }));
  if (e.fault) {
    parts.push(block(`Fault rule ${e.fault.rule} fired: ${e.fault.name || ''} (${e.fault.action})`,
      e.fault.note !== undefined ? el('div', {}, el('p', { text: 'What the other till got / note:' }), el('pre', { text: JSON.stringify(e.fault.note, null, 2) })) : null));
  }
  if (e.transport === 'zvt') {
    parts.push(block(e.direction === 'note' ? 'Terminal note' : 'APDU, field by field', el('pre', { text: e.text })));
    if (e.hex) parts.push(block('Bytes', el('pre', { text: e.hex.replace(/(..)/g, '$1 ').trim() })));
  } else {
    const r = e.request;
    const line = `${r.method} ${e.transport === 'outbound' ? e.url : r.path}${r.query ? '?' + r.query : ''}`;
    parts.push(block(e.transport === 'outbound' ? `Sent by ${e.provider} (${e.purpose}, attempt ${e.attempt})` : 'Request',
      el('p', { class: 'mono', text: line }), headersTable(r.headers), el('pre', { text: pretty(r.body) })));
    if (e.response) {
      parts.push(block(`Answer ${e.response.status}${e.outcome && e.outcome !== 'answered' ? ' — ' + e.outcome : ''}`,
        headersTable(e.response.headers), el('pre', { text: pretty(e.response.body) })));
    } else {
      parts.push(block('No answer', el('p', { text: e.error || e.outcome || 'none' })));
    }
  }
  if (e.view) parts.push(block('Decoded view (decrypted fields)', el('pre', { text: JSON.stringify(e.view, null, 2) })));
  $('#detail').replaceChildren(...parts);
});

function connect() {
  const source = new EventSource(withToken('/__admin/console/events'));
  source.addEventListener('hello', attempt(async (ev) => {
    const hello = JSON.parse(ev.data);
    showClock(hello.clock);
    setLive('live', 'good');
    const list = await api('GET', '/__admin/console/entries?limit=1000');
    ingest(list.entries);
    renderAll();
  }));
  source.addEventListener('entries', (ev) => ingest(JSON.parse(ev.data)));
  source.addEventListener('cleared', () => { entries.clear(); missed = 0; renderAll(); stateSoon(); });
  source.addEventListener('missed', (ev) => { missed += Number(ev.data); renderAll(); });
  source.addEventListener('clock', (ev) => showClock(JSON.parse(ev.data)));
  source.addEventListener('run', (ev) => runEvent(JSON.parse(ev.data)));
  source.onerror = () => setLive('reconnecting…', 'bad');
}

function setLive(text, cls) {
  const live = $('#live');
  live.textContent = paused ? 'paused' : text;
  live.className = 'pill ' + (paused ? 'warn' : cls);
}

// ---------------------------------------------------------------- clock, data set, reset

let clock = null; // {now, frozen, at: performance.now() when received}
function showClock(status) {
  clock = { ...status, at: performance.now() };
  tickClock();
  $('#clock-mode').textContent = status.frozen ? 'frozen' : 'running';
  $('#clock-mode').className = 'pill ' + (status.frozen ? 'warn' : 'good');
  $('#clock-freeze').textContent = status.frozen ? 'Run' : 'Freeze';
}
function tickClock() {
  if (!clock) return;
  const now = clock.frozen ? clock.now : clock.now + (performance.now() - clock.at);
  $('#clock-now').textContent = new Date(now).toISOString().replace('.000Z', 'Z').replace(/\.\d{3}Z$/, 'Z');
  $('#clock-now').dataset.ms = String(Math.floor(now));
}
setInterval(tickClock, 1000); // local arithmetic only; the server is not asked

function wire() {
  $('#clock-advance').addEventListener('click', attempt(async () => {
    const by = $('#clock-by').value.trim();
    showClock(await api('POST', '/__admin/clock/advance', { by: /^\d+$/.test(by) ? Number(by) : by }));
    say(`clock advanced by ${by}`, true);
  }));
  $('#clock-freeze').addEventListener('click', attempt(async () => {
    showClock(await api('PUT', '/__admin/clock', { frozen: !(clock && clock.frozen) }));
  }));
  $('#clock-apply').addEventListener('click', attempt(async () => {
    showClock(await api('PUT', '/__admin/clock', { time: $('#clock-set').value.trim() }));
  }));
  $('#dataset-load').addEventListener('click', attempt(async () => {
    const v = $('#dataset').value.trim();
    const isPath = v.includes('/');
    await api('POST', '/__admin/dataset', isPath ? { path: v } : { name: v });
    say(`data set ${v} loaded`, true);
    await refreshAll();
  }));
  $('#reset').addEventListener('click', attempt(async () => {
    await api('POST', '/__admin/reset');
    say('reset: state from the data set, clock back, journal cleared, faults disarmed', true);
    await refreshAll();
  }));
  $('#pause').addEventListener('click', () => {
    paused = !paused;
    $('#pause').setAttribute('aria-pressed', String(paused));
    $('#pause').textContent = paused ? 'Resume' : 'Pause';
    if (!paused) { pendingWhilePaused = 0; incoming = []; renderAll(); }
    setLive('live', 'good');
    counts();
  });
  for (const id of ['#f-provider', '#f-status']) $(id).addEventListener('change', renderAll);
  $('#f-text').addEventListener('input', renderAll);
  $('#export').addEventListener('click', attempt(async () => {
    const ids = $$('#traffic tbody tr[data-id]').map((tr) => Number(tr.dataset.id)).sort((a, b) => a - b);
    if (!ids.length) { say('nothing selected to export'); return; }
    const res = await fetch('/__admin/console/export?ids=' + ids.join(','), { headers: tokenHeaders() });
    const blob = new Blob([await res.text()], { type: 'application/x-ndjson' });
    const a = el('a', { href: URL.createObjectURL(blob), download: 'possim-journal.jsonl' });
    document.body.append(a); a.click(); a.remove();
  }));
  $('#clear-list').addEventListener('click', attempt(() => api('DELETE', '/__admin/journal')));
  const body = $('#traffic tbody');
  body.addEventListener('click', (ev) => { const tr = ev.target.closest('tr[data-id]'); if (tr) showDetail(Number(tr.dataset.id)); });
  body.addEventListener('keydown', (ev) => {
    const tr = ev.target.closest('tr[data-id]');
    if (!tr) return;
    if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); showDetail(Number(tr.dataset.id)); }
    if (ev.key === 'ArrowDown' && tr.nextElementSibling) { ev.preventDefault(); tr.nextElementSibling.focus(); }
    if (ev.key === 'ArrowUp' && tr.previousElementSibling) { ev.preventDefault(); tr.previousElementSibling.focus(); }
  });
  // Tabs (arrow keys move between them, as the ARIA pattern says).
  const tabs = $$('[role=tab]');
  const select = (tab) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      $('#' + t.getAttribute('aria-controls')).hidden = !on;
    }
    if (tab.id === 'tab-state') refreshState();
    if (tab.id === 'tab-steer') refreshFaults();
  };
  tabs.forEach((t, i) => {
    t.tabIndex = i === 0 ? 0 : -1;
    t.addEventListener('click', () => select(t));
    t.addEventListener('keydown', (ev) => {
      const d = ev.key === 'ArrowRight' ? 1 : ev.key === 'ArrowLeft' ? -1 : 0;
      if (d) { const next = tabs[(i + d + tabs.length) % tabs.length]; next.focus(); select(next); }
    });
  });
  wireTerminal();
  wireFaults();
  $('#state-refresh').addEventListener('click', () => refreshState());
  $('#state-provider').addEventListener('change', () => refreshState());
  $$('.admin-url').forEach((n) => { n.textContent = location.origin; });
}

// ---------------------------------------------------------------- the terminal's face

let pin = '';
let amount = '';
function display(line1, line2) {
  if (line1 !== undefined) $('#display-1').textContent = line1;
  if (line2 !== undefined) $('#display-2').textContent = line2;
}
function showPin() { $('#display-pin').textContent = pin ? '*'.repeat(pin.length) : ''; }

// What the terminal shows, from its journal entries (the same ones `possim zvt console` prints).
function terminalSaw(s) {
  const text = s.path || '';
  const code = text.slice(0, 5);
  if (s.direction === 'ecr-to-pt') {
    if (s.amount && ['06 01', '06 22', '06 31'].includes(code)) {
      amount = s.amount.replace(/^BMP 04 amount:\s*/, '').replace(/\s*\(.*$/, '') + ' EUR';
      display(amount, code === '06 31' ? 'refund' : 'please wait');
    }
    if (code === '06 B0') display(undefined, 'aborted by the till');
    return;
  }
  if (s.direction === 'note') {
    if (/waiting for the operator to insert/.test(text)) display(amount, 'insert card');
    else if (/inserted/.test(text)) display(amount, 'enter PIN');
    else if (/wrong PIN/.test(text)) display('incorrect PIN', 'enter PIN');
    else if (/right PIN/.test(text)) display(amount, 'please wait…');
    else if (/abort/i.test(text)) display(amount, 'aborted');
    else if (/stored receipt/.test(text)) { display(amount, 'payment approved'); refreshReceipts(); }
    else if (/reversal|reversed/i.test(text)) { display(undefined, text); refreshReceipts(); }
    return;
  }
  if (code === '04 0F') display(amount, s.result && /: 00/.test(s.result) ? 'payment approved' : (s.result || 'declined'));
  else if (code === '06 1E') display(amount, 'transaction aborted');
  else if (code === '06 0F') { display(amount || 'possim PT', $('#display-2').textContent === 'payment approved' ? 'thank you' : 'done'); refreshReceipts(); }
  else if (code === '04 FF') display(undefined, text.replace(/^04 FF[^,]*,?\s*/, '') || 'intermediate status');
}

const operator = attempt(async (action) => {
  $('#pt-status').textContent = '';
  try {
    await api('POST', '/__admin/zvt/operator', action);
  } catch (e) {
    $('#pt-status').textContent = e.message;
    return false;
  }
  return true;
});

function key(k) {
  if (/^\d$/.test(k)) { if (pin.length < 12) pin += k; showPin(); return; }
  if (k === 'clear') { pin = pin.slice(0, -1); showPin(); return; }
  if (k === 'abort') { pin = ''; showPin(); operator('abort'); return; }
  if (k === 'ok') {
    if (!pin) { $('#pt-status').textContent = 'type the PIN first'; return; }
    const typed = pin;
    pin = ''; showPin();
    operator({ pin: typed });
  }
}

function wireTerminal() {
  $('#keypad').addEventListener('click', (ev) => { const b = ev.target.closest('button[data-key]'); if (b) key(b.dataset.key); });
  // The whole pad answers the keyboard once focus is inside it: digits, Backspace, Enter, Escape.
  $('#keypad').addEventListener('keydown', (ev) => {
    const map = { Backspace: 'clear', Enter: 'ok', Escape: 'abort' };
    const k = /^\d$/.test(ev.key) ? ev.key : map[ev.key];
    if (k) { ev.preventDefault(); key(k); }
  });
  $('#operator').addEventListener('change', attempt(async (ev) => {
    const on = ev.target.checked;
    await api('PUT', '/__admin/zvt/operator', { on });
    $('#pt-status').textContent = on ? 'You are the customer: start a payment at the till.' : 'The data set\'s customers are back.';
  }));
  $('#script').addEventListener('submit', attempt(async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const outcome = { type: f.get('outcome') };
    if (outcome.type === 'decline') outcome.code = Number(f.get('code'));
    const script = { outcome, wrongPins: Number(f.get('wrongPins') || 0) };
    if (f.get('card')) script.card = f.get('card');
    await api('POST', '/__admin/zvt/customer', script);
    say('the next customer is scripted', true);
  }));
}

const refreshCards = attempt(async () => {
  const { cards } = await api('GET', '/__admin/console/cards');
  const buttons = cards.map((c) => {
    const limit = c.limitCents ? ` · declines above ${(c.limitCents / 100).toFixed(2)} €` : '';
    return el('button', {
      type: 'button', class: 'card ' + (c.kind || ''), 'data-card': c.name,
      title: `${c.kind}${c.pin ? ' · PIN ' + c.pin : ''}${limit}`, 'aria-label': `insert ${c.name}`,
      onclick: () => operator({ insert: c.name }),
    }, el('span', { text: c.name }), el('small', { text: c.pin ? `PIN ${c.pin}` : '' }));
  });
  $('#cards').replaceChildren(...buttons);
  const select = $('#script select[name=card]');
  select.replaceChildren(el('option', { value: '', text: "data set's default" }), ...cards.map((c) => el('option', { value: c.name, text: c.name })));
});

const refreshReceipts = attempt(async () => {
  const zvt = await api('GET', '/__admin/state/zvt');
  $('#operator').checked = !!zvt.operatorMode;
  $('#receipts').replaceChildren(table(zvt.transactions || [], ['receipt', 'kind', 'amount', 'card', 'reversed', 'at']));
});

// ---------------------------------------------------------------- faults

const presets = {
  competing: () => ({
    name: `another till spends ${$('#p-points').value} points`, provider: 'tyrios', method: 'POST', path: '/pos$', queryNot: 'draft=true', times: 1,
    action: { type: 'competingChange', change: { type: 'pos', body: { UserData: $('#p-user').value.trim(), productGroup: 'Other till', totalAmount: 1, redeemedPoints: Number($('#p-points').value), userMode: 'HASH' } } },
  }),
  cut: () => ({ name: 'cut the answer to the final call', provider: 'tyrios', method: 'POST', path: '/pos$', queryNot: 'draft=true', times: 1, action: { type: 'truncate' } }),
  close: () => ({ name: 'final call: connection closed', provider: 'tyrios', method: 'POST', path: '/pos$', queryNot: 'draft=true', times: 1, action: { type: 'close' } }),
  busy: () => ({ name: 'final call answered 503', provider: 'tyrios', method: 'POST', path: '/pos$', queryNot: 'draft=true', times: 1, action: { type: 'respond', status: 503, body: { error: 'Exception', message: 'Service temporarily unavailable' } } }),
  duplicate: () => ({ name: 'the final notify twice', provider: 'computop', method: 'NOTIFY', body: 'Status=OK', times: 1, action: { type: 'quirk', quirk: 'duplicate' } }),
  forged: () => ({ name: 'notify with a forged MAC', provider: 'computop', method: 'NOTIFY', times: 1, action: { type: 'quirk', quirk: 'forgedMac' } }),
  'payback-race': () => ({
    name: 'another till redeems 5200 points', provider: 'payback', method: 'POST', path: '^/redemptions$', times: 1,
    action: { type: 'competingChange', change: { type: 'redemption', body: { transactionId: 'OTHER-TILL-' + Date.now(), cardNumber: '9876543210', pin: '1234', points: 5200, basketTotalCents: 10000, receiptNumber: 'X-1' } } },
  }),
  'lost-0f': () => ({ name: '04 0F lost on its way to the till', provider: 'zvt', method: 'ZVT-PT', path: '^04 0F$', times: 1, action: { type: 'close' } }),
  slow: () => ({ name: 'every TYRIOS answer 2 s late', provider: 'tyrios', delayMs: 2000, action: { type: 'delay' } }),
};

function wireFaults() {
  $$('[data-preset]').forEach((b) => b.addEventListener('click', attempt(async () => {
    const rule = await api('POST', '/__admin/faults', presets[b.dataset.preset]());
    say(`armed rule ${rule.id}: ${rule.name}`, true);
    refreshFaults();
  })));
  $('#fault-form').addEventListener('submit', attempt(async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const rule = { provider: f.get('provider') };
    for (const k of ['name', 'method', 'path', 'queryNot', 'body']) if (f.get(k)) rule[k] = f.get(k);
    if (f.get('times')) rule.times = Number(f.get('times'));
    if (f.get('delayMs')) rule.delayMs = Number(f.get('delayMs'));
    const type = f.get('action');
    rule.action = { type };
    if (type === 'respond') {
      rule.action.status = Number(f.get('status'));
      const answer = f.get('answer');
      if (answer) { try { rule.action.body = JSON.parse(answer); } catch { rule.action.body = answer; } }
    }
    const armed = await api('POST', '/__admin/faults', rule);
    say(`armed rule ${armed.id}`, true);
    refreshFaults();
  }));
  $('#fault-json').addEventListener('submit', attempt(async (ev) => {
    ev.preventDefault();
    await api('POST', '/__admin/faults', new FormData(ev.target).get('json'));
    say('armed', true);
    refreshFaults();
  }));
}

const refreshFaults = attempt(async () => {
  const rules = await api('GET', '/__admin/faults');
  if (!rules.length) { $('#faults').replaceChildren(el('p', { class: 'muted', text: 'no rules armed' })); return; }
  $('#faults').replaceChildren(el('table', { class: 'grid' },
    el('thead', {}, el('tr', {}, ['id', 'name', 'provider', 'match', 'action', 'matched', 'fired', ''].map((h) => el('th', { text: h })))),
    el('tbody', {}, rules.map((r) => el('tr', {},
      el('td', { text: r.id }), el('td', { text: r.name || '' }), el('td', { text: r.provider || 'any' }),
      el('td', { class: 'mono', text: [r.method, r.path, r.queryNot ? '!' + r.queryNot : null, r.body].filter(Boolean).join(' ') }),
      el('td', { text: r.action ? r.action.type : '' }), el('td', { text: r.matched }), el('td', { text: r.fired }),
      el('td', {}, el('button', { type: 'button', 'aria-label': `disarm rule ${r.id}`, onclick: attempt(async () => { await api('DELETE', `/__admin/faults/${r.id}`); refreshFaults(); }) }, 'Disarm')))))));
});

// ---------------------------------------------------------------- state

function cell(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function table(rows, columns) {
  if (!rows.length) return el('p', { class: 'muted', text: 'none' });
  const cols = columns || Array.from(rows.reduce((set, r) => { Object.keys(r).forEach((k) => set.add(k)); return set; }, new Set()));
  return el('table', { class: 'grid' },
    el('thead', {}, el('tr', {}, cols.map((c) => el('th', { text: c })))),
    el('tbody', {}, rows.map((r) => el('tr', {}, cols.map((c) => el('td', { text: cell(r[c]) }))))));
}

let stateTimer = null;
function stateSoon() {
  if (!$('#state-live').checked || $('#panel-state').hidden) return;
  if (stateTimer) return;
  stateTimer = setTimeout(() => { stateTimer = null; refreshState(); }, 1000); // at most once a second
}

const refreshState = attempt(async () => {
  const provider = $('#state-provider').value;
  if (!provider) return;
  const state = await api('GET', `/__admin/state/${provider}`);
  const parts = [];
  const scalars = {};
  for (const [k, v] of Object.entries(state)) {
    if (Array.isArray(v) && v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
      parts.push(el('h3', { text: `${k} (${v.length})` }), el('div', { class: 'table-wrap' }, table(v)));
    } else scalars[k] = v;
  }
  if (Object.keys(scalars).length) {
    parts.unshift(el('table', { class: 'kv' }, Object.entries(scalars).map(([k, v]) => el('tr', {}, el('th', { text: k }), el('td', { class: 'mono', text: cell(v) })))));
  }
  $('#state').replaceChildren(...parts);
});

// ---------------------------------------------------------------- certification runs

function runEvent(ev) {
  const list = $('#run-list');
  const now = $('#run-now');
  switch (ev.type) {
    case 'run':
      list.replaceChildren();
      now.textContent = `${ev.title || 'run'}: ${ev.total} scenarios against ${ev.target || 'this possim'}`;
      break;
    case 'scenario':
      now.textContent = `[${ev.index}/${ev.total}] ${ev.id} — preparing`;
      list.append(el('li', { 'data-scenario': ev.id }, el('span', { class: 'verdict running', text: 'running' }), ' ', el('span', { text: ev.id }), el('small', { class: 'step', text: '' })));
      break;
    case 'step': {
      now.textContent = now.textContent.replace(/ — .*$/, '') + ` — ${ev.step}`;
      const li = list.querySelector(`li[data-scenario="${CSS.escape(ev.id)}"]`);
      if (li) li.querySelector('.step').textContent = ` ${ev.step}`;
      break;
    }
    case 'verdict': {
      let li = list.querySelector(`li[data-scenario="${CSS.escape(ev.id)}"]`);
      if (!li) { li = el('li', { 'data-scenario': ev.id }, el('span', { class: 'verdict' }), ' ', el('span', { text: ev.id }), el('small', { class: 'step' })); list.append(li); }
      const v = li.querySelector('.verdict');
      v.textContent = ev.verdict;
      v.className = 'verdict ' + ev.verdict;
      li.querySelector('.step').textContent = ` ${ev.durationMs} ms${ev.message ? ' · ' + ev.message : ''}${ev.diffs ? ' · ' + ev.diffs + ' differences' : ''}`;
      break;
    }
    case 'finished':
      now.replaceChildren(`finished: ${ev.verdict} (${ev.passed ?? 0} passed, ${ev.failed ?? 0} failed, ${ev.errors ?? 0} errors) `,
        ev.report ? el('a', { href: ev.report, target: '_blank', rel: 'noopener', text: 'open the report' }) : '');
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------- start

const refreshProviders = attempt(async () => {
  const health = await api('GET', '/__admin/health');
  $('#dataset').value = health.dataset;
  const opts = () => health.providers.map((p) => el('option', { value: p, text: p }));
  $('#f-provider').replaceChildren(el('option', { value: '', text: 'all' }), ...opts());
  $('#state-provider').replaceChildren(...opts());
  $('#fault-form select[name=provider]').replaceChildren(...opts());
  showClock(health.clock);
});

async function refreshAll() {
  await refreshProviders();
  await Promise.all([refreshCards(), refreshReceipts(), refreshFaults(), refreshState()]);
}

const loadRuns = attempt(async () => {
  const { events } = await api('GET', '/__admin/console/runs');
  events.forEach(runEvent);
});

document.addEventListener('DOMContentLoaded', async () => {
  wire();
  await refreshAll();
  await loadRuns();
  connect();
});
