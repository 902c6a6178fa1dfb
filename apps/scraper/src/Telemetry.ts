/**
 * OpenTelemetry export of a run's traces and metrics, over OTLP/HTTP JSON,
 * through effect's own exporters (`effect/observability` OtlpTracer and
 * OtlpMetrics) — on when `trawl run --otlp URL` or the standard
 * `OTEL_EXPORTER_OTLP_ENDPOINT` names a collector.
 *
 * The endpoint is a base URL, as the OpenTelemetry specification has it:
 * spans are posted to `URL/v1/traces`, metrics to `URL/v1/metrics`. The
 * resource is named by `OTEL_SERVICE_NAME` (default `trawl`), with the
 * attributes of `OTEL_RESOURCE_ATTRIBUTES`; `OTEL_EXPORTER_OTLP_HEADERS`
 * (`key=value,…`, values URL-encoded) is sent with every export, e.g. a
 * vendor's API key; `OTEL_BSP_SCHEDULE_DELAY` and `OTEL_METRIC_EXPORT_INTERVAL`
 * (milliseconds) set how often spans (default 5 s) and metrics (default
 * 10 s) are sent. What is buffered is sent when the run ends.
 *
 * What is exported:
 *
 * - **spans**: one `trawl.visit` per target visit, from its dispatch to its
 *   outcome's write (attributes `trawl.target.id`, `url.full`,
 *   `server.address`, `trawl.outcome` — `ok`, `not_modified` or `error` —
 *   and `error.type`, the error's tag, with the span's status an error), and
 *   as its children `trawl.fetch` (the request, `http.response.status_code`),
 *   `trawl.extract` (decoding and extraction in a worker,
 *   `trawl.extract.source`) and `trawl.store` (the write of the batch that
 *   held the visit's outcome, linked to that batch's own
 *   `trawl.store.write` span, under which the store's spans are). The
 *   visit crosses actors (host actor, fetch stage, extraction, store
 *   writer): its span travels in their messages and every child names it as
 *   its parent.
 * - **metrics**: every trawl metric (`trawl_fetch_requests_total`,
 *   `trawl_schedule_lag_ms`, the actors' mailboxes, the worker pools, …),
 *   the same set `/metrics` serves to Prometheus, cumulative.
 *
 * Without an endpoint none of it is loaded (the exporters are imported when
 * the layer is built) and the pipeline makes no spans: it traces only under
 * a tracer other than effect's native one (`Pipeline`).
 *
 * @since 0.3.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { InputError } from "./Errors.ts"
import * as VisitSpans from "./internal/visitSpans.ts"

/**
 * Where and how to export.
 *
 * @example
 * ```ts
 * import { Telemetry } from "@trawl/scraper"
 *
 * const options: Telemetry.Options = { endpoint: "http://127.0.0.1:4318", serviceName: "trawl" }
 * ```
 * @since 0.3.0
 */
export interface Options {
  /** The collector's base URL: `/v1/traces` and `/v1/metrics` are appended. */
  readonly endpoint: string
  /** The resource's `service.name` (default: `OTEL_RESOURCE_ATTRIBUTES`' one, else `trawl`). */
  readonly serviceName?: string | undefined
  /** Headers sent with every export (e.g. an API key). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** How often buffered spans are sent. Default 5 s. */
  readonly tracesExportIntervalMillis?: number | undefined
  /** How often the metrics are sent. Default 10 s. */
  readonly metricsExportIntervalMillis?: number | undefined
}

/**
 * The names of the spans a run exports.
 *
 * @example
 * ```ts
 * import { Telemetry } from "@trawl/scraper"
 *
 * Telemetry.spanNames.visit // "trawl.visit"
 * ```
 * @since 0.3.0
 */
export const spanNames = VisitSpans.spanNames

/**
 * Checks a collector's base URL: http or https, no query or fragment (the
 * signal paths are appended to it). Fails with one line naming `input`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Telemetry } from "@trawl/scraper"
 *
 * Effect.runSync(Telemetry.endpoint("http://127.0.0.1:4318/")) // "http://127.0.0.1:4318"
 * ```
 * @since 0.3.0
 */
