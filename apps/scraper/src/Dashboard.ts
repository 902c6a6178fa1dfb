/**
 * The dashboard of a running monitor, served with Effect's HTTP server
 * (`effect/http` routes on `@effect/platform-node`'s Node server):
 *
 * - `GET /` — the live runtime view: an HTML page whose figures the script
 *   `/assets/dashboard.js` keeps current from `GET /events`;
 * - `GET /events` — Server-Sent Events: a `live` event with `Dashboard.Live`
 *   (without a run, `Dashboard.NoRun`) as JSON about once a second
 *   (`everyMillis`), from one sampler shared by every open stream;
 * - `GET /status.json` — the run's snapshot as JSON;
 * - `GET /metrics` — every trawl metric in Prometheus' text exposition format
 *   (`effect/observability` PrometheusMetrics);
 * - `GET /api/v1/…` — the JSON API over the store (`Api`), when given one.
 *
 * Security: it binds 127.0.0.1 unless told otherwise, and any other address
 * needs a token (`token`), checked on every request — page, assets, event
 * stream, metrics — as `Authorization: Bearer <token>` or, for a browser, a
 * cookie set by opening `/?token=<token>` once (an `EventSource` cannot send
 * headers). Pages carry a Content-Security-Policy that allows no inline
 * script, and every value on them is HTML-escaped (the script writes
 * `textContent`, never markup).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as crypto from "node:crypto"
import * as http from "node:http"
import * as net from "node:net"
import { Model, type Store, type StoreError } from "@trawl/store"
import * as Api from "./Api.ts"
import { InputError } from "./Errors.ts"
import * as Progress from "./Progress.ts"
import { dashboardScript, dashboardStyle } from "./internal/dashboardAssets.ts"
import * as Pages from "./internal/dashboardPages.ts"
import { type BadQuery, epochMillis, integer, param, pathId, searchParams, targetsQuery } from "./internal/query.ts"

/**
 * Where and how the dashboard listens.
 *
 * @since 0.3.0
 */
export interface Options {
  /** 0 = any free port. */
  readonly port: number
  /** The address to bind (default 127.0.0.1); any other than a loopback one needs `token`. */
  readonly host?: string | undefined
  /** A Bearer token every request must carry (required off loopback). */
  readonly token?: string | undefined
  /** How often `/events` pushes the live figures (default 1,000 ms). */
  readonly everyMillis?: number | undefined
  /** The store the JSON API (`/api/v1/…`, see `Api`) reads; no API without one. */
  readonly store?: Store.Service | undefined
}

/**
 * The live figures `/events` pushes and the page shows: what the run does
 * now, each figure named for what it measures.
 *
 * @since 0.3.0
 */
export interface Live {
  readonly at: number
  readonly status: string
  /** Pages recorded per second since the run started. */
  readonly pagesPerSecond: number
  readonly recorded: number
  /** Fetches in flight now. */
  readonly fetchesInFlight: number
  /** Each bounded queue's depth now, against its capacity. */
  readonly queues: ReadonlyArray<{ readonly name: string; readonly depth: number; readonly capacity: number }>
  /** CPU utilisation of the extraction threads (0–1) since the last reading, when workers are used. */
  readonly extractCpu: number | null
  /** Extraction threads that died unexpectedly since the run started (null: no workers). */
  readonly extractCrashes: number | null
  readonly errorsByTag: Readonly<Record<string, number>>
  /** Schedule lag (due time to fetch start) of the last dispatches, in ms. */
  readonly lagP50Millis: number
  readonly lagP99Millis: number
  /** Targets past their due time, waiting for dispatch. */
  readonly overdue: number
  /** How long the store has been failing with transient errors (the writer retries), or null while it works. */
  readonly storeUnavailableForMillis: number | null
  /** Hosts the adaptive throttle has slowed (backed off, or a slow server) or that wait out a Retry-After, now (null: not reported). */
  readonly hostsThrottled: number | null
  /** Hosts whose circuit is open or half-open, now (null: not reported). */
  readonly hostsCircuitOpen: number | null
  /** Restarts made by supervisors since the process started. */
  readonly restarts: number
  /** Alerts waiting for each notifier, read from the store every few seconds (null: no store, or it cannot answer). */
  readonly notifiers: ReadonlyArray<NotifierFigures> | null
}

