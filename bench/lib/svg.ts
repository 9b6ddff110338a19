/** Minimal SVG charts for bench results (no dependencies): horizontal bars and a line over time. */

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export function barChart(title: string, bars: readonly { label: string; value: number; group?: string }[], unit = 'events/s'): string {
  const colors: Record<string, string> = { limit: '#888', client: '#4a7fb5', engine: '#d9622b', peer: '#5a9e4b', decode: '#9467bd' };
  const rowH = 26; const left = 300; const width = 900; const top = 40;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const h = top + bars.length * rowH + 20;
  const rows = bars.map((b, i) => {
    const y = top + i * rowH;
    const w = Math.max(1, ((width - left - 120) * b.value) / max);
    return `<text x="${left - 8}" y="${y + 17}" text-anchor="end" font-size="13">${esc(b.label)}</text>`
      + `<rect x="${left}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${colors[b.group ?? 'engine'] ?? '#d9622b'}"/>`
      + `<text x="${left + w + 6}" y="${y + 17}" font-size="12">${fmt(b.value)} ${esc(unit)}</text>`;
  }).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" font-family="sans-serif">\n`
    + `<rect width="100%" height="100%" fill="white"/><text x="10" y="24" font-size="16" font-weight="bold">${esc(title)}</text>\n${rows}\n</svg>\n`;
}

export function lineChart(title: string, points: readonly { x: number; y: number }[], xLabel: string, yLabel: string): string {
  const width = 900; const height = 360; const l = 80; const r = 20; const t = 40; const b = 50;
  const xs = points.map((p) => p.x); const ys = points.map((p) => p.y);
  const x0 = Math.min(...xs, 0); const x1 = Math.max(...xs, 1); const y1 = Math.max(...ys, 1) * 1.1;
  const px = (x: number) => l + ((x - x0) / (x1 - x0 || 1)) * (width - l - r);
  const py = (y: number) => height - b - (y / y1) * (height - t - b);
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${l - 6}" y="${py(y1 * f) + 4}" text-anchor="end" font-size="11">${fmt(y1 * f)}</text><line x1="${l}" x2="${width - r}" y1="${py(y1 * f)}" y2="${py(y1 * f)}" stroke="#eee"/>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">\n`
    + `<rect width="100%" height="100%" fill="white"/><text x="10" y="24" font-size="16" font-weight="bold">${esc(title)}</text>${ticks}\n`
    + `<path d="${path}" fill="none" stroke="#d9622b" stroke-width="2"/>\n`
    + `<text x="${width / 2}" y="${height - 12}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`
    + `<text x="14" y="${height / 2}" font-size="12" transform="rotate(-90 14 ${height / 2})" text-anchor="middle">${esc(yLabel)}</text>\n</svg>\n`;
}
