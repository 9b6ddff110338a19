/**
 * Ad-hoc push queries from the editor: `SELECT … EMIT CHANGES` is POSTed to /v1/query-stream and
 * its Server-Sent Events (`schema`, then `change` per row, `error`) fill a live table. EventSource
 * cannot POST, so the stream is read with fetch. Stopping aborts the request: the server stops the
 * query when the client disconnects.
 */
import { ApiError, getToken } from './api.js';
import { cell, h, isNumericType, number } from './format.js';
import { keyColumnNames } from './view-panel.js';

const MAX_SHOWN = 500;

/** True when the text is one SELECT ending in EMIT CHANGES (comments and a final `;` aside). */
export function isPushQuery(sql) {
  const text = sql.replace(/--[^\n]*/g, ' ').replace(/\/\*[\s\S]*?\*\//g, ' ').trim().replace(/;\s*$/, '');
  return /^(SELECT|WITH)\b/i.test(text) && /\bEMIT\s+CHANGES$/i.test(text) && !text.includes(';');
}

/** Splits an SSE byte stream into `{event, data, id}` frames. */
export async function* sseFrames(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, '\n');
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const frame = { event: 'message', data: '', id: null };
      const data = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'event') frame.event = val;
        else if (field === 'data') data.push(val);
        else if (field === 'id') frame.id = val;
      }
      if (data.length) { frame.data = data.join('\n'); yield frame; }
    }
  }
}

/**
 * Runs a push query into `container`. Resolves once the stream has started (schema received) and
 * rejects with an ApiError when the SQL is refused, so the editor can mark the error.
 * @returns {Promise<{stop: () => void}>}
 */
export async function runPushQuery(sql, container, { onEnd } = {}) {
  const abort = new AbortController();
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch('/v1/query-stream', { method: 'POST', headers, body: JSON.stringify({ sql }), signal: abort.signal });
  if (!res.ok) {
    let err = { message: `HTTP ${res.status}` };
    try { err = (await res.json()).error ?? err; } catch { /* not JSON */ }
    throw new ApiError(res.status, err);
  }

  let columns = [];
  let keyNames = [];
  let seq = 0;
  let changes = 0;
  let stopped = false;
  let renderTimer = 0;
  const rows = new Map();
  const fresh = new Set();

  const state = h('span', { class: 'badge sse', 'data-testid': 'push-state', 'data-state': 'running' }, 'live · push');
  const count = h('span', { class: 'hint', 'data-testid': 'push-count' });
  const idEl = h('span', { class: 'hint mono' });
  const stopBtn = h('button', { class: 'danger', 'data-testid': 'push-stop', onclick: () => stop('stopped') }, 'Stop');
  const table = h('table', { class: 'grid', 'data-testid': 'push-table' }, h('thead'), h('tbody'));
  const card = h('div', { class: 'result', 'data-testid': 'push-result' },
    h('div', { class: 'result-head' }, h('span', { class: 'stmt' }, 'SELECT … EMIT CHANGES'), state, idEl, count, h('span', { class: 'spacer' }), stopBtn),
    h('div', { class: 'table-wrap' }, table));
  container.replaceChildren(card);

  function setState(s, text) {
    state.dataset.state = s;
    state.className = `badge ${s === 'running' ? 'sse' : s === 'error' ? 'error' : 'ended'}`;
    state.textContent = text;
  }

  function stop(reason) {
    if (stopped) return;
    stopped = true;
    abort.abort();
    stopBtn.disabled = true;
    if (reason) setState(reason === 'stopped' ? 'stopped' : 'error', reason);
    onEnd?.();
  }

  function render() {
    renderTimer = 0;
    const list = [...rows.entries()].reverse().slice(0, MAX_SHOWN);
    table.tHead.replaceChildren(h('tr', {}, columns.map((c) => h('th', { class: isNumericType(c.type) ? 'num' : null, title: c.type ?? '' }, c.name))));
    table.tBodies[0].replaceChildren(...list.map(([k, r]) => h('tr', { 'data-testid': 'push-row', class: fresh.has(k) ? 'flash' : null },
      columns.map((c) => h('td', { 'data-col': c.name, class: typeof r[c.name] === 'number' ? 'num' : null }, cell(r[c.name], !keyNames.includes(c.name)))))));
    fresh.clear();
    count.textContent = `${number(rows.size, 0)} rows · ${number(changes, 0)} changes`;
    card.dataset.rows = String(rows.size);
    card.dataset.changes = String(changes);
  }

  let started;
  const ready = new Promise((resolve) => { started = resolve; });
  void (async () => {
    try {
      for await (const f of sseFrames(res.body)) {
        const d = JSON.parse(f.data);
        if (f.event === 'schema') {
          columns = d.columns ?? [];
          keyNames = keyColumnNames(columns, d.keyColumns);
          idEl.textContent = d.queryId ?? '';
          card.dataset.queryId = d.queryId ?? '';
          started();
        } else if (f.event === 'change') {
          const row = Array.isArray(d.row) ? Object.fromEntries(columns.map((c, i) => [c.name, d.row[i]])) : d.row;
          const k = keyNames.length ? JSON.stringify(keyNames.map((n) => row[n])) : `#${++seq}`;
          // Newest first: a changed row moves to the top.
          rows.delete(k);
          if (d.op !== 'delete') { rows.set(k, row); fresh.add(k); }
          changes++;
          renderTimer ||= setTimeout(render, 80);
        } else if (f.event === 'error') {
          stop(`error: ${d.error?.message ?? d.message ?? 'query failed'}`);
        }
      }
      if (!stopped) stop('ended');
    } catch (e) {
      if (!stopped) stop(`error: ${e.message}`);
    } finally {
      started();
    }
  })();
  render();
  await ready;
  return { stop: () => stop('stopped'), get stopped() { return stopped; } };
}