/**
 * One notifier's delivery state, as the dashboard shows it.
 *
 * @since 0.3.0
 */
export interface NotifierFigures {
  readonly name: string
  /** Alerts not yet delivered by this notifier. */
  readonly pending: number
  readonly delivered: number
  readonly lastError: string | null
}

/**
 * What `/events` pushes when no run is going on (`trawl dashboard`): the
 * store's figures only.
 *
 * @since 0.3.0
 */
export interface NoRun {
  readonly at: number
  readonly status: "no run"
  readonly notifiers: ReadonlyArray<NotifierFigures> | null
}

/**
 * The live figures of a snapshot.
 *
 * @example
 * ```ts
 * import { Dashboard, type Progress } from "@trawl/scraper"
 * declare const snapshot: Progress.Snapshot
 * Dashboard.liveOf(snapshot).pagesPerSecond
 * ```
 * @since 0.3.0
 */
export const liveOf = (snapshot: Progress.Snapshot, notifiers: ReadonlyArray<NotifierFigures> | null = null): Live => {
  const { counters, schedule } = snapshot
  return {
    at: snapshot.now,
    status: Progress.statusLine(snapshot),
    pagesPerSecond: Math.round(Progress.pagesPerSecond(snapshot) * 10) / 10,
    recorded: counters.recorded,
    fetchesInFlight: counters.inFlightFetches,
    queues: (["jobs", "pages", "outcomes"] as const).map((name) => ({
      name: queueNames[name],
      depth: counters.queueDepths[name],
      capacity: counters.queueCapacities[name]
    })),
    extractCpu: snapshot.workerUtilization === undefined ? null : Math.round(snapshot.workerUtilization * 1000) / 1000,
    extractCrashes: snapshot.workerCrashes ?? null,
    errorsByTag: counters.errorsByTag,
    lagP50Millis: Math.round(schedule.lagP50Millis),
    lagP99Millis: Math.round(schedule.lagP99Millis),
    overdue: schedule.overdue,
    storeUnavailableForMillis: counters.storeUnavailableSince === undefined ? null : Math.max(0, snapshot.now - counters.storeUnavailableSince),
    hostsThrottled: snapshot.hosts?.throttled ?? null,
    hostsCircuitOpen: snapshot.hosts?.circuitOpen ?? null,
    restarts: snapshot.restarts,
    notifiers
  }
}

const queueNames = { jobs: "fetch", pages: "extraction", outcomes: "store-writer" } as const

/**
 * Replaces the characters that are markup in HTML text and attribute values.
 *
 * @example
 * ```ts
 * import { Dashboard } from "@trawl/scraper"
 * Dashboard.escapeHtml("<img src=x onerror=alert(1)>") // "&lt;img src=x onerror=alert(1)&gt;"
 * ```
 * @since 0.3.0
 */
export const escapeHtml: (text: string) => string = Pages.escapeHtml

/** No inline script or style, nothing from elsewhere, no framing. */
const contentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

const securityHeaders = {
  "content-security-policy": contentSecurityPolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store"
}

const figure = (id: string, label: string, value: string) =>
  `<div class="figure"><span class="label">${escapeHtml(label)}</span><span class="value" id="${id}">${escapeHtml(value)}</span></div>`

const dash = "–"

const notifierRows = (notifiers: ReadonlyArray<NotifierFigures> | null): string =>
  (notifiers ?? []).map((n) =>
    `<tr><td>${escapeHtml(n.name)}</td><td>${n.pending}</td><td>${n.delivered}</td><td>${escapeHtml(n.lastError ?? "")}</td></tr>`
  ).join("")

