/**
 * The dashboard's pages over the store, rendered on the server: the latest
 * alerts, the targets table (searched and paged by the store), and a
 * target's page with its price history as an SVG chart — one point per
 * stored observation with a price in the range — and its availability
 * timeline. Every value is escaped; no script is needed.
 *
 * @internal
 */
import type { Model, Store } from "@trawl/store"

export const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;")

const time = (millis: number | null) => millis === null ? "–" : new Date(millis).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z")

const price = (money: Model.Money | null) => money === null ? "–" : `${money.amount} ${money.currency}`

const layout = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · trawl</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="/assets/dashboard.css"></head>
<body><nav><a href="/">live</a> · <a href="/alerts">alerts</a> · <a href="/targets">targets</a></nav>
<h1>${escapeHtml(title)}</h1>
${body}</body></html>`

const query = (params: Record<string, string | number | undefined>) => {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== "") search.set(key, String(value))
  const text = search.toString()
  return text === "" ? "" : `?${text}`
}

/** The latest alerts, newest first; a form filters by kind and target. */
export const alertsPage = (
  alerts: ReadonlyArray<Model.Alert>,
  filter: { readonly kind?: string | undefined; readonly target?: number | undefined },
  kinds: ReadonlyArray<string>
) =>
  layout(
    "Alerts",
    `<form method="get" action="/alerts"><label>kind <select name="kind"><option value="">any</option>${
      kinds.map((kind) => `<option value="${escapeHtml(kind)}"${kind === filter.kind ? " selected" : ""}>${escapeHtml(kind)}</option>`).join("")
    }</select></label> <label>target <input name="target" inputmode="numeric" value="${filter.target ?? ""}"></label> <button>filter</button></form>
<table id="alerts"><thead><tr><th>raised</th><th>kind</th><th>product</th><th>old</th><th>new</th><th>change</th><th>target</th></tr></thead><tbody>${
      alerts.map((alert) =>
        `<tr><td>${time(alert.createdAt)}</td><td>${escapeHtml(alert.kind)}</td><td>${escapeHtml(alert.productName ?? "–")}</td><td>${
          escapeHtml(price(alert.oldPrice))
        }</td><td>${escapeHtml(price(alert.newPrice))}</td><td>${alert.percent === null ? "" : `${escapeHtml(alert.percent)} %`}</td><td><a href="/targets/${alert.targetId}">${
          escapeHtml(alert.url)
        }</a></td></tr>`
      ).join("")
    }</tbody></table>${alerts.length === 0 ? "<p>No alerts.</p>" : ""}`
  )

/** A page of the targets table, with a search box and links to the pages before and after. */
export const targetsPage = (found: Store.TargetPage, q: string, page: number, size: number) => {
  const pages = Math.max(1, Math.ceil(found.total / size))
  return layout(
    "Targets",
    `<form method="get" action="/targets"><input type="search" name="q" value="${escapeHtml(q)}" placeholder="part of a URL"> <button>search</button></form>
<p id="count">${found.total} targets${q === "" ? "" : ` match “${escapeHtml(q)}”`} · page ${page} of ${pages}</p>
<table id="targets"><thead><tr><th>id</th><th>URL</th><th>last price</th><th>availability</th><th>observed</th><th>failing</th></tr></thead><tbody>${
      found.targets.map((target) =>
        `<tr><td>${target.id}</td><td><a href="/targets/${target.id}">${escapeHtml(target.url)}</a></td><td>${escapeHtml(price(target.lastPrice))}</td><td>${
          escapeHtml(target.lastAvailability)
        }</td><td>${time(target.lastObservedAt)}</td><td>${target.failureStreak}</td></tr>`
      ).join("")
    }</tbody></table>
<p class="pager">${page > 1 ? `<a rel="prev" href="/targets${query({ q, page: page - 1, size })}">previous</a>` : ""} ${
      page < pages ? `<a rel="next" href="/targets${query({ q, page: page + 1, size })}">next</a>` : ""
    }</p>`
  )
}

const chartWidth = 800
const chartHeight = 240
const margin = 40

/**
 * The price history as SVG: one `circle` per observation with a price (in
 * time order, joined by a step line), its time on x and its amount on y.
 */
export const priceChart = (observations: ReadonlyArray<Model.Observation>): string => {
  const priced = observations.filter((o) => o.price !== null).sort((a, b) => a.observedAt - b.observedAt)
  if (priced.length === 0) return `<p id="no-chart">No price in this range.</p>`
  const amounts = priced.map((o) => Number(o.price!.amount))
  const low = Math.min(...amounts)
  const high = Math.max(...amounts)
  const start = priced[0]!.observedAt
  const end = priced.at(-1)!.observedAt
  const x = (at: number) => margin + (end === start ? 0.5 : (at - start) / (end - start)) * (chartWidth - 2 * margin)
  const y = (amount: number) => chartHeight - margin - (high === low ? 0.5 : (amount - low) / (high - low)) * (chartHeight - 2 * margin)
  const points = priced.map((o, i) => [x(o.observedAt), y(amounts[i]!)] as const)
  // a price holds until the next reading: a step line, flat between readings
  const line = points.flatMap(([px, py], i) => i === 0 ? [[px, py]] : [[px, points[i - 1]![1]], [px, py]])
    .map(([px, py]) => `${px!.toFixed(1)},${py!.toFixed(1)}`).join(" ")
  const currency = priced.at(-1)!.price!.currency
  return `<svg id="price-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${chartWidth} ${chartHeight}" width="${chartWidth}" height="${chartHeight}" role="img" aria-label="price history">
