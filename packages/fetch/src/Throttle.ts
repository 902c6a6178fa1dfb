/**
 * Adaptive per-host throttle, after Scrapy's AutoThrottle.
 *
 * Each host has a delay between request starts. After every response the
 * fetcher feeds the observed latency (time to the response head) in:
 *
 * 1. the *target delay* is `latency / targetConcurrency` — the delay at which
 *    about `targetConcurrency` requests would be in flight on that host;
 * 2. the new delay is the average of the current delay and the target delay,
 *    but never below the target (slow servers are backed off at once, fast
 *    ones are sped up gradually);
 * 3. an error response (or a network failure) never lowers the delay;
 * 4. a 429 or 503 doubles the delay (at least `backoffFloor`), and a
 *    `Retry-After` closes the host until that time;
 * 5. the result is clamped to `[minDelay, maxDelay]`.
 *
 * `Crawl-delay` from robots.txt and the configured per-host minimum delay are
 * floors applied on top by the fetcher.
 *
 * @since 0.1.0
 */

/**
 * Throttle settings (milliseconds).
 *
 * @example
 * ```ts
 * import { Throttle } from "@trawl/fetch"
 * const options: Throttle.Options = { enabled: true, minDelayMillis: 0, maxDelayMillis: 60_000, targetConcurrency: 2, backoffFloorMillis: 1000 }
 * ```
 * @since 0.1.0
 */
export interface Options {
  /** Whether latency adapts the delay at all. Default `true`. */
  readonly enabled: boolean
  /** Lowest delay the throttle may choose. */
  readonly minDelayMillis: number
  /** Highest delay the throttle may choose. Default 60 s. */
  readonly maxDelayMillis: number
  /** Requests the throttle aims to keep in flight per host. Default 2. */
  readonly targetConcurrency: number
  /** Smallest delay after a 429/503. Default 1 s. */
  readonly backoffFloorMillis: number
}

/**
 * How one attempt ended, as the throttle sees it.
 *
 * @example
 * ```ts
 * import { Throttle } from "@trawl/fetch"
 * const outcome: Throttle.Outcome = { _tag: "Response", status: 200, latencyMillis: 120 }
 * ```
 * @since 0.1.0
 */
export type Outcome =
  | { readonly _tag: "Response"; readonly status: number; readonly latencyMillis: number }
  | { readonly _tag: "Failure" }

/**
 * The next delay of a host after an attempt.
 *
 * @example
 * ```ts
 * import { Throttle } from "@trawl/fetch"
 * const options = { enabled: true, minDelayMillis: 0, maxDelayMillis: 60_000, targetConcurrency: 2, backoffFloorMillis: 1000 }
 * Throttle.next(options, 0, { _tag: "Response", status: 200, latencyMillis: 400 }) // 200
 * Throttle.next(options, 200, { _tag: "Response", status: 429, latencyMillis: 5 }) // 1000
 * ```
 * @since 0.1.0
 */
export const next = (options: Options, current: number, outcome: Outcome): number => {
  const clamp = (delay: number) => Math.min(options.maxDelayMillis, Math.max(options.minDelayMillis, delay))
  if (outcome._tag === "Failure") {
    return options.enabled ? clamp(Math.max(current * 2, options.backoffFloorMillis)) : current
  }
  const { latencyMillis, status } = outcome
  if (status === 429 || status === 503) {
    return clamp(Math.max(current * 2, options.backoffFloorMillis))
  }
  if (!options.enabled) return current
  const target = latencyMillis / Math.max(options.targetConcurrency, 0.01)
  const proposed = Math.max(target, (current + target) / 2)
  const isError = status >= 400
  if (isError && proposed < current) return current
  return clamp(proposed)
}

/**
 * Parses a `Retry-After` value (delay seconds or an HTTP-date) into
 * milliseconds from `now`. Negative results become 0; garbage is `undefined`.
 *
 * @example
 * ```ts
 * import { Throttle } from "@trawl/fetch"
 * Throttle.parseRetryAfter("120", 0) // 120000
 * Throttle.parseRetryAfter("Thu, 01 Jan 1970 00:00:10 GMT", 4_000) // 6000
 * ```
 * @since 0.1.0
 */
export const parseRetryAfter = (value: string | undefined, now: number): number | undefined => {
  if (value === undefined) return undefined
  const text = value.trim()
  if (text === "") return undefined
  if (/^\d+$/.test(text)) return Number(text) * 1000
  // An HTTP-date names a weekday and a month; anything without letters is garbage.
  if (!/[a-z]/i.test(text)) return undefined
  const date = Date.parse(text)
  if (Number.isNaN(date)) return undefined
  return Math.max(0, date - now)
}