const page = (shown: Live | NoRun): string => {
  const live = "recorded" in shown ? shown : undefined
  const count = (value: number | null | undefined) => value == null ? dash : String(value)
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>trawl</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/dashboard.css"><script src="/assets/dashboard.js" defer></script></head>
<body><header><h1>trawl</h1><p id="status">${escapeHtml(shown.status)}</p></header>
<section class="figures">
${figure("pagesPerSecond", "pages/s", count(live?.pagesPerSecond))}
${figure("recorded", "pages recorded", count(live?.recorded))}
${figure("fetchesInFlight", "fetches in flight", count(live?.fetchesInFlight))}
${figure("extractCpu", "extraction threads' CPU", live?.extractCpu == null ? dash : `${Math.round(live.extractCpu * 100)} %`)}
${figure("extractCrashes", "extraction thread crashes", count(live?.extractCrashes))}
${figure("lag", "schedule lag p50 / p99", live === undefined ? dash : `${live.lagP50Millis} / ${live.lagP99Millis} ms`)}
${figure("overdue", "targets overdue", count(live?.overdue))}
${figure("hostsThrottled", "hosts throttled", count(live?.hostsThrottled))}
${figure("hostsCircuitOpen", "hosts with circuit open", count(live?.hostsCircuitOpen))}
${figure("restarts", "supervisor restarts", count(live?.restarts))}
${figure("store", "store", live === undefined ? dash : live.storeUnavailableForMillis === null ? "ok" : `unavailable, retrying (${(live.storeUnavailableForMillis / 1000).toFixed(1)}s)`)}
</section>
<section><h2>Queues</h2><table><thead><tr><th>queue</th><th>depth</th><th>capacity</th></tr></thead><tbody id="queues">${
    (live?.queues ?? []).map((q) => `<tr><td>${escapeHtml(q.name)}</td><td>${q.depth}</td><td>${q.capacity}</td></tr>`).join("")
  }</tbody></table></section>
<section><h2>Errors by tag</h2><table><thead><tr><th>tag</th><th>pages</th></tr></thead><tbody id="errors">${
    Object.entries(live?.errorsByTag ?? {}).map(([tag, n]) => `<tr><td>${escapeHtml(tag)}</td><td>${n}</td></tr>`).join("")
  }</tbody></table></section>
<section><h2>Alerts pending</h2><table><thead><tr><th>notifier</th><th>pending</th><th>delivered</th><th>last error</th></tr></thead><tbody id="notifiers">${
    notifierRows(shown.notifiers)
  }</tbody></table></section>
<footer><a href="/alerts">alerts</a> · <a href="/targets">targets</a> · <a href="/metrics">metrics</a> · <a href="/status.json">status.json</a> · <span id="updated"></span></footer>
</body></html>`
}

/** Equal-time comparison, so a wrong token's bytes cannot be found by timing. */
const sameToken = (given: string, expected: string): boolean => {
  const a = crypto.createHash("sha256").update(given).digest()
  const b = crypto.createHash("sha256").update(expected).digest()
  return crypto.timingSafeEqual(a, b)
}

const tokenCookie = "trawl_token"

const unauthorized = HttpServerResponse.text("unauthorized: this dashboard needs its token (Authorization: Bearer <token>)\n", {
  status: 401,
  headers: { "www-authenticate": 'Bearer realm="trawl"', ...securityHeaders }
})

const unauthorizedJson = HttpServerResponse.text(
  JSON.stringify({ error: "Unauthorized", message: "this API needs its token (Authorization: Bearer <token>)" }),
  { status: 401, contentType: "application/json; charset=utf-8", headers: { "www-authenticate": 'Bearer realm="trawl"', ...securityHeaders } }
)

/**
 * Refuses a request without the token; a browser that opens `/?token=…`
 * gets the token as an HttpOnly, same-site cookie, and is sent to `/`.
 */
const guard = (token: string) =>
  HttpRouter.middleware<{}>()((httpEffect) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const authorization = request.headers["authorization"]
      if (authorization !== undefined && authorization.startsWith("Bearer ") && sameToken(authorization.slice(7), token)) {
        return yield* httpEffect
      }
      const cookie = request.cookies[tokenCookie]
      if (cookie !== undefined && sameToken(cookie, token)) return yield* httpEffect
      const query = new URL(request.url, "http://dashboard").searchParams.get("token")
      if (query !== null && sameToken(query, token)) {
        return HttpServerResponse.redirect("/", {
          status: 303,
          headers: {
            "set-cookie": `${tokenCookie}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
            ...securityHeaders
          }
        })
      }
      return request.url.startsWith("/api/") ? unauthorizedJson : unauthorized
    }), { global: true })