<line x1="${margin}" y1="${chartHeight - margin}" x2="${chartWidth - margin}" y2="${chartHeight - margin}" stroke="#999"/>
<text x="4" y="${margin}" font-size="12">${escapeHtml(`${high} ${currency}`)}</text><text x="4" y="${chartHeight - margin}" font-size="12">${
    escapeHtml(`${low} ${currency}`)
  }</text>
<text x="${margin}" y="${chartHeight - 8}" font-size="12">${time(start)}</text><text x="${chartWidth - margin}" y="${chartHeight - 8}" font-size="12" text-anchor="end">${time(end)}</text>
<polyline fill="none" stroke="#2266cc" stroke-width="1.5" points="${line}"/>
${
    points.map(([px, py], i) =>
      `<circle class="point" cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="2.5" fill="#2266cc"><title>${escapeHtml(`${time(priced[i]!.observedAt)}: ${price(priced[i]!.price)}`)}</title></circle>`
    ).join("")
  }
</svg>`
}

/** Runs of one availability, oldest first. */
const availabilityRuns = (observations: ReadonlyArray<Model.Observation>) => {
  const ordered = observations.filter((o) => o.outcome === "ok").sort((a, b) => a.observedAt - b.observedAt)
  const runs: Array<{ availability: string; from: number; to: number; count: number }> = []
  for (const o of ordered) {
    const last = runs.at(-1)
    if (last !== undefined && last.availability === o.availability) {
      last.to = o.observedAt
      last.count++
    } else {
      runs.push({ availability: o.availability, from: o.observedAt, to: o.observedAt, count: 1 })
    }
  }
  return runs
}

/** A target: its state, its price chart for the range, its availability timeline and its latest observations. */
export const targetPage = (
  target: Model.Target,
  observations: ReadonlyArray<Model.Observation>,
  range: { readonly from: number; readonly to: number | undefined }
) => {
  const lastError = observations.find((o) => o.outcome === "error")
  const lastOk = observations.find((o) => o.outcome === "ok")
  const lastAmbiguous = observations.find((o) => o.outcome === "ambiguous")
  return layout(
    `Target ${target.id}`,
    `<p><a href="${escapeHtml(target.url)}" rel="noreferrer noopener">${escapeHtml(target.url)}</a></p>
<table id="state"><tbody>
<tr><th>last price</th><td>${escapeHtml(price(target.lastPrice))}</td></tr>
<tr><th>availability</th><td>${escapeHtml(target.lastAvailability)}</td></tr>
<tr><th>last observed</th><td>${time(target.lastObservedAt)}</td></tr>
<tr><th>extraction source</th><td>${escapeHtml(lastOk?.source ?? "–")}</td></tr>
<tr><th>confidence</th><td id="confidence">${lastOk?.confidence == null ? "–" : lastOk.confidence.toFixed(2)}</td></tr>
<tr><th>last error</th><td>${lastError === undefined ? "–" : escapeHtml(`${lastError.errorTag ?? "error"} at ${time(lastError.observedAt)}`)}</td></tr>
<tr><th>failure streak</th><td>${target.failureStreak}</td></tr>
<tr><th>interval</th><td>${Math.round(target.intervalMillis / 1000)} s${target.enabled ? "" : " (disabled)"}</td></tr>
<tr><th>alert rules</th><td id="rules">${
      escapeHtml(target.alertRules.length === 0 ? "change; back-in-stock; out-of-stock (defaults)" : target.alertRules.join("; "))
    }${target.confirm > 1 ? `, confirm ${target.confirm}` : ""}${
      target.cooldownMillis > 0 ? `, cooldown ${Math.round(target.cooldownMillis / 60_000)} min` : ""
    }${target.mutedUntil === null ? "" : `, muted until ${time(target.mutedUntil)}`}</td></tr>
<tr><th>group</th><td id="group">${target.group === null ? "–" : escapeHtml(target.group)}</td></tr>
${
      lastAmbiguous === undefined || (lastOk !== undefined && lastOk.observedAt > lastAmbiguous.observedAt)
        ? ""
        : `<tr><th>ambiguous</th><td id="ambiguous">${
          escapeHtml(`${lastAmbiguous.ambiguity?.detail ?? "the page disagrees with itself"} (${time(lastAmbiguous.observedAt)})`)
        }</td></tr>`
    }
</tbody></table>
<h2>Price history</h2>
<form method="get" action="/targets/${target.id}"><label>from <input name="from" value="${range.from || ""}" inputmode="numeric"></label> <label>to <input name="to" value="${
      range.to ?? ""
    }" inputmode="numeric"></label> (epoch ms) <button>show</button></form>
<p id="points">${observations.filter((o) => o.price !== null).length} observations with a price in range</p>
${priceChart(observations)}
<h2>Availability</h2>
<table id="availability"><thead><tr><th>from</th><th>to</th><th>availability</th><th>readings</th></tr></thead><tbody>${
      availabilityRuns(observations).map((run) =>
        `<tr><td>${time(run.from)}</td><td>${time(run.to)}</td><td>${escapeHtml(run.availability)}</td><td>${run.count}</td></tr>`
      ).join("")
    }</tbody></table>`
  )
}
