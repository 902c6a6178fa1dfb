/**
 * Metrics of the fetcher (Effect `Metric`, read them with `Metric.snapshot`
 * or export them with an observability layer).
 *
 * - `trawl_fetch_requests_total{outcome}` — `fetchPage` calls by outcome
 *   (`ok`, `not_modified`, or the `FetchError` tag);
 * - `trawl_fetch_bytes_total` — response body bytes received (before decompression);
 * - `trawl_fetch_latency_ms` — whole `fetchPage` duration (histogram);
 * - `trawl_fetch_in_flight` — HTTP exchanges in flight (gauge);
 * - `trawl_fetch_gate_wait_ms` — time waiting in host and global gates (histogram);
 * - `trawl_fetch_retries_total` — retries made;
 * - `trawl_fetch_hosts` — host gates currently held in memory (gauge);
 * - `trawl_fetch_robots_total{outcome}` — robots.txt fetches by outcome.
 *
 * Nothing is labelled by host on purpose: 50,000 hosts would be 50,000 series.
 * Per-host state (delay, circuit) is in the host gates and in the log lines.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"

const latencyBoundaries = Metric.exponentialBoundaries({ start: 1, factor: 2, count: 18 })

/**
 * `fetchPage` calls by outcome.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { FetchMetrics } from "@trawl/fetch"
 * const okCount = Metric.value(FetchMetrics.requests.pipe(Metric.withAttributes({ outcome: "ok" })))
 * ```
 * @since 0.1.0
 */
export const requests = Metric.counter("trawl_fetch_requests_total", {
  description: "fetchPage calls by outcome",
  incremental: true
})

/**
 * Response body bytes received (on the wire, before decompression).
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { FetchMetrics } from "@trawl/fetch"
 * const bytes = Metric.value(FetchMetrics.bytes)
 * ```
 * @since 0.1.0
 */
export const bytes = Metric.counter("trawl_fetch_bytes_total", {
  description: "response body bytes received",
  incremental: true
})

/**
 * Duration of whole `fetchPage` calls, in milliseconds.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { FetchMetrics } from "@trawl/fetch"
 * const latency = Metric.value(FetchMetrics.latency)
 * ```
 * @since 0.1.0
 */
export const latency = Metric.histogram("trawl_fetch_latency_ms", {
  description: "fetchPage duration in milliseconds",
  boundaries: latencyBoundaries
})

/**
 * HTTP exchanges in flight.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { FetchMetrics } from "@trawl/fetch"
 * const inFlight = Metric.value(FetchMetrics.inFlight)
 * ```
 * @since 0.1.0
 */
export const inFlight = Metric.gauge("trawl_fetch_in_flight", { description: "HTTP exchanges in flight" })

/**
 * Time spent waiting for host and global gates, in milliseconds.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { FetchMetrics } from "@trawl/fetch"
 * const waits = Metric.value(FetchMetrics.gateWait)
 * ```
 * @since 0.1.0
 */
export const gateWait = Metric.histogram("trawl_fetch_gate_wait_ms", {
  description: "time waiting in host and global gates, in milliseconds",
  boundaries: latencyBoundaries
})

/**
 * Retries made.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { FetchMetrics } from "@trawl/fetch"
 * const retries = Metric.value(FetchMetrics.retries)
 * ```
 * @since 0.1.0
 */
export const retries = Metric.counter("trawl_fetch_retries_total", { description: "retries made", incremental: true })

/**
 * Host gates held in memory.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { FetchMetrics } from "@trawl/fetch"
 * const hosts = Metric.value(FetchMetrics.hosts)
 * ```
 * @since 0.1.0
 */
export const hosts = Metric.gauge("trawl_fetch_hosts", { description: "host gates held in memory" })

/**
 * robots.txt fetches by outcome (`rules`, `allow_all`, `unreachable`, `forbidden`).
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { FetchMetrics } from "@trawl/fetch"
 * const robots = Metric.value(FetchMetrics.robots.pipe(Metric.withAttributes({ outcome: "rules" })))
 * ```
 * @since 0.1.0
 */
export const robots = Metric.counter("trawl_fetch_robots_total", {
  description: "robots.txt fetches by outcome",
  incremental: true
})