const htmlPage = (html: string) => HttpServerResponse.html(html).pipe(HttpServerResponse.setHeaders(securityHeaders))

/** A page's bad input or missing target: one line of text with its status. */
const pageRefusal = (status: number, message: string) =>
  HttpServerResponse.text(`${message}\n`, { status, headers: securityHeaders })

/** The pages over the store: alerts, the targets table, a target with its price chart. */
const pageRoutes = (store: Store.Service) => {
  /** A page, or the line that says why not: bad input 400, a page of no target 404, the store unable to answer 503. */
  const answer = <R>(
    page: Effect.Effect<HttpServerResponse.HttpServerResponse, BadQuery | StoreError.TargetNotFound | StoreError.DatabaseError, R>
  ) =>
    Effect.catch(page, (error) =>
      Effect.succeed(
        error._tag === "TargetNotFound" || (error._tag === "BadQuery" && error.field === "id")
          ? pageRefusal(404, "no such target")
          : error._tag === "BadQuery"
          ? pageRefusal(400, error.message)
          : pageRefusal(503, `the store cannot answer: ${error.message}`)
      ))
  return Layer.mergeAll(
    HttpRouter.add(
      "GET",
      "/alerts",
      Effect.gen(function*() {
        const params = yield* searchParams
        const kind = yield* param(params, "kind", Model.AlertKind, undefined)
        const target = yield* param(params, "target", integer(1, Number.MAX_SAFE_INTEGER), undefined)
        const alerts = yield* store.alerts({ kind, targetId: target, limit: 200 })
        return htmlPage(Pages.alertsPage(alerts, { kind, target }, Model.AlertKind.literals))
      }).pipe(answer)
    ),
    HttpRouter.add(
      "GET",
      "/targets",
      Effect.gen(function*() {
        const { offset, page, q, size } = yield* targetsQuery(yield* searchParams)
        const found = yield* store.searchTargets({ query: q, offset, limit: size })
        return htmlPage(Pages.targetsPage(found, q, page, size))
      }).pipe(answer)
    ),
    HttpRouter.add(
      "GET",
      "/targets/:id",
      Effect.gen(function*() {
        const id = yield* pathId
        const params = yield* searchParams
        const from = yield* param(params, "from", epochMillis, 0)
        const to = yield* param(params, "to", epochMillis, undefined)
        const target = yield* store.getTarget(id)
        const observations = yield* store.history(id, { since: from, until: to, limit: 10_000 })
        return htmlPage(Pages.targetPage(target, observations, { from, to }))
      }).pipe(answer)
    )
  )
}

/** How often the live view reads the notifiers' figures from the store (a count per notifier). */
const notifierEveryMillis = 5_000

/**
 * The notifiers' figures, read from the store at most every
 * `notifierEveryMillis` (the last reading in between); null while the store
 * cannot answer within a second, so a store outage never stalls the live view.
 */
const notifierFigures = (store: Store.Service) =>
  Effect.map(Ref.make<{ readonly at: number; readonly figures: ReadonlyArray<NotifierFigures> | null }>({ at: -Infinity, figures: null }), (last) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const previous = yield* Ref.get(last)
      if (now - previous.at < notifierEveryMillis) return previous.figures
      const figures = yield* store.notifierStatus().pipe(
        Effect.map((rows) => rows.map(({ delivered, lastError, name, pending }): NotifierFigures => ({ name, pending, delivered, lastError }))),
        Effect.timeoutOption(1_000),
        Effect.map(Option.getOrNull),
        Effect.catch(() => Effect.succeed(null))
      )
      yield* Ref.set(last, { at: now, figures })
      return figures
    }))

const sseHeaders = { "cache-control": "no-store", "x-accel-buffering": "no", "x-content-type-options": "nosniff" }

const encoder = new TextEncoder()

/**
 * Serves the dashboard until the Scope closes; returns its address. Without
 * a run (`live` undefined) the live panels say "no run".
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Dashboard, type Progress } from "@trawl/scraper"
 * declare const snapshot: Effect.Effect<Progress.Snapshot>
 * const program = Effect.scoped(Effect.flatMap(Dashboard.serve(snapshot, { port: 8088 }), ({ url }) => Effect.log(`dashboard on ${url}`)))
 * ```
 * @since 0.1.0
 */
