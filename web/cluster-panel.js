/**
 * The Cluster panel of the sidebar: GET /v1/cluster every few seconds, rendered by cluster-render.js.
 * Hidden while the route does not answer 200; a 404 (a single instance: it does not join a cluster
 * without a restart) stops the polling.
 */
import { getToken } from './api.js';
import { renderCluster } from './cluster-render.js';

export function startClusterPanel(section, body, intervalMs = 3000) {
  let last = '';
  let timer = null;
  async function load() {
    try {
      const token = getToken();
      const res = await fetch('/v1/cluster', { headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } });
      if (res.status === 404 && timer !== null) { clearInterval(timer); timer = null; }
      const html = res.ok ? renderCluster(await res.json()) : '';
      if (html !== last) { last = html; body.innerHTML = html; }
      section.hidden = html === '';
    } catch {
      section.hidden = true;
    }
  }
  timer = setInterval(() => void load(), intervalMs);
  void load();
}
