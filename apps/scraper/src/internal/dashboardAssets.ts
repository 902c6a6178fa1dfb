/**
 * The dashboard page's script and style, served as files (`/assets/…`): the
 * page's Content-Security-Policy allows no inline script or style. The script
 * follows `/events` and writes each figure as `textContent` (never markup),
 * so a value from a shop's page can never become an element.
 *
 * @internal
 */

export const dashboardScript = `"use strict";
(() => {
  const text = (id, value) => { const el = document.getElementById(id); if (el) el.textContent = value; };
  const rows = (id, list) => {
    const body = document.getElementById(id);
    if (!body) return;
    const fresh = list.map((cells) => {
      const tr = document.createElement("tr");
      for (const cell of cells) { const td = document.createElement("td"); td.textContent = String(cell); tr.appendChild(td); }
      return tr;
    });
    body.replaceChildren(...fresh);
  };
  const count = (value) => value === null || value === undefined ? "–" : String(value);
  const stamp = (live) => {
    text("updated", "updated " + new Date(live.at).toLocaleTimeString());
    document.body.dataset.updates = String(Number(document.body.dataset.updates ?? "0") + 1);
  };
  const show = (live) => {
    rows("notifiers", (live.notifiers ?? []).map((n) => [n.name, n.pending, n.delivered, n.lastError ?? ""]));
    if (live.recorded === undefined) { text("status", live.status); stamp(live); return; }
    text("status", live.status);
    text("pagesPerSecond", String(live.pagesPerSecond));
    text("recorded", String(live.recorded));
    text("fetchesInFlight", String(live.fetchesInFlight));
    text("extractCpu", live.extractCpu === null ? "–" : Math.round(live.extractCpu * 100) + " %");
    text("extractCrashes", count(live.extractCrashes));
    text("lag", live.lagP50Millis + " / " + live.lagP99Millis + " ms");
    text("overdue", String(live.overdue));
    text("hostsThrottled", count(live.hostsThrottled));
    text("hostsCircuitOpen", count(live.hostsCircuitOpen));
    text("restarts", count(live.restarts));
    text("store", live.storeUnavailableForMillis === null ? "ok" : "unavailable, retrying (" + (live.storeUnavailableForMillis / 1000).toFixed(1) + "s)");
    rows("queues", live.queues.map((q) => [q.name, q.depth, q.capacity]));
    rows("errors", Object.entries(live.errorsByTag).sort((a, b) => b[1] - a[1]).map(([tag, n]) => [tag, n]));
    stamp(live);
  };
  const events = new EventSource("/events");
  events.addEventListener("live", (event) => show(JSON.parse(event.data)));
  events.addEventListener("error", () => text("updated", "reconnecting…"));
})();
`

export const dashboardStyle = `body{font:14px system-ui,sans-serif;margin:2em;color:#222}
header h1{margin:0}#status{color:#555}
.figures{display:flex;flex-wrap:wrap;gap:1em;margin:1.5em 0}
.figure{border:1px solid #ddd;border-radius:6px;padding:.8em 1.2em;min-width:10em}
.figure .label{display:block;color:#666;font-size:12px}.figure .value{font-size:22px}
table{border-collapse:collapse;margin-bottom:1.5em}td,th{border-bottom:1px solid #eee;padding:.3em 1em;text-align:left}
footer{color:#888;font-size:12px}
`
