/**
 * uPlot charts for the panels: a line chart whose set of series can change (partitions appear, groups
 * appear), rebuilt only when the set changes and otherwise fed with `setData`.
 */
import uPlot from './vendor/uPlot.esm.js';

export const PALETTE = ['#2f6fdf', '#e07b16', '#1f9d6b', '#c2410c', '#7c3aed', '#0891b2', '#be185d', '#65a30d', '#a16207', '#475569'];

/** Tick steps for counts (rows, lag): no 0.5-row ticks that would print as duplicate labels. */
const INTEGER_INCRS = [1, 2, 5].flatMap((m) => Array.from({ length: 13 }, (_, e) => m * 10 ** e)).sort((a, b) => a - b);

/**
 * @param {HTMLElement} el
 * @param {{height?: number, yLabel?: string, yFormat?: (v: number) => string, xTime?: boolean, points?: boolean,
 *   integer?: boolean, xPad?: number | (() => number), utc?: boolean}} opts
 */
export function createLineChart(el, opts = {}) {
  /** @type {uPlot | null} */
  let plot = null;
  let labels = [];
  /** @type {[number, number] | null} min and max of the x values last set */
  let extent = null;
  const height = opts.height ?? 180;

  const width = () => Math.max(200, el.clientWidth || 400);

  function build(seriesLabels, data) {
    plot?.destroy();
    labels = seriesLabels;
    const fmt = opts.yFormat ?? ((v) => String(v));
    plot = new uPlot({
      ...(opts.utc ? { tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC') } : {}),
      width: width(),
      height,
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: {
          time: opts.xTime ?? true,
          // A lone point (one window so far) would otherwise stretch the axis over years.
          // uPlot widens a lone time point by 1000 days before calling this: use the data's own extent.
          range: (_u, min, max) => {
            if (extent) [min, max] = extent;
            if (min === null || max === null) return [0, 1];
            const pad = min === max ? (typeof opts.xPad === 'function' ? opts.xPad() : opts.xPad ?? 1) : (max - min) * 0.02;
            return [min - pad, max + pad];
          },
        },
        y: { range: (_u, min, max) => (min === max ? [Math.min(0, min), max + 1] : [Math.min(0, min), max * 1.05]) },
      },
      axes: [
        { stroke: '#5b6472', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#dfe3e8' } },
        { stroke: '#5b6472', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#dfe3e8' }, size: 64, values: (_u, vals) => vals.map((v) => fmt(v)), label: opts.yLabel, ...(opts.integer ? { incrs: INTEGER_INCRS } : {}) },
      ],
      series: [
        {},
        ...seriesLabels.map((label, i) => ({
          label,
          stroke: PALETTE[i % PALETTE.length],
          width: 2,
          points: { show: opts.points ?? false, size: 5 },
          value: (_u, v) => (v === null || v === undefined ? '–' : fmt(v)),
          spanGaps: true,
        })),
      ],
    }, data, el);
  }

  const ro = new ResizeObserver(() => { if (plot) plot.setSize({ width: width(), height }); });
  ro.observe(el);

  return {
    /** @param {string[]} seriesLabels @param {(number|null)[][]} data x values first, then one array per series */
    set(seriesLabels, data) {
      const xs = data[0] ?? [];
      extent = xs.length ? [xs[0], xs[xs.length - 1]] : null;
      if (!plot || seriesLabels.length !== labels.length || seriesLabels.some((l, i) => l !== labels[i])) build(seriesLabels, data);
      else plot.setData(data);
    },
    destroy() {
      ro.disconnect();
      plot?.destroy();
      plot = null;
      labels = [];
      el.replaceChildren();
    },
  };
}

/**
 * A rolling window of samples over wall-clock time, keyed by series name (series may come and go):
 * feeds a line chart with the last `capacity` samples.
 */
export function createRollingSeries(capacity = 120) {
  const times = [];
  /** @type {Map<string, (number|null)[]>} */
  const series = new Map();
  return {
    /** @param {number} t seconds @param {Record<string, number|null>} values */
    push(t, values) {
      times.push(t);
      for (const [k, v] of Object.entries(values)) {
        if (!series.has(k)) series.set(k, new Array(times.length - 1).fill(null));
      }
      for (const [k, arr] of series) arr.push(values[k] ?? null);
      if (times.length > capacity) {
        times.shift();
        for (const arr of series.values()) arr.shift();
      }
    },
    /** Labels and uPlot data, series in a stable (natural) order. */
    data() {
      const keys = [...series.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
      return { labels: keys, data: [times.slice(), ...keys.map((k) => series.get(k).slice())] };
    },
    get length() { return times.length; },
  };
}
