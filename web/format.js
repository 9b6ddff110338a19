/** Small DOM and formatting helpers shared by the panels. */

/** Creates an element: `h('td', {class: 'num'}, '42')`. Attributes starting with `on` become listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const NUMERIC = /^(TINYINT|SMALLINT|INT|INTEGER|BIGINT|REAL|FLOAT|DOUBLE|DOUBLE PRECISION|DECIMAL|NUMERIC)\b/i;

export function isNumericType(type) {
  return NUMERIC.test(String(type ?? ''));
}

export function isTimestampType(type) {
  return /^TIMESTAMP/i.test(String(type ?? ''));
}

const grouped = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 });
const plain = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3, useGrouping: false });

/**
 * A cell's text: numbers with at most 3 decimals, grouped in thousands unless `group` is false
 * (identifiers such as key columns read better as they are), objects as JSON.
 */
export function cell(v, group = true) {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number') return (group ? grouped : plain).format(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function number(v, digits = 1) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  return new Intl.NumberFormat('en-US', { maximumFractionDigits: digits }).format(v);
}

/** A duration in ms as `850 ms`, `12.3 s`, `4 min 10 s`, `3 h 2 min`, `412 d`. */
export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  const neg = ms < 0 ? '−' : '';
  ms = Math.abs(ms);
  if (ms < 1000) return `${neg}${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${neg}${s.toFixed(1)} s`;
  if (s < 3600) return `${neg}${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${neg}${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${neg}${number(s / 86400, 1)} d`;
}

export function bytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${number(n, i ? 1 : 0)} ${units[i]}`;
}

/** The CSS class of a query or source status, so colours stay in the stylesheet. */
export function statusClass(status) {
  const s = String(status ?? '').toLowerCase();
  if (s === 'running' || s === 'ok' || s === 'connected') return 'ok';
  if (s === 'recovering' || s === 'starting' || s === 'restoring' || s === 'connecting') return 'warn';
  if (s === 'failed' || s === 'error') return 'bad';
  return 'idle';
}

/** Renders `columns` + `rows` (objects keyed by column name) into a table's thead and tbody, values as they are. */
export function fillTable(table, columns, rows) {
  const thead = table.tHead ?? table.createTHead();
  const tbody = table.tBodies[0] ?? table.createTBody();
  thead.replaceChildren(h('tr', {}, columns.map((c) => h('th', { title: c.type ?? '', class: isNumericType(c.type) ? 'num' : null }, c.name))));
  tbody.replaceChildren(...rows.map((r) => h('tr', {}, columns.map((c) => h('td', { class: isNumericType(c.type) || typeof r[c.name] === 'number' ? 'num' : null }, cell(r[c.name], false))))));
}