export const endpoint = (text: string, input = "--otlp"): Effect.Effect<string, InputError> => {
  const bad = (reason: string) =>
    Effect.fail(new InputError({ input, reason: `${reason} (the collector's base URL, e.g. http://127.0.0.1:4318), got '${text}'` }))
  let url: URL
  try {
    url = new URL(text.trim())
  } catch {
    return bad("not a URL")
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return bad("expected an http or https URL")
  if (url.search !== "" || url.hash !== "") return bad("expected no query or fragment")
  return Effect.succeed(url.href.replace(/\/+$/, ""))
}

/** `key=value,key=value`, values URL-encoded (OTEL_EXPORTER_OTLP_HEADERS). */
const parseHeaders = (text: string): Effect.Effect<Record<string, string>, InputError> => {
  const headers: Record<string, string> = {}
  for (const entry of text.split(",")) {
    if (entry.trim() === "") continue
    const at = entry.indexOf("=")
    const key = at < 0 ? "" : entry.slice(0, at).trim()
    let value: string
    try {
      value = decodeURIComponent(entry.slice(at + 1).trim())
    } catch {
      value = ""
    }
    // a header's value may be a secret (an API key): the message names the key only
    if (key === "" || value === "") {
      const what = at < 0 ? "without '='" : key === "" ? "without a key" : `'${key}' without a value`
      return Effect.fail(new InputError({ input: "OTEL_EXPORTER_OTLP_HEADERS", reason: `expected 'key=value,…' (values URL-encoded), got an entry ${what}` }))
    }
    headers[key] = value
  }
  return Effect.succeed(headers)
}

const millis = (name: string) => Config.option(Config.Int(name))

/**
 * The export's options for a collector named by `--otlp` (or
 * `OTEL_EXPORTER_OTLP_ENDPOINT`, which the flag falls back to), completed
 * from the standard environment (see the module); `undefined` when no
 * collector is named. A bad URL or header list is an `InputError`.
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Telemetry } from "@trawl/scraper"
 *
 * const options = Telemetry.fromConfig(Option.some("http://127.0.0.1:4318"))
 * ```
 * @since 0.3.0
 */
export const fromConfig = (url: Option.Option<string>): Effect.Effect<Options | undefined, InputError> =>
  Effect.gen(function*() {
    if (Option.isNone(url)) return undefined
    const base = yield* endpoint(url.value)
    const settings = yield* Config.all({
      serviceName: Config.option(Config.String("OTEL_SERVICE_NAME")),
      resourceAttributes: Config.option(Config.String("OTEL_RESOURCE_ATTRIBUTES")),
      headers: Config.option(Config.String("OTEL_EXPORTER_OTLP_HEADERS")),
      tracesExportIntervalMillis: millis("OTEL_BSP_SCHEDULE_DELAY"),
      metricsExportIntervalMillis: millis("OTEL_METRIC_EXPORT_INTERVAL")
    }).pipe(Effect.mapError((error) => new InputError({ input: "OTEL_* environment", reason: error.message })))
    // OTEL_SERVICE_NAME, else the service.name of OTEL_RESOURCE_ATTRIBUTES (read by the exporters), else trawl
    const named = Option.isSome(settings.resourceAttributes) && /(^|,)\s*service\.name\s*=/.test(settings.resourceAttributes.value)
    const serviceName = Option.isSome(settings.serviceName) && settings.serviceName.value.trim() !== ""
      ? settings.serviceName.value.trim()
      : named ? undefined : "trawl"
    return {
      endpoint: base,
      ...(serviceName === undefined ? {} : { serviceName }),
      ...(Option.isSome(settings.headers) ? { headers: yield* parseHeaders(settings.headers.value) } : {}),
      ...(Option.isSome(settings.tracesExportIntervalMillis) ? { tracesExportIntervalMillis: settings.tracesExportIntervalMillis.value } : {}),
      ...(Option.isSome(settings.metricsExportIntervalMillis) ? { metricsExportIntervalMillis: settings.metricsExportIntervalMillis.value } : {})
    } satisfies Options
  })

/**
 * Exports the traces and metrics of whatever runs under it to the
 * collector: installs the OTLP tracer (so the pipeline traces its visits)
 * and starts the metrics exporter, both over their own HTTP client; when the
 * layer's scope closes, what is buffered is sent (up to 3 s). The exporters
 * are loaded when the layer is built, not before.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Telemetry } from "@trawl/scraper"
 *
 * const traced = Effect.log("a run").pipe(
 *   Effect.withSpan("work"),
 *   Effect.provide(Telemetry.layer({ endpoint: "http://127.0.0.1:4318" }))
 * )
 * ```
 * @since 0.3.0
 */
export const layer = (options: Options): Layer.Layer<never> =>
  Layer.unwrap(Effect.map(Effect.promise(() => import("./internal/otlp.ts")), (otlp) => otlp.layer(options)))
