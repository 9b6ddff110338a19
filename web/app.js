/**
 * The dashboard: the catalog (sources, views, sinks, queries with their status, refreshed every 2 s),
 * the SQL editor and its results, and the panels of one query and one view.
 * Plain ES modules served as they are: no build step.
 */
import { api, ApiError, getToken, loadCatalog, setToken } from './api.js';
import { startClusterPanel } from './cluster-panel.js';
import { createEditor } from './editor.js';
import { fillTable, h, statusClass } from './format.js';
import { isPushQuery, runPushQuery } from './push-query.js';
import { createQueryPanel } from './query-panel.js';
import { createViewPanel } from './view-panel.js';

const REFRESH_MS = 2000;
const DRAFT_KEY = 'streamsql.draft';
const $ = (id) => document.getElementById(id);

const viewPanel = createViewPanel();
const queryPanel = createQueryPanel({ onStopped: () => void refresh() });
const editor = createEditor({
  textarea: $('sql-editor'), backdrop: $('backdrop'), gutter: $('gutter'), errorBox: $('sql-error'),
  onRun: () => void run(),
});

/** The last catalog seen, to open views with their columns and key columns. */
let catalog = { sources: [], views: [], sinks: [] };
let queries = [];

// ---- SQL editor -------------------------------------------------------------------------------

try { const d = localStorage.getItem(DRAFT_KEY); if (d) editor.setValue(d); } catch { /* no storage */ }
$('sql-editor').addEventListener('input', () => { try { localStorage.setItem(DRAFT_KEY, editor.value); } catch { /* no storage */ } });
$('sql-run').addEventListener('click', () => void run());

let running = false;
/** The ad-hoc push query streaming into the results, if any: a new run stops it. */
let push = null;
async function run() {
  const sql = editor.value;
  if (running || !sql.trim()) return;
  running = true;
  push?.stop();
  push = null;
  const button = $('sql-run');
  button.disabled = true;
  const status = $('sql-status');
  status.textContent = 'Running…';
  status.dataset.state = 'running';
  editor.clearError();
  const t0 = performance.now();
  try {
    if (isPushQuery(sql)) {
      push = await runPushQuery(sql, $('sql-result'));
      status.textContent = `push query streaming · started in ${Math.round(performance.now() - t0)} ms · stops when you press Stop or run something else`;
      status.dataset.state = 'ok';
      return;
    }
    const { results } = await api.sql(sql);
    const ms = Math.round(performance.now() - t0);
    status.textContent = `${results.length} statement${results.length === 1 ? '' : 's'} · ${ms} ms`;
    status.dataset.state = 'ok';
    renderResults(results);
    await refresh();
    // A view just created is what the user wants to watch.
    const created = [...results].reverse().find((r) => /MATERIALIZED VIEW/i.test(r.statement) && r.name && /^CREATE/i.test(r.statement));
    if (created) openView(created.name);
  } catch (e) {
    status.textContent = e instanceof ApiError ? `Error (HTTP ${e.status})` : 'Error';
    status.dataset.state = 'error';
    $('sql-result').replaceChildren();
    editor.markError(e.message, e.line, e.column);
    if (e instanceof ApiError && e.status === 401) $('token-box').hidden = false;
  } finally {
    running = false;
    button.disabled = false;
  }
}

function renderResults(results) {
  $('sql-result').replaceChildren(...results.map((r, i) => {
    const actions = [];
    if (r.queryId) actions.push(h('button', { class: 'link', 'data-testid': 'open-query', onclick: () => queryPanel.open(r.queryId) }, 'Watch query'));
    if (r.name && /MATERIALIZED VIEW/i.test(r.statement) && /^CREATE/i.test(r.statement)) actions.push(h('button', { class: 'link', 'data-testid': 'open-view', onclick: () => openView(r.name) }, 'Open view'));
    const card = h('div', { class: 'result', 'data-testid': 'sql-result-item', 'data-statement': r.statement, 'data-index': i },
      h('div', { class: 'result-head' },
        h('span', { class: 'stmt' }, r.statement),
        r.name ? h('span', { class: 'mono' }, r.name) : null,
        r.message ? h('span', { class: 'msg' }, r.message) : null,
        r.queryId ? h('span', { class: 'hint mono', title: 'query id' }, r.queryId) : null,
        h('span', { class: 'spacer' }),
        ...actions));
    if (r.columns) {
      const t = h('table', { class: 'grid', 'data-testid': 'sql-result-table' }, h('thead'), h('tbody'));
      fillTable(t, r.columns, r.rows ?? []);
      card.append(h('div', { class: 'table-wrap' }, t), h('p', { class: 'hint' }, `${(r.rows ?? []).length} row${(r.rows ?? []).length === 1 ? '' : 's'}`));
    }
    if (r.plan) card.append(h('div', { class: 'plans' }, h('div', {}, h('h4', {}, 'Logical plan'), h('pre', {}, r.plan.logical)), h('div', {}, h('h4', {}, 'Physical plan'), h('pre', {}, r.plan.physical)), ...(r.plan.graph ? [h('div', {}, h('h4', {}, 'Dataflow graph'), h('pre', {}, r.plan.graph))] : [])));
    return card;
  }));
}

// ---- Catalog ----------------------------------------------------------------------------------

function isMaterialized(v) {
  return /material/i.test(String(v.kind ?? '')) || !!v.queryId;
}

function openView(name) {
  const v = catalog.views.find((x) => x.name.toLowerCase() === name.toLowerCase()) ?? { name };
  viewPanel.open(v);
  markActive();
}

