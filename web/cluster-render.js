/**
 * The dashboard's Cluster panel as HTML (issue 17): GET /v1/cluster's members (alive first, with their
 * address and tasks) and the continuous queries' lag. Pure, so it is checked without a browser
 * (test/cluster/cluster-status.test.ts); cluster-panel.js fetches and places it.
 */

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/** The panel's inner HTML for one /v1/cluster answer; '' when there is none (not in cluster mode). */
export function renderCluster(data) {
  if (!data || !Array.isArray(data.members)) return '';
  const alive = data.members.filter((m) => m.alive).length;
  const members = data.members.map((m) => `<li class="member" data-alive="${m.alive ? 'true' : 'false'}"${m.id === data.instance ? ' data-self="true"' : ''}>`
    + `<span class="status ${m.alive ? 'running' : 'stopped'}">${m.alive ? '●' : '○'}</span> <b>${esc(m.id)}</b>${m.id === data.instance ? ' <span class="hint">(this)</span>' : ''}`
    + `<div class="hint">${m.address ? `<a href="${esc(m.address)}">${esc(m.address)}</a>` : 'no address'} · ${m.tasks.length} task${m.tasks.length === 1 ? '' : 's'}</div>`
    + (m.tasks.length ? `<div class="tasks">${esc(m.tasks.join(', '))}</div>` : '')
    + '</li>').join('');
  const queries = (data.queries ?? []).map((q) => `<tr><td>${esc(q.name)}</td><td class="num">${q.lag === null || q.lag === undefined ? '–' : esc(q.lag)}</td></tr>`).join('');
  return `<p class="hint">cluster <b>${esc(data.clusterId)}</b> · ${alive} of ${data.members.length} alive</p>`
    + `<ul class="items members">${members}</ul>`
    + (queries ? `<table class="lag"><thead><tr><th>query</th><th>lag</th></tr></thead><tbody>${queries}</tbody></table>` : '');
}
