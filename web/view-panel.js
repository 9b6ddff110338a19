/**
 * The panel of one view: its rows kept current from the SSE change stream
 * (GET /v1/views/:name/changes: a `snapshot` event, then `change` events with op and row), and a time
 * chart of a chosen numeric column against `window_start`, one line per group.
 *
 * Where the stream is unavailable (an older server, a proxy that buffers), the panel polls
 * GET /v1/views/:name (or a pull SELECT) every second instead and says so in its badge.
 */
import { api, ApiError } from './api.js';
import { createLineChart } from './charts.js';
import { cell, h, isNumericType, isTimestampType, number } from './format.js';

const MAX_SHOWN = 200;
const MAX_GROUPS = 8;
const POLL_MS = 1000;

/** The identity of a row: the view's key columns, or window bounds plus the non-numeric columns. */
export function keyColumnNames(columns, keyColumns) {
  // The catalog names them; the v1 contract allowed indexes into columns: accept both.
  if (Array.isArray(keyColumns) && keyColumns.length) {
    const names = keyColumns.map((k) => (typeof k === 'number' ? columns[k]?.name : k)).filter((n) => columns.some((c) => c.name === n));
    if (names.length) return names;
  }
  const names = columns.map((c) => c.name);
  const win = ['window_start', 'window_end'].filter((n) => names.includes(n));
  const others = columns.filter((c) => !win.includes(c.name) && !isNumericType(c.type) && !isTimestampType(c.type)).map((c) => c.name);
  return [...win, ...others];
}