export const serve = (
  snapshot: Effect.Effect<Progress.Snapshot> | undefined,
  options: Options
): Effect.Effect<{ readonly port: number; readonly url: string }, InputError, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const flag = `--dashboard ${options.port}`
    if (net.isIP(host) === 0 && host !== "localhost") {
      return yield* new InputError({ input: `--dashboard-host ${host}`, reason: "must be an IP address" })
    }
    const loopback = host === "localhost" || host === "::1" || host.startsWith("127.")
    const token = options.token === undefined || options.token === "" ? undefined : options.token
    if (!loopback && token === undefined) {
      return yield* new InputError({
        input: `--dashboard-host ${host}`,
        reason: "a dashboard on an address other than loopback needs --dashboard-token (or TRAWL_DASHBOARD_TOKEN)"
      })
    }
    const everyMillis = Math.max(100, options.everyMillis ?? 1_000)
    const notifiers = options.store === undefined ? Effect.succeed(null) : yield* notifierFigures(options.store)
    const live = Effect.flatMap(notifiers, (figures): Effect.Effect<Live | NoRun> =>
      snapshot === undefined
        ? Effect.map(Clock.currentTimeMillis, (at): NoRun => ({ at, status: "no run", notifiers: figures }))
        : Effect.map(snapshot, (s) => liveOf(s, figures)))

    // One sampler for every open stream, running while at least one is open: ten browsers cost
    // one snapshot (and one JSON text) a tick, not ten. A slow client skips ticks (sliding),
    // holding no one back; one that connects gets the latest tick at once (replay).
    const ticks = yield* Stream.share(
      Stream.fromEffectSchedule(live, Schedule.spaced(everyMillis)).pipe(
        Stream.map((figures) => encoder.encode(`event: live\ndata: ${JSON.stringify(figures)}\n\n`))
      ),
      { capacity: 1, strategy: "sliding", replay: 1 }
    )
    // open streams end first when the scope closes (a finalizer added after the server's runs
    // before its close), so the server's graceful close has no stream to wait for
    const closing = yield* Deferred.make<void>()
    const events = HttpServerResponse.stream(Stream.interruptWhen(ticks, Deferred.await(closing)), {
      contentType: "text/event-stream",
      headers: sseHeaders
    })

    const routes = Layer.mergeAll(
      HttpRouter.add("GET", "/", Effect.map(live, (figures) => htmlPage(page(figures)))),
      HttpRouter.add("GET", "/assets/dashboard.js", HttpServerResponse.text(dashboardScript, { contentType: "text/javascript; charset=utf-8", headers: securityHeaders })),
      HttpRouter.add("GET", "/assets/dashboard.css", HttpServerResponse.text(dashboardStyle, { contentType: "text/css; charset=utf-8", headers: securityHeaders })),
      HttpRouter.add("GET", "/events", events),
      HttpRouter.add(
        "GET",
        "/status.json",
        snapshot === undefined
          ? HttpServerResponse.json({ run: null }, { headers: securityHeaders })
          : Effect.flatMap(snapshot, (s) => HttpServerResponse.json(s, { headers: securityHeaders }))
      ),
      HttpRouter.add(
        "GET",
        "/metrics",
        Effect.map(PrometheusMetrics.format(), (text) =>
          HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8", headers: { "cache-control": "no-store" } }))
      ),
      options.store === undefined ? Layer.empty : Layer.merge(Api.routes(options.store, { writable: token !== undefined }), pageRoutes(options.store)),
      token === undefined ? Layer.empty : guard(token)
    )
    const app = yield* HttpRouter.toHttpEffect(routes)
    const server = yield* NodeHttpServer.make(() => http.createServer(), { port: options.port, host }).pipe(
      Effect.mapError((error) => new InputError({ input: flag, reason: String((error.cause as Error | undefined)?.message ?? error.message) }))
    )
    yield* server.serve(app)
    yield* Effect.addFinalizer(() => Deferred.succeed(closing, undefined))
    const port = server.address._tag === "UnixPathAddress" ? options.port : server.address.port
    const shown = host.includes(":") ? `[${host}]` : host
    return { port, url: `http://${shown}:${port}/` }
  })
