/**
 * The panel of one continuous query: status and counters, and live charts of input rate, processing
 * rate, watermark delay and per-partition lag, from GET /v1/queries/:id polled every second.
 */
import { api, ApiError } from './api.js';
import { createLineChart, createRollingSeries } from './charts.js';
import { bytes, cell, duration, fillTable, h, number, statusClass } from './format.js';

const POLL_MS = 1000;

export function createQueryPanel({ onStopped }) {
  const $ = (id) => document.getElementById(id);
  const panel = $('query-panel');
  let current = null; // { id, timer, charts, series, stopped }

  $('query-close').addEventListener('click', () => close());
  $('query-stop').addEventListener('click', async () => {
    if (!current) return;
    const { id } = current;
    if (!confirm(`Stop query ${id}? Its view or sink is dropped.`)) return;
    try {
      await api.stopQuery(id);
      close();
      onStopped?.(id);
    } catch (e) {
      showError(e.message);
    }
  });

  function showError(message) {
    const box = $('query-error');
    box.hidden = !message;
    box.textContent = message ?? '';
  }

  function open(id) {
    if (current?.id === id) { panel.scrollIntoView({ behavior: 'smooth', block: 'start' }); return; }
    close();
    panel.hidden = false;
    panel.dataset.queryId = id;
    $('query-name').textContent = id;
    $('query-status').textContent = '';
    $('query-stats').replaceChildren();
    showError(null);
    current = {
      id,
      timer: 0,
      rates: createRollingSeries(),
      delay: createRollingSeries(),
      lag: createRollingSeries(),
      charts: {
        rates: createLineChart($('chart-rates'), { yFormat: (v) => number(v, 0) }),
        watermark: createLineChart($('chart-watermark'), { yFormat: (v) => duration(v) }),
        lag: createLineChart($('chart-lag'), { yFormat: (v) => number(v, 0), integer: true }),
      },
    };
    const me = current;
    const tick = async () => {
      if (current !== me) return;
      try {
        update(me, await api.query(id));
      } catch (e) {
        if (current !== me) return;
        if (e instanceof ApiError && e.status === 404) { showError(`query ${id} no longer exists`); $('query-status').textContent = 'gone'; return; }
        showError(e.message);
      }
      if (current === me) me.timer = setTimeout(tick, POLL_MS);
    };
    void tick();
    panel.scrollIntoView({ behavior: 'smooth', block: 'start' });
  }

  function update(me, q) {
    const p = q.progress ?? {};
    $('query-name').textContent = q.name ?? q.id;
    const st = $('query-status');
    st.textContent = q.status;
    st.className = `status ${statusClass(q.status)}`;
    st.dataset.status = q.status;
    $('query-sql').textContent = q.sql ?? '';
    showError(q.error || p.source?.lastError || null);

    const stat = (label, value, key) => [h('div', {}, h('dt', {}, label), h('dd', { 'data-testid': `stat-${key}` }, value))];
    $('query-stats').replaceChildren(
      ...stat('Input rows', number(p.inputRows, 0), 'input-rows'),
      ...stat('Input rows/s', number(p.inputRowsPerSecond), 'input-rate'),
      ...stat('Processed rows/s', number(p.processedRowsPerSecond), 'processed-rate'),
      ...stat('Watermark', p.watermark ?? '–', 'watermark'),
      ...stat('Watermark delay', duration(p.watermarkDelayMs), 'watermark-delay'),
      ...stat('Late rows dropped', number(p.lateRowsDropped, 0), 'late-rows'),
      ...stat('Malformed rows', number(p.malformedRows, 0), 'malformed-rows'),
      ...stat('Epoch', number(p.epoch, 0), 'epoch'),
      ...stat('Last checkpoint', checkpointText(p.lastCheckpoint), 'last-checkpoint'),
      ...stat('Source', p.source?.state ?? '–', 'source-state'),
    );

    const parts = [...(p.partitions ?? [])].sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
    fillTable($('query-partitions'),
      [{ name: 'topic' }, { name: 'partition', type: 'INT' }, { name: 'offset', type: 'BIGINT' }, { name: 'endOffset', type: 'BIGINT' }, { name: 'lag', type: 'BIGINT' }],
      parts);
    const ops = p.operators ?? [];
    fillTable($('query-operators'),
      [{ name: 'operator' }, { name: 'state rows', type: 'BIGINT' }, { name: 'state size' }],
      ops.map((o) => ({ operator: o.name, 'state rows': o.stateRows, 'state size': bytes(o.stateBytes) })));

    const t = Date.now() / 1000;
    me.rates.push(t, { input: p.inputRowsPerSecond ?? null, processed: p.processedRowsPerSecond ?? null });
    me.delay.push(t, { 'watermark delay': p.watermarkDelayMs ?? null });
    const lag = {};
    for (const x of parts) lag[`${parts.some((y) => y.topic !== x.topic) ? `${x.topic}/` : ''}p${x.partition}`] = x.lag ?? null;
    me.lag.push(t, lag);
    for (const k of ['rates', 'delay', 'lag']) {
      const { labels, data } = me[k].data();
      me.charts[k === 'delay' ? 'watermark' : k].set(labels, data);
    }
    panel.dataset.samples = String(me.rates.length);
  }

  function close() {
    if (!current) return;
    clearTimeout(current.timer);
    for (const c of Object.values(current.charts)) c.destroy();
    current = null;
    panel.hidden = true;
    delete panel.dataset.queryId;
  }

  return { open, close, get id() { return current?.id ?? null; } };
}

/** `{epoch, durationMs, time}` (or a bare time) as `12:03:04 · epoch 7 · 96 ms`. */
function checkpointText(c) {
  if (c === null || c === undefined) return '–';
  if (typeof c !== 'object') return cell(c);
  const t = c.time ? new Date(c.time) : null;
  return [t && !Number.isNaN(t.getTime()) ? t.toLocaleTimeString() : null, c.epoch !== undefined ? `epoch ${c.epoch}` : null, c.durationMs !== undefined ? duration(c.durationMs) : null]
    .filter(Boolean).join(' · ') || JSON.stringify(c);
}