function queryOf(obj) {
  return queries.find((q) => (obj.queryId && q.id === obj.queryId) || q.name?.toLowerCase() === obj.name.toLowerCase());
}

function statusDot(status) {
  return h('span', { class: `dot ${statusClass(status)}`, title: status ?? '' });
}

function item(kind, name, attrs, ...children) {
  return h('li', { class: 'item', 'data-testid': `${kind}-item`, 'data-name': name, title: name, ...attrs }, ...children);
}

function renderCatalog() {
  const { sources, views, sinks } = catalog;
  $('sources-count').textContent = String(sources.length);
  $('views-count').textContent = String(views.length);
  $('sinks-count').textContent = String(sinks.length);
  $('queries-count').textContent = String(queries.length);

  $('sources').replaceChildren(...(sources.length ? sources.map((s) => item('source', s.name, { title: (s.columns ?? []).map((c) => `${c.name} ${c.type}`).join('\n') },
    h('div', { class: 'item-main' }, h('span', { class: 'name' }, s.name)),
    h('div', { class: 'item-sub' }, `topic ${(s.topics ?? []).join(', ') || '–'}`, s.watermark ? ` · watermark ${typeof s.watermark === 'string' ? s.watermark : s.watermark.column ?? ''}` : ''),
    s.source?.state ? h('div', { class: 'item-sub' }, s.source.state) : null)) : [h('li', { class: 'empty' }, 'none yet')]));

  $('views').replaceChildren(...(views.length ? views.map((v) => {
    const q = queryOf(v);
    const live = isMaterialized(v);
    return item('view', v.name, { class: `item${live ? ' clickable' : ''}`, onclick: live ? () => openView(v.name) : null, 'data-status': q?.status ?? '' },
      h('div', { class: 'item-main' }, q ? statusDot(q.status) : null, h('span', { class: 'name' }, v.name), h('span', { class: 'tag' }, live ? 'materialized' : 'view')),
      q?.error ? h('div', { class: 'item-sub bad' }, q.error) : null);
  }) : [h('li', { class: 'empty' }, 'none yet')]));

  $('sinks').replaceChildren(...(sinks.length ? sinks.map((s) => {
    const q = queryOf(s);
    return item('sink', s.name, { class: `item${q ? ' clickable' : ''}`, onclick: q ? () => { queryPanel.open(q.id); markActive(); } : null },
      h('div', { class: 'item-main' }, q ? statusDot(q.status) : null, h('span', { class: 'name' }, s.name)),
      h('div', { class: 'item-sub' }, `→ ${s.topic || '–'}`));
  }) : [h('li', { class: 'empty' }, 'none yet')]));

  $('queries').replaceChildren(...(queries.length ? queries.map((q) => item('query', q.name, {
    class: 'item clickable', 'data-query-id': q.id, 'data-status': q.status, onclick: () => { queryPanel.open(q.id); markActive(); },
  },
  h('div', { class: 'item-main' }, statusDot(q.status), h('span', { class: 'name' }, q.name), h('span', { class: `status ${statusClass(q.status)}` }, q.status)),
  h('div', { class: 'item-sub mono', title: q.id }, `${q.kind === 'sink' ? 'sink' : 'view'} · ${q.id.slice(0, 8)}`),
  q.error ? h('div', { class: 'item-sub bad' }, q.error) : null)) : [h('li', { class: 'empty' }, 'none running')]));
  markActive();
}

function markActive() {
  for (const li of document.querySelectorAll('#catalog li.item')) {
    const active = (li.dataset.testid === 'view-item' && li.dataset.name === viewPanel.name) || (li.dataset.queryId && li.dataset.queryId === queryPanel.id);
    li.classList.toggle('active', !!active);
  }
}

function setConnection(state, text) {
  const c = $('conn');
  c.dataset.state = state;
  c.className = `conn ${state}`;
  c.textContent = text;
}

let refreshing = null;
let lastCatalogJson = '';
function refresh() {
  // One refresh at a time: a slow server must not pile requests up.
  refreshing ??= (async () => {
    try {
      const [cat, qs] = await Promise.all([loadCatalog(), api.queries()]);
      const next = { sources: cat.sources ?? [], views: cat.views ?? [], sinks: cat.sinks ?? [] };
      const json = JSON.stringify([next, qs.queries]);
      catalog = next;
      queries = qs.queries ?? [];
      // Redraw only on change, so hover and clicks are not disturbed every two seconds.
      if (json !== lastCatalogJson) { lastCatalogJson = json; renderCatalog(); }
      for (const v of catalog.views) viewPanel.refine(v);
      setConnection('ok', 'connected');
      $('catalog-updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      setConnection('bad', e instanceof ApiError && e.status === 401 ? 'API token required' : `offline: ${e.message}`);
      if (e instanceof ApiError && e.status === 401) $('token-box').hidden = false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

$('token').value = getToken();
if (getToken()) $('token-box').hidden = false;
$('token').addEventListener('change', () => { setToken($('token').value.trim()); void refresh(); void loadInfo(); });

async function loadInfo() {
  try {
    const info = await api.info();
    $('info').textContent = `v${info.version} · Kafka ${info.kafka?.bootstrap ?? '?'}${info.kafka?.embedded ? ' (embedded)' : ''}`;
  } catch { /* shown by the connection badge */ }
}

void loadInfo();
void refresh();
setInterval(() => void refresh(), REFRESH_MS);
startClusterPanel($('cluster-section'), $('cluster'));

// For the browser test and for debugging from the console.
window.streamsql = { editor, viewPanel, queryPanel, refresh };