export function createViewPanel() {
  const $ = (id) => document.getElementById(id);
  const panel = $('view-panel');
  const table = $('view-table');
  const select = $('view-chart-column');
  const chartEl = $('view-chart');
  let v = null; // the open view's state

  $('view-close').addEventListener('click', () => close());
  const modeSelect = $('view-chart-mode');
  select.addEventListener('change', () => { if (v) { v.chartColumn = select.value; v.chart.destroy(); v.chart = createLineChart(chartEl, chartOptions()); schedule(); } });
  modeSelect.addEventListener('change', () => { if (v) { v.chartMode = modeSelect.value; schedule(); } });

  /** One window's length of room either side of a lone point. */
  function chartOptions() {
    return {
      points: true,
      // Window bounds are UTC in the table (ISO-8601 Z): the axis says the same times.
      utc: true,
      xPad: () => {
        const r = v?.rows.values().next().value;
        const len = r ? (Date.parse(r.window_end) - Date.parse(r.window_start)) / 1000 : NaN;
        return Number.isFinite(len) && len > 0 ? len : 60;
      },
    };
  }

  function open(view) {
    if (v?.name === view.name) { panel.scrollIntoView({ behavior: 'smooth', block: 'start' }); return; }
    close();
    panel.hidden = false;
    panel.dataset.view = view.name;
    $('view-name').textContent = view.name;
    v = {
      name: view.name,
      columns: (view.columns ?? []).map((c) => (typeof c === 'string' ? { name: c } : c)),
      keyColumns: view.keyColumns ?? null,
      keyNames: [],
      rows: new Map(),
      seq: 0,
      epoch: null,
      changed: new Set(),
      updates: 0,
      es: null,
      timer: 0,
      renderTimer: 0,
      chartColumn: null,
      chartMode: 'auto',
      chart: createLineChart(chartEl, chartOptions()),
    };
    modeSelect.value = 'auto';
    setColumns(v.columns);
    setLive('connecting', 'connecting…');
    const me = v;
    void describe(me).then(() => { if (v === me) connect(me); });
    panel.scrollIntoView({ behavior: 'smooth', block: 'start' });
  }

  /**
   * Without the catalog's columns and key columns (an older server), DESCRIBE supplies them: it flags
   * key columns, and a numeric group key such as `auction` cannot be told from an aggregate otherwise.
   */
  async function describe(me) {
    if (me.columns.length && Array.isArray(me.keyColumns)) return;
    try {
      const r = (await api.sql(`DESCRIBE ${quoteIdent(me.name)}`)).results[0];
      if (v !== me || !r?.rows?.length) return;
      const columns = r.rows.map((x) => ({ name: x.column, type: x.type }));
      const keys = r.rows.flatMap((x, i) => (x.key ? [i] : []));
      if (keys.length) me.keyColumns = keys;
      setColumns(columns);
    } catch { /* the heuristic key stays */ }
  }

  function setLive(mode, text) {
    const b = $('view-live');
    b.dataset.mode = mode;
    b.className = `badge ${mode}`;
    b.textContent = text;
  }

  function setColumns(columns) {
    if (!columns.length) return;
    v.columns = columns;
    v.keyNames = keyColumnNames(columns, v.keyColumns);
    const numeric = columns.filter((c) => isNumericType(c.type) && !v.keyNames.includes(c.name));
    const candidates = numeric.length ? numeric : columns.filter((c) => isNumericType(c.type));
    const keep = candidates.some((c) => c.name === v.chartColumn) ? v.chartColumn : candidates[0]?.name ?? null;
    select.replaceChildren(...candidates.map((c) => h('option', { value: c.name }, c.name)));
    select.disabled = !candidates.length;
    v.chartColumn = keep;
    if (keep) select.value = keep;
  }

  /** Rows arrive as objects keyed by column name; an array row is mapped through the columns. */
  function asObject(row) {
    if (!Array.isArray(row)) return row;
    const o = {};
    v.columns.forEach((c, i) => { o[c.name] = row[i]; });
    return o;
  }

  function keyOf(row) {
    if (!v.keyNames.length) return `#${++v.seq}`;
    return JSON.stringify(v.keyNames.map((n) => row[n]));
  }

  function replaceAll(columns, rows, epoch) {
    if (columns?.length) setColumns(columns);
    const next = new Map();
    for (const r of rows ?? []) { const o = asObject(r); next.set(keyOf(o), o); }
    // Rows whose values differ from what was shown are flashed, as for a change event.
    for (const [k, o] of next) { const old = v.rows.get(k); if (!old || JSON.stringify(old) !== JSON.stringify(o)) v.changed.add(k); }
    if (v.rows.size === 0) v.changed.clear();
    v.rows = next;
    if (epoch !== undefined && epoch !== null) v.epoch = epoch;
    schedule();
  }

  function applyChange(op, row, epoch) {
    const o = asObject(row);
    const k = keyOf(o);
    if (op === 'delete') v.rows.delete(k);
    else { v.rows.set(k, o); v.changed.add(k); }
    v.updates++;
    if (epoch !== undefined && epoch !== null) v.epoch = epoch;
    schedule();
  }

  function connect(me) {
    if (typeof EventSource === 'undefined') { poll(me); return; }
    let opened = false;
    const es = new EventSource(api.changesUrl(me.name));
    me.es = es;
    es.addEventListener('snapshot', (e) => {
      if (v !== me) return;
      opened = true;
      const d = JSON.parse(e.data);
      replaceAll(d.columns, d.rows, d.epoch ?? Number(e.lastEventId));
      setLive('sse', 'live · SSE');
    });
    es.addEventListener('change', (e) => {
      if (v !== me) return;
      const d = JSON.parse(e.data);
      applyChange(d.op, d.row, d.epoch ?? (e.lastEventId ? Number(e.lastEventId) : undefined));
      setLive('sse', 'live · SSE');
    });
    es.addEventListener('end', (e) => {
      if (v !== me) return;
      // The view was dropped: no more changes will come, and reconnecting would only 404.
      es.close();
      me.es = null;
      let reason = '';
      try { reason = JSON.parse(e.data).reason ?? ''; } catch { /* no reason */ }
      setLive('ended', `ended${reason ? ` · ${reason}` : ''}`);
    });
    es.addEventListener('error', () => {
      if (v !== me) return;
      if (es.readyState === EventSource.CLOSED) {
        // The route is missing or refused the stream: fall back to polling rather than show nothing.
        es.close();
        me.es = null;
        poll(me);
      } else if (opened) setLive('reconnecting', 'reconnecting…');
    });
  }

  function poll(me) {
    setLive('poll', 'live · polling 1 s');
    let viewRoute = true;
    const tick = async () => {
      if (v !== me) return;
      try {
        let res;
        if (viewRoute) {
          try { res = await api.view(me.name); } catch (e) { if (e instanceof ApiError && e.status === 404 && /^no route/i.test(e.message)) viewRoute = false; else throw e; }
        }
        if (!viewRoute) {
          const r = (await api.sql(`SELECT * FROM ${quoteIdent(me.name)}`)).results[0];
          res = { columns: r.columns, rows: r.rows };
        }
        if (v === me) replaceAll(res.columns, res.rows, res.epoch);
      } catch (e) {
        if (v === me) setLive('error', e.message);
      }
      if (v === me) me.timer = setTimeout(tick, POLL_MS);
    };
    void tick();
  }

  function schedule() {
    if (!v || v.renderTimer) return;
    const me = v;
    me.renderTimer = setTimeout(() => { me.renderTimer = 0; if (v === me) render(); }, 80);
  }

  function sortedRows() {
    const rows = [...v.rows.entries()];
    const ws = v.columns.some((c) => c.name === 'window_start');
    const keyNames = v.keyNames.filter((n) => n !== 'window_start');
    rows.sort(([, a], [, b]) => {
      if (ws && a.window_start !== b.window_start) return a.window_start < b.window_start ? 1 : -1; // newest window first
      for (const n of keyNames) {
        if (a[n] === b[n]) continue;
        if (a[n] === null || a[n] === undefined) return 1;
        if (b[n] === null || b[n] === undefined) return -1;
        return a[n] < b[n] ? -1 : 1;
      }
      return 0;
    });
    return rows;
  }

  function render() {
    const cols = v.columns.length ? v.columns : inferColumns();
    const rows = sortedRows();
    table.tHead.replaceChildren(h('tr', {}, cols.map((c) => h('th', { title: c.type ?? '', class: isNumericType(c.type) ? 'num' : null }, c.name, v.keyNames.includes(c.name) ? h('span', { class: 'key', title: 'key column: identifies a row' }, 'key') : null))));
    table.tBodies[0].replaceChildren(...rows.slice(0, MAX_SHOWN).map(([k, r]) => h('tr', {
      'data-testid': 'view-row', 'data-key': k, class: v.changed.has(k) ? 'flash' : null,
    }, cols.map((c) => h('td', { 'data-col': c.name, class: typeof r[c.name] === 'number' ? 'num' : null }, cell(r[c.name], !v.keyNames.includes(c.name)))))));
    v.changed.clear();
    $('view-count').textContent = `${number(v.rows.size, 0)} rows${v.rows.size > MAX_SHOWN ? ` · showing the newest ${MAX_SHOWN}` : ''} · ${number(v.updates, 0)} changes received`;
    $('view-epoch').textContent = v.epoch === null || Number.isNaN(v.epoch) ? '' : `epoch ${v.epoch}`;
    panel.dataset.rows = String(v.rows.size);
    panel.dataset.updates = String(v.updates);
    renderChart(cols, rows.map(([, r]) => r));
  }

  /** Without a catalog entry or snapshot columns, columns come from the first row. */
  function inferColumns() {
    const first = v.rows.values().next().value;
    if (!first) return [];
    const cols = Object.keys(first).map((name) => ({ name, type: typeof first[name] === 'number' ? 'DOUBLE' : /^\d{4}-\d\d-\d\dT/.test(String(first[name])) ? 'TIMESTAMP(3)' : 'VARCHAR' }));
    setColumns(cols);
    return cols;
  }

  function renderChart(cols, rows) {
    const col = v.chartColumn;
    const hasWs = cols.some((c) => c.name === 'window_start');
    chartEl.dataset.column = col ?? '';
    if (!col || !hasWs) {
      v.chart.set([], [[]]);
      chartEl.dataset.points = '0';
      return;
    }
    const groupCols = v.keyNames.filter((n) => n !== 'window_start' && n !== 'window_end' && n !== col);
    const groupOf = (r) => (groupCols.length ? groupCols.map((n) => cell(r[n], false)).join(' · ') : col);
    const xs = new Set();
    const byGroup = new Map();
    for (const r of rows) {
      const x = Date.parse(r.window_start) / 1000;
      const y = r[col];
      if (!Number.isFinite(x) || typeof y !== 'number') continue;
      xs.add(x);
      const g = groupOf(r);
      let m = byGroup.get(g);
      if (!m) { m = { total: 0, points: new Map() }; byGroup.set(g, m); }
      m.points.set(x, y);
      m.total += Math.abs(y);
    }
    const xArr = [...xs].sort((a, b) => a - b);
    // Many groups (auctions, users) make a line each unreadable: then one line of their sum, unless chosen.
    const mode = v.chartMode === 'auto' ? (byGroup.size > MAX_GROUPS ? 'sum' : 'groups') : v.chartMode;
    chartEl.dataset.mode = mode;
    if (mode === 'sum' || mode === 'max') {
      const agg = xArr.map(() => null);
      const at = new Map(xArr.map((x, i) => [x, i]));
      for (const m of byGroup.values()) {
        for (const [x, y] of m.points) {
          const i = at.get(x);
          agg[i] = agg[i] === null ? y : mode === 'sum' ? agg[i] + y : Math.max(agg[i], y);
        }
      }
      v.chart.set([`${mode}(${col})${groupCols.length ? ` over ${groupCols.join(',')}` : ''}`], [xArr, agg]);
      $('view-chart-note').textContent = groupCols.length ? `${number(byGroup.size, 0)} groups` : '';
    } else {
      const groups = [...byGroup.entries()].sort((a, b) => b[1].total - a[1].total).slice(0, MAX_GROUPS)
        .sort((a, b) => a[0].localeCompare(b[0], undefined, { numeric: true }));
      const labels = groups.map(([g]) => (groupCols.length ? `${groupCols.join(',')}=${g}` : g));
      v.chart.set(labels, [xArr, ...groups.map(([, m]) => xArr.map((x) => m.points.get(x) ?? null))]);
      $('view-chart-note').textContent = byGroup.size > MAX_GROUPS ? `the ${MAX_GROUPS} largest of ${number(byGroup.size, 0)} groups` : '';
    }
    chartEl.dataset.points = String(xArr.length);
  }

  function close() {
    if (!v) return;
    v.es?.close();
    clearTimeout(v.timer);
    clearTimeout(v.renderTimer);
    v.chart.destroy();
    v = null;
    panel.hidden = true;
    delete panel.dataset.view;
    table.tHead.replaceChildren();
    table.tBodies[0].replaceChildren();
  }

  return {
    open,
    close,
    get name() { return v?.name ?? null; },
    /** Called when the catalog learns a view's columns or key columns the panel did not have. */
    refine(view) {
      if (!v || view.name !== v.name) return;
      const keyChanged = JSON.stringify(view.keyColumns ?? null) !== JSON.stringify(v.keyColumns);
      if (!v.columns.length && view.columns?.length) setColumns(view.columns);
      if (keyChanged && view.keyColumns) { v.keyColumns = view.keyColumns; setColumns(v.columns); replaceAll(null, [...v.rows.values()]); }
    },
  };
}

function quoteIdent(name) {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}
